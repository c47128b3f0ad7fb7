"""The `molting` console script. Each subcommand imports its implementation lazily, so
`molting --help` and the operator image never load torch or ray."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console

from molting_workloads.contract.errors import MoltingError, SpecError

app = typer.Typer(
    help="Molting: clean, train, gate, canary and roll back LoRA adapters.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(soft_wrap=True)
err_console = Console(stderr=True)


def fail(error: MoltingError, code: int = 2) -> None:
    err_console.print(f"[bold red]error:[/] {error}", highlight=False, markup=True)
    raise typer.Exit(code)


@app.command()
def validate(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="A MoltingModel YAML file."),
) -> None:
    """Check a MoltingModel file against the CRD schema and the models; print a summary."""
    import yaml

    from molting_operator.api.annotations import RETRAIN_ANNOTATION
    from molting_operator.api.resource import load_resources
    from molting_operator.api.revision import revision_id
    from molting_operator.api.schema_check import schema_problems

    docs = [d for d in yaml.safe_load_all(file.read_text()) if d is not None] if file.exists() else []
    problems = [p for d in docs if isinstance(d, dict) for p in schema_problems(d)]
    try:
        resources = load_resources(file)
    except SpecError as error:
        fail(error)
    if problems:
        fail(SpecError(problems, str(file)))
    for res in resources:
        s = res.spec
        token = res.metadata.annotations.get(RETRAIN_ANNOTATION)
        rollout = " → ".join(f"{st.weight}%/{st.duration}" for st in s.serving.rollout.steps)
        source = s.dataset.path or (s.dataset.config_map and f"configmap {s.dataset.config_map.name}")
        source = source or f"pvc {s.dataset.pvc.claim_name}:{s.dataset.pvc.path}"
        console.print(f"[bold green]valid[/] {res.kind} {res.metadata.namespace}/{res.metadata.name}")
        console.print(f"  revision     {revision_id(s, token)}")
        console.print(f"  base model   {s.base_model.source}")
        console.print(f"  dataset      {source} (cleaning: {s.cleaning.meta_language.value})")
        console.print(
            f"  training     {s.training.method.value} r={s.training.lora.r} "
            f"epochs={s.training.epochs} lr={s.training.learning_rate} batch={s.training.batch_size}"
        )
        g = s.evaluation.gates
        console.print(
            f"  gates        meta-language ≤ {g.max_meta_language_rate}, length "
            f"{g.answer_length.min}–{g.answer_length.max}, relevance ≥ {g.min_relevance}, "
            f"no regression: {g.no_regression}"
        )
        console.print(f"  rollout      {rollout} (auto-rollback: {s.serving.rollout.auto_rollback})")


@app.command()
def crd(
    output: Path | None = typer.Option(None, "--output", "-o", help="Write here, not stdout."),
) -> None:
    """Print the MoltingModel CRD generated from the models (the source of crds/)."""
    from molting_operator.api.crd import render_crd

    text = render_crd()
    if output:
        output.write_text(text)
    else:
        sys.stdout.write(text)


def main() -> None:
    _register_more()
    app()


def _register_more() -> None:
    """Attach the verbs of the other parts (each imports its heavy code only when run)."""
    import importlib
    import pkgutil

    from molting_operator import commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        importlib.import_module(f"{commands.__name__}.{info.name}").register(app)
    from molting_workloads import cli as workloads_cli

    workloads_cli.register(app)
