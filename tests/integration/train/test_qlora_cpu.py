"""4-bit NF4 QLoRA on the CPU (bitsandbytes' CPU kernels), on the tiny model: `molting train
--quantization nf4` trains LoRA on Linear4bit layers, backward included, and the adapter it saves
answers alike on the 4-bit base and on the full-precision base it is served on."""

from __future__ import annotations

import difflib
import json
import math
from pathlib import Path

import pytest
import torch
import typer
from safetensors.torch import load_file
from typer.testing import CliRunner

from molting_workloads.commands import train as train_command
from molting_workloads.model_loading import (
    generate,
    load_base,
    load_with_adapters,
    quantization_of,
)

STEPS = 8
QUESTIONS = [
    "Why is the sky blue?", "How do bees make honey?", "Why is the ocean salty?",
    "What causes the seasons?", "How does bread rise?", "Why do cats purr?",
]
NEW_TOKENS = 24


def linear4bit_count(model) -> int:
    import bitsandbytes as bnb

    return sum(isinstance(m, bnb.nn.Linear4bit) for m in model.modules())


@pytest.fixture(scope="module")
def nf4_run(tiny_model_dir: Path, example_data: Path, tmp_path_factory) -> dict:
    if torch.cuda.is_available():
        pytest.skip("CUDA is present: this is the CPU path (see the gpu test in test_training.py)")
    out = tmp_path_factory.mktemp("qlora-cpu") / "run"
    app = typer.Typer()
    train_command.register(app)
    result = CliRunner().invoke(app, [
        "--base-model", str(tiny_model_dir), "--dataset", str(example_data / "conversations.jsonl"),
        "--output-dir", str(out), "--revision", "q1", "--max-steps", str(STEPS),
        "--batch-size", "4", "--no-packing", "--lr", "1e-3", "--quantization", "nf4",
        "--no-progress",
    ])
    assert result.exit_code == 0, result.output[-3000:]
    return {"out": out, "report": json.loads((out / "train-report.json").read_text()),
            "summary": json.loads(result.stdout.strip().splitlines()[-1])}


def test_the_4bit_base_is_linear4bit_on_the_cpu(tiny_model_dir: Path) -> None:
    model, _ = load_base(str(tiny_model_dir), quantize_4bit=True, cpu_4bit=True, device="cpu")
    # every linear layer but the (tied) output head: 4 layers x 7 projections
    assert linear4bit_count(model) == 28
    assert quantization_of(model) == "nf4-4bit" and model.device.type == "cpu"
    plain, _ = load_base(str(tiny_model_dir), quantize_4bit=True, device="cpu")
    assert linear4bit_count(plain) == 0 and quantization_of(plain) == "none"  # not asked: fp32


def test_nf4_on_the_cpu_trains_qlora_and_the_report_says_so(nf4_run: dict) -> None:
    report, summary = nf4_run["report"], nf4_run["summary"]
    assert summary["ok"] and summary["device"] == "cpu" and summary["quantization"] == "nf4-4bit"
    assert report["method_requested"] == "qlora" and report["method"] == "qlora"
    assert report["quantization_requested"] == "nf4" and report["fallback"] is None
    assert report["compute_dtype"] == "bfloat16"
    losses = [p["loss"] for p in report["loss_curve"]]
    assert len(losses) == STEPS and all(math.isfinite(x) and x > 0 for x in losses)
    assert math.isfinite(report["val_loss"]) and report["tokens_per_second"] > 0


def test_backward_ran_through_the_4bit_layers(nf4_run: dict) -> None:
    weights = load_file(nf4_run["out"] / "adapter" / "adapter_model.safetensors")
    lora_b = {k: v for k, v in weights.items() if "lora_B" in k}
    # LoRA B starts at zero: only gradients flowing back through the Linear4bit layers move it,
    # in every layer (the first layer's B needs the gradient to pass all the layers above it).
    assert len(lora_b) == 28
    assert all(v.abs().max() > 0 for v in lora_b.values())


def token_similarity(tokenizer, a: str, b: str) -> float:
    ids = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in (a, b)]
    return difflib.SequenceMatcher(a=ids[0], b=ids[1], autojunk=False).ratio()


def test_adapter_answers_alike_on_the_4bit_and_the_full_precision_base(
    nf4_run: dict, tiny_model_dir: Path
) -> None:
    adapter = {"q1": str(nf4_run["out"] / "adapter")}
    conversations = [[{"role": "user", "content": q}] for q in QUESTIONS]
    answers = {}
    for name, kw in (("nf4", {"quantize_4bit": True, "cpu_4bit": True}), ("full", {})):
        model, tokenizer = load_with_adapters(str(tiny_model_dir), adapter, device="cpu", **kw)
        assert quantization_of(model) == ("nf4-4bit" if name == "nf4" else "none")
        answers[name] = generate(model, tokenizer, conversations, max_new_tokens=NEW_TOKENS,
                                 adapter="q1")
        assert all(answers[name]), answers[name]
    scores = [token_similarity(tokenizer, a, b) for a, b in zip(answers["nf4"], answers["full"],
                                                                strict=True)]
    first = [tokenizer(a, add_special_tokens=False)["input_ids"][:4] for a in answers["nf4"]]
    first_full = [tokenizer(a, add_special_tokens=False)["input_ids"][:4] for a in answers["full"]]
    same_opening = sum(a == b for a, b in zip(first, first_full, strict=True))
    print(f"nf4 vs full-precision base: token similarity {[round(x, 2) for x in scores]}, "
          f"same first 4 tokens {same_opening}/{len(QUESTIONS)}")
    # The greedy answers share their opening and most of their tokens; NF4 error plus bf16
    # compute flips a few argmaxes, after which an answer may drift (measured: similarity
    # 0.96, 1.0, 0.42, 1.0, 0.83, 1.0).
    assert same_opening >= 4, answers  # measured 5 of 6
    assert sum(scores) / len(scores) >= 0.7, (scores, answers)  # measured 0.87
