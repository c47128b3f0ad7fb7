"""Live per-revision counters of one ingress replica: JSON for /stats (the contract's
``AppStats``, read by the canary analysis) and Prometheus metrics for /metrics.

User and probe traffic are counted apart; ratings (POST /v1/feedback) per revision, scores and
thumbs apart. Latency percentiles come from the most recent
``WINDOW`` requests of each revision and kind; the Prometheus histograms hold everything.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from molting_workloads.contract.live_stats import AppStats, Counters, Ratings, RevisionStats

Kind = Literal["user", "probe"]
WINDOW = 4096
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
LENGTH_BUCKETS = (0, 20, 50, 100, 200, 400, 800, 1600, 3200, 6400)


@dataclass
class Outcome:
    """What one request did; ``ok`` False means a server-side failure (5xx)."""

    ok: bool
    latency_s: float
    unavailable: bool = False  # 503: the revision's adapter could not be loaded
    raw_meta: bool = False  # the generated answer contained meta-language
    removed: int = 0  # sentences the filter removed
    length: int = 0  # characters of the answer as sent


@dataclass
class _Tally:
    requests: int = 0
    errors: int = 0
    unavailable: int = 0
    meta_hits: int = 0
    filter_removals: int = 0
    filtered_answers: int = 0
    length_sum: int = 0
    answers: int = 0
    latency_sum_ms: float = 0.0
    latencies_ms: deque = field(default_factory=lambda: deque(maxlen=WINDOW))

    def add(self, o: Outcome) -> None:
        self.requests += 1
        ms = o.latency_s * 1000.0
        self.latency_sum_ms += ms
        self.latencies_ms.append(ms)
        if not o.ok:
            self.errors += 1
            self.unavailable += int(o.unavailable)
            return
        self.answers += 1
        self.meta_hits += int(o.raw_meta)
        self.filter_removals += o.removed
        self.filtered_answers += int(o.removed > 0)
        self.length_sum += o.length

    def counters(self) -> Counters:
        ordered = sorted(self.latencies_ms)
        return Counters(
            requests=self.requests,
            errors=self.errors,
            unavailable=self.unavailable,
            latency_p50_ms=_rank(ordered, 0.50),
            latency_p99_ms=_rank(ordered, 0.99),
            latency_mean_ms=round(self.latency_sum_ms / self.requests, 3) if self.requests else None,
            meta_hits=self.meta_hits,
            filter_removals=self.filter_removals,
            filtered_answers=self.filtered_answers,
            mean_length=round(self.length_sum / self.answers, 2) if self.answers else None,
        )


@dataclass
class _RatingTally:
    scores: dict[int, int] = field(default_factory=dict)
    thumbs: dict[str, int] = field(default_factory=dict)

    def ratings(self) -> Ratings:
        count = sum(self.scores.values())
        return Ratings(
            count=count,
            mean=round(sum(s * n for s, n in self.scores.items()) / count, 3) if count else None,
            thumbs_up=self.thumbs.get("up", 0),
            thumbs_down=self.thumbs.get("down", 0),
            by_score={str(s): n for s, n in sorted(self.scores.items())},
        )


def _rank(ordered: list[float], q: float) -> float | None:
    """Nearest-rank percentile of an ascending list."""
    if not ordered:
        return None
    index = min(len(ordered) - 1, max(0, int(q * len(ordered) + 0.999999) - 1))
    return round(ordered[index], 3)


class LiveStats:
    """Counters for every revision seen since this replica started."""

    def __init__(self, app: str) -> None:
        self.app = app
        self.started_at = time.time()
        self.unrouted = 0
        self._tallies: dict[tuple[str, Kind], _Tally] = {}
        self._ratings: dict[str, _RatingTally] = {}
        self.capture_written = 0
        self.capture_dropped = 0
        self._own_ms: deque = deque(maxlen=WINDOW)  # the ingress's own time per request
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ("app", "revision", "kind")
        self._requests = Counter("molting_requests", "Chat completion requests.", labels, registry=self.registry)
        self._errors = Counter("molting_errors", "Requests that failed on the server (5xx).", labels, registry=self.registry)
        self._unavailable = Counter(
            "molting_adapter_unavailable", "Requests refused because the adapter did not load.", labels, registry=self.registry
        )
        self._latency = Histogram(
            "molting_request_latency_seconds", "Request latency, first byte to last.", labels,
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self._meta = Counter("molting_meta_hits", "Answers with meta-language before filtering.", labels, registry=self.registry)
        self._removals = Counter("molting_filter_removals", "Sentences removed by the filter.", labels, registry=self.registry)
        self._length = Histogram(
            "molting_answer_length_chars", "Length of the answers as sent.", labels,
            buckets=LENGTH_BUCKETS, registry=self.registry,
        )
        self._weight = Gauge("molting_revision_weight", "Percent of user traffic.", ("app", "revision"), registry=self.registry)
        self._own = Histogram(
            "molting_ingress_own_seconds", "Ingress time per request, generation excluded.", ("app",),
            buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05), registry=self.registry,
        ).labels(app)
        self._unrouted = Counter("molting_unrouted", "User requests with no revision to serve them.", ("app",), registry=self.registry)
        self.overloaded = 0
        self._overloaded = Counter(
            "molting_overloaded", "Requests refused with 503 + Retry-After: the generator's queue was full.",
            ("app",), registry=self.registry,
        )
        self._scores = Histogram(
            "molting_feedback_score", "Feedback scores (1 to 5) per revision.", ("app", "revision"),
            buckets=(1, 2, 3, 4, 5), registry=self.registry,
        )
        self._thumbs = Counter(
            "molting_feedback_thumbs", "Thumbs up and down per revision.", ("app", "revision", "thumb"),
            registry=self.registry,
        )
        self._capture = Counter(
            "molting_capture_records", "Capture records written, or dropped (queue full, write failed).",
            ("app", "result"), registry=self.registry,
        )

    def record(self, revision: str, kind: Kind, outcome: Outcome) -> None:
        self._tallies.setdefault((revision, kind), _Tally()).add(outcome)
        labels = (self.app, revision, kind)
        self._requests.labels(*labels).inc()
        self._latency.labels(*labels).observe(outcome.latency_s)
        if not outcome.ok:
            self._errors.labels(*labels).inc()
            if outcome.unavailable:
                self._unavailable.labels(*labels).inc()
            return
        if outcome.raw_meta:
            self._meta.labels(*labels).inc()
        if outcome.removed:
            self._removals.labels(*labels).inc(outcome.removed)
        self._length.labels(*labels).observe(outcome.length)

    def record_own_time(self, seconds: float) -> None:
        """Time the ingress spent on a request outside the Generator call."""
        self._own_ms.append(seconds * 1000.0)
        self._own.observe(seconds)

    def record_unrouted(self) -> None:
        self.unrouted += 1
        self._unrouted.labels(self.app).inc()

    def record_overloaded(self) -> None:
        """A request refused because the queue was full: not counted against its revision."""
        self.overloaded += 1
        self._overloaded.labels(self.app).inc()

    def record_rating(self, revision: str, score: int | None, thumb: str | None) -> None:
        tally = self._ratings.setdefault(revision, _RatingTally())
        if score is not None:
            tally.scores[score] = tally.scores.get(score, 0) + 1
            self._scores.labels(self.app, revision).observe(score)
        if thumb is not None:
            tally.thumbs[thumb] = tally.thumbs.get(thumb, 0) + 1
            self._thumbs.labels(self.app, revision, thumb).inc()

    def record_capture(self, written: bool) -> None:
        """One capture record written or dropped (called from the writer's thread too)."""
        if written:
            self.capture_written += 1
        else:
            self.capture_dropped += 1
        self._capture.labels(self.app, "written" if written else "dropped").inc()

    def set_weights(self, weights: dict[str, int]) -> None:
        for revision, weight in weights.items():
            self._weight.labels(self.app, revision).set(weight)

    def snapshot(
        self, weights: dict[str, int], adapters: dict[str, str], settings_hash: str | None = None
    ) -> AppStats:
        """Every configured revision (even without requests), then any retired ones seen (served
        or rated)."""
        seen = {revision for revision, _ in self._tallies} | set(self._ratings)
        order = list(weights) + sorted(seen - set(weights))
        return AppStats(
            app=self.app,
            started_at=self.started_at,
            unrouted=self.unrouted,
            settings_hash=settings_hash,
            capture_written=self.capture_written,
            capture_dropped=self.capture_dropped,
            ingress_p50_ms=_rank(sorted(self._own_ms), 0.50),
            ingress_p99_ms=_rank(sorted(self._own_ms), 0.99),
            revisions=[
                RevisionStats(
                    revision=r,
                    weight=weights.get(r, 0),
                    adapter=adapters.get(r),
                    user=self._counters(r, "user"),
                    probe=self._counters(r, "probe"),
                    ratings=self._ratings[r].ratings() if r in self._ratings else Ratings(),
                )
                for r in order
            ],
        )

    def _counters(self, revision: str, kind: Kind) -> Counters:
        tally = self._tallies.get((revision, kind))
        return tally.counters() if tally else Counters()

    def prometheus_text(self) -> bytes:
        return generate_latest(self.registry)
