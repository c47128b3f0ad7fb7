"""`molting train` end to end on the tiny model: the outputs it documents, the loss masking, the
determinism, bad input that fails fast, and (on CUDA only) 4-bit QLoRA on the GPU; 4-bit on the
CPU is in test_qlora_cpu.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import typer
from safetensors.torch import load_file
from typer.testing import CliRunner

from molting_workloads.commands import train as train_command
from molting_workloads.contract.summaries import TERMINATION_LIMIT, termination_text
from molting_workloads.model_loading import generate, load_base, load_with_adapters
from molting_workloads.training import (
    PROGRESS_PREFIX,
    ProgressFile,
    build_request,
    choose_loss_masking,
    failure_summary,
    run_training,
    to_prompt_completion,
)

MOLTING = str(Path(sys.executable).parent / "molting")
ENV = os.environ | {"OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
STEPS = 8
REPORT_KEYS = {
    "loss_curve", "tokens_per_second", "peak_memory_mb", "device", "quantization", "duration_s",
    "val_loss", "steps", "examples", "cleaning_report", "final_loss", "method", "loss_masking",
}
QUESTION = [{"role": "user", "content": "Why is the sky blue?"}]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [MOLTING, "train", *args], capture_output=True, text=True, env=ENV, timeout=600
    )


def in_process(*args: str):
    """The same command through typer's runner (no interpreter start-up)."""
    app = typer.Typer()
    train_command.register(app)
    return CliRunner().invoke(app, list(args))


def small_request(base: Path, dataset: Path, out: Path, **training) -> object:
    return build_request(
        None,
        {
            "base_model": str(base), "dataset": str(dataset), "output_dir": str(out),
            "training.max_steps": training.pop("max_steps", STEPS), "training.batch_size": 4,
            "training.packing": False, "training.learning_rate": 1e-3,
            **{f"training.{k}": v for k, v in training.items()},
        },
    )


