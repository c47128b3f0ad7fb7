"""`molting eval`: evaluate a candidate adapter (and the stable one) and decide the gates.

The implementation (evaluation.py) is imported inside the command, so `molting --help` stays fast.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from molting_workloads.contract.errors import MoltingError, Problem, SpecError
from molting_workloads.contract.summaries import termination_text, write_termination

err_console = Console(stderr=True)


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)


def eval_command(
    request: Path | None = typer.Option(
        None, "--request", dir_okay=False, help="An EvalRequest file (JSON or YAML); flags override it."
    ),
    base_model: str | None = typer.Option(None, help="Hub id or local path of the base model."),
    adapter: str | None = typer.Option(None, help="The candidate adapter folder."),
    questions: str | None = typer.Option(None, help='JSONL of {"question": ...} lines.'),
    stable_adapter: str | None = typer.Option(None, help="The stable adapter folder, to compare."),
    output_dir: str | None = typer.Option(None, help="Where the reports are written."),
    max_new_tokens: int | None = typer.Option(None, min=1, help="Longest answer, in tokens (160)."),
    revision: str | None = typer.Option(None, help="Candidate revision id (default: adapter name)."),
    stable_revision: str | None = typer.Option(None, help="Stable revision id, for the report."),
    train_report: str | None = typer.Option(None, help="train-report.json, for the loss plot."),
    gates: bool = typer.Option(False, "--gates", help="Print each gate's verdict (✓/✗)."),
    max_meta_language: float | None = typer.Option(None, help="Gate: highest meta-language rate."),
    min_length: int | None = typer.Option(None, help="Gate: mean answer length at least (chars)."),
    max_length: int | None = typer.Option(None, help="Gate: mean answer length at most (chars)."),
    min_relevance: float | None = typer.Option(None, help="Gate: lowest mean relevance."),
    max_empty_rate: float | None = typer.Option(None, help="Gate: highest empty-answer rate."),
    max_repetition: float | None = typer.Option(None, help="Gate: highest mean repetition."),
    no_regression: bool | None = typer.Option(
        None, "--no-regression/--allow-regression", help="Gate: not worse than stable."
    ),
    regression_tolerance: float | None = typer.Option(None, help="Gate: how much worse is allowed."),
    relevance_backend: str = typer.Option(
        "auto", help="auto (MiniLM, else TF-IDF), minilm (required) or tfidf."
    ),
    device: str | None = typer.Option(None, help="cpu or cuda (default: cuda when present)."),
) -> None:
    """Answer the evaluation questions, score them, decide the gates and write the reports.

    Exits 0 whenever the evaluation ran (the summary's `passed` says whether the gates held),
    2 on bad input. The last stdout line is the summary JSON (the termination message).
    """
    from molting_workloads import evaluation

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    overrides = {
        "base_model": base_model, "adapter": adapter, "questions": questions,
        "stable_adapter": stable_adapter, "output_dir": output_dir,
        "max_new_tokens": max_new_tokens, "revision": revision,
        "stable_revision": stable_revision, "train_report": train_report,
    }
    gate_overrides = {
        "max_meta_language_rate": max_meta_language, "answer_length_min": min_length,
        "answer_length_max": max_length, "min_relevance": min_relevance,
        "max_empty_rate": max_empty_rate, "max_repetition": max_repetition,
        "no_regression": no_regression, "regression_tolerance": regression_tolerance,
    }
    name = revision or (Path(adapter).name if adapter else "")
    try:
        if relevance_backend not in ("auto", "minilm", "tfidf"):
            raise SpecError([Problem("--relevance-backend", "must be auto, minilm or tfidf")])
        req = evaluation.build_request(request, overrides, gate_overrides)
        name = req.revision
        outcome = evaluation.run_eval(req, relevance_backend=relevance_backend, device=device)
    except MoltingError as error:
        _fail(evaluation, name, error)
    err_console.print(f"wrote {outcome.json_path} and {outcome.html_path}", highlight=False)
    if gates:
        for line in evaluation.format_verdicts(outcome.verdicts):
            typer.echo(line)
    typer.echo(termination_text(outcome.summary))


def _fail(evaluation, revision: str, error: Exception) -> None:
    summary = evaluation.failure_summary(revision, error)
    write_termination(summary)
    err_console.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
    typer.echo(termination_text(summary))
    raise typer.Exit(2)
