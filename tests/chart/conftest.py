"""Fixtures for the chart tests: a real Helm binary (`make tools` puts it at .tools/bin/helm) and a
`render` function that runs `helm template` and returns the parsed objects."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from chartkit import CHART, NAMESPACE, RELEASE, ROOT, HelmRefused, Render


@pytest.fixture(scope="session")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the pinned Helm with its caches and config in a temporary folder."""
    binary = ROOT / ".tools" / "bin" / "helm"
    found = str(binary) if binary.exists() else shutil.which("helm")
    if found is None:
        pytest.skip("helm not found: run `make tools` (it extracts .tools/bin/helm)")
    home = tmp_path_factory.mktemp("helm-home")
    env = {
        **os.environ,
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([found, *args], capture_output=True, text=True, env=env, timeout=120)

    return run


@pytest.fixture(scope="session")
def render(helm: Callable[..., subprocess.CompletedProcess[str]], tmp_path_factory: pytest.TempPathFactory) -> Render:
    """`render(values, include_crds=False)`: the objects `helm template` produces (cached)."""
    folder = tmp_path_factory.mktemp("values")
    cache: dict[str, list[dict[str, Any]]] = {}

    def run(values: dict[str, Any] | None = None, *, include_crds: bool = False) -> list[dict[str, Any]]:
        key = json.dumps([values, include_crds], sort_keys=True)
        if key not in cache:
            values_file = folder / f"values-{len(cache)}.yaml"
            values_file.write_text(yaml.safe_dump(values or {}))
            args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE, "-f", str(values_file)]
            out = helm(*args, *(["--include-crds"] if include_crds else []))
            if out.returncode != 0:
                raise HelmRefused(out.stderr)
            cache[key] = [doc for doc in yaml.safe_load_all(out.stdout) if doc]
        return [json.loads(json.dumps(doc)) for doc in cache[key]]

    return run

