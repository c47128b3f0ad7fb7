"""Meta-language: the agent-like planning talk ("I'll first…", "Let me analyze…") that the seed
wants gone. One module owns it, so data cleaning, the evaluation metric and the serving filter
always agree.

Stdlib only. ``split_sentences`` is a real splitter (abbreviations, decimals, initials, list
items, quotes, newlines, code fences); ``MetaLanguage`` finds, strips and rates meta sentences;
``StreamFilter`` does the same on a token stream, holding back only the sentence being written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = [
    "DEFAULT_PATTERNS",
    "SEED_PATTERNS",
    "MetaLanguage",
    "Sentence",
    "Span",
    "StreamFilter",
    "StripResult",
    "split_sentences",
]

# ------------------------------------------------------------------------------------ patterns

# The seed's Option 2 patterns, kept verbatim: they are the minimum.
SEED_PATTERNS = (
    r"I'll (?:start|first|begin|now)\s+(?:by|with)",
    r"Let me (?:start|first|begin|analyze|explore)",
    r"I'm going to",
    r"My approach (?:is|would be)",
)

# An optional interjection before the meta clause: "Okay, let me...", "Great question! I'll...".
_LEAD = (
    r"^(?:(?:okay|ok|alright|all right|so|sure|great question|good question|well|hmm|right|wait|"
    r"now|actually|first)[,!.:;]?\s+)*"
)
_I_WILL = r"(?:I'll|I will|I shall|I'm going to|I am going to|I'm gonna)"
_PLAN_VERBS = (
    r"(?:analy[sz]e|break|check|consider|examine|explore|look|review|research|investigate|think|"
    r"outline|go through|go over|walk (?:you )?through|start|begin|plan|identify|gather|search|"
    r"evaluate|assess|approach|tackle|answer|explain|focus|dig|figure|work (?:through|out)|"
    r"summari[sz]e|lay out|list|cover|address|compare|need|reason|map out|unpack|"
    r"keep (?:it|this|my answer) (?:short|brief|simple|concise))"
)
_ADVERB = r"(?:(?:first|firstly|now|then|next|quickly|briefly|carefully|also|just)\s+)?"

# Anywhere in a sentence: a first-person plan ("I need to figure out…", "let me take a closer
# look…") and the verbs of working on an answer.
_I_PLAN_LEAD = (
    r"(?:I'll|I\s+will|I\s+shall|I'm\s+(?:now\s+)?going\s+to|I\s+am\s+(?:now\s+)?going\s+to|I'm\s+gonna|"
    r"I\s+need\s+to|I\s+should|I\s+must|I\s+have\s+to|I\s+want\s+to|I'd\s+like\s+to|I'll\s+(?:have|need)\s+to|"
    r"let\s+me)"
)
_ADVERBS = (
    r"(?:(?:first|now|then|next|also|just|quickly|carefully|briefly|again|probably|try\s+to)\s+)*"
)
_PROCESS = (
    r"(?:analy[sz]e|break\s+(?:\w+\s+){0,3}?down|(?:double[-\s]?)?check|(?:re-?)?examine|explore|"
    r"investigate|look\s+(?:at|into|over|through|up)|take\s+a\s+(?:\w+\s+)?(?:look|step\s+back)|"
    r"rethink|(?:re)?consider|review|research|search|figure\s+out|work\s+(?:through|out)|"
    r"go\s+(?:through|over)|identify|determine|outline|understand|gather|(?:re-?)?evaluate|"
    r"assess|parse|unpack|reflect|tackle|approach|verify|map\s+out|re-?read|restate|scan|inspect|"
    r"brainstorm|recall|revisit|proceed|(?:dig|dive)\s+in(?:to)?|structure|organi[sz]e|jot\s+down|note\s+down|"
    r"pull\s+together|sketch\s+out|lay\s+out|turn\s+to|try\s+(?:a\s+different|another)\s+"
    r"(?:approach|angle|way)|make\s+sure\s+I\s+understand)\b"
)
# "Let me <anything>" is the assistant narrating its work, except for these conversational uses.
_LET_ME_NOT = (
    r"(?!know\b|tell\b|be\b|give\b|help\b|say\b|show\b|introduce\b|add\b|remind\b|assure\b|"
    r"guess\b|ask\b|get\s+you\b|offer\b|recommend\b|suggest\b|share\b|congratulate\b|thank\b|"
    r"apologi[sz]e\b|in\b|out\b|go\b|down\b|finish\b|put\s+it\b)"
)
_TASK = r"(?:the|this|your|my|that)\s+(?:user's\s+)?(?:question|request|query|prompt|task|problem)\b"

DEFAULT_PATTERNS = SEED_PATTERNS + (
    rf"{_LEAD}{_I_WILL}\s+{_ADVERB}(?:(?:start|begin) (?:by|with)\s+)?{_PLAN_VERBS}\b",
    rf"{_LEAD}(?:first|firstly|first of all|to begin|to start|to start with|before anything else),?\s+"
    rf"(?:{_I_WILL}|I|let me|let's|I need to|I want to)\b",
    rf"{_LEAD}let me {_ADVERB}(?:think|look|check|consider|explain|walk you|break|outline|go "
    r"through|go over|review|research|figure|work|dig|examine|investigate|gather|see|search|plan|"
    r"focus|summari[sz]e|analy[sz]e|explore|start|begin|unpack|tackle|map|lay out|reason)\b",
    rf"{_LEAD}let(?:'s| us) {_ADVERB}(?:break (?:this|it|that|the \w+) down|think|analy[sz]e|"
    r"explore|dive|unpack|tackle|approach|examine|consider|figure (?:this|it|that) out|work "
    r"through|reason|walk through|go through|(?:start|begin) by (?:analy|look|think|break|consid"
    r"|examin|review|understand|identify|explor))",
    r"\bhere(?:'s| is) (?:my|the) (?:plan|approach|strategy|game plan|step-by-step plan|"
    r"breakdown of how I)\b",
    r"\bmy (?:plan|strategy|game plan|first step|next step) (?:is|would be|will be|here)\b",
    r"^(?:step|phase) (?:\d+|one|two|three)\s*[:.)-]\s*(?:I\b|I'll|I will|let me|let's|"
    r"(?:first,? )?(?:analy[sz]e|understand|identify|gather|research|review|break down|clarify|"
    r"determine|parse|define|plan|read) (?:the|your|what|this|my|how|relevant|key|available|"
    r"information|requirements))",
    r"\b(?:to answer (?:this|your question|that|the question)|before (?:answering|I answer|"
    r"I respond|responding|I dive in)),?\s+(?:I|I'll|I will|I need|I'm going|let me|let's|"
    r"we need|I should)\b",
    rf"{_LEAD}I (?:(?:need|have|want|ought) to|should|must) {_ADVERB}(?:start by |begin by )?(?:analy[sz]e|"
    r"check|consider|examine|explore|look (?:at|into)|review|research|investigate|think|break|"
    r"understand (?:the|your|what)|figure|gather|identify|clarify|determine|plan)\b",
    rf"{_LEAD}(?:now|next|then|finally|after that|afterwards|once (?:that's|that is) done),? "
    rf"(?:{_I_WILL}|let me|let's) (?:give you|provide|share|analy|check|consider|"
    r"examine|explore|look|review|research|investigate|think|break|move on|turn|summari|outline|"
    r"go through|walk|focus|address|wrap|explain|describe|cover|answer|discuss)",
    r"\bas an AI(?: language model| assistant)?,? I (?:will|'ll|need|must|should) (?:first|start|"
    r"begin|analy|break|think)",
    rf"\b{_I_PLAN_LEAD}\s+{_ADVERBS}{_PROCESS}",
    r"\b(?:in\s+order\s+to|to)\s+(?:answer|address|respond\s+to|tackle|solve)\s+"
    r"(?:this|that|your|the)(?:\s+(?:question|query|request|problem|task))?,?\s+"
    r"(?:I(?:'ll|\s+will|\s+need|\s+must|\s+should|\s+have\s+to|'m\s+going|\s+am\s+going|\s+first)"
    r"|let\s+me|let's)\b",
    r"\bbefore\s+(?:(?:diving|jumping|getting)|(?:we|I)\s+(?:dive|jump|get))\s+in"
    r"(?:to\s+(?:it|this|the\s+details))?,?\s+"
    r"(?:I|let\s+me|let's)\b",
    r"\bhere(?:'s|\s+is)\s+(?:how|what)\s+I(?:'ll|\s+will|\s+plan\s+to|'m\s+going\s+to|"
    r"\s+am\s+going\s+to)\s+(?:approach|tackle|answer|handle|solve|do)\b",
    r"\bmy\s+(?:first|next|initial|final)\s+(?:step|move)\s+(?:is|will\s+be|would\s+be)\b",
    r"\bhere(?:'s|\s+is)\s+(?:what\s+I'm\s+thinking|my\s+thinking)\b",
    r"\bfirst\s+things\s+first,?\s+(?:I|let\s+me|let's)\b",
    r"\bstep\s+\d+\s*[:.)\-]\s*(?:I\b|I'll|I'm|let\s+me\b|my\b)",
    r"\bthe\s+user\s+(?:is\s+(?:asking|looking\s+for|requesting|wondering)|asks|asked|"
    r"wants|would\s+like|seems\s+to\s+want)\b",
    r"\bthe\s+user's\s+(?:question|query|prompt)\b",
    r"\b(?:the|this)\s+question\s+(?:is\s+asking|asks|wants|requires\s+(?:me|us))\b",
    r"\b(?:let's|let\s+me|I'll|I\s+will)\s+(?:think|reason|go|take\s+(?:this|it))\s+"
    r"(?:(?:this|it)\s+(?:through\s+)?)?step\s+by\s+step\b",
    rf"\blet\s+me\s+(?:(?:first|now|then|next|just|quickly)\s+)?{_LET_ME_NOT}[a-z]",
    r"\b(?:what|the\s+(?:first|next|last)\s+thing)\s+I(?:'ll|\s+will|'m\s+going\s+to|"
    r"\s+am\s+going\s+to|\s+need\s+to|\s+have\s+to|\s+want\s+to|\s+should)\s+do\b",
    r"\bmy\s+(?:goal|aim|task|job|plan|intention|objective)\s+(?:here|now)\s+(?:is|will\s+be)\b",
    r"\bmy\s+(?:reasoning|thought\s+process|thinking)\s+(?:goes|is|here|runs)\b",
    r"\bI'll\s+be\s+(?:breaking|looking|going\s+through|checking|analy[sz]ing|focusing|covering|"
    r"walking|examining|comparing|reviewing|exploring|considering)\b",
    r"\bthinking\s+(?:about\s+)?(?:this|it)\s+(?:through|carefully|over)\b",
    r"^(?:okay|ok|alright|all\s+right|right|now),?\s+(?:it's\s+)?time\s+to\b",
)

# Every text that a built-in pattern matches in contains one of these (the seed's patterns have
# no \b, so their openings are listed as plain substrings).
_TRIGGERS = (
    r"\b(?:I|let|my|here|step|phase|users?|question|thinking|time)\b|answer|respond|"
    r"I'll |Let me |I'm going to|My approach "
)
_DEFAULT_SET = frozenset(DEFAULT_PATTERNS)

# One character for one, so offsets into the normalised text are offsets into the original.
_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "＇": "'", "ʼ": "'",
                         "\u00a0": " "})
# A pattern with these can match inside a sentence but not at the same place in the whole text.
_POSITION_SENSITIVE = ("^", "$", "\\A", "\\Z", "\\B", "(?=", "(?!", "(?<", "(?P=")
_BACKREF = re.compile(r"\\[1-9]")
_WORD = re.compile(r"[A-Za-z0-9]+")

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


@dataclass(frozen=True)
class Sentence:
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
    """One meta-language match: the matched phrase's offsets in the original text, the pattern
    that matched and the whole sentence around it."""

    start: int
    end: int
    pattern: str
    sentence: str


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


def _compile(source: str) -> re.Pattern[str]:
    if not isinstance(source, str):
        raise ValueError(f"invalid meta-language pattern {source!r}: not a string")
    try:
        regex = re.compile(source, re.IGNORECASE)
    except re.error as error:
        raise ValueError(f"invalid meta-language pattern {source!r}: {error}") from None
    if regex.search("") is not None:
        raise ValueError(f"invalid meta-language pattern {source!r}: it matches the empty "
                         "string, so every sentence would count as meta-language")
    return regex


def _is_quoted(sentence: str, i: int) -> bool:
    """Whether offset ``i`` of a normalised sentence lies in quoted speech (a mention, not a
    use: 'She said, "Let me think."')."""
    if sentence.count('"', 0, i) % 2:
        return True
    return i > 0 and sentence[i - 1] == "'" and (i == 1 or not sentence[i - 2].isalnum())


class MetaLanguage:
    """Finds, strips and rates meta-language with the built-in patterns plus ``extra_patterns``.

    Patterns are compiled once and matched case-insensitively, with curly quotes read as
    straight ones. A match inside quoted speech or a fenced code block does not count. An
    invalid pattern raises ``ValueError`` naming it.
    """

    def __init__(self, extra_patterns: Iterable[str] = (), *, builtin: bool = True) -> None:
        sources = list(DEFAULT_PATTERNS if builtin else ()) + list(extra_patterns)
        self.patterns: list[tuple[str, re.Pattern[str]]] = [(s, _compile(s)) for s in sources]
        self._screen = _screen(sources)

    def is_meta_sentence(self, sentence: str) -> bool:
        """Whether one sentence contains meta-language."""
        return bool(self._matches(sentence.translate(_QUOTES), first=True))

    def find(self, text: str) -> list[Span]:
        """Every pattern's first match in every meta sentence of ``text``, in order."""
        norm = text.translate(_QUOTES)
        if self._surely_clean(norm):
            return []
        return [Span(sent.start + s, sent.start + e, source, sent.text)
                for sent in split_sentences(text)
                for s, e, source in self._matches(norm[sent.start : sent.end])]

    def contains(self, text: str) -> bool:
        """Whether any sentence of ``text`` contains meta-language."""
        norm = text.translate(_QUOTES)
        if self._surely_clean(norm):
            return False
        return any(self._matches(norm[s.start : s.end], first=True) for s in split_sentences(text))

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
        norm = text.translate(_QUOTES)
        if self._surely_clean(norm):
            return StripResult(text.strip())
        joiner = _Joiner()
        kept = "".join(joiner.add(text, s, bool(self._matches(norm[s.start : s.end], first=True)))
                       for s in split_sentences(text))
        if joiner.kept_any:
            return StripResult(kept, [s.text for s in joiner.removed])
        return self._fallback(joiner.removed)

    def _surely_clean(self, norm_text: str) -> bool:
        return self._screen is not None and self._screen.search(norm_text) is None

    def _matches(self, norm_sentence: str, first: bool = False) -> list[tuple[int, int, str]]:
        """(start, end, pattern) of each pattern's first unquoted match, sorted."""
        if norm_sentence.startswith("```") or not self.patterns:
            return []
        if self._screen is not None and self._screen.search(norm_sentence) is None:
            return []
        hits = []
        for source, regex in self.patterns:
            for m in regex.finditer(norm_sentence):
                if not _is_quoted(norm_sentence, m.start()):
                    hits.append((m.start(), m.end(), source))
                    if first:
                        return hits
                    break
        return sorted(hits)

    def _fallback(self, sentences: list[Sentence]) -> StripResult:
        """Everything was meta: keep the substance after the last meta clause of the richest
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
        hits = self._matches(sentence.translate(_QUOTES))
        if not hits:
            return ""
        rest = sentence[max(e for _, e, _ in hits) :]
        m = re.search(r"[:,;.!?-]\s*", rest)
        rest = rest[m.end() :].strip() if m else ""
        if len(_WORD.findall(rest)) >= 3 and not self.is_meta_sentence(rest):
            return rest
        return ""


def _screen(sources: list[str]) -> re.Pattern[str] | None:
    """One regex that matches wherever any pattern could match, so a text (or sentence) it
    does not match needs no further work; None when some pattern makes that unsound.

    Every match of a built-in pattern contains one of the ``_TRIGGERS`` words (a unit test
    checks this on generated matches), which is much cheaper to look for than the patterns.
    Other patterns join with their sentence anchor dropped.
    """
    loose = [_TRIGGERS]
    for source in sources:
        if source in _DEFAULT_SET:
            continue
        body = source.removeprefix("^")  # dropping the anchor only widens what it matches
        if _BACKREF.search(body) or any(token in body for token in _POSITION_SENSITIVE):
            return None
        loose.append(f"(?:{body})")
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
