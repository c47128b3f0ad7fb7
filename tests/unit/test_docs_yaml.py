"""The YAML in the docs is what a reader copies: every ```yaml block of README.md and docs/
parses, and every block that shows a MoltingModel ``spec:`` is accepted by the models (with a
base model added where the snippet leaves it out). Two snippets once held a flow list of
questions ending in "?", which YAML refuses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from molting_operator.api.spec import MoltingModelSpec

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```yaml\n(.*?)^```", re.S | re.M)


def _blocks() -> list[tuple[str, str]]:
    out = []
    for path in DOCS:
        for i, match in enumerate(BLOCK.finditer(path.read_text(encoding="utf-8"))):
            out.append((f"{path.relative_to(ROOT)}#{i + 1}", match.group(1)))
    return out


BLOCKS = _blocks()


def test_the_docs_have_yaml_blocks() -> None:
    assert len(BLOCKS) >= 10


@pytest.mark.parametrize(("where", "text"), BLOCKS, ids=[w for w, _ in BLOCKS])
def test_every_yaml_block_parses_and_every_spec_is_valid(where: str, text: str) -> None:
    docs = [d for d in yaml.safe_load_all(text) if d is not None]
    assert docs, f"{where} is empty"
    for doc in docs:
        spec = doc.get("spec") if isinstance(doc, dict) else None
        if not isinstance(spec, dict) or doc.get("kind", "MoltingModel") != "MoltingModel":
            continue
        full = {"baseModel": {"source": "/models/base"}, "dataset": {"path": "/data/d.jsonl"}}
        if "dataset" in spec and "production" in spec.get("dataset", {}):
            full["serving"] = {"capture": {"enabled": True}}
        merged = _merge(full, spec)
        MoltingModelSpec.model_validate(merged)


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out
