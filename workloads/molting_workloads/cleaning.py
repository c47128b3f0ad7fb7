"""`molting clean` and the training Job's first step: validate every JSONL line, remove
meta-language by policy, dedupe, and split train/validation deterministically.

Nothing is silently dropped: every bad line goes to ``rejects.jsonl`` with its line number, kind
and reason, every removal is counted in ``cleaning-report.json``, and a dataset with more than
``max_bad_fraction`` bad lines fails with a ``DatasetLinesError`` naming the first ones.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from molting_workloads.contract.errors import DatasetError, Problem
from molting_workloads.contract.layout import (
    CLEANING_REPORT,
    REJECTS,
    TRAIN_SPLIT,
    VALIDATION_SPLIT,
)
from molting_workloads.contract.policies import CleaningPolicy, MetaLanguagePolicy
from molting_workloads.language import MetaLanguage

ROLES = ("system", "user", "assistant")
FORMATS = ("auto", "messages", "prompt-completion")
SAMPLE_CHANGES = 10
MAX_LISTED = 10_000  # distinct removed sentences listed in the report
_MIN_WORDS = 3  # an assistant turn with fewer words left is not substantive
_SHOWN_PROBLEMS = 5


class LineError(ValueError):
    """One malformed dataset line: a short ``kind`` (counted in the report) and a reason."""

    def __init__(self, kind: str, reason: str) -> None:
        self.kind = kind
        super().__init__(reason)


class DatasetLinesError(DatasetError):
    """Too many malformed lines; ``problems`` holds the first few, each with its line."""

    def __init__(self, file: str, reason: str, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__(file, reason)


@dataclass
class CleaningReport:
    """What each step did; written as ``cleaning-report.json``."""

    input: str
    policy: str
    lines_read: int = 0
    blank_lines: int = 0
    bad_lines: int = 0
    bad_by_reason: dict[str, int] = field(default_factory=dict)  # kind -> count
    examples: int = 0  # valid lines
    meta_examples: int = 0  # examples with meta-language in an assistant turn
    meta_sentences_removed: int = 0
    examples_dropped_meta: int = 0  # by drop-examples, or nothing substantive left
    duplicates_exact: int = 0
    duplicates_normalised: int = 0
    train: int = 0
    validation: int = 0
    rejects_file: str = ""
    sample_changes: list[dict[str, str]] = field(default_factory=list)  # up to 10 before/after
    meta_threshold: float = 0.0  # the detector's decision threshold
    builtin_detector: bool = True
    # Every distinct meta sentence removed (alone or with its example): its text, the
    # detector's score (1.0 for a user pattern) and how many times it was removed.
    removed_sentences: list[dict] = field(default_factory=list)
    removed_sentences_truncated: bool = False  # more than MAX_LISTED distinct ones
    # With production rows (spec.dataset.production): what became of them (ProductionCounts).
    production: dict | None = None


@dataclass
class ProductionCounts:
    """What cleaning did to the production rows, in ``cleaning-report.json`` under production."""

    lines: int = 0
    bad_lines: int = 0
    bad_by_reason: dict[str, int] = field(default_factory=dict)
    dropped_meta: int = 0  # by the meta-language policy, as a base example would be
    duplicates_of_base: int = 0  # the same user question and answer as a base example
    duplicates: int = 0  # the same as a production row already kept
    cap: int = 0  # the most rows maxShare allows next to the cleaned base rows
    over_cap: int = 0
    kept: int = 0


def parse_line(raw: str, fmt: str = "auto") -> list[dict[str, str]]:
    """One JSONL line as chat messages, or ``LineError`` saying what is wrong."""
    try:
        row = json.loads(raw)
    except json.JSONDecodeError as error:
        raise LineError("invalid-json", f"invalid JSON: {error.msg} (column {error.colno})") from None
    if not isinstance(row, dict):
        raise LineError("not-an-object", f"expected a JSON object, got {type(row).__name__}")
    if fmt == "auto":
        fmt = "messages" if "messages" in row else "prompt-completion"
    return _messages(row) if fmt == "messages" else _prompt_completion(row)


def _messages(row: dict[str, Any]) -> list[dict[str, str]]:
    if "messages" not in row:
        raise LineError("missing-field", "missing field 'messages'")
    messages = row["messages"]
    if not isinstance(messages, list) or not messages:
        raise LineError("wrong-type", "'messages' must be a non-empty list")
    out = []
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise LineError("wrong-type", f"messages[{i}] must be an object")
        role, content = msg.get("role"), msg.get("content")
        if role is None:
            raise LineError("missing-role", f"messages[{i}]: missing role")
        if role not in ROLES:
            raise LineError("unknown-role",
                            f"messages[{i}]: unknown role {role!r} (use {', '.join(ROLES)})")
        if not isinstance(content, str):
            raise LineError("wrong-type", f"messages[{i}].content must be a string")
        if not content.strip():
            raise LineError("empty-content", f"messages[{i}]: empty content")
        out.append({"role": role, "content": content})
    if not any(m["role"] == "assistant" for m in out):
        raise LineError("no-assistant-turn", "no assistant turn")
    if not any(m["role"] == "user" for m in out):
        raise LineError("no-user-turn", "no user turn")
    return out


def _prompt_completion(row: dict[str, Any]) -> list[dict[str, str]]:
    for key in ("prompt", "completion"):
        if key not in row:
            raise LineError("missing-field", f"missing field {key!r} (or use 'messages')")
        if not isinstance(row[key], str):
            raise LineError("wrong-type", f"{key!r} must be a string")
        if not row[key].strip():
            raise LineError("empty-content", f"empty {key!r}")
    return [{"role": "user", "content": row["prompt"]},
            {"role": "assistant", "content": row["completion"]}]


def _read_lines(src: Path) -> Iterator[tuple[int, str | None, bytes]]:
    """(line number, text or None when it is not UTF-8, raw bytes) for every line."""
    with src.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if number == 1:
                raw = raw.removeprefix(b"\xef\xbb\xbf")
            try:
                yield number, raw.decode("utf-8"), raw
            except UnicodeDecodeError:
                yield number, None, raw


def clean_dataset(
    input_path: str | Path, output_dir: str | Path, policy: CleaningPolicy, format: str = "auto",
    production: Path | None = None, max_share: float = 0.25,
) -> CleaningReport:
    """Clean ``input_path`` into ``output_dir``: train.jsonl and validation.jsonl (chat
    ``messages``), rejects.jsonl and cleaning-report.json.

    ``production`` (a JSONL of chat rows, best first) is cleaned by the same policy; its rows
    that repeat a base example's user question and answer are dropped, and at most
    ``max_share`` of the cleaned rows come from it (its first ones). Its bad lines are
    rejected (``"source": "production"``) but never count against ``max_bad_fraction``.

    Raises ``DatasetError`` for a missing or empty file, a dataset with no usable example, and
    ``DatasetLinesError`` when more than ``policy.max_bad_fraction`` of its lines are malformed.
    An invalid extra pattern raises ``ValueError`` naming it.
    """
    if format not in FORMATS:
        raise ValueError(f"unknown dataset format {format!r} (use {', '.join(FORMATS)})")
    src, out = Path(input_path), Path(output_dir)
    if not src.is_file():
        raise DatasetError(str(src), "the dataset file does not exist")
    meta = MetaLanguage(policy.extra_patterns, threshold=policy.meta_threshold,
                        builtin=policy.builtin_detector, field="cleaning")
    out.mkdir(parents=True, exist_ok=True)
    report = CleaningReport(input=str(src), policy=policy.meta_language.value,
                            rejects_file=str(out / REJECTS),
                            meta_threshold=policy.meta_threshold,
                            builtin_detector=policy.builtin_detector)
    removed: dict[str, list] = {}  # sentence -> [score, count]
    examples, rejects = _validate(src, format, report)
    _write_rows(out / REJECTS, rejects)
    _check_bad_fraction(src, report, rejects, policy.max_bad_fraction)

    cleaned = [c for c in (_apply_policy(ex, meta, policy, report, removed) for ex in examples)
               if c]
    extra = (_clean_production(production, meta, policy, removed, rejects)
             if production is not None else None)
    _list_removed(report, removed)
    unique = _dedupe(cleaned, report) if policy.dedupe else cleaned
    if extra is not None:
        rows, counts = extra
        unique = unique + _admit(rows, unique, max_share, counts)
        report.production = asdict(counts)
        _write_rows(out / REJECTS, rejects)
    train, validation = split(unique, policy.validation_split, policy.seed)
    report.train, report.validation = len(train), len(validation)
    _write_rows(out / TRAIN_SPLIT, [{"messages": ex} for ex in train])
    _write_rows(out / VALIDATION_SPLIT, [{"messages": ex} for ex in validation])
    (out / CLEANING_REPORT).write_text(
        json.dumps(asdict(report), indent=2, ensure_ascii=False) + "\n")
    if not unique:
        raise DatasetError(
            str(src),
            f"no examples left after cleaning: {report.examples_dropped_meta} dropped for "
            f"meta-language (policy {report.policy}), {report.duplicates_exact} exact and "
            f"{report.duplicates_normalised} normalised duplicates; see {out / CLEANING_REPORT}",
        )
    return report


def _validate(src: Path, fmt: str, report: CleaningReport) -> tuple[list, list[dict]]:
    examples: list[list[dict[str, str]]] = []
    rejects: list[dict] = []
    for number, text, raw in _read_lines(src):
        report.lines_read += 1
        if text is not None and not text.strip():
            report.blank_lines += 1
            continue
        try:
            if text is None:
                raise LineError("invalid-utf8", "the line is not valid UTF-8")
            examples.append(parse_line(text, fmt))
        except LineError as error:
            report.bad_by_reason[error.kind] = report.bad_by_reason.get(error.kind, 0) + 1
            shown = text if text is not None else raw.decode("utf-8", errors="replace")
            rejects.append({"line": number, "kind": error.kind, "reason": str(error),
                            "text": shown.rstrip("\r\n")[:2000]})
    report.bad_lines, report.examples = len(rejects), len(examples)
    return examples, rejects


def _check_bad_fraction(src: Path, report: CleaningReport, rejects: list[dict],
                        limit: float) -> None:
    content_lines = report.lines_read - report.blank_lines
    if content_lines == 0:
        raise DatasetError(str(src), "the dataset is empty (no non-blank lines)")
    problems = [Problem(path=r["kind"], reason=r["reason"], line=r["line"])
                for r in rejects[:_SHOWN_PROBLEMS]]
    first = "; ".join(f"line {p.line}: {p.reason}" for p in problems)
    if report.bad_lines / content_lines > limit:
        raise DatasetLinesError(
            str(src),
            f"{report.bad_lines} of {content_lines} lines are malformed "
            f"({report.bad_lines / content_lines:.0%} > maxBadFraction {limit:.0%}); "
            f"first: {first}; all in {report.rejects_file}",
            problems,
        )
    if not report.examples:
        raise DatasetLinesError(str(src), f"no valid example in {content_lines} lines; first: "
                                f"{first}; all in {report.rejects_file}", problems)


def _apply_policy(
    messages: list[dict[str, str]], meta: MetaLanguage, policy: CleaningPolicy,
    report: CleaningReport, listed: dict[str, list],
) -> list[dict[str, str]] | None:
    """The example after the meta-language policy, or None when it is dropped (counted; the
    meta sentences removed go into ``listed`` with their scores)."""
    spans = [span for m in messages if m["role"] == "assistant" for span in meta.find(m["content"])]
    if not spans:
        return messages
    report.meta_examples += 1
    if policy.meta_language == MetaLanguagePolicy.KEEP:
        return messages
    for span in spans:
        entry = listed.setdefault(span.sentence, [span.score, 0])
        entry[1] += 1
    if policy.meta_language == MetaLanguagePolicy.DROP_EXAMPLES:
        report.examples_dropped_meta += 1
        return None
    result, changes, removed = [], [], 0
    for msg in messages:
        if msg["role"] != "assistant":
            result.append(msg)
            continue
        stripped = meta.strip(msg["content"])
        removed += len(stripped.removed)
        if stripped.fallback or not _substantive(stripped.text):
            report.meta_sentences_removed += removed
            report.examples_dropped_meta += 1  # nothing substantive left to learn from
            return None
        if stripped.removed:
            changes.append({"before": msg["content"], "after": stripped.text})
        result.append({"role": "assistant", "content": stripped.text})
    report.meta_sentences_removed += removed
    report.sample_changes.extend(changes[: SAMPLE_CHANGES - len(report.sample_changes)])
    return result


def _list_removed(report: CleaningReport, removed: dict[str, list]) -> None:
    """The removed sentences, most often removed first (then by text, for a stable report)."""
    ordered = sorted(removed.items(), key=lambda item: (-item[1][1], item[0]))
    report.removed_sentences = [{"sentence": text, "score": score, "count": count}
                                for text, (score, count) in ordered[:MAX_LISTED]]
    report.removed_sentences_truncated = len(ordered) > MAX_LISTED


def _clean_production(
    path: Path, meta: MetaLanguage, policy: CleaningPolicy, listed: dict[str, list],
    rejects: list[dict],
) -> tuple[list, ProductionCounts]:
    """The production rows after the same validation and meta-language policy as the base."""
    scratch = CleaningReport(input=str(path), policy=policy.meta_language.value)
    examples, bad = _validate(path, "messages", scratch)
    rejects.extend({**r, "source": "production"} for r in bad)
    counts = ProductionCounts(lines=scratch.lines_read - scratch.blank_lines,
                              bad_lines=scratch.bad_lines, bad_by_reason=scratch.bad_by_reason)
    cleaned = [c for c in (_apply_policy(ex, meta, policy, scratch, listed) for ex in examples)
               if c]
    counts.dropped_meta = len(examples) - len(cleaned)
    return cleaned, counts


def _admit(rows: list, base: list, max_share: float, counts: ProductionCounts) -> list:
    """The production rows not in the base (by user question and answer), in their order, at
    most ``max_share`` of base + kept."""
    in_base = {_question_answer(ex) for ex in base}
    counts.cap = int(max_share * len(base) / (1.0 - max_share) + 1e-9)
    kept, kept_keys = [], set()
    for ex in rows:
        key = _question_answer(ex)
        if key in in_base:
            counts.duplicates_of_base += 1
        elif key in kept_keys:
            counts.duplicates += 1
        elif len(kept) >= counts.cap:
            counts.over_cap += 1
        else:
            kept_keys.add(key)
            kept.append(ex)
    counts.kept = len(kept)
    return kept


def _question_answer(messages: list[dict[str, str]]) -> str:
    """The user turns and the last answer, with case, whitespace and punctuation ignored."""
    users = [m["content"] for m in messages if m["role"] == "user"]
    answer = next((m["content"] for m in reversed(messages) if m["role"] == "assistant"), "")
    return re.sub(r"[\W_]+", " ", "\x1f".join([*users, answer]).lower()).strip()


def _substantive(text: str) -> bool:
    return len(re.findall(r"\w+", text)) >= _MIN_WORDS


def _normalised(messages: list[dict[str, str]]) -> str:
    """The example with case, whitespace and punctuation ignored (roles kept)."""
    text = "\x1f".join(f"{m['role']}:{m['content']}" for m in messages).lower()
    return re.sub(r"[\W_]+", " ", text).strip()


def _dedupe(examples: list[list[dict[str, str]]], report: CleaningReport) -> list:
    seen_exact, seen_norm, out = set(), set(), []
    for ex in examples:
        exact = json.dumps(ex, sort_keys=True)
        norm = _normalised(ex)
        if exact in seen_exact:
            report.duplicates_exact += 1
            continue
        if norm in seen_norm:
            report.duplicates_normalised += 1
            continue
        seen_exact.add(exact)
        seen_norm.add(norm)
        out.append(ex)
    return out


def split(examples: list, fraction: float, seed: int) -> tuple[list, list]:
    """A deterministic split: order by a seeded hash of the content, so it does not depend on
    the input order; at least one validation example when there are two or more."""
    def key(ex: list) -> str:
        return hashlib.sha256(f"{seed}:{json.dumps(ex, sort_keys=True)}".encode()).hexdigest()

    ordered = sorted(examples, key=key)
    n_val = round(len(ordered) * fraction)
    n_val = min(max(n_val, 1), len(ordered) - 1) if len(ordered) >= 2 else 0
    validation, train = ordered[:n_val], ordered[n_val:]
    random.Random(seed).shuffle(train)
    return train, validation


def _write_rows(path: Path, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
