"""`molting train`: clean the dataset and train one LoRA adapter revision.

The implementation (training.py) is imported inside the command, so `molting --help` stays fast.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from molting_workloads.contract.errors import MoltingError
from molting_workloads.contract.summaries import termination_text, write_termination

err_console = Console(stderr=True)


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)


def train_command(
    request: Path | None = typer.Option(
        None, "--request", dir_okay=False, help="A TrainRequest file (JSON or YAML); flags override it."
    ),
    base_model: str | None = typer.Option(None, help="Hub id or local path of the base model."),
    dataset: str | None = typer.Option(None, help="The raw JSONL dataset (chat messages)."),
    output_dir: str | None = typer.Option(None, help="Where adapter/ and the reports go."),
    revision: str | None = typer.Option(None, help="The revision id being trained (default: dev)."),
    base_model_revision: str | None = typer.Option(None, help="Hub revision of the base model."),
    dataset_format: str | None = typer.Option(None, "--format", help="Dataset format (auto)."),
    method: str | None = typer.Option(None, help="qlora (4-bit base) or lora."),
    quantization: str | None = typer.Option(
        None,
        help="Base weights: auto (4-bit for qlora on CUDA, full precision on a CPU), nf4 (4-bit "
        "on CUDA or CPU) or none.",
    ),
    max_steps: int | None = typer.Option(None, min=1, help="Stop after this many steps."),
    epochs: float | None = typer.Option(None, help="Passes over the training set (1)."),
    lr: float | None = typer.Option(None, "--lr", help="Peak learning rate (2e-4)."),
    batch_size: int | None = typer.Option(None, min=1, help="Per-device batch size (16)."),
    grad_accum: int | None = typer.Option(None, min=1, help="Gradient accumulation steps (1)."),
    max_seq_length: int | None = typer.Option(None, min=16, help="Longest example, tokens (1024)."),
    packing: bool | None = typer.Option(None, "--packing/--no-packing", help="Padding-free packing."),
    lora_r: int | None = typer.Option(None, min=1, help="LoRA rank (16)."),
    lora_alpha: int | None = typer.Option(None, min=1, help="LoRA alpha (32)."),
    seed: int | None = typer.Option(None, min=0, help="Training seed (42)."),
    cleaning: str | None = typer.Option(
        None, help="Meta-language policy: keep, drop-sentences (default) or drop-examples."
    ),
    require_gpu: bool | None = typer.Option(
        None, "--require-gpu/--allow-cpu", help="Fail instead of falling back to CPU LoRA."
    ),
    progress_bar: bool | None = typer.Option(
        None, "--progress/--no-progress", help="Progress bar on stderr (default: when a terminal)."
    ),
) -> None:
    """Clean the dataset, train a LoRA adapter (QLoRA on CUDA; on a CPU with --quantization nf4)
    and write the reports.

    Writes OUTPUT_DIR/adapter/, train-report.json, progress.json and data/. Exits 2 on bad
    input. The last stdout line is the summary JSON (the termination message).
    """
    from molting_workloads import training

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    overrides = {
        "base_model": base_model, "dataset": dataset, "output_dir": output_dir,
        "revision": revision, "base_model_revision": base_model_revision,
        "dataset_format": dataset_format, "require_gpu": require_gpu,
        "training.method": method, "training.quantization": quantization,
        "training.max_steps": max_steps, "training.epochs": epochs,
        "training.learning_rate": lr, "training.batch_size": batch_size,
        "training.gradient_accumulation_steps": grad_accum,
        "training.max_seq_length": max_seq_length, "training.packing": packing,
        "training.seed": seed, "cleaning.meta_language": cleaning,
    }
    if lora_r is not None or lora_alpha is not None:
        overrides["training.lora"] = {
            k: v for k, v in {"r": lora_r, "alpha": lora_alpha}.items() if v is not None
        }
    name = revision or "dev"
    try:
        req = training.build_request(request, overrides)
        name = req.revision
        outcome = training.run_training(req, progress_bar=progress_bar)
    except MoltingError as error:
        _fail(training, name, error, code=2)
    except Exception as error:
        _fail(training, name, error, code=1)
    s = outcome.summary
    err_console.print(
        f"trained {s.steps} steps on {s.device} ({s.quantization}) in {s.duration_s:.1f} s: "
        f"loss {s.final_loss}, val {s.val_loss}; adapter in {outcome.adapter_dir}",
        highlight=False,
    )
    typer.echo(termination_text(s))


def _fail(training, revision: str, error: Exception, *, code: int) -> None:
    summary = training.failure_summary(revision, error)
    write_termination(summary)
    if code == 1:
        err_console.print_exception()
    err_console.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
    typer.echo(termination_text(summary))
    raise typer.Exit(code)
