"""The meta-language module: precision/recall on the older labelled set (now part of the
classifier's training data; the held-out figures are in test_meta_detector.py), real sentence
splitting, and the properties of strip and of the streaming filter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from molting_workloads.language import (
    CLASSIFIER,
    MetaLanguage,
    StreamFilter,
    split_sentences,
)
from molting_workloads.meta_features import has_cue, text_has_cue

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
    ("The U.S. economy grew. Prices fell.", ["The U.S. economy grew.", "Prices fell."]),
    ("Ask Prof. Chen. She knows.", ["Ask Prof. Chen.", "She knows."]),
    ("Is it?! Yes.", ["Is it?!", "Yes."]),
    ('"Why?" she asked. He shrugged.', ['"Why?" she asked.', "He shrugged."]),
    ("Para one.\n\nPara two.", ["Para one.", "Para two."]),
    ("Version 2.0.1 is out. Update now.", ["Version 2.0.1 is out.", "Update now."]),
    ("a) first\nb) second", ["a) first", "b) second"]),
    ("Run this:\n```\nx = 1. y = 2\n# Let me check\n```\nDone.",
     ["Run this:", "```\nx = 1. y = 2\n# Let me check\n```", "Done."]),
    ("Wait\u2026 The end.", ["Wait\u2026", "The end."]),
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
    assert len(spans) == 1
    assert text[spans[0].start : spans[0].end] == spans[0].sentence == "I'll first look at the data."
    assert spans[0].pattern == CLASSIFIER and META.threshold <= spans[0].score <= 1.0


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
    custom = MetaLanguage(["^bottom line,"])
    assert custom.is_meta_sentence("Bottom line, Paris is the capital.")
    assert not META.is_meta_sentence("Bottom line, Paris is the capital.")
    with pytest.raises(ValueError, match=r"extraPatterns\[0\]: invalid regular expression '\(unclosed'"):
        MetaLanguage(["(unclosed"])


def test_rate_is_the_fraction_of_answers_with_meta() -> None:
    answers = ["Let me analyze it. Fine.", "Just fine.", "I'll first check. OK.", "Blue."]
    assert META.rate(answers) == 0.5
    assert META.rate([]) == 0.0


def _is_subsequence(small: str, big: str) -> bool:
    it = iter(big)
    return all(ch in it for ch in small)


def _is_built_from_input(text: str, out: str) -> bool:
    """The precise "never adds text" rule. Without fallback, ``out`` is the input's non-meta
    sentences in order, each pair joined by one of the whitespace gaps that lay between them in
    the input. With fallback, ``out`` is the tail (possibly all) of one input sentence."""
    sentences = split_sentences(text)
    kept = [s for s in sentences if not META.is_meta_sentence(s.text)]
    if not kept:
        return any(s.text.endswith(out) for s in sentences) if out else not sentences
    pos = 0
    for k, sent in enumerate(kept):
        if k:
            index = sentences.index(sent)
            previous = sentences.index(kept[k - 1])
            gaps = {text[a.end : b.start] for a, b in
                    zip(sentences[previous:index], sentences[previous + 1 : index + 1], strict=True)}
            gap = next((g for g in sorted(gaps, key=len, reverse=True) if out.startswith(g, pos)),
                       None)
            if gap is None:
                return False
            pos += len(gap)
        if not out.startswith(sent.text, pos):
            return False
        pos += len(sent.text)
    return pos == len(out)


SENTENCES = st.sampled_from([r["text"] for r in LABELLED])
TEXTS = st.one_of(
    st.lists(st.tuples(SENTENCES, st.sampled_from([" ", "\n", "  ", "\n\n", " \n", "", "... ",
                                                   '" ', "\n1. ", "\n- ", "\n```\n"])),
             max_size=8)
    .map(lambda parts: "".join(s + sep for s, sep in parts)),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200),
    st.lists(st.one_of(SENTENCES, st.text(max_size=30)), max_size=6).map(" ".join),
)


@settings(max_examples=300, deadline=None)
@given(text=TEXTS)
def test_strip_properties(text: str) -> None:
    result = META.strip(text)
    assert _is_subsequence(result.text, text), "strip added text"
    assert _is_built_from_input(text, result.text), "strip output is not made of input pieces"
    if text.strip():
        assert result.text.strip(), "strip returned an empty answer"
    again = META.strip(result.text)
    assert again.text == result.text, "strip is not idempotent"


@settings(max_examples=300, deadline=None)
@given(text=TEXTS, cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=40))
def test_stream_filter_in_any_chunking_equals_strip(text: str, cuts: list[int]) -> None:
    bounds = [0, *sorted(c for c in cuts if c < len(text)), len(text)]
    stream = StreamFilter(META)
    out = "".join(stream.feed(text[a:b]) for a, b in zip(bounds, bounds[1:], strict=False))
    out += stream.flush()
    expected = META.strip(text)
    assert out == expected.text == stream.text
    assert (stream.removed, stream.fallback) == (expected.removed, expected.fallback)


UNSCREENED = MetaLanguage(["zq(?=zq)"])  # a lookahead turns the whole-text shortcut off


@settings(max_examples=300, deadline=None)
@given(text=TEXTS)
def test_whole_text_shortcut_never_changes_an_answer(text: str) -> None:
    assert META.strip(text) == UNSCREENED.strip(text)
    assert META.find(text) == UNSCREENED.find(text)


def test_stream_filter_releases_finished_sentences_early() -> None:
    stream = StreamFilter(META)
    assert stream.feed("The sky is blue. It scat") == "The sky is blue."
    assert stream.feed("ters light. Let me ana") == " It scatters light."
    assert stream.feed("lyze more. Bye.") == ""
    assert stream.flush() == " Bye."
    assert stream.removed == ["Let me analyze more."]


def test_stream_filter_reports_removals_as_they_happen() -> None:
    stream = StreamFilter(META)
    assert stream.feed("Let me check the facts. Paris is the capital") == ""
    assert stream.removed == ["Let me check the facts."]
    assert stream.feed(". ") == ""
    assert stream.flush() == "Paris is the capital."
    with pytest.raises(RuntimeError):
        stream.feed("more")


def test_stream_filter_keeps_the_never_empty_rule() -> None:
    stream = StreamFilter(META)
    out = stream.feed("Let me think. ") + stream.feed("I'll first check.") + stream.flush()
    assert out == META.strip("Let me think. I'll first check.").text and out
    assert stream.fallback


def test_a_removed_sentence_does_not_glue_paragraphs() -> None:
    text = "Paris is the capital.\nLet me also check the history.\n\nIt was founded long ago."
    assert META.strip(text).text == "Paris is the capital.\n\nIt was founded long ago."


def test_quoted_speech_and_code_are_not_meta() -> None:
    assert not META.contains('In the story, Anna says, "Let me think about it," and walks away.')
    assert not META.contains("She wrote “I’ll first check the map” on the card.")
    code = "Use this:\n```python\n# Let me check the input first\nx = load()\n```"
    assert META.strip(code).text == code.strip()


def test_conversational_uses_are_not_meta() -> None:
    for sentence in ("Let me know if you have questions.", "I'll be happy to help.",
                     "First, preheat the oven to 180 °C.", "Step 1: Mix the flour and sugar.",
                     "Let me give you an example.", "Let's add the eggs now."):
        assert not META.is_meta_sentence(sentence), sentence
    assert META.is_meta_sentence("Step 1: I will analyze the question.")


def test_find_gives_each_meta_sentence_once_with_what_flagged_it() -> None:
    text = "Fine. Okay, so the user is asking about tides. Tides follow the Moon."
    spans = META.find(text)
    assert [s.sentence for s in spans] == ["Okay, so the user is asking about tides."]
    custom = MetaLanguage(["tides follow"])
    hits = custom.find(text)
    assert [(text[h.start : h.end], h.pattern, h.score) for h in hits][-1] == (
        "Tides follow", "tides follow", 1.0)


def test_patterns_that_match_everything_are_refused() -> None:
    with pytest.raises(ValueError, match=r"extraPatterns\[0\]: .*pattern '\(\?:maybe\)\?' matches the empty string"):
        MetaLanguage(["(?:maybe)?"])
    assert MetaLanguage(["as requested"], builtin=False).patterns[0][0] == "as requested"


@pytest.mark.parametrize("text", [
    'She said, "see you at noon."... my approach would be to compare. Fine.',
    "Let me check.\n```\n# Let me check\nx = 1\n```\nDone. I'll first look. Ok?! Yes.",
    "1. Let me think.\n2. Paris is the capital.\n\n- I'll now review it.\n- Done",
], ids=["dots-after-a-quote", "code-fence", "list-items"])
def test_stream_filter_fed_one_character_at_a_time_equals_strip(text: str) -> None:
    stream = StreamFilter(META)
    out = "".join(stream.feed(ch) for ch in text) + stream.flush()
    assert out == META.strip(text).text


@settings(max_examples=300, deadline=None)
@given(text=TEXTS)
def test_the_whole_text_cue_search_misses_no_sentence_with_a_cue(text: str) -> None:
    """The whole-text shortcut skips texts without a cue: sound only if every sentence with a
    cue (the only ones the classifier reads) makes the whole text match."""
    if any(has_cue(s.text) for s in split_sentences(text)):
        assert text_has_cue(text)
