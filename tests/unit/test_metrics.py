"""Evaluation metrics (per answer and aggregate) and the gate decision on crafted metrics.

Every expected value is worked out by hand in the comment next to it.
"""

from __future__ import annotations

import pytest

from molting_workloads.contract.gates import decide, passed
from molting_workloads.contract.policies import GatePolicy, LengthWindow
from molting_workloads.contract.summaries import EvalMetrics
from molting_workloads.language import MetaLanguage
from molting_workloads.metrics import (
    AnswerMetrics,
    aggregate,
    answer_length,
    calculate_repetition,
    is_empty,
    measure_answer,
)

META = MetaLanguage()
WINDOW = LengthWindow(min=200, max=400)


# ---------------------------------------------------------------- repetition


@pytest.mark.parametrize(
    ("text", "n", "expected"),
    [
        # abc, bca, cab, abc: one of four 3-grams repeats
        ("a b c a b c", 3, 0.25),
        # the cat sat / cat sat on / sat on the / on the mat: all distinct
        ("the cat sat on the mat", 3, 0.0),
        # 5 words, 3 trigrams, all "yes yes yes": two repeat
        ("Yes yes yes yes yes", 3, 2 / 3),
        # case-insensitive: go go go twice
        ("Go go Go GO", 3, 0.5),
        # fewer words than n: no n-grams at all
        ("hello there", 3, 0.0),
        ("", 3, 0.0),
        # unigrams a, a, b: one repeat of three
        ("a a b", 1, 1 / 3),
        # punctuation is not a word: still abc, bca, cab, abc
        ("a, b; c! a b... c", 3, 0.25),
        # I'm is one word; "I'm here" twice in "I'm here I'm here": (i'm here), (here i'm), (i'm here)
        ("I'm here I'm here", 2, 1 / 3),
    ],
    ids=["cycle", "distinct", "one-word-loop", "case", "short", "blank", "unigram", "punct",
         "apostrophe"],
)
def test_repetition_is_share_of_repeated_ngrams(text: str, n: int, expected: float) -> None:
    assert calculate_repetition(text, n) == pytest.approx(expected)


def test_a_degenerate_loop_scores_near_one_and_plain_prose_near_zero() -> None:
    loop = "I will now " * 40
    prose = (
        "Paris is the capital of France. It sits on the Seine, and about two million people "
        "live inside the city limits."
    )
    assert calculate_repetition(loop) > 0.9
    assert calculate_repetition(prose) == 0.0


def test_repetition_refuses_a_zero_ngram_size() -> None:
    with pytest.raises(ValueError, match="n must be >= 1"):
        calculate_repetition("a b c", 0)


# ---------------------------------------------------------------- empty, length


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "...", "—", "?!"])
def test_whitespace_or_punctuation_only_is_empty(text: str) -> None:
    assert is_empty(text)


@pytest.mark.parametrize("text", ["a", "4", "Ok.", " é "])
def test_any_letter_or_digit_is_not_empty(text: str) -> None:
    assert not is_empty(text)


def test_length_counts_characters_without_surrounding_whitespace() -> None:
    assert answer_length("  héllo  \n") == 5
    assert answer_length("two\nlines") == 9


# ---------------------------------------------------------------- one answer


def test_measure_answer_flags_meta_language_and_length_window() -> None:
    # 3 sentences: the first is the seed's "Let me analyze" planning talk
    answer = "Let me analyze this question first. Paris is the capital of France. " * 4
    got = measure_answer(answer, relevance=0.7, window=WINDOW, meta=META)
    assert got.meta_language is True
    assert got.length == len(answer.strip())  # 4 * 68 - 1 = 271 characters
    assert got.length == 271 and got.in_window is True
    assert got.empty is False and got.relevance == 0.7
    # the same two sentences four times: most trigrams repeat
    assert got.repetition > 0.5


def test_measure_answer_on_a_clean_short_answer() -> None:
    answer = "Paris is the capital of France."
    got = measure_answer(answer, relevance=0.85, window=WINDOW, meta=META)
    assert got == AnswerMetrics(
        length=31, meta_language=False, in_window=False, repetition=0.0, empty=False,
        relevance=0.85,
    )


def test_window_bounds_are_inclusive() -> None:
    window = LengthWindow(min=3, max=5)
    lengths = {t: measure_answer(t, relevance=0.0, window=window, meta=META).in_window
               for t in ("ab", "abc", "abcde", "abcdef")}
    assert lengths == {"ab": False, "abc": True, "abcde": True, "abcdef": False}


