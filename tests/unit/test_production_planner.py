"""The production trigger, pure: a production revision from the start, retrainAfter new
qualifying ratings making a new revision whose id and history carry the cutoff, no trigger
while one is in progress, a dropped counter re-basing the mark, the retrain annotation moving
the cutoff, and the training request carrying the capture folder and the cutoff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from molting_operator.api.annotations import RETRAIN_ANNOTATION
from molting_operator.api.spec import MoltingModelSpec
from molting_operator.api.status import MoltingModelStatus, Phase
from molting_operator.builders.requests import train_request
from molting_operator.planning.actions import RunTraining
from molting_operator.planning.observed import (
    JobKind,
    JobObservation,
    JobState,
    Observed,
    ServeObservation,
)
from molting_operator.planning.planner import desired_revision, plan
from molting_operator.planning.production import cutoff_at
from molting_workloads.contract.layout import Layout
from molting_workloads.contract.live_stats import AppStats, Ratings, RevisionStats

T0 = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)
GOOD = {"n": 8, "metaLanguageRate": 0.0, "meanLength": 300.0, "medianLength": 300.0,
        "inWindowRate": 1.0, "relevance": 0.6, "repetition": 0.1, "emptyRate": 0.0}
PRODUCTION = {"enabled": True, "minRating": 4, "retrainAfter": 3}
STEPS = [{"weight": 10, "duration": "1m"}, {"weight": 100, "duration": "0s"}]


def production_spec(enabled: bool = True, **production) -> MoltingModelSpec:
    return MoltingModelSpec.model_validate({
        "baseModel": {"source": "/models/tiny"},
        "dataset": {"path": "/data/c.jsonl",
                    "production": {**PRODUCTION, **production, "enabled": enabled}},
        "serving": {"capture": {"enabled": True}, "rollout": {"steps": STEPS}},
    })


def make_spec() -> MoltingModelSpec:
    return production_spec(enabled=False)


def train_ok(rev: str) -> JobObservation:
    return JobObservation(rev, JobKind.TRAIN, JobState.SUCCEEDED, summary={
        "kind": "train", "revision": rev, "ok": True, "adapter": f"/a/{rev}/adapter",
        "steps": 10, "finalLoss": 1.5, "device": "cpu", "quantization": "none"})


def eval_done(rev: str, metrics: dict, stable: dict | None = None) -> JobObservation:
    summary = {"kind": "eval", "revision": rev, "ok": True, "metrics": metrics}
    if stable:
        summary["stableMetrics"] = stable
    return JobObservation(rev, JobKind.EVAL, JobState.SUCCEEDED, summary=summary)


def served(applied: dict[str, int], stats: AppStats) -> ServeObservation:
    return ServeObservation(True, applied, stats, running=applied)


def observe(now: datetime = T0, jobs=(), serve=None, annotations=None) -> Observed:
    return Observed(now=now, generation=1, annotations=annotations or {},
                    jobs={(j.revision, j.kind): j for j in jobs}, serve=serve)


def rated(rev: str, by_score: dict[str, int], thumbs_up: int = 0):
    stats = AppStats(revisions=[RevisionStats(revision=rev, weight=100, ratings=Ratings(
        count=sum(by_score.values()), by_score=by_score, thumbs_up=thumbs_up))])
    return served({rev: 100}, stats)


def trained(spec, status, now, production_rows=None):
    rev = status.candidate.revision
    job = train_ok(rev)
    job.summary["productionRows"] = production_rows
    status = plan(spec, status, observe(now=now, jobs=[job])).status
    return plan(spec, status, observe(now=now, jobs=[job, eval_done(rev, GOOD, GOOD)])).status


def test_the_first_revision_trains_on_production_up_to_the_moment_it_is_enabled() -> None:
    spec = production_spec()
    result = plan(spec, MoltingModelStatus(), observe())
    cutoff = cutoff_at(T0)
    rev = result.status.candidate.revision
    assert result.status.production.cutoff == cutoff
    assert RunTraining(rev, cutoff) in result.actions
    assert rev == desired_revision(spec, {}, result.status) != desired_revision(spec, {})
    request = train_request(spec, "m", rev, Layout("/artifacts"), "/data/c.jsonl", cutoff)
    assert request.production.capture_dir == "/artifacts/m/capture"
    assert (request.production.cutoff, request.production.min_rating) == (cutoff, 4)


def test_retrain_after_new_qualifying_ratings_makes_a_new_revision_with_its_cutoff() -> None:
    spec = production_spec()
    status = plan(spec, MoltingModelStatus(), observe()).status
    status = trained(spec, status, T0, production_rows=0)
    first = status.stable.revision
    assert status.phase == Phase.SERVING and status.stable.production.rows == 0
    later = T0 + timedelta(minutes=5)
    status = plan(spec, status, observe(now=later, serve=rated(first, {"4": 1}))).status
    assert status.production.rated == 1 and status.candidate is None  # the mark is set
    # Low scores do not count; two 5s and a thumb up do.
    status = plan(spec, status, observe(now=later, serve=rated(first, {"4": 1, "2": 7}))).status
    assert status.candidate is None
    result = plan(spec, status, observe(now=later, serve=rated(first, {"4": 1, "5": 2},
                                                                    thumbs_up=1)))
    second = result.status.candidate.revision
    assert second != first and result.status.production.cutoff == cutoff_at(later)
    assert RunTraining(second, cutoff_at(later)) in result.actions
    assert any(getattr(a, "reason", None) == "ProductionData" for a in result.actions)
    # While the new one trains, more ratings start nothing.
    busy = plan(spec, result.status, observe(now=later, serve=rated(first, {"5": 20}))).status
    assert busy.candidate.revision == second and busy.production.cutoff == cutoff_at(later)


def test_a_dropped_counter_rebases_the_mark() -> None:
    spec = production_spec()
    status = plan(spec, MoltingModelStatus(), observe()).status
    status = trained(spec, status, T0)
    rev = status.stable.revision
    status = plan(spec, status, observe(serve=rated(rev, {"5": 2}))).status
    status = plan(spec, status, observe(serve=rated(rev, {}))).status  # the app restarted
    assert status.production.rated == 0 and status.candidate is None
    status = plan(spec, status, observe(serve=rated(rev, {"5": 2}))).status
    assert status.candidate is None  # 2 new since the restart: fewer than 3


def test_the_retrain_annotation_moves_the_cutoff_and_off_leaves_ids_as_before() -> None:
    spec = production_spec(retrainAfter=None)
    status = plan(spec, MoltingModelStatus(), observe()).status
    status = trained(spec, status, T0)
    later = T0 + timedelta(hours=1)
    notes = {RETRAIN_ANNOTATION: "again"}
    result = plan(spec, status, observe(now=later, annotations=notes))
    assert result.status.production.cutoff == cutoff_at(later)
    assert result.status.candidate.production.cutoff == cutoff_at(later)
    off = make_spec()
    assert desired_revision(off, {}, result.status) == desired_revision(off, {})
    assert plan(off, result.status, observe()).status.production is None


def test_retrain_every_waits_for_the_time_and_for_new_data() -> None:
    spec = production_spec(retrainAfter=None, retrainEvery="1h")
    status = plan(spec, MoltingModelStatus(), observe()).status
    status = trained(spec, status, T0)
    first = status.stable.revision
    assert desired_revision(spec, {}, status) == first  # the schedule is not part of the id
    status = plan(spec, status, observe(serve=rated(first, {"5": 1}))).status
    assert status.production.rated == 1
    # Fifty new good ratings, but the hour is not up: nothing.
    soon = T0 + timedelta(minutes=59)
    status = plan(spec, status, observe(now=soon, serve=rated(first, {"5": 51}))).status
    assert status.candidate is None
    # The hour is up but nothing new came: still nothing (a schedule never retrains on the same data).
    quiet = production_spec(retrainAfter=None, retrainEvery="1h")
    idle = plan(quiet, status, observe(now=T0 + timedelta(hours=3),
                                       serve=rated(first, {"5": 1}))).status
    assert idle.candidate is None and idle.production.cutoff == cutoff_at(T0)
    later = T0 + timedelta(hours=1, minutes=1)
    result = plan(spec, status, observe(now=later, serve=rated(first, {"5": 51})))
    assert result.status.production.cutoff == cutoff_at(later)
    assert result.status.candidate.revision not in (None, first)
    event = next(a for a in result.actions if getattr(a, "reason", None) == "ProductionData")
    assert "retrainEvery 1h" in event.message


def test_the_training_request_reads_the_human_evaluation_votes_only_when_asked() -> None:
    layout, cutoff = Layout("/artifacts"), cutoff_at(T0)
    off = train_request(production_spec(), "m", "r", layout, "/data/c.jsonl", cutoff)
    assert off.production.votes_file is None and off.production.preferred is False
    on = train_request(production_spec(preferred=True), "m", "r", layout, "/data/c.jsonl", cutoff)
    assert on.production.preferred is True
    assert on.production.votes_file == "/artifacts/m/human-eval/votes.jsonl"


def test_two_cutoffs_in_one_second_are_two_revisions() -> None:
    """A whole first revision can train, pass and serve within a second (on a fast cluster, the
    operator and its Jobs); the next cutoff must still name a new revision."""
    spec = production_spec()
    status = plan(spec, MoltingModelStatus(), observe()).status
    status = trained(spec, status, T0)
    first = status.stable.revision
    status = plan(spec, status, observe(serve=rated(first, {"5": 1}))).status
    result = plan(spec, status, observe(serve=rated(first, {"5": 4})))  # still T0
    assert result.status.production.cutoff == "2026-11-29T12:00:00.001Z" > cutoff_at(T0)
    assert result.status.candidate.revision != first
    # A clock that stepped back still moves the cutoff forward.
    assert cutoff_at(T0 - timedelta(seconds=5), cutoff_at(T0)) == "2026-11-29T12:00:00.001Z"
    assert cutoff_at(T0 + timedelta(microseconds=123_456)) == "2026-11-29T12:00:00.123Z"


def test_an_advisory_judge_neither_blocks_nor_appears_among_the_failures() -> None:
    judge = {"url": "http://judge/v1", "model": "j", "advisory": True}
    spec = MoltingModelSpec.model_validate({
        "baseModel": {"source": "/models/tiny"}, "dataset": {"path": "/data/c.jsonl"},
        "evaluation": {"judge": judge}, "serving": {"rollout": {"steps": STEPS}}})
    status = trained(spec, plan(spec, MoltingModelStatus(), observe()).status, T0)
    assert status.phase == Phase.SERVING  # the judge gave no scores: Error, but advisory
    assert all(g.advisory for g in status.stable.evaluation.gates if g.name.startswith("judge."))
    bad = spec.model_copy(deep=True)
    bad.training.learning_rate = 1e-5
    status = plan(bad, status, observe()).status
    rev = status.candidate.revision
    status = plan(bad, status, observe(jobs=[train_ok(rev)])).status
    status = plan(bad, status, observe(jobs=[train_ok(rev), eval_done(
        rev, GOOD | {"metaLanguageRate": 0.9}, GOOD)])).status
    assert status.phase == Phase.GATE_FAILED
    assert "metaLanguage" in status.message and "judge." not in status.message
