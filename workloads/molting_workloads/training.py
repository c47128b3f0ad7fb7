"""`molting train`: clean the dataset, train one LoRA adapter with TRL's SFTTrainer (QLoRA on
CUDA, fp32 LoRA on a CPU), and write adapter/, train-report.json, progress.json and the summary.

Inputs (base model path, tokenizer chat template, dataset) are checked before any weights load.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import shutil
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic.alias_generators import to_camel, to_snake

from molting_workloads.contract.errors import DatasetError, MoltingError, Problem, SpecError
from molting_workloads.contract.layout import (
    ADAPTER_DIR,
    CLEANING_REPORT,
    DATA_DIR,
    TRAIN_REPORT,
    TRAIN_SPLIT,
    VALIDATION_SPLIT,
)
from molting_workloads.contract.layout import PROGRESS_FILE as PROGRESS
from molting_workloads.contract.policies import Quantization, TrainingMethod
from molting_workloads.contract.progress import PROGRESS_PREFIX, progress_line  # noqa: F401
from molting_workloads.contract.requests import TrainRequest
from molting_workloads.contract.summaries import TrainSummary, write_termination

log = logging.getLogger(__name__)

CURVE_POINTS = 500  # the loss curve in the report is thinned to at most this many points


class GPURequiredError(MoltingError):
    """requireGPU is set and no CUDA device is visible."""


@dataclass(frozen=True)
class DevicePlan:
    device: str  # "cuda" or "cpu"
    quantize_4bit: bool  # NF4 base weights (QLoRA)
    method: str  # the method actually used: qlora or lora
    fallback: str | None  # why the requested method was not used; None when it was


@dataclass(frozen=True)
class TrainOutcome:
    summary: TrainSummary
    report_path: Path
    adapter_dir: Path


# ---------------------------------------------------------------- inputs


def build_request(file: str | Path | None, overrides: dict[str, Any]) -> TrainRequest:
    """The request file (JSON or YAML) if any, with every non-None override on top.

    Override keys are TrainRequest fields, or ``training.<field>`` / ``cleaning.<field>``.
    """
    data: dict[str, Any] = {}
    if file is not None:
        path = Path(file)
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as error:
            raise SpecError([Problem("(file)", str(error))], str(path)) from error
        if not isinstance(data, dict):
            raise SpecError([Problem("(file)", "must be a mapping")], str(path))
        data = _snake_keys(data)  # camelCase (the wire form) or snake_case, so overrides merge
    for key, value in overrides.items():
        if value is None:
            continue
        section, _, field = key.rpartition(".")
        target = data.setdefault(section, {}) if section else data
        target[field] = value
    data.setdefault("revision", "dev")
    try:
        return TrainRequest.model_validate(data)
    except ValidationError as error:
        problems = [
            Problem(".".join(to_camel(p) if isinstance(p, str) else str(p) for p in e["loc"]), e["msg"])
            for e in error.errors()
        ]
        raise SpecError(problems, str(file or "flags")) from error


def _snake_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {to_snake(k) if isinstance(k, str) else k: _snake_keys(v) for k, v in value.items()}
    return value


def plan_device(
    method: TrainingMethod,
    require_gpu: bool,
    cuda: bool,
    quantization: Quantization = Quantization.AUTO,
) -> DevicePlan:
    """Where and how to train. ``auto``: QLoRA on CUDA, and on a CPU a fall-back to fp32 LoRA
    (or a failure when a GPU is required); ``nf4``: a 4-bit base on either; ``none``: never."""
    if require_gpu and not cuda:
        raise GPURequiredError("requireGPU is set but no CUDA device is visible to this process")
    device = "cuda" if cuda else "cpu"
    qlora = method == TrainingMethod.QLORA
    if quantization == Quantization.NF4:
        return DevicePlan(device, True, "qlora", None)
    if quantization == Quantization.NONE:
        fallback = "quantization none: full-precision LoRA instead of 4-bit QLoRA" if qlora else None
        return DevicePlan(device, False, "lora", fallback)
    if not cuda:
        fallback = (
            "no CUDA device: fp32 LoRA instead of 4-bit QLoRA (quantization nf4 trains 4-bit "
            "on a CPU)" if qlora else None
        )
        return DevicePlan("cpu", False, "lora", fallback)
    return DevicePlan("cuda", qlora, method.value, None)


def read_examples(path: Path) -> list[dict]:
    """The ``messages`` of each line of a cleaned JSONL file."""
    if not path.is_file():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [{"messages": r["messages"]} for r in rows]


def choose_loss_masking(tokenizer) -> str:
    """``assistant-tokens`` when TRL can mask every assistant turn with this chat template
    ({% generation %} markers, or a template TRL knows how to patch); otherwise
    ``last-assistant-turn``: each example becomes prompt + its last answer as the completion."""
    from trl.chat_template_utils import get_training_chat_template

    try:
        get_training_chat_template(tokenizer)
    except ValueError:
        return "last-assistant-turn"
    return "assistant-tokens"


def to_prompt_completion(rows: list[dict]) -> list[dict]:
    out = []
    for row in rows:
        messages = row["messages"]
        last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
        out.append({"prompt": messages[:last], "completion": [messages[last]]})
    return out


# ---------------------------------------------------------------- the run


def run_training(req: TrainRequest, *, progress_bar: bool | None = None) -> TrainOutcome:
    """Clean, train, evaluate the validation loss, save the adapter and write the reports."""
    import torch

    from molting_workloads.model_loading import load_tokenizer

    started = time.monotonic()
    out = Path(req.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    progress = ProgressFile(out / PROGRESS)
    try:
        plan = plan_device(
            req.training.method, req.require_gpu, torch.cuda.is_available(),
            req.training.quantization,
        )
        load_tokenizer(req.base_model, req.base_model_revision)  # fails fast, before cleaning
        progress.update(phase="cleaning")
        train_rows, val_rows, cleaning_report, production = _clean(req, out / DATA_DIR)
        report = _train(req, plan, train_rows, val_rows, out, progress, progress_bar)
    except BaseException:
        progress.update(phase="failed")
        progress.close()
        raise
    report.update(
        cleaning_report=str(cleaning_report),
        duration_s=round(time.monotonic() - started, 2),
        examples=len(train_rows),
        validation_examples=len(val_rows),
    )
    if production is not None:
        report["production"] = production
    (out / TRAIN_REPORT).write_text(json.dumps(report, indent=2) + "\n")
    progress.update(phase="done", eta_seconds=0)
    progress.close()
    summary = TrainSummary(
        revision=req.revision,
        ok=True,
        adapter=str(out / ADAPTER_DIR),
        device=report["device"],
        quantization=report["quantization"],
        steps=report["steps"],
        final_loss=report["final_loss"],
        val_loss=report["val_loss"],
        tokens_per_second=report["tokens_per_second"],
        duration_s=report["duration_s"],
        examples=len(train_rows),
        production_rows=production["kept"] if production else None,
    )
    write_termination(summary)
    return TrainOutcome(summary, out / TRAIN_REPORT, out / ADAPTER_DIR)


def failure_summary(revision: str, error: BaseException) -> TrainSummary:
    return TrainSummary(revision=revision, ok=False, error=f"{type(error).__name__}: {error}"[:2000])


def _clean(req: TrainRequest, data_dir: Path) -> tuple[list[dict], list[dict], Path, dict | None]:
    """The cleaned splits, the cleaning report's path and its production figures (None
    without spec.dataset.production)."""
    from molting_workloads.production_data import prepare_data

    if not Path(req.dataset).is_file():
        raise DatasetError(req.dataset, "the dataset file does not exist")
    cleaned = prepare_data(req, data_dir)
    train_rows = read_examples(data_dir / TRAIN_SPLIT)
    val_rows = read_examples(data_dir / VALIDATION_SPLIT)
    if not train_rows:
        raise DatasetError(
            req.dataset,
            f"no training examples left after cleaning (metaLanguage="
            f"{req.cleaning.meta_language.value}); see {data_dir / CLEANING_REPORT}",
        )
    return train_rows, val_rows, data_dir / CLEANING_REPORT, production_brief(cleaned.production)


def production_brief(figures: dict | None) -> dict | None:
    """The production figures train-report.json keeps: the cutoff, the digest and the counts."""
    if figures is None:
        return None
    keys = ("cutoff", "captureDir", "digest", "offered", "kept", "droppedMeta", "duplicatesOfBase",
            "duplicates", "overCap", "badLines", "corruptLines", "cap")
    camel = {to_camel(k): v for k, v in figures.items()}
    return {k: camel[k] for k in keys if k in camel}


def _train(req, plan: DevicePlan, train_rows, val_rows, out: Path, progress, progress_bar) -> dict:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import set_seed
    from transformers.trainer_callback import PrinterCallback
    from trl import SFTTrainer

    from molting_workloads.model_loading import cpu_4bit_fast_path, load_base, quantization_of

    params = req.training
    set_seed(params.seed)
    if plan.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    progress.update(phase="loading")
    model, tokenizer = load_base(
        req.base_model, req.base_model_revision, quantize_4bit=plan.quantize_4bit,
        cpu_4bit=plan.quantize_4bit, device=plan.device,
    )
    if plan.quantize_4bit and plan.device == "cpu":
        cpu_4bit_fast_path(model, enabled=False)  # its repacked layers cannot backpropagate
    tokenizer.padding_side = "right"  # training pads on the right; generation uses the left
    masking = choose_loss_masking(tokenizer)
    shape = (lambda rows: rows) if masking == "assistant-tokens" else to_prompt_completion
    train_set = Dataset.from_list(shape(train_rows))
    val_set = Dataset.from_list(shape(val_rows)) if val_rows else None
    max_length = min(params.max_seq_length, getattr(model.config, "max_position_embeddings", 1 << 30))
    config = _sft_config(params, plan, out, max_length, masking)
    lora = LoraConfig(
        r=params.lora.r,
        lora_alpha=params.lora.alpha,
        lora_dropout=params.lora.dropout,
        target_modules=_targets(params.lora.target_modules),
        task_type="CAUSAL_LM",
    )
    callback = progress_callback(progress, bar=sys.stderr.isatty() if progress_bar is None else progress_bar)
    trainer = SFTTrainer(
        model=model,
        args=config,
        train_dataset=train_set,
        eval_dataset=val_set,
        processing_class=tokenizer,
        peft_config=lora,
        callbacks=[callback],
    )
    # Our callback reports; the printer's dict per step would crowd the progress lines out of
    # the log tail that the cluster operator reads.
    trainer.remove_callback(PrinterCallback)
    result = trainer.train()
    val_loss = None
    if val_set is not None:
        progress.update(phase="evaluating")
        val_loss = round(trainer.evaluate()["eval_loss"], 4)
    progress.update(phase="saving")
    adapter_dir = out / ADAPTER_DIR
    trainer.model.save_pretrained(adapter_dir)
    tokenizer.padding_side = "left"
    tokenizer.save_pretrained(adapter_dir)
    shutil.rmtree(config.output_dir, ignore_errors=True)
    runtime = result.metrics.get("train_runtime") or 1e-9
    tokens = callback.tokens or 0
    return {
        "revision": req.revision,
        "base_model": req.base_model,
        "base_model_revision": req.base_model_revision,
        "dataset": req.dataset,
        "adapter": str(adapter_dir),
        "device": plan.device,
        "method_requested": params.method.value,
        "method": plan.method,
        "quantization_requested": params.quantization.value,
        "quantization": quantization_of(trainer.model),
        "compute_dtype": _compute_dtype(trainer.model),
        "fallback": plan.fallback,
        "loss_masking": masking,
        "steps": trainer.state.global_step,
        "loss_curve": _thin(callback.curve),
        "final_loss": callback.curve[-1]["loss"] if callback.curve else None,
        "val_loss": val_loss,
        "tokens": tokens,
        "tokens_per_second": round(tokens / runtime, 1),
        "train_runtime_s": round(runtime, 2),
        "peak_memory_mb": _peak_memory_mb(plan.device),
        "peak_memory_kind": "cuda-allocated" if plan.device == "cuda" else "process-max-rss",
        "settings": {
            "batch_size": params.batch_size,
            "gradient_accumulation_steps": params.gradient_accumulation_steps,
            "learning_rate": params.learning_rate,
            "packing": config.packing,
            "padding_free": config.padding_free or config.packing,
            "gradient_checkpointing": config.activation_checkpointing,
            "bf16": config.bf16,
            "max_length": max_length,
            "lora": params.lora.model_dump(mode="json"),
            "seed": params.seed,
            "threads": torch.get_num_threads() if plan.device == "cpu" else None,
        },
        "versions": _versions(),
    }


def _sft_config(params, plan: DevicePlan, out: Path, max_length: int, masking: str):
    import importlib.util

    import torch
    from trl import SFTConfig

    gpu = plan.device == "cuda"
    return SFTConfig(
        output_dir=str(out / ".trainer"),
        per_device_train_batch_size=params.batch_size,
        per_device_eval_batch_size=params.batch_size,
        gradient_accumulation_steps=params.gradient_accumulation_steps,
        learning_rate=params.learning_rate,
        num_train_epochs=params.epochs,
        max_steps=params.max_steps or -1,
        lr_scheduler_type="cosine",
        warmup_steps=0.03,
        max_length=max_length,
        # Padding-free packing builds an SDPA mask quadratic in the packed length: on a CPU it
        # measured 4x slower than padded batches (bench/train_throughput.py), so only on CUDA.
        packing=gpu and params.packing,
        assistant_only_loss=masking == "assistant-tokens",
        # SFTConfig turns bf16 and checkpointing on by default; neither helps on a CPU (NOTES).
        bf16=gpu and torch.cuda.is_bf16_supported(),
        fp16=False,
        activation_checkpointing=gpu and params.gradient_checkpointing,
        use_liger_kernel=gpu and importlib.util.find_spec("liger_kernel") is not None,
        use_cpu=not gpu,
        seed=params.seed,
        data_seed=params.seed,
        logging_steps=1,
        eval_strategy="no",
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
    )


def _compute_dtype(model) -> str:
    """The dtype the base layers compute in: bnb's compute dtype for 4-bit, else the weights'."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    quant = getattr(base.config, "quantization_config", None)
    dtype = getattr(quant, "bnb_4bit_compute_dtype", None) if quant is not None else None
    if isinstance(quant, dict):
        dtype = quant.get("bnb_4bit_compute_dtype")
    return str(dtype or base.dtype).removeprefix("torch.")


