"""Meta-language: the agent-like planning talk ("I'll first…", "Let me analyze…", "Searching for
the latest guidance now.") that the seed wants gone. One module owns it, so data cleaning, the
evaluation metric and the serving filter always agree.

``split_sentences`` is a real splitter (abbreviations, decimals, initials, list items, quotes,
newlines, code fences). ``MetaLanguage`` scores each sentence with a learned classifier
(``meta_model``: logistic regression over word, word-class and character features, weights
shipped in the package) and with the user's extra patterns, and finds, strips and rates the
sentences at or above its threshold; ``StreamFilter`` does the same on a token stream, holding
back only the sentence being written. Stdlib only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from molting_workloads.contract.patterns import check_threshold, compile_patterns
from molting_workloads.meta_features import NORMALISE, has_cue, text_has_cue
from molting_workloads.meta_model import MetaModel, ModelFileError, load_model

__all__ = [
    "CLASSIFIER",
    "DEFAULT_THRESHOLD",
    "MetaLanguage",
    "ModelFileError",
    "Sentence",
    "Span",
    "StreamFilter",
    "StripResult",
    "split_sentences",
]

DEFAULT_THRESHOLD = 0.5
CLASSIFIER = "classifier"  # Span.pattern of a sentence the classifier flagged

# A user pattern with these can match inside a sentence but not at the same place in the text.
_POSITION_SENSITIVE = ("^", "$", "\\A", "\\Z", "\\B", "(?=", "(?!", "(?<", "(?P=")
_BACKREF = re.compile(r"\\[1-9]")
_WORD = re.compile(r"[A-Za-z0-9]+")
_NEVER = re.compile(r"(?!)")
_CLAUSE_END = re.compile(r"[:;,.!?\u2014\u2013-]\s+")

# ----------------------------------------------------------------------------------- sentences

_ABBREVIATIONS = {
    "e.g", "i.e", "etc", "vs", "dr", "mr", "mrs", "ms", "prof", "st", "sr", "jr", "inc", "ltd",
    "co", "corp", "no", "fig", "approx", "u.s", "u.k", "u.n", "a.m", "p.m", "mt", "ft", "cf",
    "al", "dept", "est", "min", "max", "vol", "jan", "feb", "mar", "apr", "jun", "jul", "aug",
    "sep", "sept", "oct", "nov", "dec", "mon", "tue", "wed", "thu", "fri", "sat", "sun",
}
_CLOSERS = "\"')]}»”’"
_TERMINATORS = ".!?…"
_LIST_ITEM = re.compile(r"\s*(?:\d{1,3}[.)]|[-*•]|[a-zA-Z][.)])\s+\Z")
# A terminator run is a candidate only when (after closers) whitespace or the end follows.
_CANDIDATE = re.compile(r"\n|[.!?…]+(?=[.!?…\"')\]}»”’]*(?:\s|\Z))")
_NON_SPACE = re.compile(r"\S")
# A fenced code block is one sentence; an unclosed fence runs to the end of the text.
_FENCE = re.compile(r"^[ \t]*```[^\n]*(?:\n.*?^[ \t]*```[ \t]*$|\n.*\Z|\Z)", re.M | re.S)


class Sentence(NamedTuple):
    """A sentence as a span of the original text: ``text == original[start:end]``.

    Sentences are in order, do not overlap and have no outer whitespace; everything between
    them is whitespace, so the sentences and the gaps between them rebuild the text exactly.
    """

    start: int
    end: int
    text: str


def split_sentences(text: str) -> list[Sentence]:
    """Sentences as spans of ``text``; whitespace between them belongs to no sentence.

    A sentence ends at a line break or at a ``.``/``!``/``?``/``…`` run (with any closing
    quotes or brackets) that whitespace follows, except after an abbreviation ("Dr.", "e.g."),
    an initial ("J. K."), a list marker ("1. ") or when a lowercase word continues it
    ("approx. five", '"Why?" she asked'). A fenced code block is one sentence.
    """
    return _split(text, 0)


def _split(text: str, start: int) -> list[Sentence]:
    """The sentences of ``text[start:]``, where ``start`` is a sentence boundary of ``text``.

    Decisions look behind ``start`` exactly as when splitting the whole text, so a stream can
    re-split just its undecided tail and get the same sentences.
    """
    out: list[Sentence] = []
    pos = start
    for fence in _FENCE.finditer(text, start):
        _split_prose(text, pos, fence.start(), out)
        _emit(text, fence.start(), fence.end(), out)
        pos = fence.end()
    _split_prose(text, pos, len(text), out)
    return out


def _split_prose(text: str, a: int, b: int, out: list[Sentence]) -> None:
    piece = a
    for m in _CANDIDATE.finditer(text, a, b):
        if m.start() < piece:
            continue
        if m.group() == "\n":
            _emit(text, piece, m.start(), out)
            piece = m.end()
        elif _is_boundary(text, m.end() - 1, b):
            end = m.end()
            while end < b and text[end] in _CLOSERS:
                end += 1
            _emit(text, piece, end, out)
            piece = end
    _emit(text, piece, b, out)


def _emit(text: str, a: int, b: int, out: list[Sentence]) -> None:
    chunk = text[a:b]
    stripped = chunk.strip()
    if stripped:
        a += len(chunk) - len(chunk.lstrip())
        out.append(Sentence(a, a + len(stripped), stripped))


def _is_boundary(text: str, i: int, n: int) -> bool:
    """Whether the terminator run ending at ``text[i]`` ends a sentence (``n``: text end)."""
    if text[i] == ".":
        j = i
        while j > max(0, i - 32) and (text[j - 1].isalnum() or text[j - 1] == "."):
            j -= 1
        word = text[j:i].lower()
        if word.rstrip(".") in _ABBREVIATIONS or word in _ABBREVIATIONS:
            return False
        if len(word) == 1 and word.isalpha() and text[j].isupper():
            return False  # an initial: "J. K. Rowling"
        if _is_list_marker(text, i):
            return False  # "1. " or "a) " opening a list item
        if i + 1 < n and text[i + 1].isdigit():
            return False  # a decimal or a version: 3.14, 2.0.1
    k = i + 1
    while k < n and (text[k] in _TERMINATORS or text[k] in _CLOSERS):
        k += 1
    if k >= n:
        return True
    if not text[k].isspace():
        return False  # "e.g.," "example.com", "?!x"
    nxt = _NON_SPACE.search(text, k, n)
    if nxt is None:
        return True
    # "approx. five", '"Why?" she asked': a lowercase word on the same line continues it
    return not (text[nxt.start()].islower() and "\n" not in text[k : nxt.start()])


def _is_list_marker(text: str, i: int) -> bool:
    line_start = text.rfind("\n", max(0, i - 40), i) + 1
    if line_start == 0 and i > 40:
        return False  # a marker sits within a few characters of its line's start
    return _LIST_ITEM.match(text[line_start : i + 1] + " ") is not None


# ------------------------------------------------------------------------------------ matching


@dataclass(frozen=True)
class Span:
    """One meta-language sentence: offsets of what flagged it (the user pattern's match, or the
    whole sentence for the classifier), what flagged it (the pattern's source, or
    ``CLASSIFIER``), the whole sentence and its score (1.0 for a pattern)."""

    start: int
    end: int
    pattern: str
    sentence: str
    score: float = 1.0


@dataclass(frozen=True)
class StripResult:
    """The cleaned text, the sentences removed, and whether the never-empty rule kept content
    that would otherwise have gone (``fallback``).

    ``text`` is built from pieces of the input only: the kept sentences, each separated by one
    of the whitespace gaps that lay between them in the input. With ``fallback`` it is the
    tail of one meta sentence after its meta clause, or the longest meta sentence.
    """

    text: str
    removed: list[str] = field(default_factory=list)
    fallback: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.removed) or self.fallback


def _is_quoted(sentence: str, i: int) -> bool:
    """Whether offset ``i`` of a normalised sentence lies in quoted speech (a mention, not a
    use: 'She said, "Let me think."')."""
    if sentence.count('"', 0, i) % 2:
        return True
    return i > 0 and sentence[i - 1] == "'" and (i == 1 or not sentence[i - 2].isalnum())


class MetaLanguage:
    """Finds, strips and rates meta-language.

    A sentence's score is 1.0 when one of ``extra_patterns`` matches it outside quoted speech,
    else (with ``builtin``) the classifier's probability that it is meta-language; a sentence
    is meta-language when its score is at least ``threshold``. A fenced code block never is.
    ``builtin=False`` leaves only the patterns. ``model`` is a weights file to use instead of
    the packaged one. An invalid pattern or threshold raises ``ValueError`` naming the field
    (``field`` prefixes it, e.g. "serving.filter"); a missing or corrupt weights file raises
    ``ModelFileError`` naming the file.
    """

    def __init__(self, extra_patterns: Iterable[str] = (), *, builtin: bool = True,
                 threshold: float = DEFAULT_THRESHOLD, model: str | Path | MetaModel | None = None,
                 field: str = "") -> None:
        prefix = f"{field}." if field else ""
        self.patterns = compile_patterns(list(extra_patterns), f"{prefix}extraPatterns")
        self.threshold = check_threshold(threshold, f"{prefix}metaThreshold")
        self.builtin = builtin
        if not builtin:
            self.model = None
        elif isinstance(model, MetaModel):
            self.model = model
        else:
            self.model = load_model(str(model) if model is not None else None)
        self._screen = _screen([s for s, _ in self.patterns])

    # -- one sentence ------------------------------------------------------------------------

    def score(self, sentence: str) -> float:
        """How sure the detector is that ``sentence`` is meta-language, in [0, 1]."""
        if sentence.startswith("```"):
            return 0.0
        if self.patterns:
            norm = sentence if sentence.isascii() else sentence.translate(NORMALISE)
            if self._pattern_hit(norm) is not None:
                return 1.0
        if self.model is None or not has_cue(sentence):
            return 0.0
        return self.model.score(sentence)

    def is_meta_sentence(self, sentence: str) -> bool:
        """Whether one sentence is meta-language (its score reaches the threshold)."""
        return self.score(sentence) >= self.threshold

    # -- texts ---------------------------------------------------------------------------------

    def find(self, text: str) -> list[Span]:
        """Every meta sentence of ``text``, in order."""
        if self._surely_clean(text):
            return []
        spans = []
        for sent in split_sentences(text):
            span = self._span(text, sent)
            if span is not None:
                spans.append(span)
        return spans

    def contains(self, text: str) -> bool:
        """Whether any sentence of ``text`` is meta-language."""
        if self._surely_clean(text):
            return False
        return any(self.is_meta_sentence(s.text) for s in split_sentences(text))

    def rate(self, answers: Iterable[str]) -> float:
        """The fraction of ``answers`` that contain meta-language (0.0 for no answers)."""
        total = hits = 0
        for answer in answers:
            total += 1
            hits += self.contains(answer)
        return hits / total if total else 0.0

    def strip(self, text: str) -> StripResult:
        """Remove whole meta sentences (and trim the answer's outer whitespace). Never returns
        an empty answer for a non-blank input: see ``StripResult``."""
        if self._surely_clean(text):
            return StripResult(text.strip())
        joiner = _Joiner()
        kept = "".join(joiner.add(text, s, self.is_meta_sentence(s.text))
                       for s in split_sentences(text))
        if joiner.kept_any:
            return StripResult(kept, [s.text for s in joiner.removed])
        return self._fallback(joiner.removed)

    # -- internals -----------------------------------------------------------------------------

    def _surely_clean(self, text: str) -> bool:
        if not self.patterns:
            return not self.builtin or not text_has_cue(text)
        if self._screen is None:
            return False
        if not text.isascii():
            text = text.translate(NORMALISE)  # the patterns are written with straight quotes
        if self.builtin and text_has_cue(text):
            return False
        return self._screen.search(text) is None

    def _pattern_hit(self, norm_sentence: str) -> tuple[int, int, str] | None:
        """(start, end, source) of the first unquoted user-pattern match."""
        for source, regex in self.patterns:
            for m in regex.finditer(norm_sentence):
                if not _is_quoted(norm_sentence, m.start()):
                    return m.start(), m.end(), source
        return None

    def _span(self, text: str, sent: Sentence) -> Span | None:
        if sent.text.startswith("```"):
            return None
        if self.patterns:
            hit = self._pattern_hit(sent.text.translate(NORMALISE))
            if hit is not None:
                return Span(sent.start + hit[0], sent.start + hit[1], hit[2], sent.text)
        if self.model is None or not has_cue(sent.text):
            return None
        score = self.model.score(sent.text)
        if score < self.threshold:
            return None
        return Span(sent.start, sent.end, CLASSIFIER, sent.text, round(score, 4))

    def _fallback(self, sentences: list[Sentence]) -> StripResult:
        """Everything was meta: keep the substance after the meta clause of the richest
        sentence ("Let me explain: the sky is blue…" -> "the sky is blue…"), else the longest
        sentence."""
        if not sentences:
            return StripResult("")
        best = None
        for sent in sentences:
            rest = self._after_meta(sent.text)
            if rest and (best is None or len(rest) > len(best)):
                best = rest
        removed = [s.text for s in sentences]
        if best is None:
            best = max(removed, key=len)
            removed.remove(best)
        return StripResult(best, removed, fallback=True)

    def _after_meta(self, sentence: str) -> str:
        """The longest tail of ``sentence`` after a clause break that is substantive (three
        words or more) and not meta-language itself, or ""."""
        start = 0
        if self.patterns:
            hit = self._pattern_hit(sentence.translate(NORMALISE))
            if hit is not None:
                start = hit[1]
        for m in _CLAUSE_END.finditer(sentence, start):
            rest = sentence[m.end() :].strip()
            if len(_WORD.findall(rest)) >= 3 and not self.is_meta_sentence(rest):
                return rest
        return ""


def _screen(sources: list[str]) -> re.Pattern[str] | None:
    """One regex that matches wherever a user pattern could match, so a text it does not
    match (and without a classifier cue, ``meta_features.text_has_cue``) needs no further
    work; None when some pattern makes that unsound. Patterns join with their sentence anchor
    dropped.
    """
    loose = []
    for source in sources:
        body = source.removeprefix("^")  # dropping the anchor only widens what it matches
        if _BACKREF.search(body) or any(token in body for token in _POSITION_SENSITIVE):
            return None
        loose.append(f"(?:{body})")
    if not loose:
        return _NEVER
    try:
        return re.compile("|".join(loose), re.IGNORECASE)
    except re.error:  # e.g. an inline global flag in the middle of the alternation
        return None

# ----------------------------------------------------------------------------------- streaming


class _Joiner:
    """Joins kept sentences; between two of them goes the widest gap (most line breaks, first
    on a tie) that lay between them in the input, so a removed sentence never glues two
    paragraphs together. ``strip`` and ``StreamFilter`` share it, so they agree."""

    def __init__(self) -> None:
        self.kept_any = False
        self.removed: list[Sentence] = []
        self._gap: tuple[int, int] | None = None  # widest gap since the last kept sentence
        self._prev_end: int | None = None  # end of the previous sentence, kept or not

    def add(self, text: str, sentence: Sentence, is_meta: bool) -> str:
        """Take the next sentence; return the text that can be written out now."""
        if self.kept_any and self._prev_end is not None:
            gap = (self._prev_end, sentence.start)
            if self._gap is None or text.count("\n", *gap) > text.count("\n", *self._gap):
                self._gap = gap
        self._prev_end = sentence.end
        if is_meta:
            self.removed.append(sentence)
            return ""
        separator = text[self._gap[0] : self._gap[1]] if self.kept_any and self._gap else ""
        self.kept_any, self._gap = True, None
        return separator + sentence.text


class StreamFilter:
    """The filter for a token stream: ``feed`` returns what is safe to send now (finished,
    non-meta sentences); only the sentence still being written is held back, and a gap between
    sentences goes out with the sentence after it. What it sends in total, ``flush`` included,
    equals ``MetaLanguage.strip`` of the whole answer. Work per delta is proportional to the
    unfinished sentence, not to the answer so far."""

    def __init__(self, meta: MetaLanguage | None = None) -> None:
        self.meta = meta or MetaLanguage()
        self.removed: list[str] = []
        self.fallback = False
        self._seen = ""  # everything received
        self._pos = 0  # everything before this offset is decided
        self._joiner = _Joiner()
        self._sent: list[str] = []
        self._flushed = False

    def feed(self, delta: str) -> str:
        """Add a delta; return the text that became safe to send."""
        if self._flushed:
            raise RuntimeError("StreamFilter.feed() after flush()")
        if not delta:
            return ""
        self._seen += delta
        sentences = _split(self._seen, self._pos)
        # A sentence is finished once the next one has started with a character that is not
        # punctuation: until then, more dots or quotes may still join the two ('noon."...').
        done = len(sentences) - 1
        while done > 0 and not sentences[done].text.strip(_TERMINATORS + _CLOSERS):
            done -= 1
        return self._release(sentences[:done])

    def flush(self) -> str:
        """The end of the answer: return the rest, or the fallback when everything was meta."""
        if self._flushed:
            return ""
        self._flushed = True
        out = self._release(_split(self._seen, self._pos))
        if self._joiner.kept_any or not self._joiner.removed:
            return out
        result = self.meta._fallback(self._joiner.removed)
        self.removed, self.fallback = list(result.removed), True
        self._sent.append(result.text)
        return result.text

    @property
    def text(self) -> str:
        """Everything sent so far."""
        return "".join(self._sent)

    def _release(self, sentences: list[Sentence]) -> str:
        out = []
        for sent in sentences:
            is_meta = self.meta.is_meta_sentence(sent.text)
            if is_meta:
                self.removed.append(sent.text)
            out.append(self._joiner.add(self._seen, sent, is_meta))
            self._pos = sent.end
        text = "".join(out)
        if text:
            self._sent.append(text)
        return text
