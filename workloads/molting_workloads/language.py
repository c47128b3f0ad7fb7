"""Meta-language: the agent-like planning talk ("I'll first…", "Let me analyze…") that the seed
wants gone. One module owns it, so cleaning, evaluation and the serving filter always agree.

Stdlib only. ``split_sentences`` is a real splitter (abbreviations, decimals, initials, list
items, quotes, newlines); ``MetaLanguage`` finds, strips and rates meta sentences; ``StreamFilter``
does the same on a token stream, holding back only the current incomplete sentence.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

# The seed's Option 2 patterns, kept verbatim: they are the minimum.
SEED_PATTERNS = (
    r"I'll (?:start|first|begin|now)\s+(?:by|with)",
    r"Let me (?:start|first|begin|analyze|explore)",
    r"I'm going to",
    r"My approach (?:is|would be)",
)

# An optional interjection before the meta clause: "Okay, let me...", "Great question! I'll...".
_LEAD = r"^(?:(?:okay|ok|alright|all right|so|sure|great question|good question|well|hmm|right)[,!.:;]?\s+)*"
_I_WILL = r"(?:I'll|I will|I shall|I'm going to|I am going to|I'm gonna)"
_PLAN_VERBS = (
    r"(?:analy[sz]e|break|check|consider|examine|explore|look|review|research|investigate|think|"
    r"outline|go through|go over|walk (?:you )?through|start|begin|plan|identify|gather|search|"
    r"evaluate|assess|approach|tackle|answer|explain|focus|dig|figure|work (?:through|out)|"
    r"summari[sz]e|lay out|list|cover|address|compare|need|reason|map out|unpack|"
    r"keep (?:it|this|my answer) (?:short|brief|simple|concise))"
)
_ADVERB = r"(?:(?:first|firstly|now|then|next|quickly|briefly|carefully|also|just)\s+)?"

DEFAULT_PATTERNS = SEED_PATTERNS + (
    rf"{_LEAD}{_I_WILL}\s+{_ADVERB}(?:(?:start|begin) (?:by|with)\s+)?{_PLAN_VERBS}\b",
    rf"{_LEAD}(?:first|firstly|to begin|to start|to start with|before anything else),?\s+"
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
)

_ABBREVIATIONS = {
    "e.g", "i.e", "etc", "vs", "dr", "mr", "mrs", "ms", "prof", "st", "sr", "jr", "inc", "ltd",
    "co", "corp", "no", "fig", "approx", "u.s", "u.k", "u.n", "a.m", "p.m", "mt", "ft", "cf",
    "al", "dept", "est", "min", "max", "vol", "jan", "feb", "mar", "apr", "jun", "jul", "aug",
    "sep", "sept", "oct", "nov", "dec", "mon", "tue", "wed", "thu", "fri", "sat", "sun",
}
_CLOSERS = "\"')]}»”’"
_TERMINATORS = ".!?…"
_LIST_ITEM = re.compile(r"^\s*(?:\d{1,3}[.)]|[-*•]|[a-zA-Z][.)])\s+$")
_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "＇": "'"})
_WORD = re.compile(r"[A-Za-z0-9]+")


@dataclass(frozen=True)
class Sentence:
    """A sentence as a span of the original text (``text == original[start:end]``)."""

    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Span:
    """One meta-language match: where, which pattern, and in which sentence."""

    start: int
    end: int
    pattern: str
    sentence: str


@dataclass(frozen=True)
class StripResult:
    """The cleaned text, the sentences removed, and whether the never-empty rule kept content
    that would otherwise have gone (``fallback``)."""

    text: str
    removed: list[str] = field(default_factory=list)
    fallback: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.removed) or self.fallback


def _is_boundary(text: str, i: int) -> bool:
    """Whether the terminator run ending at ``text[i]`` ends a sentence."""
    ch = text[i]
    if ch == ".":
        j = i
        while j > 0 and (text[j - 1].isalnum() or text[j - 1] == "."):
            j -= 1
        word = text[j:i].lower()
        if word.rstrip(".") in _ABBREVIATIONS or word in _ABBREVIATIONS:
            return False
        if len(word) == 1 and word.isalpha() and text[j].isupper():
            return False  # an initial: "J. K. Rowling"
        line_start = text.rfind("\n", 0, i) + 1
        if _LIST_ITEM.match(text[line_start : i + 1] + " "):
            return False  # "1. " or "a) " opening a list item
        if i + 1 < len(text) and text[i + 1].isdigit():
            return False  # a decimal or a version: 3.14, 2.0.1
    k = i + 1
    while k < len(text) and (text[k] in _TERMINATORS or text[k] in _CLOSERS):
        k += 1
    if k >= len(text):
        return True
    if not text[k].isspace():
        return False  # "e.g.," "example.com", "?!x"
    nxt = text[k:].lstrip()
    if not nxt:
        return True
    if ch == "." and nxt[0].islower() and "\n" not in text[k : len(text) - len(nxt)]:
        return False  # "approx. five", "etc. and"
    return True


def split_sentences(text: str) -> list[Sentence]:
    """Sentences as spans of ``text``; whitespace between them belongs to no sentence."""
    out: list[Sentence] = []
    start, i, n = 0, 0, len(text)

    def emit(end: int) -> None:
        s, e = start, end
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            out.append(Sentence(s, e, text[s:e]))

    while i < n:
        ch = text[i]
        if ch == "\n":
            emit(i)
            start = i + 1
        elif ch in _TERMINATORS and (i + 1 >= n or text[i + 1] not in _TERMINATORS):
            if _is_boundary(text, i):
                end = i + 1
                while end < n and text[end] in _CLOSERS:
                    end += 1
                emit(end)
                start, i = end, end
                continue
        i += 1
    emit(n)
    return out


class MetaLanguage:
    """Finds, strips and rates meta-language with the built-in patterns plus ``extra_patterns``."""

    def __init__(self, extra_patterns: Iterable[str] = (), *, builtin: bool = True) -> None:
        sources = list(DEFAULT_PATTERNS if builtin else ()) + list(extra_patterns)
        self.patterns: list[tuple[str, re.Pattern[str]]] = []
        for source in sources:
            try:
                self.patterns.append((source, re.compile(source, re.IGNORECASE)))
            except re.error as error:
                raise ValueError(f"invalid meta-language pattern {source!r}: {error}") from None

    def _matches(self, sentence: str) -> list[tuple[int, int, str]]:
        norm = sentence.translate(_QUOTES)  # same length: offsets stay valid
        hits = []
        for source, regex in self.patterns:
            m = regex.search(norm)
            if m:
                hits.append((m.start(), m.end(), source))
        return sorted(hits)

    def is_meta_sentence(self, sentence: str) -> bool:
        norm = sentence.translate(_QUOTES)
        return any(regex.search(norm) for _, regex in self.patterns)

    def find(self, text: str) -> list[Span]:
        spans = []
        for sent in split_sentences(text):
            for s, e, source in self._matches(sent.text):
                spans.append(Span(sent.start + s, sent.start + e, source, sent.text))
        return spans

    def contains(self, text: str) -> bool:
        return any(self.is_meta_sentence(s.text) for s in split_sentences(text))

    def rate(self, answers: Iterable[str]) -> float:
        answers = list(answers)
        return sum(self.contains(a) for a in answers) / len(answers) if answers else 0.0

    def strip(self, text: str) -> StripResult:
        """Remove whole meta sentences (and trim the answer's outer whitespace). Never returns
        an empty answer for a non-blank input."""
        sentences = split_sentences(text)
        keep = [not self.is_meta_sentence(s.text) for s in sentences]
        removed = [s.text for s, k in zip(sentences, keep, strict=True) if not k]
        if not removed:
            return StripResult(text.strip())
        if any(keep):
            pieces = []
            for idx, (sent, k) in enumerate(zip(sentences, keep, strict=True)):
                if k:
                    nxt = sentences[idx + 1].start if idx + 1 < len(sentences) else len(text)
                    pieces.append(text[sent.start : nxt])
            return StripResult("".join(pieces).rstrip(), removed)
        return self._fallback(sentences, removed)

    def _fallback(self, sentences: list[Sentence], removed: list[str]) -> StripResult:
        """Everything was meta: keep the substance after the last meta clause of the richest
        sentence ("Let me explain: the sky is blue…" -> "the sky is blue…"), else that sentence."""
        best = None
        for sent in sentences:
            cut = max(e for _, e, _ in self._matches(sent.text))
            rest = sent.text[cut:]
            m = re.search(r"[:,;.!?-]\s*", rest)
            rest = rest[m.end():] if m else ""
            rest = rest.strip()
            if len(_WORD.findall(rest)) >= 3 and not self.is_meta_sentence(rest):
                if best is None or len(rest) > len(best):
                    best = rest
        if best is None:
            best = max((s.text for s in sentences), key=len)
        return StripResult(best, [r for r in removed if r != best], fallback=True)


class StreamFilter:
    """The filter for a token stream: ``feed`` returns what is safe to send now (finished,
    non-meta sentences); only the current incomplete sentence is held back. What it sends in
    total equals ``MetaLanguage.strip`` of the whole answer, ``flush`` included."""

    def __init__(self, meta: MetaLanguage) -> None:
        self.meta = meta
        self._seen = ""  # everything received
        self._sent = ""  # everything released
        self.removed: list[str] = []
        self.fallback = False

    def feed(self, delta: str) -> str:
        self._seen += delta
        sentences = split_sentences(self._seen)
        # A sentence is finished once the next one has started.
        kept = "".join(
            self._seen[sent.start : nxt.start]
            for sent, nxt in zip(sentences, sentences[1:], strict=False)
            if not self.meta.is_meta_sentence(sent.text)
        )
        return self._release(kept.rstrip())

    def flush(self) -> str:
        result = self.meta.strip(self._seen)
        self.removed, self.fallback = result.removed, result.fallback
        return self._release(result.text, final=True)

    def _release(self, target: str, final: bool = False) -> str:
        if not target.startswith(self._sent):
            if not (final and not self._sent):
                return ""
        new = target[len(self._sent) :]
        self._sent = target
        return new

    @property
    def text(self) -> str:
        return self._sent
