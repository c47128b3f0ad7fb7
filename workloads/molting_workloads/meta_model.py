"""The meta-language sentence classifier: a logistic regression over the features of
``meta_features``, read from a small text file of weights shipped in the package.

The file (``data/meta_model.tsv``, rebuilt by tools/build_meta_model.py) has a format line, a
features-version line, a provenance comment, then ``bias<TAB>weight`` and one
``feature<TAB>weight`` per line. A missing, unreadable or malformed file raises
``ModelFileError`` naming the file and what is wrong with it.
"""

from __future__ import annotations

import math
from functools import lru_cache
from importlib import resources
from itertools import repeat
from pathlib import Path

from molting_workloads import meta_features
from molting_workloads.meta_features import CLASS_OF, NORMALISE, TOKEN

MODEL_FORMAT = "molting meta-language model v1"
DEFAULT_MODEL = "meta_model.tsv"


_EMPTY: dict[str, float] = {}


@lru_cache(maxsize=8)
def load_model(path: str | None = None) -> MetaModel:
    """``MetaModel.load``, parsed once per path and process."""
    return MetaModel.load(path)


class ModelFileError(ValueError):
    """The classifier's weights file is missing or corrupt."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        super().__init__(f"meta-language classifier file {path}: {reason}")


class MetaModel:
    """``score(sentence)``: the probability that a sentence is meta-language."""

    def __init__(self, bias: float, weights: dict[str, float], source: str = "") -> None:
        self.bias = bias
        self.weights = weights
        self.source = source
        # The weights by feature kind ("w", "b", ...), keyed by the rest of the feature
        # string, so scoring looks words up without building "w " + word for each.
        self._by_kind: dict[str, dict[str, float]] = {}
        for feature, weight in weights.items():
            kind, _, key = feature.partition(" ")
            self._by_kind.setdefault(kind if key else feature, {})[key] = weight

    @classmethod
    def load(cls, path: str | Path | None = None) -> MetaModel:
        """The packaged model, or the one at ``path``."""
        if path is None:
            ref = resources.files("molting_workloads") / "data" / DEFAULT_MODEL
            name = f"molting_workloads/data/{DEFAULT_MODEL}"
            try:
                text = ref.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as error:
                raise ModelFileError(name, f"cannot be read ({error})") from None
        else:
            name = str(path)
            try:
                text = Path(path).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as error:
                raise ModelFileError(name, f"cannot be read ({error})") from None
        return cls.parse(text, name)

    @classmethod
    def parse(cls, text: str, name: str = "<text>") -> MetaModel:
        lines = text.splitlines()
        if not lines or lines[0] != f"# {MODEL_FORMAT}":
            raise ModelFileError(name, f"not a weights file: the first line must be "
                                       f"'# {MODEL_FORMAT}'")
        expected = f"# features {meta_features.FEATURES_VERSION}"
        if len(lines) < 2 or lines[1] != expected:
            raise ModelFileError(name, f"built for other features: line 2 must be {expected!r} "
                                       "(rebuild it with tools/build_meta_model.py)")
        bias: float | None = None
        weights: dict[str, float] = {}
        for number, line in enumerate(lines[2:], start=3):
            if not line or line.startswith("#"):
                continue
            feature, tab, value = line.partition("\t")
            try:
                weight = float(value)
            except ValueError:
                weight = math.nan
            if not tab or not math.isfinite(weight):
                raise ModelFileError(name, f"line {number}: expected 'feature<TAB>weight', "
                                           f"got {line[:60]!r}")
            if feature == "bias":
                bias = weight
            else:
                weights[feature] = weight
        if bias is None or not weights:
            raise ModelFileError(name, "no bias or no weights (the file is truncated)")
        return cls(bias, weights, name)

    def margin(self, sentence: str) -> float:
        """The log-odds that ``sentence`` is meta-language: the bias plus the weight of every
        feature of ``meta_features.features`` (computed here without building the feature
        strings, which is most of the cost; a unit test checks that both agree)."""
        kinds = self._by_kind
        zero = repeat(0.0)
        norm = (sentence if sentence.isascii() else sentence.translate(NORMALISE)).lower()
        z = self.bias
        if '"' in norm:
            z += kinds.get("has-quote", _EMPTY).get("", 0.0)
            parts = norm.split('"')
            plain = " | ".join(parts[0::2])
            quoted = TOKEN.findall(" ".join(parts[1::2]))
            z += sum(map(kinds.get("q", _EMPTY).get, quoted, zero))
        else:
            plain = norm
        words = TOKEN.findall(plain)
        if not words:
            return z + kinds.get("empty", _EMPTY).get("", 0.0)
        first = words[0]
        z += kinds.get("f", _EMPTY).get(first, 0.0)
        z += kinds.get("fs", _EMPTY).get(first[-3:], 0.0)
        classes = [c for c in map(CLASS_OF.get, words[:12]) if c]
        if classes:
            z += sum(map(kinds.get("c", _EMPTY).get, classes, zero))
            pairs = map(" ".join, zip(classes, classes[1:], strict=False))
            z += sum(map(kinds.get("cb", _EMPTY).get, pairs, zero))
            z += kinds.get("fc", _EMPTY).get((CLASS_OF.get(first) or "none") + " " + classes[0],
                                             0.0)
        z += kinds.get("f2", _EMPTY).get(" ".join(words[:2]), 0.0)
        z += kinds.get("e", _EMPTY).get(words[-1], 0.0)
        z += kinds.get("n", _EMPTY).get(str(min(len(words), 24) // 4), 0.0)
        z += sum(map(kinds.get("w", _EMPTY).get, words, zero))
        bigrams = map(" ".join, zip(["<s>", *words], words, strict=False))
        z += sum(map(kinds.get("b", _EMPTY).get, bigrams, zero))
        long = [w for w in words if len(w) >= 5]
        if long:
            z += sum(map(kinds.get("p", _EMPTY).get, [w[:4] for w in long], zero))
            z += sum(map(kinds.get("s", _EMPTY).get, [w[-3:] for w in long], zero))
        return z

    def reference_margin(self, sentence: str) -> float:
        """``margin`` the slow, obvious way (for tests)."""
        get = self.weights.get
        return self.bias + sum(get(f, 0.0) for f in meta_features.features(sentence))

    def score(self, sentence: str) -> float:
        """The probability that ``sentence`` is meta-language, in (0, 1)."""
        z = self.margin(sentence)
        return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0