def _targets(modules: list[str]):
    return "all-linear" if modules == ["all-linear"] else modules


def _thin(curve: list[dict]) -> list[dict]:
    if len(curve) <= CURVE_POINTS:
        return curve
    stride = -(-len(curve) // CURVE_POINTS)
    return curve[::stride] + ([curve[-1]] if (len(curve) - 1) % stride else [])


def _peak_memory_mb(device: str) -> float:
    if device == "cuda":
        import torch

        return round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("torch", "transformers", "peft", "trl", "bitsandbytes"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found



# ---------------------------------------------------------------- progress


class ProgressFile:
    """progress.json (step, total, loss, eta_seconds, phase), rewritten atomically on each update
    and every ``heartbeat_s`` by a timer thread, so a person looking sees it fresh even during a
    long step. The drivers do not read it: they read the progress lines (contract/progress.py)."""

    def __init__(self, path: Path, heartbeat_s: float = 5.0) -> None:
        self.path = path
        self.state: dict[str, Any] = {
            "phase": "starting", "step": 0, "total": None, "loss": None, "eta_seconds": None,
        }
        self._started = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._write()
        self._thread = threading.Thread(
            target=self._beat, args=(heartbeat_s,), name="molting-progress", daemon=True
        )
        self._thread.start()

    def update(self, **fields: Any) -> None:
        with self._lock:
            self.state.update(fields)
            self._write()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self, heartbeat_s: float) -> None:
        while not self._stop.wait(heartbeat_s):
            with self._lock:
                self._write()

    def _write(self) -> None:
        payload = {
            **self.state,
            "elapsed_s": round(time.monotonic() - self._started, 1),
            "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        scratch = self.path.with_suffix(".json.tmp")
        scratch.write_text(json.dumps(payload) + "\n")
        os.replace(scratch, self.path)


def progress_callback(
    progress: ProgressFile, *, bar: bool, every_s: float = 1.0, log_every_s: float = 10.0
):
    """A TrainerCallback that records the loss curve and token count, updates ``progress`` (at
    most every ``every_s``), prints a progress line on stderr (at most every ``log_every_s``;
    the cluster operator reads it from the pod log) and draws a rich bar on stderr when ``bar``."""
    from transformers import TrainerCallback

    class ProgressCallback(TrainerCallback):
        def __init__(self) -> None:
            self.curve: list[dict] = []
            self.tokens: int | None = None
            self._last = self._last_line = 0.0
            self._bar = None

        def on_train_begin(self, args, state, control, **kwargs):
            self._t0 = time.monotonic()
            progress.update(phase="training", step=0, total=state.max_steps)
            if bar:
                from rich.console import Console
                from rich.progress import Progress

                self._bar = Progress(console=Console(stderr=True), transient=False)
                self._bar.start()
                self._task = self._bar.add_task("training", total=state.max_steps)

        def on_log(self, args, state, control, logs=None, **kwargs):
            logs = logs or {}
            if "loss" in logs:
                self.curve.append({"step": state.global_step, "loss": round(float(logs["loss"]), 4)})
            if "num_tokens" in logs:
                self.tokens = int(logs["num_tokens"])

        def on_step_end(self, args, state, control, **kwargs):
            step, total = state.global_step, state.max_steps
            now = time.monotonic()
            if self._bar is not None:
                loss = self.curve[-1]["loss"] if self.curve else float("nan")
                self._bar.update(self._task, completed=step, description=f"training loss {loss:.3f}")
            if now - self._last >= every_s or step == total:
                self._last = now
                eta = round((now - self._t0) / step * (total - step), 1) if step else None
                loss = self.curve[-1]["loss"] if self.curve else None
                progress.update(step=step, total=total, loss=loss, eta_seconds=eta)
                if now - self._last_line >= log_every_s or step in (1, total):
                    self._last_line = now
                    print(progress_line(step, total, loss, eta), file=sys.stderr, flush=True)

        def on_train_end(self, args, state, control, **kwargs):
            # on_log runs after on_step_end, so the last step's loss arrives only now.
            if self.curve:
                progress.update(step=state.global_step, loss=self.curve[-1]["loss"])
            if self._bar is not None:
                self._bar.stop()

    return ProgressCallback()
