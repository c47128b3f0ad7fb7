"""The demo's users: a script that chats with the endpoint and rates every answer it gets, through
the same routes a person would use (``POST /v1/chat/completions``, then ``POST /v1/feedback`` with
the completion's id).

The rating rule is stated, not learned: a rater reads the answer as sent and likes it less for
each sentence the filter had to take out of it (the response says how many, in
``molting.removed``): ``5 - min(removed, 3)``, and 1 for an empty answer. A revision whose raw
answers are full of meta-language therefore collects worse ratings than a clean one, which is
what the seed's raters would report.

Each request carries its own ``x-user-id`` (user-0, user-1, ...), so the sticky canary split
sends some users to each revision, and its own sampling ``seed``, so a run can be repeated.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

RATING_TIMEOUT_S = 120.0


def rating_for(answer: str, removed: int) -> int:
    """The demo rater's score for an answer as sent, from 1 to 5."""
    if not answer.strip():
        return 1
    return 5 - min(removed, 3)


@dataclass
class Rated:
    """One answered and rated question."""

    user: str
    question: str
    revision: str
    completion_id: str
    removed: int
    rating: int


@dataclass
class Users:
    """Chat and rate, one request at a time (the endpoint's answers are the bottleneck)."""

    endpoint: str
    questions: list[str]
    rated: list[Rated] = field(default_factory=list)
    _next: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def turn(self, client: httpx.Client) -> Rated:
        """One user asks the next question and rates the answer."""
        with self._lock:
            n, self._next = self._next, self._next + 1
        user, question = f"user-{n}", self.questions[n % len(self.questions)]
        # A seed per user: the answers (and so the rows a retrain reads) are the same every run.
        response = client.post(f"{self.endpoint}/v1/chat/completions", headers={"x-user-id": user},
                               json={"messages": [{"role": "user", "content": question}],
                                     "seed": n})
        response.raise_for_status()
        body = response.json()
        answer = body["choices"][0]["message"]["content"] or ""
        removed = int(body.get("molting", {}).get("removed") or 0)
        rating = rating_for(answer, removed)
        feedback = client.post(f"{self.endpoint}/v1/feedback",
                               json={"id": body["id"], "rating": rating})
        feedback.raise_for_status()
        one = Rated(user, question, response.headers.get("x-molting-revision", ""), body["id"],
                    removed, rating)
        with self._lock:
            self.rated.append(one)
        return one

    def chat(self, count: int) -> list[Rated]:
        """``count`` users in a row; what they rated."""
        with httpx.Client(timeout=RATING_TIMEOUT_S) as client:
            return [self.turn(client) for _ in range(count)]

    def by_revision(self) -> dict[str, tuple[int, float]]:
        """Revision -> (answers rated, mean rating) over every turn so far."""
        with self._lock:
            rated = list(self.rated)
        out: dict[str, list[int]] = {}
        for r in rated:
            out.setdefault(r.revision, []).append(r.rating)
        return {rev: (len(s), sum(s) / len(s)) for rev, s in out.items()}


class Background:
    """Users who keep chatting while ``active()`` is true (checked before each turn), on a thread
    stopped by ``stop()``. A failed turn (the app reconfiguring, say) is counted and kept as
    ``error``; after ``MAX_FAILURES`` in a row the thread gives up."""

    MAX_FAILURES = 10

    def __init__(self, users: Users, active: Callable[[], bool], idle_s: float = 0.5) -> None:
        self.users, self.active, self.idle_s = users, active, idle_s
        self.error: Exception | None = None
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-users", daemon=True)

    def __enter__(self) -> Background:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=RATING_TIMEOUT_S)

    def _run(self) -> None:
        with httpx.Client(timeout=RATING_TIMEOUT_S) as client:
            in_a_row = 0
            while not self._stop.is_set():
                try:
                    if self.active():
                        self.users.turn(client)
                        in_a_row = 0
                        continue
                except Exception as error:  # noqa: BLE001 - reported by the demo, not lost
                    self.error, self.failures, in_a_row = error, self.failures + 1, in_a_row + 1
                    if in_a_row >= self.MAX_FAILURES:
                        return
                time.sleep(self.idle_s)
