"""Per-answer evaluation metrics and their aggregate, the contract's `EvalMetrics`.

Pure (no torch): `evaluation.py` calls it with the generated answers and the relevance scores that
`relevance.py` computed; the gate decision (`contract.gates.decide`) reads the aggregate.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from molting_workloads.contract.policies import LengthWindow
from molting_workloads.contract.summaries import EvalMetrics
from molting_workloads.language import MetaLanguage

# Words for the repetition score: letters/digits with inner apostrophes (straight or curly).
_WORD = re.compile(r"\w+(?:['’]\w+)*")
REPETITION_NGRAM = 3
# Aggregates are rounded once here, so the gates in `molting eval` and the operator (which reads
# the rounded summary) decide on the very same numbers.
_RATE_DIGITS = 4
_LENGTH_DIGITS = 1


@dataclass(frozen=True)
class AnswerMetrics:
    """What one answer scored."""

    length: int  # characters, leading/trailing whitespace not counted
    meta_language: bool  # contains agent-like meta-language (the shared `MetaLanguage` patterns)
    in_window: bool  # length inside the policy's answer-length window
    repetition: float  # share of repeated word n-grams: 0 none .. ~1 one n-gram over and over
    empty: bool  # no letter or digit at all (whitespace or punctuation only)
    relevance: float  # question/answer cosine similarity, from `relevance.py`

    def to_wire(self) -> dict:
        return {
            "length": self.length,
            "metaLanguage": self.meta_language,
            "inWindow": self.in_window,
            "repetition": round(self.repetition, _RATE_DIGITS),
            "empty": self.empty,
            "relevance": round(self.relevance, _RATE_DIGITS),
        }


def calculate_repetition(text: str, n: int = REPETITION_NGRAM) -> float:
    """Fraction of the answer's word n-grams that repeat an earlier one (case-insensitive).

    "a b c a b c" has the 3-grams abc, bca, cab, abc: one of four repeats, so 0.25. An answer
    with fewer than ``n`` words has no n-grams and scores 0.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    words = [w.lower() for w in _WORD.findall(text)]
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    if not grams:
        return 0.0
    return (len(grams) - len(set(grams))) / len(grams)


def is_empty(text: str) -> bool:
    """True when the answer has no letter or digit: whitespace, or punctuation only."""
    return not any(ch.isalnum() for ch in text)


def answer_length(text: str) -> int:
    return len(text.strip())


def measure_answer(
    answer: str,
    *,
    relevance: float,
    window: LengthWindow,
    meta: MetaLanguage,
    ngram: int = REPETITION_NGRAM,
) -> AnswerMetrics:
    """Score one answer; ``relevance`` comes from the embedding module."""
    length = answer_length(answer)
    return AnswerMetrics(
        length=length,
        meta_language=meta.contains(answer),
        in_window=window.min <= length <= window.max,
        repetition=calculate_repetition(answer, ngram),
        empty=is_empty(answer),
        relevance=float(relevance),
    )


def aggregate(rows: Sequence[AnswerMetrics]) -> EvalMetrics:
    """The aggregate over all questions: rates are fractions of answers, lengths in characters."""
    if not rows:
        raise ValueError("no answers to aggregate")
    n = len(rows)
    lengths = [r.length for r in rows]

    def rate(flags: Sequence[bool | float]) -> float:
        return round(sum(flags) / n, _RATE_DIGITS)

    return EvalMetrics(
        n=n,
        meta_language_rate=rate([r.meta_language for r in rows]),
        mean_length=round(statistics.fmean(lengths), _LENGTH_DIGITS),
        median_length=round(float(statistics.median(lengths)), _LENGTH_DIGITS),
        in_window_rate=rate([r.in_window for r in rows]),
        relevance=rate([r.relevance for r in rows]),
        repetition=rate([r.repetition for r in rows]),
        empty_rate=rate([r.empty for r in rows]),
    )
