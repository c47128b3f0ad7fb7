"""What counts as an evaluation question in a JSONL row. One definition for the evaluation Job,
the operator's probes and the local driver: a ``{"question"}`` line, the last user turn of a chat
``messages`` line (so a cleaned validation split works as questions), or a ``prompt``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def question_of(row: Any) -> str | None:
    """The question in one parsed JSONL row, or None when the row holds none."""
    if not isinstance(row, dict):
        return None
    if "question" in row:
        text = row["question"]
    elif isinstance(row.get("messages"), list):
        users = [m.get("content") for m in row["messages"]
                 if isinstance(m, dict) and m.get("role") == "user"]
        text = users[-1] if users else None
    else:
        text = row.get("prompt")
    return text.strip() if isinstance(text, str) and text.strip() else None


def questions_in_text(text: str) -> list[str]:
    """Every question in JSONL text, skipping lines that hold none (probes: best effort)."""
    out = []
    for line in text.splitlines():
        try:
            question = question_of(json.loads(line)) if line.strip() else None
        except json.JSONDecodeError:
            question = None
        if question:
            out.append(question)
    return out


def questions_in(path: str | Path) -> list[str]:
    """``questions_in_text`` of a file; no file means no questions."""
    path = Path(path)
    return questions_in_text(path.read_text(encoding="utf-8")) if path.is_file() else []
