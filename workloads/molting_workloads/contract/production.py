"""Feeding production back (``spec.dataset.production``): which captured conversations a
revision may train on, the count of qualifying ratings that triggers one, and what the training
request carries (the capture folder and the cutoff).

A conversation qualifies when its latest rating is a score of at least ``minRating``, or a thumb
up (unless ``thumbs`` is false). With ``preferred``, each answer a rater preferred in the human
evaluation (spec.serving.humanEval's votes; a tie adds nothing) is a row too. Only user conversations answered up to the cutoff are read;
the training Job cleans them with the spec's cleaning, drops those the base dataset already
holds, and keeps at most ``maxShare`` of the cleaned training rows from production.

Stdlib and pydantic only (the contract imports nothing heavy).
"""

from __future__ import annotations

from pydantic import Field

from molting_workloads.contract.base import DURATION_PATTERN, WireModel
from molting_workloads.contract.live_stats import AppStats

PRODUCTION_ROWS = "production.jsonl"  # in a revision's data folder: the rows offered to cleaning


class ProductionSelection(WireModel):
    """Which captured conversations count as good enough to train on, and how many may."""

    min_rating: int = Field(
        4, ge=1, le=5, description="Scores of at least this count as good (1 to 5)."
    )
    thumbs: bool = Field(True, description="A thumb up counts as good (a thumb down never does).")
    preferred: bool = Field(
        False, description="Also train on the answers raters preferred in the human evaluation "
        "(spec.serving.humanEval's votes, voted by the cutoff; a tie adds nothing).",
    )
    max_share: float = Field(
        0.25, gt=0.0, lt=1.0,
        description="At most this share of the cleaned training rows comes from production "
        "(the highest rated, then the newest, are kept).",
    )

    def qualifies(self, rating: int | None, thumb: str | None) -> bool:
        """Whether a rating (a score, or a thumb) makes its conversation a training row."""
        if rating is not None:
            return rating >= self.min_rating
        return self.thumbs and thumb == "up"

    def qualifying(self, stats: AppStats) -> int:
        """Qualifying ratings the app counted on /stats, over every revision it reports (the
        counters live in the app's memory and start again at zero when it restarts)."""
        total = 0
        for rev in stats.revisions:
            total += sum(n for score, n in rev.ratings.by_score.items()
                         if score.isdigit() and int(score) >= self.min_rating)
            total += rev.ratings.thumbs_up if self.thumbs else 0
        return total


class ProductionPolicy(ProductionSelection):
    """``spec.dataset.production``: add rated captured conversations to the training data."""

    enabled: bool = Field(
        False, description="Train new revisions on rated captured conversations too (needs "
        "spec.serving.capture.enabled)."
    )
    retrain_after: int | None = Field(
        None, ge=1, le=10_000_000,
        description="Train a new revision once this many new qualifying ratings arrived since "
        "the last production revision (counted on the app's /stats); unset: only the retrain "
        "annotation starts one.",
    )
    retrain_every: str | None = Field(
        None, pattern=DURATION_PATTERN,
        description="Train a new revision at most this often (e.g. 24h) when at least one new "
        "qualifying rating arrived since the last production revision; unset: no schedule.",
    )


class ProductionRequest(ProductionSelection):
    """What the training Job needs to add production rows: the folder and the cutoff."""

    capture_dir: str = Field(..., description="The capture folder (capture.jsonl and rotations).")
    votes_file: str | None = Field(
        None, description="The human evaluation's votes (JSONL), read when ``preferred`` is on."
    )
    cutoff: str = Field(
        ..., description="RFC 3339 time: only conversations answered at or before it are read "
        "(part of the revision id, so the history says which data made which adapter)."
    )
