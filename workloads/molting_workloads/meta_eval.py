"""Scores a ``MetaLanguage`` on labelled data: sentences ({"text", "meta", "category"}) and
answers ({"answer", "expected"} for an exact filtered text, or {"answer", "allMeta": true} for
one that must not come back empty). Used by the tests, the bench and tools/meta_report.py."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from molting_workloads.language import MetaLanguage


@dataclass
class SentenceFigures:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    # category -> [right, total]: recall for a meta category, 1 - false-positive rate otherwise
    by_category: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    mistakes: list[tuple[str, str, bool]] = field(default_factory=list)  # (category, text, meta)

    @property
    def precision(self) -> float:
        return self.tp / max(self.tp + self.fp, 1)

    @property
    def recall(self) -> float:
        return self.tp / max(self.tp + self.fn, 1)


@dataclass
class AnswerFigures:
    exact: int = 0
    total: int = 0
    non_empty: int = 0
    all_meta: int = 0
    wrong: list[tuple[str, str, str]] = field(default_factory=list)  # answer, expected, got


def score_sentences(meta: MetaLanguage, rows: list[dict]) -> SentenceFigures:
    out = SentenceFigures()
    for row in rows:
        said = meta.is_meta_sentence(row["text"])
        truth = bool(row["meta"])
        out.tp += said and truth
        out.fp += said and not truth
        out.fn += truth and not said
        out.tn += not said and not truth
        cell = out.by_category[row.get("category", "-")]
        cell[0] += said == truth
        cell[1] += 1
        if said != truth:
            out.mistakes.append((row.get("category", "-"), row["text"], truth))
    return out


def score_answers(meta: MetaLanguage, rows: list[dict]) -> AnswerFigures:
    out = AnswerFigures()
    for row in rows:
        got = meta.strip(row["answer"]).text
        if row.get("allMeta"):
            out.all_meta += 1
            out.non_empty += bool(got.strip())
            continue
        out.total += 1
        if got == row["expected"]:
            out.exact += 1
        else:
            out.wrong.append((row["answer"], row["expected"], got))
    return out
