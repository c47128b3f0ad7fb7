"""Pure traffic assignment: which revision serves a request, by weight, sticky per user key.

The ingress calls ``Split.pick`` on every request. A key is hashed onto 10,000 buckets, and the
revisions own consecutive bucket ranges in config order, so the same key gets the same revision
for as long as the split is unchanged. With the candidate listed last, raising its weight only
moves users *to* it: its range grows downward and nobody already on it leaves.
"""

from __future__ import annotations

import hashlib
import random
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

BUCKETS = 10_000
_PER_PERCENT = BUCKETS // 100


def bucket_of(key: str, salt: str = "") -> int:
    """A stable bucket in ``[0, BUCKETS)`` for a user key (the same on every replica and run)."""
    digest = hashlib.blake2b(f"{salt}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


@dataclass(frozen=True)
class Split:
    """Revisions and their cumulative bucket bounds; weights are percents that add up to 100."""

    revisions: tuple[str, ...] = ()
    bounds: tuple[int, ...] = ()  # bounds[i]: first bucket past revisions[i]'s range
    salt: str = ""

    @classmethod
    def of(cls, weights: Sequence[tuple[str, int]], salt: str = "") -> Split:
        """A split from (revision, percent) pairs in config order; 0 % revisions get no users."""
        revisions, bounds, total = [], [], 0
        for revision, weight in weights:
            if weight < 0:
                raise ValueError(f"weight of {revision!r} is negative: {weight}")
            if weight == 0:
                continue
            total += weight
            revisions.append(revision)
            bounds.append(total * _PER_PERCENT)
        if revisions and total != 100:
            raise ValueError(f"weights must add up to 100, got {total}")
        return cls(tuple(revisions), tuple(bounds), salt)

    @property
    def is_empty(self) -> bool:
        """No revision has traffic: nothing can be assigned."""
        return not self.revisions

    def weights(self) -> dict[str, int]:
        lows = (0, *self.bounds[:-1])
        return {r: (hi - lo) // _PER_PERCENT for r, lo, hi in zip(self.revisions, lows, self.bounds, strict=True)}

    def pick(self, key: str | None, rng: random.Random | None = None) -> str | None:
        """The revision for ``key``; a random one (by weight) without a key; None when empty."""
        if self.is_empty:
            return None
        bucket = bucket_of(key, self.salt) if key else (rng or random).randrange(BUCKETS)
        return self.revisions[bisect_right(self.bounds, bucket)]
