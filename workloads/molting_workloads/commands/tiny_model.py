"""`molting tiny-model DIR`: build the local tiny Llama (tokenizer + ~1M-parameter model) into DIR.

The implementation (tinymodel.py) is imported inside the command, so `molting --help` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command("tiny-model")(tiny_model_command)


def tiny_model_command(
    directory: Path = typer.Argument(..., file_okay=False, help="Where the model is written."),
    seed: int = typer.Option(0, min=0, help="Seed of the corpus, the tokenizer and the weights."),
    steps: int = typer.Option(500, min=1, help="Pretraining steps (1,024 tokens each)."),
    corpus: Path | None = typer.Option(
        None, exists=True, dir_okay=False,
        help='Pretraining corpus, JSONL of {"text"} or {"messages"} (default: built-in).',
    ),
    cached: bool = typer.Option(
        False, "--cached", help="Treat DIR as a cache folder: reuse a model built with these settings."
    ),
) -> None:
    """Build a small Llama-architecture chat model that loads like a hub model (no hub needed).

    Deterministic for a given seed and step count; about 50 s on one CPU thread.
    """
    import torch

    from molting_workloads import tinymodel

    torch.set_num_threads(1)
    if cached:
        path = tinymodel.ensure_tiny_model(directory, seed=seed, steps=steps, corpus=corpus)
        meta = json.loads((path / tinymodel.MARKER).read_text())
    else:
        meta = tinymodel.build_tiny_model(directory, seed=seed, steps=steps, corpus=corpus)
        path = directory
    typer.echo(json.dumps({"path": str(path), **meta}))
