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


def questions_in(path: str | Path) -> list[str]:
    """Every question a file holds, skipping lines that hold none (for probes: best effort)."""
    path = Path(path)
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            text = question_of(json.loads(line)) if line.strip() else None
        except json.JSONDecodeError:
            text = None
        if text:
            out.append(text)
    return out
