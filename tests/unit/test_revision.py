"""Revision ids: stable for equal training inputs, new for any training-relevant change."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from molting_operator.api.resource import MoltingModel
from molting_operator.api.revision import ID_LENGTH, revision_id

ROOT = Path(__file__).resolve().parents[2]
BASE = yaml.safe_load((ROOT / "examples" / "moltingmodel.yaml").read_text())


def spec_with(**changes: object):
    doc = yaml.safe_load(yaml.safe_dump(BASE))
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = doc["spec"]
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return MoltingModel.model_validate(doc).spec


def test_id_is_short_hex_and_equal_in_a_fresh_interpreter() -> None:
    here = revision_id(spec_with(), "tok")
    assert len(here) == ID_LENGTH and int(here, 16) >= 0
    code = (
        "import yaml; from molting_operator.api.resource import MoltingModel;"
        "from molting_operator.api.revision import revision_id;"
        f"d = yaml.safe_load(open({str(ROOT / 'examples' / 'moltingmodel.yaml')!r}));"
        "print(revision_id(MoltingModel.model_validate(d).spec, 'tok'))"
    )
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert there.stdout.strip() == here


@settings(max_examples=60, deadline=None)
@given(
    lr=st.floats(min_value=1e-6, max_value=0.5, allow_nan=False),
    r=st.integers(min_value=1, max_value=512),
    epochs=st.floats(min_value=0.1, max_value=50, allow_nan=False),
)
def test_training_changes_give_new_ids(lr: float, r: int, epochs: float) -> None:
    base = revision_id(spec_with())
    changed = spec_with(training__learningRate=lr, training__epochs=epochs,
                        training__lora={"r": r, "alpha": 32})
    if (lr, r, epochs) != (0.0002, 16, 3.0):
        assert revision_id(changed) != base


@settings(max_examples=40, deadline=None)
@given(token=st.text(min_size=1, max_size=20), other=st.text(min_size=1, max_size=20))
def test_retrain_token_gives_a_new_id_and_is_deterministic(token: str, other: str) -> None:
    spec = spec_with()
    assert revision_id(spec, token) == revision_id(spec, token)
    assert revision_id(spec, token) != revision_id(spec)
    assert (revision_id(spec, token) == revision_id(spec, other)) == (token == other)


@settings(max_examples=40, deadline=None)
@given(
    weights=st.lists(st.integers(1, 99), min_size=1, max_size=4, unique=True).map(sorted),
    gpus=st.integers(0, 8),
    replicas=st.integers(1, 8),
    paused=st.booleans(),
)
def test_scheduling_and_serving_changes_keep_the_id(
    weights: list[int], gpus: int, replicas: int, paused: bool
) -> None:
    spec = spec_with(
        serving__rollout={"steps": [{"weight": w} for w in weights] + [{"weight": 100}]},
        serving__replicas=replicas, training__gpus=gpus, training__nodeSelector={"a": "b"},
        training__resources={"requests": {"cpu": "1"}}, paused=paused,
        evaluation__gates={"maxMetaLanguageRate": 0.1},
    )
    assert revision_id(spec) == revision_id(spec_with())


def test_each_training_input_changes_the_id() -> None:
    base = revision_id(spec_with())
    variants = [
        spec_with(baseModel={"source": "other/model"}),
        spec_with(dataset={"path": "data/other.jsonl"}),
        spec_with(cleaning__metaLanguage="keep"),
        spec_with(cleaning__validationSplit=0.2),
        spec_with(cleaning__extraPatterns=["^Sure thing"]),
        spec_with(training__method="lora"),
        spec_with(training__maxSeqLength=512),
        spec_with(training__seed=7),
    ]
    ids = {revision_id(v) for v in variants}
    assert base not in ids and len(ids) == len(variants)


def test_quantization_auto_keeps_the_id_and_a_choice_changes_it() -> None:
    base = revision_id(spec_with())
    assert revision_id(spec_with(training__quantization="auto")) == base
    chosen = {q: revision_id(spec_with(training__quantization=q)) for q in ("nf4", "none")}
    assert base not in chosen.values() and chosen["nf4"] != chosen["none"]
