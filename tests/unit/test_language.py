"""The meta-language module: precision/recall on a labelled set, real sentence splitting, and
the properties of strip and of the streaming filter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from molting_workloads.language import (
    DEFAULT_PATTERNS,
    SEED_PATTERNS,
    MetaLanguage,
    StreamFilter,
    split_sentences,
)

LABELLED = [json.loads(line) for line in
            (Path(__file__).parents[1] / "data" / "meta_sentences.jsonl").read_text().splitlines()]
META = MetaLanguage()


def test_labelled_set_precision_and_recall() -> None:
    assert len(LABELLED) >= 150
    assert sum(r["meta"] for r in LABELLED) >= 60 and sum(not r["meta"] for r in LABELLED) >= 60
    tp = sum(META.is_meta_sentence(r["text"]) and r["meta"] for r in LABELLED)
    fp = sum(META.is_meta_sentence(r["text"]) and not r["meta"] for r in LABELLED)
    fn = sum(not META.is_meta_sentence(r["text"]) and r["meta"] for r in LABELLED)
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    print(f"\nmeta-language on {len(LABELLED)} labelled sentences: "
          f"precision {precision:.3f}, recall {recall:.3f}")
    assert recall >= 0.95 and precision >= 0.95


def test_seed_patterns_come_first_and_verbatim() -> None:
    assert DEFAULT_PATTERNS[: len(SEED_PATTERNS)] == SEED_PATTERNS


@pytest.mark.parametrize(("text", "expected"), [
    ("The sky is blue. Grass is green.", ["The sky is blue.", "Grass is green."]),
    ("Is it safe? Yes! Go ahead.", ["Is it safe?", "Yes!", "Go ahead."]),
    ("Use e.g. lemon or i.e. citrus. Done.", ["Use e.g. lemon or i.e. citrus.", "Done."]),
    ("Dr. Smith lives in the U.S. with Mr. Jones.", ["Dr. Smith lives in the U.S. with Mr. Jones."]),
    ("Pi is 3.14 roughly. Neat.", ["Pi is 3.14 roughly.", "Neat."]),
    ("J. K. Rowling wrote it. True.", ["J. K. Rowling wrote it.", "True."]),
    ("Steps:\n1. Mix.\n2. Bake.", ["Steps:", "1. Mix.", "2. Bake."]),
    ("- one item\n- another item", ["- one item", "- another item"]),
    ('She said "Stop." Then left.', ['She said "Stop."', "Then left."]),
    ("Wait... really? Yes.", ["Wait... really?", "Yes."]),
    ("Line one\nLine two", ["Line one", "Line two"]),
    ("It costs approx. five dollars.", ["It costs approx. five dollars."]),
    ("Visit example.com today. Thanks.", ["Visit example.com today.", "Thanks."]),
    ("(It works.) Next one.", ["(It works.)", "Next one."]),
    ("  ", []),
])
def test_split_sentences(text: str, expected: list[str]) -> None:
    sentences = split_sentences(text)
    assert [s.text for s in sentences] == expected
    assert all(text[s.start : s.end] == s.text for s in sentences)


def test_seed_split_is_what_not_to_do() -> None:
    text = "Dr. Smith said it. Let me analyze the data. It is 3.5 times more."
    assert len(text.split(". ")) == 4  # the seed's split breaks "Dr." off
    assert [s.text for s in split_sentences(text)][1] == "Let me analyze the data."


def test_find_returns_spans_into_the_text() -> None:
    text = "Sure. I'll first look at the data. The answer is 4."
    spans = META.find(text)
    assert len(spans) >= 1
    assert all(text[s.start : s.end].lower().startswith(("i'll", "i")) for s in spans)
    assert spans[0].sentence == "I'll first look at the data."


def test_strip_removes_whole_meta_sentences() -> None:
    result = META.strip("I'll first look at the science. The sky is blue.\nLet me know more!")
    assert result.text == "The sky is blue.\nLet me know more!"
    assert result.removed == ["I'll first look at the science."] and not result.fallback


def test_strip_never_returns_empty_and_says_so() -> None:
    result = META.strip("Let me analyze this: the sky is blue because air scatters light.")
    assert result.text == "the sky is blue because air scatters light." and result.fallback
    only = META.strip("Let me think. I'll first check.")
    assert only.text and only.fallback


def test_curly_apostrophes_are_caught() -> None:
    assert META.contains("I’ll first check the facts. Then it is fine.")


def test_extra_patterns_and_bad_ones() -> None:
    custom = MetaLanguage(["^As requested, here is"])
    assert custom.is_meta_sentence("As requested, here is the answer.")
    assert not META.is_meta_sentence("As requested, here is the answer.")
    with pytest.raises(ValueError, match=r"invalid meta-language pattern '\(unclosed'"):
        MetaLanguage(["(unclosed"])


def test_rate_is_the_fraction_of_answers_with_meta() -> None:
    answers = ["Let me analyze it. Fine.", "Just fine.", "I'll first check. OK.", "Blue."]
    assert META.rate(answers) == 0.5
    assert META.rate([]) == 0.0


def _is_subsequence(small: str, big: str) -> bool:
    it = iter(big)
    return all(ch in it for ch in small)


SENTENCES = st.sampled_from([r["text"] for r in LABELLED])
TEXTS = st.one_of(
    st.lists(st.tuples(SENTENCES, st.sampled_from([" ", "\n", "  ", "\n\n", " \n"])), max_size=8)
    .map(lambda parts: "".join(s + sep for s, sep in parts)),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200),
    st.lists(st.one_of(SENTENCES, st.text(max_size=30)), max_size=6).map(" ".join),
)


@settings(max_examples=300, deadline=None)
@given(text=TEXTS)
def test_strip_properties(text: str) -> None:
    result = META.strip(text)
    assert _is_subsequence(result.text, text), "strip added text"
    if text.strip():
        assert result.text.strip(), "strip returned an empty answer"
    again = META.strip(result.text)
    assert again.text == result.text, "strip is not idempotent"


@settings(max_examples=200, deadline=None)
@given(text=TEXTS, chunk=st.integers(min_value=1, max_value=12))
def test_stream_filter_equals_strip(text: str, chunk: int) -> None:
    stream = StreamFilter(META)
    out = "".join(stream.feed(text[i : i + chunk]) for i in range(0, len(text), chunk))
    out += stream.flush()
    assert out == META.strip(text).text


def test_stream_filter_releases_finished_sentences_early() -> None:
    stream = StreamFilter(META)
    assert stream.feed("The sky is blue. It scat") == "The sky is blue."
    assert stream.feed("ters light. Let me ana") == " It scatters light."
    assert stream.feed("lyze more. Bye.") == ""
    assert stream.flush() == " Bye."
    assert stream.removed == ["Let me analyze more."]
