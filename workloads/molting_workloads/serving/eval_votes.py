"""The human evaluation's votes: validated against their sealed pair, counted per revision, kept
in memory and appended to a JSONL file when one is configured (read back on a restart).

Win rate: a win counts 1, a tie 1/2, a loss 0, over every comparison the revision took part in;
the interval is Wilson's score interval (95 %) on that rate with n = all comparisons.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from molting_workloads.serving.eval_token import Sealer, TokenError

logger = logging.getLogger(__name__)

Choice = Literal["A", "B", "tie"]
CHOICES = ("A", "B", "tie")
MAX_USED_TOKENS = 200_000  # remembered until they expire; the oldest go first past this
MAX_RATERS = 10_000
MAX_RATER_CHARS = 64
Z95 = 1.959963984540054


class VoteError(ValueError):
    """A vote the server refuses: ``status`` and ``code`` are the HTTP answer's."""

    def __init__(self, status: int, message: str, code: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


def wilson(successes: float, n: float, z: float = Z95) -> tuple[float, float] | None:
    """Wilson's score interval for ``successes`` out of ``n`` (successes may be fractional: ties
    count half); None when there is nothing to estimate from."""
    if n <= 0:
        return None
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class _Tally:
    wins: int = 0
    losses: int = 0
    ties: int = 0

    def wire(self, revision: str) -> dict:
        n = self.wins + self.losses + self.ties
        score = self.wins + 0.5 * self.ties
        interval = wilson(score, n)
        return {
            "revision": revision, "wins": self.wins, "losses": self.losses, "ties": self.ties,
            "comparisons": n, "winRate": score / n if n else None,
            "low": interval[0] if interval else None, "high": interval[1] if interval else None,
        }


class VoteStore:
    """Votes of one ingress replica. Thread-safe; the file append happens under the lock."""

    def __init__(self, sealer: Sealer, *, clock=time.time) -> None:
        self.sealer = sealer
        self._clock = clock
        self._lock = threading.Lock()
        self._tallies: dict[str, _Tally] = {}
        self._pairs: dict[tuple[str, str], _Tally] = {}  # (x, y) sorted: x's tally against y
        self._used: dict[str, float] = {}  # token id -> expiry (insertion order = age)
        self._raters: set[str] = set()
        self.votes = 0
        self.path: Path | None = None

    def use_file(self, path: str | None) -> None:
        """Append to ``path`` from now on; the first time a path is set, count the votes in it."""
        new = Path(path) if path else None
        with self._lock:
            if new == self.path:
                return
            self.path = new
            if new is not None and new.is_file():
                for line in new.read_text(encoding="utf-8").splitlines():
                    try:
                        self._count(json.loads(line))
                    except (ValueError, KeyError, TypeError):
                        logger.warning("human eval: skipping a bad line in %s", new)

    def vote(self, token: object, choice: object, rater: object = None) -> dict:
        """Record one vote; the stored record. ``VoteError`` for a bad token, choice or rater,
        or a pair voted on already."""
        if choice not in CHOICES:
            raise VoteError(400, f"choice must be one of {', '.join(CHOICES)}, got {choice!r}", "invalid_choice")
        if rater is not None and (not isinstance(rater, str) or len(rater) > MAX_RATER_CHARS):
            raise VoteError(400, f"rater must be a string of at most {MAX_RATER_CHARS} characters", "invalid_rater")
        try:
            token_id, pair, expires = self.sealer.open(token)
        except TokenError as error:
            raise VoteError(400, str(error), error.code) from error
        record = {
            "time": round(self._clock(), 3), "rater": (rater or "").strip() or None,
            "question": pair["q"], "a": pair["a"], "b": pair["b"], "choice": choice,
            "winner": {"A": pair["a"], "B": pair["b"]}.get(choice),
            "answers": {pair["a"]: pair["answers"][0], pair["b"]: pair["answers"][1]},
        }
        with self._lock:
            self._forget_expired()
            if token_id in self._used:
                raise VoteError(409, "this pair has been voted on already", "already_voted")
            self._used[token_id] = expires
            while len(self._used) > MAX_USED_TOKENS:
                self._used.pop(next(iter(self._used)))
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a", encoding="utf-8") as handle:
                    handle.write(json.dumps(record) + "\n")
            self._count(record)
        return record

    def _forget_expired(self) -> None:
        now = self._clock()
        for token_id in [t for t, exp in self._used.items() if exp < now]:
            del self._used[token_id]

    def _count(self, record: dict) -> None:
        a, b, choice = record["a"], record["b"], record["choice"]
        if choice not in CHOICES:
            raise ValueError(choice)
        for me, other, mine in ((a, b, "A"), (b, a, "B")):
            for tally in (self._tallies.setdefault(me, _Tally()), self._pairs.setdefault((me, other), _Tally())):
                if choice == "tie":
                    tally.ties += 1
                elif choice == mine:
                    tally.wins += 1
                else:
                    tally.losses += 1
        if record.get("rater") and len(self._raters) < MAX_RATERS:
            self._raters.add(record["rater"])
        self.votes += 1

    def results(self) -> dict:
        """Per-revision and head-to-head wins, losses, ties and win rate with its interval."""
        with self._lock:
            return {
                "votes": self.votes,
                "raters": len(self._raters),
                "ties": "a tie counts as half a win for each side",
                "interval": "Wilson score, 95%",
                "revisions": [t.wire(r) for r, t in sorted(self._tallies.items())],
                "pairs": [t.wire(me) | {"against": other} for (me, other), t in sorted(self._pairs.items())],
            }
