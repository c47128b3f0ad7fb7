"""`molting clean`: validate every JSONL line, remove meta-language by policy, dedupe, split.

Nothing is silently dropped: every bad line goes to ``rejects.jsonl`` with its line number and
reason, every removal is counted in ``cleaning-report.json``, and a dataset that is more than
``max_bad_fraction`` bad fails with a ``DatasetError``.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from molting_workloads.contract.errors import DatasetError
from molting_workloads.contract.policies import CleaningPolicy, MetaLanguagePolicy
from molting_workloads.language import MetaLanguage

ROLES = ("system", "user", "assistant")
SAMPLE_CHANGES = 10
_MIN_WORDS = 3  # an assistant turn with fewer words left is not substantive


class LineError(ValueError):
    """One malformed dataset line."""


@dataclass
class CleaningReport:
    input: str
    policy: str
    lines_read: int = 0
    blank_lines: int = 0
    bad_lines: int = 0
    bad_by_reason: dict[str, int] = field(default_factory=dict)
    examples: int = 0
    meta_examples: int = 0
    meta_sentences_removed: int = 0
    examples_dropped_meta: int = 0
    fallback_kept: int = 0
    duplicates_exact: int = 0
    duplicates_normalised: int = 0
    train: int = 0
    validation: int = 0
    rejects_file: str = ""
    sample_changes: list[dict[str, str]] = field(default_factory=list)


def parse_line(raw: str, fmt: str = "auto") -> list[dict[str, str]]:
    """One JSONL line as chat messages, or LineError saying what is wrong."""
    try:
        row = json.loads(raw)
    except json.JSONDecodeError as error:
        raise LineError(f"invalid JSON: {error.msg} at column {error.colno}") from None
    if not isinstance(row, dict):
        raise LineError(f"expected a JSON object, got {type(row).__name__}")
    if fmt == "auto":
        fmt = "messages" if "messages" in row else "prompt-completion"
    if fmt == "messages":
        return _messages(row)
    return _prompt_completion(row)


def _messages(row: dict[str, Any]) -> list[dict[str, str]]:
    messages = row.get("messages")
    if messages is None:
        raise LineError("missing field 'messages'")
    if not isinstance(messages, list) or not messages:
        raise LineError("'messages' must be a non-empty list")
    out = []
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise LineError(f"messages[{i}] must be an object")
        role, content = msg.get("role"), msg.get("content")
        if role is None:
            raise LineError(f"messages[{i}]: missing role")
        if role not in ROLES:
            raise LineError(f"messages[{i}]: unknown role {role!r} (use {', '.join(ROLES)})")
        if not isinstance(content, str):
            raise LineError(f"messages[{i}].content must be a string")
        if not content.strip():
            raise LineError(f"messages[{i}]: empty content")
        out.append({"role": role, "content": content})
    if not any(m["role"] == "assistant" for m in out):
        raise LineError("no assistant turn")
    if not any(m["role"] == "user" for m in out):
        raise LineError("no user turn")
    return out


def _prompt_completion(row: dict[str, Any]) -> list[dict[str, str]]:
    for key in ("prompt", "completion"):
        if key not in row:
            raise LineError(f"missing field {key!r} (or use 'messages')")
        if not isinstance(row[key], str):
            raise LineError(f"{key!r} must be a string")
        if not row[key].strip():
            raise LineError(f"empty {key!r}")
    return [{"role": "user", "content": row["prompt"]},
            {"role": "assistant", "content": row["completion"]}]


def _reason_kind(reason: str) -> str:
    return re.sub(r"\[\d+\]|'[^']*'|column \d+|: .*$", "", reason).strip()


def _normalised(messages: list[dict[str, str]]) -> str:
    text = "\x1f".join(f"{m['role']}:{m['content']}" for m in messages).lower()
    return re.sub(r"[\W_]+", " ", text).strip()


def _substantive(text: str) -> bool:
    return len(re.findall(r"\w+", text)) >= _MIN_WORDS


def clean_dataset(
    input_path: str | Path, output_dir: str | Path, policy: CleaningPolicy, format: str = "auto"
) -> CleaningReport:
    """Clean ``input_path`` into ``output_dir`` (train.jsonl, validation.jsonl, rejects.jsonl,
    cleaning-report.json)."""
    src, out = Path(input_path), Path(output_dir)
    if not src.is_file():
        raise DatasetError(str(src), "the dataset file does not exist")
    out.mkdir(parents=True, exist_ok=True)
    meta = MetaLanguage(policy.extra_patterns)
    report = CleaningReport(input=str(src), policy=policy.meta_language.value,
                            rejects_file=str(out / "rejects.jsonl"))
    examples: list[list[dict[str, str]]] = []
    rejects = []
    with src.open(encoding="utf-8", errors="replace") as handle:
        for number, raw in enumerate(handle, start=1):
            report.lines_read += 1
            if not raw.strip():
                report.blank_lines += 1
                continue
            try:
                examples.append(parse_line(raw, format))
            except LineError as error:
                kind = _reason_kind(str(error))
                report.bad_by_reason[kind] = report.bad_by_reason.get(kind, 0) + 1
                rejects.append({"line": number, "reason": str(error), "text": raw.rstrip("\n")[:2000]})
    report.bad_lines = len(rejects)
    with (out / "rejects.jsonl").open("w") as handle:
        for row in rejects:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    content_lines = report.lines_read - report.blank_lines
    if content_lines == 0:
        raise DatasetError(str(src), "the dataset is empty")
    if report.bad_lines / content_lines > policy.max_bad_fraction:
        first = "; ".join(f"line {r['line']}: {r['reason']}" for r in rejects[:5])
        raise DatasetError(
            str(src),
            f"{report.bad_lines} of {content_lines} lines are malformed "
            f"({report.bad_lines / content_lines:.0%} > maxBadFraction {policy.max_bad_fraction:.0%});"
            f" first: {first}; all in {out / 'rejects.jsonl'}",
        )
    report.examples = len(examples)
    cleaned = [c for c in (_apply_policy(ex, meta, policy, report) for ex in examples) if c]
    unique = _dedupe(cleaned, report) if policy.dedupe else cleaned
    train, validation = split(unique, policy.validation_split, policy.seed)
    report.train, report.validation = len(train), len(validation)
    _write_jsonl(out / "train.jsonl", train)
    _write_jsonl(out / "validation.jsonl", validation)
    (out / "cleaning-report.json").write_text(json.dumps(asdict(report), indent=2, ensure_ascii=False))
    return report


def _apply_policy(
    messages: list[dict[str, str]], meta: MetaLanguage, policy: CleaningPolicy,
    report: CleaningReport,
) -> list[dict[str, str]] | None:
    assistant = [m for m in messages if m["role"] == "assistant"]
    if not any(meta.contains(m["content"]) for m in assistant):
        return messages
    report.meta_examples += 1
    if policy.meta_language == MetaLanguagePolicy.KEEP:
        return messages
    if policy.meta_language == MetaLanguagePolicy.DROP_EXAMPLES:
        report.examples_dropped_meta += 1
        return None
    result = []
    for msg in messages:
        if msg["role"] != "assistant":
            result.append(msg)
            continue
        stripped = meta.strip(msg["content"])
        report.meta_sentences_removed += len(stripped.removed)
        if stripped.fallback or not _substantive(stripped.text):
            report.examples_dropped_meta += 1  # nothing substantive left to learn from
            return None
        if stripped.removed and len(report.sample_changes) < SAMPLE_CHANGES:
            report.sample_changes.append({"before": msg["content"], "after": stripped.text})
        result.append({"role": "assistant", "content": stripped.text})
    return result


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
    if len(ordered) >= 2:
        n_val = min(max(n_val, 1), len(ordered) - 1)
    else:
        n_val = 0
    validation, train = ordered[:n_val], ordered[n_val:]
    random.Random(seed).shuffle(train)
    return train, validation


def _write_jsonl(path: Path, examples: list[list[dict[str, str]]]) -> None:
    with path.open("w") as handle:
        for ex in examples:
            handle.write(json.dumps({"messages": ex}, ensure_ascii=False) + "\n")
