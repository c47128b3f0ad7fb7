"""User meta-language patterns (the spec's ``extraPatterns``) and the detector's threshold,
checked by one function each, so ``molting validate``, the operator, cleaning and the serving
filter refuse exactly the same values with the same message, naming the field.

Stdlib only: the contract models call these in their validators, so they live in the contract.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

MAX_PATTERN_LENGTH = 1000
# The detector's default decision thresholds (the classifier's probability): cleaning leans to
# recall (better to drop a borderline sentence from training data), the serving filter to
# precision (better to leave a borderline sentence in a user's answer).
CLEANING_META_THRESHOLD = 0.4
FILTER_META_THRESHOLD = 0.6


def compile_user_regex(source: object, field: str, what: str, *, flags: int = 0,
                       max_length: int = MAX_PATTERN_LENGTH, empty_means: str = "") -> re.Pattern[str]:
    """A user's regular expression (``what``: "meta-language pattern", "redaction pattern"),
    compiled, or ``ValueError`` naming ``field``: a non-string, an invalid regular expression, a
    very long one, or one matching the empty string (``empty_means`` says what that would do)."""
    if not isinstance(source, str):
        raise ValueError(f"{field}: {what} {source!r} is not a string")
    if len(source) > max_length:
        raise ValueError(f"{field}: {what} {source[:40]!r}... is longer than "
                         f"{max_length} characters")
    try:
        regex = re.compile(source, flags)
    except re.error as error:
        raise ValueError(f"{field}: invalid regular expression {source!r}: {error}") from None
    if regex.search("") is not None:
        raise ValueError(f"{field}: {what} {source!r} matches the empty string{empty_means}")
    return regex


def compile_pattern(source: object, field: str = "extraPatterns[0]") -> re.Pattern[str]:
    """The compiled (case-insensitive) user pattern, or ``ValueError`` naming ``field``.

    Refused: a non-string, an invalid regular expression, a very long one, and one that
    matches the empty string ("x*", "(a)?"), which would call every sentence meta-language.
    """
    return compile_user_regex(
        source, field, "meta-language pattern", flags=re.IGNORECASE,
        empty_means=", so every sentence would count as meta-language")


def compile_patterns(sources: Iterable[object], field: str = "extraPatterns"
                     ) -> list[tuple[str, re.Pattern[str]]]:
    """(source, compiled) for each pattern; the first bad one raises, named ``field[i]``."""
    return [(source, compile_pattern(source, f"{field}[{i}]"))  # type: ignore[misc]
            for i, source in enumerate(sources)]


def check_threshold(value: object, field: str = "metaThreshold") -> float:
    """A decision threshold: a probability strictly between 0 and 1."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or not 0.0 < value < 1.0:
        raise ValueError(f"{field}: the meta-language threshold must be a number in (0, 1), "
                         f"got {value!r}")
    return float(value)
