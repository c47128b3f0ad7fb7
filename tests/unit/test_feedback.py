"""Completion ids (signed, carrying the revision), the feedback request and its refusals, the
memory of rated ids, and the ratings on /stats and /metrics."""

from __future__ import annotations

import json

import pytest

from molting_workloads.serving.completion_ids import (
    PREFIX,
    CompletionIds,
    ExpiredId,
    UnknownId,
    key_from,
)
from molting_workloads.serving.feedback import RatedIds, parse_feedback
from molting_workloads.serving.openai_types import ApiError
from molting_workloads.serving.stats import LiveStats


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def ids(key: str = "secret", clock: Clock | None = None, window_s: float = 3600) -> CompletionIds:
    return CompletionIds(key_from(key), window_s=window_s, clock=clock or Clock())


@pytest.mark.parametrize("revision", ["stable", "0a1b2c3d", "rev-with-dashes", "v1.2_x"])
def test_an_id_names_its_revision_and_any_replica_with_the_key_accepts_it(revision):
    cid = ids().issue(revision)
    assert cid.startswith(PREFIX + revision + "-")
    other_replica = ids()
    assert other_replica.parse(cid).revision == revision


def test_ids_are_unique():
    issuer = ids()
    assert len({issuer.issue("stable") for _ in range(200)}) == 200


@pytest.mark.parametrize("forge", [
    lambda cid: cid.replace("stable", "canary"),  # another revision, same MAC
    lambda cid: cid[:-1] + ("0" if cid[-1] != "0" else "1"),  # the MAC altered
    lambda cid: "chatcmpl-" + "0" * 24,  # an OpenAI-looking id
    lambda cid: "something",
    lambda cid: "",
])
def test_forged_or_foreign_ids_are_unknown(forge):
    cid = ids().issue("stable")
    with pytest.raises(UnknownId, match="not an id this app issued"):
        ids().parse(forge(cid))


def test_an_id_signed_with_another_key_is_unknown():
    with pytest.raises(UnknownId):
        ids("other").parse(ids("secret").issue("stable"))


def test_without_an_api_key_the_key_is_random_per_replica():
    assert key_from(None) != key_from(None)
    assert key_from("k") == key_from("k")


def test_an_id_past_the_window_is_expired_with_a_clear_message():
    clock = Clock()
    issuer = ids(clock=clock, window_s=60)
    cid = issuer.issue("stable")
    clock.now += 61
    with pytest.raises(ExpiredId, match="feedback is accepted for 60 s"):
        issuer.parse(cid)
    clock.now -= 2
    assert issuer.parse(cid).revision == "stable"


def _body(**fields) -> bytes:
    return json.dumps(fields).encode()


@pytest.mark.parametrize("rating", [1, 3, 5, "up", "down"])
def test_scores_and_thumbs_are_accepted(rating):
    request = parse_feedback(_body(id="chatcmpl-x", rating=rating, comment="nice"))
    assert request.rating == rating
    assert (request.score is None) == isinstance(rating, str)
    assert (request.thumb is None) == isinstance(rating, int)


@pytest.mark.parametrize("rating", [0, 6, -1, 2.5, True, "meh", None, [1]])
def test_out_of_range_ratings_are_refused_naming_the_field(rating):
    with pytest.raises(ApiError) as caught:
        parse_feedback(_body(id="chatcmpl-x", rating=rating))
    assert caught.value.status == 400 and caught.value.param == "rating"
    assert "1 to 5" in caught.value.message and "up" in caught.value.message


@pytest.mark.parametrize(("body", "param"), [
    (_body(rating=3), "id"),
    (_body(id="chatcmpl-x"), "rating"),
    (_body(id="chatcmpl-x", rating=3, comment="x" * 5000), "comment"),
    (_body(id="chatcmpl-x", rating=3, extra=1), "extra"),
])
def test_missing_or_bad_fields_are_refused_naming_them(body, param):
    with pytest.raises(ApiError) as caught:
        parse_feedback(body)
    assert caught.value.status == 400 and caught.value.param == param


@pytest.mark.parametrize("raw", [b"{", b"[1]", b"\xff"])
def test_a_body_that_is_not_a_json_object_is_refused(raw):
    with pytest.raises(ApiError) as caught:
        parse_feedback(raw)
    assert caught.value.status == 400 and caught.value.code == "invalid_json"


def test_an_id_is_rated_once_within_the_window():
    rated = RatedIds(window_s=60)
    assert rated.add("a", 0.0)
    assert not rated.add("a", 30.0)
    assert rated.add("b", 30.0)
    assert rated.add("a", 61.0)  # past the window: forgotten (and its id is expired anyway)


def test_the_rated_memory_is_bounded():
    rated = RatedIds(window_s=3600, cap=100)
    for i in range(1000):
        rated.add(str(i), float(i) / 1000)
    assert len(rated) == 100
    assert not rated.add("999", 1.0)


def test_ratings_are_counted_per_revision_on_stats_and_metrics():
    stats = LiveStats("mm")
    for score in (5, 4, 4):
        stats.record_rating("stable", score, None)
    stats.record_rating("stable", None, "up")
    stats.record_rating("stable", None, "down")
    stats.record_rating("retired", 1, None)  # a revision no longer configured
    snapshot = stats.snapshot({"stable": 100}, {"stable": "/a"})
    ratings = snapshot.of("stable").ratings
    assert (ratings.count, ratings.mean, ratings.thumbs_up, ratings.thumbs_down) == (3, 4.333, 1, 1)
    assert ratings.by_score == {"4": 2, "5": 1}
    assert snapshot.of("retired").ratings.count == 1
    assert snapshot.of("retired").weight == 0
    wire = snapshot.to_wire()["revisions"][0]["ratings"]
    assert wire["thumbsUp"] == 1 and wire["byScore"] == {"4": 2, "5": 1}
    text = stats.prometheus_text().decode()
    assert 'molting_feedback_score_count{app="mm",revision="stable"} 3.0' in text
    assert 'molting_feedback_score_sum{app="mm",revision="stable"} 13.0' in text
    assert 'molting_feedback_thumbs_total{app="mm",revision="stable",thumb="up"} 1.0' in text
    assert 'molting_feedback_score_count{app="mm",revision="retired"} 1.0' in text