@pytest.fixture(scope="module")
def trained(tiny_model_dir: Path, example_data: Path, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("train") / "run"
    proc = cli(
        "--base-model", str(tiny_model_dir), "--dataset", str(example_data / "conversations.jsonl"),
        "--output-dir", str(out), "--revision", "r1", "--max-steps", str(STEPS),
        "--batch-size", "4", "--no-packing", "--cleaning", "drop-sentences", "--no-progress",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {"proc": proc, "out": out, "report": json.loads((out / "train-report.json").read_text())}


def test_last_stdout_line_is_an_ok_summary_under_4kb(trained: dict) -> None:
    last = trained["proc"].stdout.strip().splitlines()[-1]
    summary = json.loads(last)
    assert len(last.encode()) <= TERMINATION_LIMIT
    assert summary["ok"] is True and summary["revision"] == "r1"
    assert summary["steps"] == STEPS and summary["device"] == "cpu"
    assert summary["adapter"] == str(trained["out"] / "adapter")


def test_report_has_the_documented_keys(trained: dict) -> None:
    report = trained["report"]
    assert REPORT_KEYS <= report.keys()
    assert [p["step"] for p in report["loss_curve"]] == list(range(1, STEPS + 1))
    assert all(p["loss"] > 0 for p in report["loss_curve"])
    assert report["tokens_per_second"] > 0 and report["peak_memory_mb"] > 0
    assert report["examples"] > 0 and report["val_loss"] > 0
    assert Path(report["cleaning_report"]).is_file()


def test_cpu_falls_back_from_qlora_to_fp32_lora_and_says_so(trained: dict) -> None:
    if torch.cuda.is_available():
        pytest.skip("CUDA is present: QLoRA runs for real (see the gpu test)")
    report = trained["report"]
    assert report["method_requested"] == "qlora" and report["method"] == "lora"
    assert report["quantization"] == "none" and "CUDA" in report["fallback"]
    assert report["settings"]["bf16"] is False
    assert report["settings"]["gradient_checkpointing"] is False


def test_adapter_folder_holds_weights_config_and_tokenizer(trained: dict) -> None:
    adapter = trained["out"] / "adapter"
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert (adapter / "adapter_model.safetensors").is_file()
    assert (adapter / "tokenizer.json").is_file()
    assert not config.get("modules_to_save")  # PEFT bug with tied embeddings (NOTES)
    weights = load_file(adapter / "adapter_model.safetensors")
    assert weights and all("lora_" in name for name in weights)


def test_progress_lines_in_the_log_parse_as_the_operator_reads_them(trained: dict) -> None:
    lines = [x for x in trained["proc"].stderr.splitlines() if x.startswith(PROGRESS_PREFIX)]
    last = json.loads(lines[-1][len(PROGRESS_PREFIX):])
    assert set(last) == {"step", "total", "loss", "etaSeconds"}
    assert last["step"] == last["total"] == STEPS and last["etaSeconds"] == 0


def test_progress_file_ends_done_at_the_last_step(trained: dict) -> None:
    progress = json.loads((trained["out"] / "progress.json").read_text())
    assert progress["phase"] == "done"
    assert progress["step"] == progress["total"] == STEPS
    assert progress["eta_seconds"] == 0 and progress["loss"] > 0


def test_cleaned_data_feeds_the_training(trained: dict) -> None:
    rows = (trained["out"] / "data" / "train.jsonl").read_text().splitlines()
    assert len(rows) == trained["report"]["examples"]
    assert all("messages" in json.loads(r) for r in rows)


def test_trained_adapter_reloads_and_changes_the_answers(trained: dict, tiny_model_dir) -> None:
    model, tokenizer = load_with_adapters(str(tiny_model_dir), {"r1": str(trained["out"] / "adapter")})
    batch = tokenizer.apply_chat_template(
        [QUESTION], add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    with torch.inference_mode():
        adapted = model(**batch).logits
        with model.disable_adapter():
            plain = model(**batch).logits
    assert not torch.allclose(adapted, plain)
    answers = generate(model, tokenizer, [QUESTION, QUESTION], max_new_tokens=24, adapter="r1")
    assert answers[0] and answers[0] == answers[1]


def test_tiny_template_masks_exactly_the_assistant_answer_and_its_end(tiny_model_dir) -> None:
    _, tokenizer = load_base(str(tiny_model_dir))
    answer = "Sunlight is scattered by the air."
    out = tokenizer.apply_chat_template(
        [*QUESTION, {"role": "assistant", "content": answer}],
        return_assistant_tokens_mask=True, return_dict=True,
    )
    masked = [t for t, m in zip(out["input_ids"], out["assistant_masks"], strict=True) if m]
    assert tokenizer.decode(masked) == answer + tokenizer.eos_token
    assert choose_loss_masking(tokenizer) == "assistant-tokens"


def test_templates_without_generation_markers_train_on_the_last_answer(tiny_model_dir) -> None:
    _, tokenizer = load_base(str(tiny_model_dir))
    tokenizer.chat_template = tokenizer.chat_template.replace("{% generation %}", "").replace(
        "{% endgeneration %}", ""
    )
    assert choose_loss_masking(tokenizer) == "last-assistant-turn"
    rows = [{"messages": [*QUESTION, {"role": "assistant", "content": "a"},
                          {"role": "user", "content": "more?"}, {"role": "assistant", "content": "b"}]}]
    (row,) = to_prompt_completion(rows)
    assert [m["content"] for m in row["prompt"]] == ["Why is the sky blue?", "a", "more?"]
    assert row["completion"] == [{"role": "assistant", "content": "b"}]


def test_same_seed_same_losses_and_weights(tiny_model_dir, example_data, tmp_path) -> None:
    runs = []
    for name in ("a", "b"):
        req = small_request(tiny_model_dir, example_data / "conversations.jsonl", tmp_path / name,
                            max_steps=4)
        report = json.loads(run_training(req, progress_bar=False).report_path.read_text())
        weights = load_file(tmp_path / name / "adapter" / "adapter_model.safetensors")
        runs.append((report["loss_curve"], weights))
    (curve_a, weights_a), (curve_b, weights_b) = runs
    assert curve_a == curve_b
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)


def test_progress_file_is_rewritten_while_nothing_else_happens(tmp_path) -> None:
    progress = ProgressFile(tmp_path / "progress.json", heartbeat_s=0.05)
    try:
        first = json.loads((tmp_path / "progress.json").read_text())["elapsed_s"]
        deadline = time.monotonic() + 10
        while json.loads((tmp_path / "progress.json").read_text())["elapsed_s"] == first:
            assert time.monotonic() < deadline, "progress.json was not rewritten"
            time.sleep(0.05)
    finally:
        progress.close()


# ---------------------------------------------------------------- bad input


def test_missing_base_model_fails_fast_with_a_failed_summary(example_data, tmp_path) -> None:
    proc = cli("--base-model", str(tmp_path / "nope"), "--dataset",
               str(example_data / "conversations.jsonl"), "--output-dir", str(tmp_path / "out"))
    assert proc.returncode == 2
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["ok"] is False and "does not exist" in summary["error"]
    assert "does not exist" in proc.stderr
    assert not (tmp_path / "out" / "data").exists()  # failed before cleaning


def test_tokenizer_without_chat_template_is_refused(tiny_model_dir, example_data, tmp_path) -> None:
    base = tmp_path / "no-template"
    base.mkdir()
    for f in tiny_model_dir.iterdir():
        if f.name != "chat_template.jinja":
            (base / f.name).write_bytes(f.read_bytes())
    config = json.loads((base / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (base / "tokenizer_config.json").write_text(json.dumps(config))
    result = in_process("--base-model", str(base), "--dataset",
                        str(example_data / "conversations.jsonl"), "--output-dir", str(tmp_path / "o"))
    assert result.exit_code == 2
    assert "no chat template" in json.loads(result.stdout.strip().splitlines()[-1])["error"]


def test_request_file_in_wire_form_with_flags_on_top(tmp_path) -> None:
    request = tmp_path / "request.yaml"
    request.write_text(
        "revision: abc123\nbaseModel: /models/tiny\ndataset: data.jsonl\noutputDir: out\n"
        "requireGPU: true\ncleaning: {metaLanguage: keep}\n"
        "training: {maxSteps: 5, lora: {r: 4}}\n"
    )
    req = build_request(request, {"training.max_steps": 7, "dataset": "other.jsonl"})
    assert (req.revision, req.base_model, req.dataset) == ("abc123", "/models/tiny", "other.jsonl")
    assert req.require_gpu and req.cleaning.meta_language.value == "keep"
    assert req.training.max_steps == 7 and req.training.lora.r == 4


@pytest.mark.parametrize(
    ("content", "reason"),
    [("", "empty"), ("\n\n", "empty"), (None, "does not exist")],
    ids=["empty-file", "blank-lines", "missing-file"],
)
def test_unusable_dataset_fails_with_a_clear_reason(tiny_model_dir, tmp_path, content, reason) -> None:
    dataset = tmp_path / "data.jsonl"
    if content is not None:
        dataset.write_text(content)
    result = in_process("--base-model", str(tiny_model_dir), "--dataset", str(dataset),
                        "--output-dir", str(tmp_path / "o"))
    assert result.exit_code == 2
    error = json.loads(result.stdout.strip().splitlines()[-1])["error"]
    assert "data.jsonl" in error and (reason in error.lower() or "no training examples" in error)


def test_bad_flag_values_name_the_field(tiny_model_dir, example_data, tmp_path) -> None:
    result = in_process("--base-model", str(tiny_model_dir), "--dataset",
                        str(example_data / "conversations.jsonl"), "--output-dir", str(tmp_path),
                        "--cleaning", "scrub", "--lr", "5")
    assert result.exit_code == 2
    error = json.loads(result.stdout.strip().splitlines()[-1])["error"]
    assert "cleaning.metaLanguage" in error and "training.learningRate" in error


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present, so --require-gpu succeeds")
def test_require_gpu_without_cuda_is_an_error(tiny_model_dir, example_data, tmp_path) -> None:
    result = in_process("--base-model", str(tiny_model_dir), "--dataset",
                        str(example_data / "conversations.jsonl"), "--output-dir", str(tmp_path),
                        "--require-gpu")
    assert result.exit_code == 2
    assert "no CUDA device" in json.loads(result.stdout.strip().splitlines()[-1])["error"]


def test_a_huge_error_still_fits_the_termination_message() -> None:
    summary = failure_summary("r1", RuntimeError("x" * 100_000))
    assert len(termination_text(summary).encode()) <= TERMINATION_LIMIT
    assert json.loads(termination_text(summary))["ok"] is False


# ---------------------------------------------------------------- GPU only


@pytest.mark.gpu
@pytest.mark.skipif(
    not torch.cuda.is_available(),
    reason="needs CUDA: QLoRA on the GPU (4-bit on the CPU is test_qlora_cpu.py)",
)
def test_qlora_on_cuda_trains_4bit_and_the_adapter_reloads(tiny_model_dir, example_data, tmp_path):
    req = small_request(tiny_model_dir, example_data / "conversations.jsonl", tmp_path, max_steps=10,
                        method="qlora", packing=True)
    report = json.loads(run_training(req, progress_bar=False).report_path.read_text())
    assert report["device"] == "cuda" and report["quantization"] == "nf4-4bit"
    assert report["settings"]["gradient_checkpointing"] is False
    model, tokenizer = load_with_adapters(
        str(tiny_model_dir), {"q": str(tmp_path / "adapter")}, quantize_4bit=True
    )
    answers = generate(model, tokenizer, [QUESTION] * 3, max_new_tokens=16, adapter="q")
    assert len(answers) == 3 and answers[0] == answers[1] == answers[2]
