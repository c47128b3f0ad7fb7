"""The learned meta-language detector on data it was never trained on, its weights file, and
its inputs.

Five held-out sets, none of whose sentences is in the training data. v1 and v2
(tests/data/meta_heldout_*.jsonl, meta_heldout2_*) were written by the author of the training
generator; v1 was then used to broaden the training set, so both are "seen" figures. v3, v4
and v5 were written independently, by writers who saw neither the training data nor the
model. v3 and v4 were scored as the hand-written training batches came in (their figures
decided that more data was worth asking for, never what it held); v5 was scored once, after
the model was final, and is the figure a user should expect. docs/performance.md records all.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from molting_workloads.contract.patterns import CLEANING_META_THRESHOLD, FILTER_META_THRESHOLD
from molting_workloads.language import MetaLanguage, ModelFileError
from molting_workloads.meta_eval import score_answers, score_sentences
from molting_workloads.meta_features import has_cue
from molting_workloads.meta_model import MetaModel, load_model

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
MODEL_FILE = ROOT / "workloads" / "molting_workloads" / "data" / "meta_model.tsv"


def _rows(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines()]


V1 = (_rows("meta_heldout_sentences.jsonl"), _rows("meta_heldout_answers.jsonl"))
V2 = (_rows("meta_heldout2_sentences.jsonl"), _rows("meta_heldout2_answers.jsonl"))
V3 = (_rows("meta_heldout3_sentences.jsonl"), _rows("meta_heldout3_answers.jsonl"))
V4 = (_rows("meta_heldout4_sentences.jsonl"), _rows("meta_heldout4_answers.jsonl"))
V5 = (_rows("meta_heldout5_sentences.jsonl"), _rows("meta_heldout5_answers.jsonl"))
HELD_OUT = {"v1": V1, "v2": V2, "v3": V3, "v4": V4, "v5": V5}
TRAINING_FILES = sorted((ROOT / "tools" / "data").glob("meta_train*.jsonl"))
TRAIN = [row for path in TRAINING_FILES for row in _rows(str(path))]  # absolute: DATA / path


def _report(name: str, meta: MetaLanguage, sentences: list[dict], answers: list[dict]):
    s, a = score_sentences(meta, sentences), score_answers(meta, answers)
    cats = ", ".join(f"{c} {r}/{n}" for c, (r, n) in sorted(s.by_category.items()))
    print(f"\n{name} @ {meta.threshold}: precision {s.precision:.3f}, recall {s.recall:.3f}, "
          f"exact answers {a.exact}/{a.total}, all-meta non-empty {a.non_empty}/{a.all_meta}; "
          f"by category (right/total): {cats}")
    return s, a


def test_the_held_out_sets_are_disjoint_from_the_training_set() -> None:
    train = {r["text"] for r in TRAIN}
    for sentences, _answers in HELD_OUT.values():
        assert len(sentences) >= 150 and sum(r["meta"] for r in sentences) >= 75
        assert not train & {r["text"] for r in sentences}
    assert len(V1[1]) == 60 and sum(r["allMeta"] for r in V1[1]) == 4
    for _sentences, answers in (V3, V4, V5):
        assert len(answers) == 60 and sum(r["allMeta"] for r in answers) == 6
    assert len(TRAINING_FILES) >= 2 and len(TRAIN) >= 6000


@pytest.mark.parametrize("threshold", [CLEANING_META_THRESHOLD, 0.5, FILTER_META_THRESHOLD])
def test_held_out_figures_do_not_regress(threshold: float) -> None:
    """Floors a little under what the committed model scores, so a rebuild that generalises
    worse fails here (the goals themselves are the strict xfail below)."""
    meta = MetaLanguage(threshold=threshold)
    figures = {name: _report(f"held-out {name}", meta, *data) for name, data in HELD_OUT.items()}
    for name, (s, a) in figures.items():
        floor = FLOORS[name]
        assert s.precision >= floor[0] and s.recall >= floor[1], name
        assert a.exact >= floor[2], name
        assert a.non_empty == a.all_meta, name  # an all-meta answer never comes back empty


# (precision, recall, exact answers) a little under what the committed model scores at any of
# the three thresholds.
FLOORS = {"v1": (0.96, 0.96, 50), "v2": (0.97, 0.97, 28), "v3": (0.94, 0.94, 46),
          "v4": (0.92, 0.88, 45), "v5": (0.89, 0.91, 44)}


@pytest.mark.xfail(strict=True, reason="issue 12's goal is not met yet; see docs/performance.md")
def test_held_out_figures_meet_the_goal() -> None:
    """The goal: precision >= 0.97, recall >= 0.95, >= 54 of 56 answers filtered exactly right
    (96%: 52 of v5's 54), every all-meta answer non-empty. On v5, the independent set scored
    only once the model was final."""
    meta = MetaLanguage()
    s, a = _report("held-out v5", meta, *V5)
    assert s.precision >= 0.97 and s.recall >= 0.95
    assert a.exact >= 52 and a.non_empty == a.all_meta


@pytest.mark.parametrize("sentence", [
    "I plan to go through the main causes first.", "I intend to answer this in two parts.",
    "Allow me to sketch the background.", "Searching for the latest guidance now.",
    "One moment while I work this out.", "The way I'll handle this is to split it in two.",
    "To finish, I'll recap the key points.", "Let me analyze the question before answering.",
])
def test_the_issues_missed_sentences_are_caught(sentence: str) -> None:
    assert MetaLanguage().is_meta_sentence(sentence)


@pytest.mark.parametrize("sentence", [
    "I'm going to miss the long summer evenings.", "Let us consider a triangle with sides 3, 4, 5.",
    "Let me just say, that's a lovely garden.",
    '"Let me check the map first," the captain whispered.',
    "Let me know if you have questions.", "First, preheat the oven to 180 °C.",
])
def test_the_issues_false_alarms_are_not_flagged(sentence: str) -> None:
    assert not MetaLanguage().is_meta_sentence(sentence)


def test_fast_scoring_equals_the_feature_definition() -> None:
    model = load_model()
    for row in TRAIN[::7] + V1[0] + V2[0] + V5[0]:
        assert model.margin(row["text"]) == pytest.approx(model.reference_margin(row["text"]),
                                                          abs=1e-9)


def test_every_training_meta_sentence_has_a_cue() -> None:
    """The classifier reads only sentences with a cue; none the model learned from is hidden."""
    assert [r["text"] for r in TRAIN if r["meta"] and not has_cue(r["text"])] == []


def test_thresholds_order_the_decisions() -> None:
    sentence = "I'd prefer to start with the safety issue."
    score = MetaLanguage().score(sentence)
    assert 0.0 < score < 1.0
    assert MetaLanguage(threshold=max(score - 0.01, 0.01)).is_meta_sentence(sentence)
    assert not MetaLanguage(threshold=min(score + 0.01, 0.99)).is_meta_sentence(sentence)


@pytest.mark.parametrize("bad", [0, 1, 1.5, -0.2, float("nan"), "high", True])
def test_a_threshold_out_of_range_names_the_field(bad: object) -> None:
    with pytest.raises(ValueError, match=r"^serving\.filter\.metaThreshold: .*\(0, 1\)"):
        MetaLanguage(threshold=bad, field="serving.filter")  # type: ignore[arg-type]


def test_user_patterns_add_and_the_builtin_detector_can_be_off() -> None:
    only_patterns = MetaLanguage(["^as requested"], builtin=False)
    assert only_patterns.model is None
    assert only_patterns.is_meta_sentence("As requested, the list follows.")
    assert not only_patterns.is_meta_sentence("Let me analyze the question first.")
    assert only_patterns.strip("Let me analyze it. As requested, a list.").text == \
        "Let me analyze it."
    with pytest.raises(ValueError, match=r"^cleaning\.extraPatterns\[1\]: .*'x\*' matches the empty"):
        MetaLanguage(["fine", "x*"], field="cleaning")


def test_a_missing_or_corrupt_weights_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match=r"classifier file .*nothere\.tsv: cannot be read"):
        MetaLanguage(model=tmp_path / "nothere.tsv")
    good = MODEL_FILE.read_text(encoding="utf-8").splitlines()
    cases = {
        "not-a-model.tsv": "hello\n",
        "old-features.tsv": "\n".join([good[0], "# features 0", *good[2:]]),
        "bad-line.tsv": "\n".join([*good[:10], "w word\tnot-a-number", *good[10:]]),
        "truncated.tsv": "\n".join(good[:3]),
    }
    expected = {"not-a-model.tsv": "not a weights file", "old-features.tsv": "other features",
                "bad-line.tsv": r"line 11: expected 'feature<TAB>weight'",
                "truncated.tsv": "truncated"}
    for name, text in cases.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ModelFileError, match=rf"{name}: .*{expected[name]}"):
            MetaModel.load(path)


def test_the_weights_file_is_small_and_loads_from_the_package() -> None:
    assert MODEL_FILE.stat().st_size < 500_000
    assert load_model().source == "molting_workloads/data/meta_model.tsv"


@pytest.mark.skipif(importlib.util.find_spec("numpy") is None, reason="the build needs numpy")
def test_the_committed_weights_rebuild_byte_for_byte(tmp_path: Path) -> None:
    out = tmp_path / "meta_model.tsv"
    subprocess.run([sys.executable, str(ROOT / "tools" / "build_meta_model.py"), "--out",
                    str(out)], check=True, capture_output=True, timeout=300)
    assert out.read_bytes() == MODEL_FILE.read_bytes()
