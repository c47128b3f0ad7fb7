"""One real local Ray on 127.0.0.1 for every serve test (session-scoped: a cold start costs about
15 s on 2 cores), and the app on the tiny model with its two trained adapters plus one broken.

Ray's loopback settings must be in the environment before Ray reads its config.
"""

from __future__ import annotations

import os

os.environ.update(
    {
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        "RAY_AUTH_MODE": "disabled",
        "OMP_NUM_THREADS": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "HF_HUB_OFFLINE": "1",
    }
)

import httpx  # noqa: E402
import pytest  # noqa: E402
from servekit import API_KEY, MAX_PROMPT_CHARS, MAX_TOKENS_LIMIT, ServedApp  # noqa: E402

from molting_workloads.contract.serve_config import ServeAppConfig, validate_config  # noqa: E402

pytest.importorskip("ray.serve", reason="ray[serve] is not installed")


@pytest.fixture(scope="session")
def adapter_paths(tiny_adapters: dict) -> dict[str, str]:
    """``clean``, and ``meta``: the adapter trained on the raw, meta-language-heavy data."""
    return {"clean": str(tiny_adapters["clean"]), "meta": str(tiny_adapters["raw"])}


@pytest.fixture(scope="session")
def local_ray():
    from molting_workloads.serving import local

    address = local.start_local_ray(num_cpus=2, log_to_driver=False)
    yield address
    local.shutdown()


@pytest.fixture(scope="session")
def base_config(tiny_model_dir, adapter_paths, tmp_path_factory) -> ServeAppConfig:
    secrets = tmp_path_factory.mktemp("secret")
    (secrets / "api-key").write_text(API_KEY + "\n")
    broken = tmp_path_factory.mktemp("broken-adapter")  # no adapter_config.json in it
    return validate_config(
        {
            "name": "mm-test",
            "baseModel": str(tiny_model_dir),
            "revisions": [
                {"revision": "stable", "adapter": adapter_paths["clean"], "weight": 90},
                {"revision": "canary", "adapter": adapter_paths["meta"], "weight": 10},
                {"revision": "broken", "adapter": str(broken), "weight": 0},
            ],
            "generation": {"maxNewTokens": 24, "temperature": 0.0},
            "maxPromptChars": MAX_PROMPT_CHARS,
            "maxTokensLimit": MAX_TOKENS_LIMIT,
            "apiKeyFile": str(secrets / "api-key"),
            "device": "cpu",
            "maxBatchSize": 4,
        }
    )


@pytest.fixture(scope="session")
def served(local_ray, base_config) -> ServedApp:
    from molting_workloads.serving import local

    url = local.deploy(base_config, timeout_s=300)
    return ServedApp(base=base_config, url=url, dashboard=local_ray)


@pytest.fixture
def app(served: ServedApp):
    """The app, put back to its base config after the test."""
    yield served
    served.reset()


@pytest.fixture
def client():
    with httpx.Client(timeout=60) as c:
        yield c
