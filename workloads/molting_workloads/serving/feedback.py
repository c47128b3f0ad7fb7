"""``POST /v1/feedback``: the request (``{id, rating, comment?}``), its one parser, and the
bounded memory of ids already rated.

A rating is a score from 1 to 5 or a thumb (``"up"`` / ``"down"``); the two are counted apart
(a thumb is not turned into a score). Every refusal is an ``ApiError`` naming the field: 400 for
a bad body or value, 404 for an id this app did not issue or one past the window, 409 for an id
already rated. The rated ids are remembered per replica for the feedback window, at most
``MAX_RATED`` of them (the oldest forgotten first).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from molting_workloads.serving.openai_types import ApiError, json_object

MAX_COMMENT_CHARS = 4000
MAX_RATED = 100_000


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(..., min_length=1, max_length=200)
    rating: StrictInt | Literal["up", "down"]
    comment: str | None = Field(None, max_length=MAX_COMMENT_CHARS)

    @property
    def score(self) -> int | None:
        return self.rating if isinstance(self.rating, int) else None

    @property
    def thumb(self) -> Literal["up", "down"] | None:
        return None if isinstance(self.rating, int) else self.rating


def parse_feedback(raw: bytes) -> FeedbackRequest:
    """The request, or ``ApiError(400)`` saying which field is wrong and what is allowed."""
    data = json_object(raw, "{id, rating, comment?}")
    rating = data.get("rating")
    if "rating" in data and not _valid_rating(rating):
        raise ApiError(400, f"rating must be an integer from 1 to 5, or \"up\" or \"down\"; got {rating!r}",
                       param="rating", code="invalid_value")
    try:
        return FeedbackRequest.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        param = ".".join(str(p) for p in first["loc"]) or None
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()[:5])
        raise ApiError(400, f"invalid feedback: {problems}", param=param, code="invalid_value") from error


def _valid_rating(value: object) -> bool:
    if isinstance(value, bool):
        return False
    return (isinstance(value, int) and 1 <= value <= 5) or value in ("up", "down")


class RatedIds:
    """Ids rated in the last ``window_s`` seconds, at most ``cap`` of them."""

    def __init__(self, window_s: float, cap: int = MAX_RATED) -> None:
        self.window_s, self.cap = window_s, cap
        self._rated: OrderedDict[str, float] = OrderedDict()  # id -> when rated, oldest first

    def __len__(self) -> int:
        return len(self._rated)

    def add(self, cid: str, now: float) -> bool:
        """Remember ``cid``; False when it was already rated (within the window)."""
        while self._rated:
            oldest, when = next(iter(self._rated.items()))
            if now - when <= self.window_s and len(self._rated) < self.cap:
                break
            del self._rated[oldest]
        if cid in self._rated:
            return False
        self._rated[cid] = now
        return True