def test_an_empty_answer_is_empty_and_out_of_window() -> None:
    got = measure_answer("   ", relevance=0.0, window=WINDOW, meta=META)
    assert (got.empty, got.length, got.in_window, got.meta_language) == (True, 0, False, False)


def test_answer_wire_form_uses_camel_case() -> None:
    got = measure_answer("Paris.", relevance=0.123456, window=WINDOW, meta=META).to_wire()
    assert got == {"length": 6, "metaLanguage": False, "inWindow": False, "repetition": 0.0,
                   "empty": False, "relevance": 0.1235}


# ---------------------------------------------------------------- aggregate


def row(length: int, meta: bool = False, rel: float = 0.5, rep: float = 0.0,
        empty: bool = False) -> AnswerMetrics:
    return AnswerMetrics(length=length, meta_language=meta, in_window=200 <= length <= 400,
                         repetition=rep, empty=empty, relevance=rel)


def test_aggregate_over_four_answers() -> None:
    rows = [
        row(100, meta=True, rel=0.2, rep=0.0),
        row(250, rel=0.4, rep=0.0),
        row(300, rel=0.6, rep=0.5),
        row(500, rel=0.8, rep=0.25),
    ]
    assert aggregate(rows) == EvalMetrics(
        n=4,
        meta_language_rate=0.25,  # 1 of 4
        mean_length=287.5,  # (100 + 250 + 300 + 500) / 4
        median_length=275.0,  # (250 + 300) / 2
        in_window_rate=0.5,  # 250 and 300
        relevance=0.5,  # (0.2 + 0.4 + 0.6 + 0.8) / 4
        repetition=0.1875,  # 0.75 / 4
        empty_rate=0.0,
    )


def test_aggregate_rounds_rates_to_four_places() -> None:
    got = aggregate([row(0, empty=True), row(210), row(220)])
    assert got.empty_rate == 0.3333  # 1 of 3
    assert got.in_window_rate == 0.6667  # 2 of 3
    assert got.mean_length == 143.3  # 430 / 3
    assert got.median_length == 210.0


def test_aggregate_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="no answers"):
        aggregate([])


def test_aggregate_meta_rate_agrees_with_the_language_module() -> None:
    answers = [
        "Let me analyze the question before I answer. Water boils at 100 °C at sea level.",
        "I'm going to explain photosynthesis step by step. Plants turn light into sugar.",
        "Water boils at 100 °C at sea level.",
        "Plants turn light, water and carbon dioxide into sugar and oxygen.",
        "My approach is to compare both options. Tea has less caffeine than coffee.",
    ]
    rows = [measure_answer(a, relevance=0.5, window=WINDOW, meta=META) for a in answers]
    assert aggregate(rows).meta_language_rate == pytest.approx(META.rate(answers))
    assert aggregate(rows).meta_language_rate == 0.6  # the seed's patterns in 3 of 5


# ---------------------------------------------------------------- gates


def metrics(**changes: float) -> EvalMetrics:
    """A candidate that passes every default gate, then ``changes``."""
    good = dict(n=20, meta_language_rate=0.05, mean_length=300.0, median_length=290.0,
                in_window_rate=0.9, relevance=0.55, repetition=0.05, empty_rate=0.0)
    return EvalMetrics(**(good | changes))


def by_name(verdicts) -> dict:
    return {v.name: v for v in verdicts}


def test_a_good_candidate_passes_every_gate_without_stable() -> None:
    verdicts = decide(metrics(), None, GatePolicy())
    assert [v.name for v in verdicts] == [
        "metaLanguage", "answerLength", "relevance", "emptyAnswers", "repetition"]
    assert passed(verdicts)


@pytest.mark.parametrize(
    ("changes", "gate"),
    [
        ({"meta_language_rate": 0.5}, "metaLanguage"),  # the seed's Phase 3 figure
        ({"meta_language_rate": 0.2001}, "metaLanguage"),
        ({"mean_length": 450.0}, "answerLength"),
        ({"mean_length": 199.9}, "answerLength"),
        ({"relevance": 0.29}, "relevance"),
        ({"empty_rate": 0.05}, "emptyAnswers"),  # the default allows none
        ({"repetition": 0.6}, "repetition"),
    ],
    ids=["meta-50pct", "meta-just-over", "too-long", "too-short", "irrelevant", "one-empty",
         "repetitive"],
)
def test_each_gate_fails_alone_when_its_metric_is_out_of_bounds(changes: dict, gate: str) -> None:
    verdicts = by_name(decide(metrics(**changes), None, GatePolicy()))
    assert [name for name, v in verdicts.items() if not v.passed] == [gate]
    assert not passed(list(verdicts.values()))


