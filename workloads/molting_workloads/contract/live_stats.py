"""Per-revision live counters that the serving app reports on /stats; canary analysis reads them."""

from __future__ import annotations

from pydantic import Field

from molting_workloads.contract.base import WireModel


class Counters(WireModel):
    requests: int = 0
    errors: int = 0
    latency_p50_ms: float | None = None
    latency_p99_ms: float | None = None
    meta_hits: int = Field(0, description="Answers with meta-language before filtering.")
    filter_removals: int = Field(0, description="Sentences the filter removed.")
    mean_length: float | None = None
    # Added by the serving app (all optional for older readers):
    filtered_answers: int = Field(0, description="Answers the filter changed.")
    unavailable: int = Field(
        0, description="Requests refused with 503 because the adapter could not be loaded."
    )
    latency_mean_ms: float | None = None

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def meta_rate(self) -> float:
        ok = self.requests - self.errors
        return self.meta_hits / ok if ok > 0 else 0.0


class Ratings(WireModel):
    """Feedback on a revision's answers (POST /v1/feedback). Scores (1 to 5) and thumbs are
    counted apart: a thumb is not turned into a score, so ``mean`` is the mean of scores only."""

    count: int = Field(0, description="Scores received (1 to 5).")
    mean: float | None = Field(None, description="Mean score; None without scores.")
    thumbs_up: int = 0
    thumbs_down: int = 0
    by_score: dict[str, int] = Field(
        default_factory=dict, description="How many of each score, '1' to '5'."
    )

    def moments(self) -> tuple[int, float, float]:
        """The scores as (count, sum, sum of squares), for the canary's not-worse test."""
        pairs = [(int(score), n) for score, n in self.by_score.items()]
        return (sum(n for _, n in pairs), float(sum(s * n for s, n in pairs)),
                float(sum(s * s * n for s, n in pairs)))


class RevisionStats(WireModel):
    revision: str
    weight: int = 0
    adapter: str | None = Field(None, description="The adapter path this revision serves.")
    user: Counters = Field(default_factory=Counters, description="User traffic.")
    probe: Counters = Field(default_factory=Counters, description="Probe traffic (kept apart).")
    ratings: Ratings = Field(
        default_factory=Ratings, description="Feedback on this revision's answers, any replica's ids."
    )


class AppStats(WireModel):
    revisions: list[RevisionStats] = Field(default_factory=list)
    app: str | None = Field(None, description="The Serve application name.")
    started_at: float | None = Field(
        None, description="Epoch seconds when these counters started; a change means a restart."
    )
    unrouted: int = Field(
        0, description="User requests refused because no revision had traffic (503)."
    )
    ingress_p50_ms: float | None = Field(
        None, description="Time the ingress code spends on a request (parse, route, filter, "
        "count): waiting for the body and for generation excluded; median of recent "
        "non-streamed requests."
    )
    ingress_p99_ms: float | None = None
    capture_written: int = Field(0, description="Capture records written to the JSONL files.")
    capture_dropped: int = Field(
        0, description="Capture records dropped: the writer's queue was full or a write failed."
    )
    settings_hash: str | None = Field(
        None,
        description="The fingerprint of the app config the ingress runs (serve_config."
        "settings_hash, carried in its settings): equal to the applied config's once its "
        "reconfigure has landed.",
    )

    def of(self, revision: str) -> RevisionStats | None:
        return next((r for r in self.revisions if r.revision == revision), None)
