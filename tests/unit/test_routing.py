"""Pure serving pieces: the sticky weighted split (routing.py) and the filtered SSE stream
(streaming.py) with the real language module's StreamFilter."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from molting_workloads.serving import streaming
from molting_workloads.serving.routing import BUCKETS, Split, bucket_of

USERS = [f"user-{i}" for i in range(5000)]


# -- routing -----------------------------------------------------------------------------------


def test_the_same_user_always_gets_the_same_revision():
    split = Split.of([("stable", 90), ("canary", 10)])
    first = {u: split.pick(u) for u in USERS}
    again = Split.of([("stable", 90), ("canary", 10)])
    assert all(again.pick(u) == r for u, r in first.items())


def test_keyed_users_spread_by_weight():
    split = Split.of([("stable", 90), ("canary", 10)])
    share = sum(split.pick(u) == "canary" for u in USERS) / len(USERS)
    # 5000 users, p = 0.1: 4 standard deviations is about 0.017.
    assert 0.083 <= share <= 0.117


def test_users_without_a_key_are_assigned_at_random_by_weight():
    split = Split.of([("stable", 70), ("canary", 30)])
    rng = random.Random(7)
    picks = [split.pick(None, rng) for _ in range(5000)]
    assert 0.27 <= picks.count("canary") / len(picks) <= 0.33
    assert set(picks) == {"stable", "canary"}


def test_raising_the_candidate_weight_never_moves_its_users_back():
    steps = [Split.of([("stable", 100 - w), ("canary", w)]) for w in (10, 50, 90, 100)]
    on_canary = {u for u in USERS if steps[0].pick(u) == "canary"}
    assert on_canary
    for split in steps[1:]:
        now = {u for u in USERS if split.pick(u) == "canary"}
        assert on_canary <= now
        on_canary = now
    assert on_canary == set(USERS)


def test_zero_weight_revisions_get_no_users_and_an_empty_split_gets_none():
    split = Split.of([("old", 0), ("stable", 100), ("candidate", 0)])
    assert {split.pick(u) for u in USERS[:500]} == {"stable"}
    assert split.weights() == {"stable": 100}
    assert Split.of([]).pick("u") is None
    assert Split.of([]).is_empty


@pytest.mark.parametrize(
    ("weights", "message"),
    [([("a", 60), ("b", 30)], "add up to 100, got 90"), ([("a", 110), ("b", -10)], "negative")],
    ids=["short", "negative"],
)
def test_a_split_that_does_not_add_up_is_refused(weights, message):
    with pytest.raises(ValueError, match=message):
        Split.of(weights)


def test_salt_reshuffles_users_between_apps():
    a = Split.of([("x", 50), ("y", 50)], salt="app-a")
    b = Split.of([("x", 50), ("y", 50)], salt="app-b")
    assert any(a.pick(u) != b.pick(u) for u in USERS[:100])


@given(
    cut=st.lists(st.integers(0, 100), min_size=0, max_size=4),
    key=st.text(min_size=1, max_size=40),
)
def test_any_split_assigns_a_revision_with_traffic(cut, key):
    edges = sorted([0, *cut, 100])
    weights = [(f"r{i}", hi - lo) for i, (lo, hi) in enumerate(zip(edges, edges[1:], strict=False))]
    split = Split.of(weights)
    assert dict(weights)[split.pick(key)] > 0
    assert 0 <= bucket_of(key) < BUCKETS


# -- streaming ---------------------------------------------------------------------------------

@pytest.fixture
def language():
    from molting_workloads import language

    return language


def _events(raw: bytes) -> list:
    assert raw.startswith(b"data: ") and raw.endswith(b"\n\n")
    text = raw[len(b"data: ") : -2].decode()
    return text if text == "[DONE]" else json.loads(text)


async def _drain(language, deltas: list[str], *, enabled: bool = True, fail_after: int | None = None):
    """Run the SSE stream; returns (events, outcome, inputs consumed before each content event)."""
    consumed = 0

    async def source():
        nonlocal consumed
        for i, d in enumerate(deltas):
            if fail_after is not None and i == fail_after:
                raise streaming.GenerationFailed("replica died")
            consumed += 1
            yield d

    outcome = streaming.StreamOutcome()
    meta = language.MetaLanguage()
    events, consumed_at = [], []
    async for raw in streaming.filtered_sse(
        source(), cid="c1", model="mm1", molting={"revision": "r1"},
        make_filter=(lambda: language.StreamFilter(meta)) if enabled else None, outcome=outcome,
    ):
        events.append(_events(raw))
        consumed_at.append(consumed)
    return events, outcome, consumed_at


def _content(events: list) -> str:
    return "".join(
        e["choices"][0]["delta"].get("content", "") for e in events if isinstance(e, dict) and "choices" in e
    )


DELTAS = ["Let me ", "analyze this step by step. ", "The sky ", "looks blue. ", "Air scatters ", "blue light."]


async def test_stream_drops_meta_sentences_and_reports_them_at_the_end(language):
    events, outcome, _ = await _drain(language, DELTAS)
    text = _content(events)
    assert "Let me" not in text
    assert "The sky looks blue." in text and "Air scatters blue light." in text
    assert events[-1] == "[DONE]"
    final = events[-2]
    assert final["choices"][0]["finish_reason"] == "stop"
    assert final["molting"] == {"revision": "r1", "filtered": True, "removed": 1, "fallback": False}
    assert outcome.completed and outcome.raw == "".join(DELTAS) and outcome.sent == text


async def test_stream_sends_a_finished_sentence_before_the_answer_ends(language):
    events, _, consumed_at = await _drain(language, DELTAS)
    firsts = [i for i, e in enumerate(events) if isinstance(e, dict) and "The sky" in _content([e])]
    assert firsts, "the first clean sentence was never sent"
    assert consumed_at[firsts[0]] < len(DELTAS)


async def test_stream_without_filter_passes_text_through(language):
    events, outcome, _ = await _drain(language, DELTAS, enabled=False)
    assert _content(events) == "".join(DELTAS)
    assert events[-2]["molting"]["filtered"] is False


async def test_stream_error_midway_ends_with_an_error_event(language):
    events, outcome, _ = await _drain(language, DELTAS, fail_after=3)
    assert events[-1] == "[DONE]"
    assert events[-2]["error"]["code"] == "generation_failed"
    assert outcome.error == "replica died" and not outcome.completed
