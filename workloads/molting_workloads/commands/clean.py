"""`molting clean`: validate, de-meta, dedupe and split a JSONL dataset (see cleaning.py)."""

from __future__ import annotations

from pathlib import Path

import typer

from molting_workloads.contract.patterns import CLEANING_META_THRESHOLD

# CleaningPolicy fields whose option is named differently
_OPTIONS = {"meta_language": "policy", "extra_patterns": "extra-pattern"}


def register(app: typer.Typer) -> None:
    app.command()(clean)


def clean(
    input: Path = typer.Argument(..., help="JSONL: chat `messages` or `prompt`/`completion` lines."),
    output_dir: Path = typer.Option(..., "--output-dir", "-o", help="Where the cleaned files go."),
    policy: str = typer.Option("drop-sentences", help="drop-sentences, drop-examples or keep."),
    extra_pattern: list[str] = typer.Option([], help="Extra meta-language regex (repeatable)."),
    meta_threshold: float = typer.Option(
        CLEANING_META_THRESHOLD, help="Classifier threshold in (0, 1): lower removes more (recall), higher less."),
    builtin_detector: bool = typer.Option(True, help="Use the built-in meta-language classifier."),
    dedupe: bool = typer.Option(True, help="Remove exact and normalised duplicates."),
    validation_split: float = typer.Option(0.1, help="Held-out fraction, in (0, 0.5)."),
    seed: int = typer.Option(42, help="Seed of the split."),
    max_bad_fraction: float = typer.Option(0.05, help="Fail above this fraction of bad lines."),
    format: str = typer.Option("auto", help="auto, messages or prompt-completion."),
) -> None:
    """Validate every line, remove meta-language by policy, dedupe and split train/validation."""
    from pydantic import ValidationError

    from molting_workloads.cleaning import FORMATS, DatasetLinesError, clean_dataset
    from molting_workloads.contract.errors import DatasetError
    from molting_workloads.contract.policies import CleaningPolicy
    from molting_workloads.language import MetaLanguage, ModelFileError

    def fail(message: str) -> None:
        typer.echo(f"error: {message}", err=True)
        raise typer.Exit(2)

    try:
        cleaning = CleaningPolicy(meta_language=policy, extra_patterns=extra_pattern,
                                  dedupe=dedupe, validation_split=validation_split, seed=seed,
                                  max_bad_fraction=max_bad_fraction, meta_threshold=meta_threshold,
                                  builtin_detector=builtin_detector)
    except ValidationError as error:
        first = error.errors()[0]
        field = str(first["loc"][0])
        option = _OPTIONS.get(field, field.replace("_", "-"))
        fail(f"--{option}: {first['msg'].removeprefix('Value error, ')}")
    if format not in FORMATS:
        fail(f"--format: {format!r} is not one of {', '.join(FORMATS)}")
    try:
        MetaLanguage(extra_pattern, threshold=meta_threshold, builtin=builtin_detector)
    except ModelFileError as error:
        fail(str(error))
    except ValueError as error:
        fail(f"--extra-pattern: {error}")
    try:
        report = clean_dataset(input, output_dir, cleaning, format=format)
    except DatasetLinesError as error:
        for problem in error.problems:
            typer.echo(f"error: {input}:{problem.line}: {problem.reason}", err=True)
        fail(str(error))
    except DatasetError as error:
        fail(str(error))
    typer.echo(
        f"{report.lines_read} lines: {report.bad_lines} bad (see {report.rejects_file}), "
        f"{report.meta_examples} with meta-language ({report.meta_sentences_removed} sentences "
        f"removed, {report.examples_dropped_meta} examples dropped), {report.duplicates_exact} "
        f"exact + {report.duplicates_normalised} normalised duplicates -> {report.train} train, "
        f"{report.validation} validation in {output_dir}"
    )
