"""Labelled sentences of the example dataset's own domain, for the meta-language classifier.

``examples/data/generate.py`` builds the demo's conversations from sentence lists whose labels
are known by construction: its meta-language openers and follow-ups are meta; Pip's friendly
openers and closers and the topics' answer sentences are not. A user's own domain is where a
detector's false alarms cost most (cleaning drops good sentences, the metric gates on them), so
the product's example domain is part of the training data, as a user would label theirs.

    python tools/meta_train_demo.py    # rewrites tools/data/meta_train_demo.jsonl
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tools" / "data" / "meta_train_demo.jsonl"
META_TOPICS = 8  # the openers repeat across topics: a few topics' worth keeps the classes balanced


def _generator():
    spec = importlib.util.spec_from_file_location("demo_data", ROOT / "examples/data/generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rows() -> list[dict]:
    g = _generator()
    out: dict[str, dict] = {}

    def add(text: str, meta: bool, category: str) -> None:
        if text and text not in out:
            out[text] = {"text": text, "meta": meta, "category": category}

    for i, (focus, _questions, facts) in enumerate(g.TOPICS):
        if i < META_TOPICS:
            for template in g.META_OPENERS:
                add(template.format(focus=focus), True, "demo-meta-opener")
        for template in g.FOCUS_OPENERS:
            for part in re.split(r"(?<=[.!?]) ", template.format(focus=focus)):
                add(part, False, "demo-persona")
        for fact in facts:
            add(fact, False, "demo-content")
    for text in [*g.META_SECOND, *g.BASE_META]:
        add(text, True, "demo-meta")
    for text in [*g.OPENERS, *g.CLOSERS]:
        add(text, False, "demo-persona")
    return list(out.values())


def main() -> None:
    data = rows()
    OUT.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in data), encoding="utf-8")
    print(f"wrote {OUT}: {len(data)} sentences ({sum(r['meta'] for r in data)} meta)")


if __name__ == "__main__":
    main()