def test_gate_thresholds_are_inclusive() -> None:
    edge = metrics(meta_language_rate=0.2, mean_length=400.0, relevance=0.3, repetition=0.5)
    assert passed(decide(edge, None, GatePolicy()))
    assert passed(decide(metrics(mean_length=200.0), None, GatePolicy()))


def test_a_failed_gate_says_why() -> None:
    verdict = by_name(decide(metrics(meta_language_rate=0.5), None, GatePolicy()))["metaLanguage"]
    assert verdict.value == 0.5 and verdict.threshold == "<= 0.2"
    assert verdict.reason == "0.500 > 0.2"


def test_custom_thresholds_move_the_gates() -> None:
    strict = GatePolicy(max_meta_language_rate=0.0, answer_length=LengthWindow(min=250, max=350))
    verdicts = by_name(decide(metrics(mean_length=360.0), None, strict))
    assert not verdicts["metaLanguage"].passed  # 0.05 > 0.0
    assert not verdicts["answerLength"].passed  # 360 > 350


def test_a_candidate_better_than_stable_passes_no_regression() -> None:
    stable = metrics(meta_language_rate=0.5, relevance=0.5)
    verdicts = by_name(decide(metrics(), stable, GatePolicy()))
    assert verdicts["noRegression"].passed
    assert verdicts["noRegression"].reason == "not worse than stable"


@pytest.mark.parametrize(
    ("candidate", "stable", "word"),
    [
        ({"relevance": 0.40}, {"relevance": 0.55}, "relevance"),
        ({"meta_language_rate": 0.15}, {"meta_language_rate": 0.05}, "meta-language"),
        ({"in_window_rate": 0.7}, {"in_window_rate": 0.9}, "in-window"),
        ({"empty_rate": 0.1}, {"empty_rate": 0.0}, "empty answers"),
        ({"repetition": 0.3}, {"repetition": 0.1}, "repetition"),
    ],
    ids=["relevance", "meta", "in-window", "empty", "repetition"],
)
def test_a_candidate_worse_than_stable_fails_no_regression(
    candidate: dict, stable: dict, word: str
) -> None:
    # relevance 0.40 passes its own gate (>= 0.3) yet is 0.15 below stable
    verdicts = by_name(decide(metrics(**candidate), metrics(**stable), GatePolicy()))
    assert not verdicts["noRegression"].passed
    assert word in verdicts["noRegression"].reason


def test_exactly_tolerance_worse_than_stable_is_not_a_regression() -> None:
    # 20 questions: stable 8/20 in window, candidate 7/20 -> exactly 0.05 worse. Float subtraction
    # makes 0.40 - 0.05 = 0.4000000000000001 > 0.35; the gate must still call it "not worse".
    candidate = metrics(in_window_rate=7 / 20, meta_language_rate=8 / 20)
    stable = metrics(in_window_rate=8 / 20, meta_language_rate=7 / 20)
    policy = GatePolicy(max_meta_language_rate=1.0)
    assert by_name(decide(candidate, stable, policy))["noRegression"].passed


def test_no_regression_verdict_only_with_stable_and_when_enabled() -> None:
    worse = metrics(relevance=0.31)
    stable = metrics(relevance=0.9)
    assert "noRegression" not in by_name(decide(worse, None, GatePolicy()))
    assert "noRegression" not in by_name(decide(worse, stable, GatePolicy(no_regression=False)))
    assert passed(decide(worse, stable, GatePolicy(no_regression=False)))
    assert not passed(decide(worse, stable, GatePolicy()))


def test_regression_tolerance_is_configurable() -> None:
    candidate, stable = metrics(relevance=0.45), metrics(relevance=0.55)  # 0.10 worse
    assert not passed(decide(candidate, stable, GatePolicy(regression_tolerance=0.05)))
    assert passed(decide(candidate, stable, GatePolicy(regression_tolerance=0.1)))
