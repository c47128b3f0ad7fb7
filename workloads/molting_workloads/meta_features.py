"""The features the meta-language classifier reads from one sentence.

Shared by the model builder (tools/build_meta_model.py) and the detector, so a sentence is
scored on exactly the features it was trained on. Stdlib only and cheap: a few dozen strings
per sentence.

Words are lowercased with curly quotes read as straight ones. Each word gives a unigram and,
with its neighbour, a bigram; words of five letters or more also give their first four and
last three letters (character n-grams that carry "analys"/"analyz", "-ing" and the like to
spellings nobody listed). The sentence's first two words, its last token and its length get
features of their own, because where a phrase sits says much ("Let me…" opening a sentence).
Words of a few small hand-made classes (first person, intent, work on an answer, telling,
order, the answer itself) also give their class, and neighbouring classes a class bigram: this
is how "I'm keen to cross-reference…" shares evidence with "I plan to check…" although no
training sentence has those words. Words inside double quotes are marked as quoted: a character's line in a story mentions a plan,
it is not the assistant's own.
"""

from __future__ import annotations

import re

FEATURES_VERSION = 3

# One character for one, so offsets stay offsets into the original sentence.
NORMALISE = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "„": '"', "＇": "'",
                           "ʼ": "'", "\u00a0": " "})
TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[:?!]")

_CLASSES = {
    "self": "i i'll i'm i'd i've ill im ive me my myself let lemme let's lets we we'll we're us",
    "intent": "will shall going gonna plan planning intend intention aim aiming want like "
              "hope hoping keen prefer propose mean try trying idea goal need should must "
              "about rather wish attempt",
    "work": "analyse analyze analysing analyzing analysis check checking look looking review "
            "reviewing examine examining search searching research researching consult "
            "consulting scan scanning compile compiling gather gathering verify verifying pull "
            "pulling fetch fetching open opening access accessing retrieve retrieving "
            "cross-reference cross-referencing dig digging sift sifting calculate calculating "
            "compute computing query querying read reading think thinking figure work working "
            "investigate investigating explore exploring double-check double-checking "
            "recalculate recalculating reconsider rethink redo untangle narrow establish "
            "pin sort determine identify evaluate assess weigh inspect browse load loading "
            "process processing run running find finding confirm reread re-read rereading "
            "breakdown estimate",
    "tell": "explain explaining cover covering outline outlining summarise summarize "
            "summarising summarizing summary recap recapping describe describing walk walking "
            "discuss discussing address addressing tackle tackling handle handling answer "
            "answering restate restating list listing compare comparing go through over "
            "break down lay unpack unpacking wrap wrapping conclude close closing finish "
            "finishing end start begin beginning turn move approach method strategy plan "
            "attack sketch clarify define",
    "order": "first firstly then next finally lastly after afterwards before below follows "
             "following part parts section sections half halves order stage stages step steps "
             "outline overview roadmap coming",
    "answer": "answer question request query response reply task this it that here prompt "
              "user explanation",
    "wait": "moment second sec minute tick beat bear hold hang wait",
}
CLASS_OF = {w: c for c, words in _CLASSES.items() for w in words.split()}


def features(sentence: str) -> list[str]:
    """The feature strings of one sentence (repeats count twice)."""
    norm = sentence.translate(NORMALISE).lower()
    out: list[str] = []
    if '"' in norm:
        out.append("has-quote")
        parts = norm.split('"')
        plain = " | ".join(parts[0::2])
        out.extend("q " + t for t in TOKEN.findall(" ".join(parts[1::2])))
    else:
        plain = norm
    words = TOKEN.findall(plain)
    if not words:
        return out + ["empty"]
    first = words[0]
    out.append("f " + first)
    out.append("fs " + first[-3:])
    classes = [c for c in map(CLASS_OF.get, words[:12]) if c]
    out.extend("c " + c for c in classes)
    out.extend(f"cb {a} {b}" for a, b in zip(classes, classes[1:], strict=False))
    if classes:
        out.append("fc " + (CLASS_OF.get(first) or "none") + " " + classes[0])
    out.append("f2 " + " ".join(words[:2]))
    out.append("e " + words[-1])
    out.append(f"n {min(len(words), 24) // 4}")
    previous = "<s>"
    for word in words:
        out.append("w " + word)
        out.append(f"b {previous} {word}")
        if len(word) >= 5:
            out.append("p " + word[:4])
            out.append("s " + word[-3:])
        previous = word
    return out


# ------------------------------------------------------------------------------------ screen
# The classifier only reads sentences with one of these cues: a word of self-reference, of
# planning or of an answer's structure, or an opening "-ing" or "-ed" word ("Searching for…",
# "Looked it up…"). A sentence without any is not meta-language by definition, which lets a
# whole text without a cue pass untouched after one regex search.
# tests/unit/test_meta_detector.py checks that every meta sentence of the training set has one.
CUE_WORDS = (
    r"I|I['’](?:ll|m|d|ve)|Ill|Im|me|my|myself|let|lemme|let['’]?s|we|we['’](?:ll|re|ve)|us|"
    r"our|ourselves|below|follows?|following|parts?|sections?|halves|order|overview|roadmap|"
    r"contents|covered|ahead|coming|next|now|then|first|finally|lastly|user|question|task|"
    r"request|prompt|recap|summary|summari[sz]e|moment|sec|second|minute|tick|beat|hold|hang|"
    r"wait|bear|plan|approach|strategy|method|idea|goal|aim|intention|finish|conclude|close|"
    r"wrap|still|step|here['’]?s|what['’]?s|ok|okay|alright|hmm|answer|response|analysis|"
    r"structure|splits?|asking|ask|after|wants?|done|complete|phase|stage|like|you['’]d|"
    r"ive|here|reply|explanation|outline|agenda|steps|glad|happy|intent|point|focus|will|"
    r"explained|discussed|summari[sz]ed|got|you['’]?re|searching|looking|checking|pulling|to do|"
    r"that['’]?s|thats|so|just|each|how|where|which|you['’]?ve|on to|back to|further|end|"
    r"bottom|covers?|concludes?|finish(?:es|ed)|wraps?|dealt|lot|headings?|included|sources|need|way|what|"
    r"currently|remainder|message|ordered|list|rows?|right|to go"
)
# Searched in lower-cased text, without re.IGNORECASE (several times faster); the lookahead
# lets the regex engine skip positions that cannot start a cue.
CUE = re.compile(rf"(?=[a-z])\b(?:{CUE_WORDS.lower()})\b")
# An opening "-ing" word; in a whole text, one after a line break or a sentence end (and any
# non-letters), which is where every sentence but the first starts.
GERUND_START = re.compile(r"[^a-z]*(?:[a-z][a-z-]*(?:ing|ed)|ran)\b")
TEXT_CUE = re.compile(rf"(?=[a-z.!?…\n])(?:\b(?:{CUE_WORDS.lower()})\b|"
                      r"[.!?…\n][^a-z]*(?:[a-z][a-z-]*(?:ing|ed)|ran)\b)")


def has_cue(sentence: str) -> bool:
    """Whether the classifier needs to read ``sentence`` at all."""
    low = sentence.lower()
    return CUE.search(low) is not None or GERUND_START.match(low) is not None


def text_has_cue(text: str) -> bool:
    """False only when no sentence of ``text`` has a cue (one regex search)."""
    low = text.lower()
    return TEXT_CUE.search(low) is not None or GERUND_START.match(low) is not None
