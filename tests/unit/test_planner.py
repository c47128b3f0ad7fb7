"""The planner: a table of transitions, manual controls, and hypothesis-driven sequences of
observations checked against the lifecycle's invariants."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from molting_operator.api.annotations import PROMOTE_ANNOTATION, ROLLBACK_ANNOTATION
from molting_operator.api.spec import MoltingModelSpec
from molting_operator.api.status import MoltingModelStatus, Phase
from molting_operator.drivers.local.view import row
from molting_operator.planning.actions import (
    ApplyTraffic,
    CancelJobs,
    EmitEvent,
    Probe,
    RunEvaluation,
    RunTraining,
)
from molting_operator.planning.observed import (
    JobKind,
    JobObservation,
    JobState,
    Observed,
    ServeObservation,
)
from molting_operator.planning.planner import (
    desired_revision,
    plan,
    timestamp,
)
from molting_workloads.contract.live_stats import AppStats, Counters, RevisionStats

T0 = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)
GOOD = {"n": 8, "metaLanguageRate": 0.0, "meanLength": 300.0, "medianLength": 300.0,
        "inWindowRate": 1.0, "relevance": 0.6, "repetition": 0.1, "emptyRate": 0.0}
BAD = {**GOOD, "metaLanguageRate": 0.9}


def make_spec(lr: float = 2e-4, **extra: Any) -> MoltingModelSpec:
    doc = {
        "baseModel": {"source": "/models/tiny"},
        "dataset": {"path": "/data/c.jsonl"},
        "training": {"learningRate": lr},
        "serving": {"rollout": {"steps": [{"weight": 10, "duration": "1m"},
                                          {"weight": 50, "duration": "1m"},
                                          {"weight": 100, "duration": "0s"}],
                                "analysis": {"minRequests": 3}}},
    }
    for key, value in extra.items():
        doc[key] = value
    return MoltingModelSpec.model_validate(doc)


def train_ok(rev: str) -> JobObservation:
    return JobObservation(rev, JobKind.TRAIN, JobState.SUCCEEDED, summary={
        "kind": "train", "revision": rev, "ok": True, "adapter": f"/a/{rev}/adapter",
        "steps": 10, "finalLoss": 1.5, "device": "cpu", "quantization": "none"})


def eval_done(rev: str, metrics: dict, stable: dict | None = None) -> JobObservation:
    summary = {"kind": "eval", "revision": rev, "ok": True, "metrics": metrics}
    if stable:
        summary["stableMetrics"] = stable
    return JobObservation(rev, JobKind.EVAL, JobState.SUCCEEDED, summary=summary)


def stats(**revs: tuple[int, int, int]) -> AppStats:
    """revision -> (requests, errors, meta_hits)"""
    return AppStats(revisions=[
        RevisionStats(revision=r, user=Counters(requests=n, errors=e, meta_hits=m))
        for r, (n, e, m) in revs.items()
    ])


def served(applied: dict[str, int] | None, stats_: AppStats | None = None,
           **kw: Any) -> ServeObservation:
    """An app that runs what its config says (``running`` equal to ``applied``)."""
    return ServeObservation(True, applied, stats_, running=applied, **kw)


def observe(now: datetime = T0, jobs: list[JobObservation] = (), serve: ServeObservation | None = None,
            annotations: dict | None = None, problems: tuple = ()) -> Observed:
    return Observed(now=now, generation=1, annotations=annotations or {},
                    jobs={(j.revision, j.kind): j for j in jobs}, serve=serve,
                    dependency_problems=problems)


def kinds(actions: list) -> list[str]:
    return [type(a).__name__ for a in actions if not isinstance(a, EmitEvent)]


def serving_one(spec: MoltingModelSpec) -> tuple[MoltingModelStatus, str]:
    """A status in which the first revision of ``spec`` was trained, gated and promoted."""
    rev = desired_revision(spec, {})
    status = plan(spec, MoltingModelStatus(), observe()).status
    status = plan(spec, status, observe(jobs=[train_ok(rev)])).status
    status = plan(spec, status, observe(jobs=[train_ok(rev), eval_done(rev, GOOD)])).status
    assert status.phase == Phase.SERVING
    return status, rev


def in_canary() -> tuple[MoltingModelSpec, MoltingModelStatus, str, str]:
    spec1 = make_spec()
    status, old = serving_one(spec1)
    spec2 = make_spec(lr=1e-3)
    new = desired_revision(spec2, {})
    status = plan(spec2, status, observe()).status
    status = plan(spec2, status, observe(jobs=[train_ok(new)])).status
    status = plan(spec2, status, observe(jobs=[eval_done(new, GOOD, GOOD)])).status
    assert status.phase == Phase.CANARY
    return spec2, status, old, new


# -- the table of transitions -----------------------------------------------------------------


def test_a_new_resource_starts_training_its_first_revision() -> None:
    spec = make_spec()
    p = plan(spec, MoltingModelStatus(), observe())
    assert p.status.phase == Phase.TRAINING
    assert kinds(p.actions) == ["RunTraining"]
    assert p.status.candidate.revision == desired_revision(spec, {})
    assert p.status.traffic == []


def test_running_training_reports_progress() -> None:
    spec = make_spec()
    rev = desired_revision(spec, {})
    status = plan(spec, MoltingModelStatus(), observe()).status
    running = JobObservation(rev, JobKind.TRAIN, JobState.RUNNING,
                             progress={"step": 3, "total": 10, "loss": 2.5, "etaSeconds": 7})
    p = plan(spec, status, observe(jobs=[running]))
    assert p.status.progress.step == 3 and p.status.progress.total == 10
    assert kinds(p.actions) == []


def test_finished_training_starts_evaluation_without_a_stable() -> None:
    spec = make_spec()
    rev = desired_revision(spec, {})
    status = plan(spec, MoltingModelStatus(), observe()).status
    p = plan(spec, status, observe(jobs=[train_ok(rev)]))
    assert p.status.phase == Phase.EVALUATING
    assert [a for a in p.actions if isinstance(a, RunEvaluation)] == [
        RunEvaluation(rev, f"/a/{rev}/adapter", None, None)]
    assert p.status.candidate.adapter == f"/a/{rev}/adapter"


def test_failed_training_is_reported_and_not_retried() -> None:
    spec = make_spec()
    rev = desired_revision(spec, {})
    status = plan(spec, MoltingModelStatus(), observe()).status
    failed = JobObservation(rev, JobKind.TRAIN, JobState.FAILED, message="OOMKilled")
    p = plan(spec, status, observe(jobs=[failed]))
    assert p.status.phase == Phase.FAILED
    assert any(isinstance(a, EmitEvent) and a.warning and "OOMKilled" in a.message for a in p.actions)
    again = plan(spec, p.status, observe(jobs=[failed]))
    assert kinds(again.actions) == [] and again.status.phase == Phase.FAILED


def test_first_revision_that_passes_is_promoted_directly_at_100() -> None:
    spec = make_spec()
    status, rev = serving_one(spec)
    assert status.stable.revision == rev and status.previous is None
    assert [(t.revision, t.weight) for t in status.traffic] == [(rev, 100)]
    assert status.candidate is None
    status = plan(spec, status, observe(serve=served({rev: 100}))).status
    ready = {c.type: c.status for c in status.conditions}
    assert ready["Ready"] == "True" and ready["GatesPassed"] == "True" and ready["Serving"] == "True"


def test_a_written_config_is_not_serving_until_the_app_reports_it_runs_it() -> None:
    """The RayService can exist for minutes before its app runs (a Generator not scheduled)."""
    spec = make_spec()
    status, rev = serving_one(spec)
    waiting = ServeObservation(True, {rev: 100}, None, running=None,
                               not_running="KubeRay reports the app DEPLOYING: Generator pending")
    status = plan(spec, status, observe(serve=waiting)).status
    conds = {c.type: c for c in status.conditions}
    assert conds["Serving"].status == "False" and conds["Serving"].reason == "ServePending"
    assert "DEPLOYING" in conds["Serving"].message and f"{rev} 100%" in conds["Serving"].message
    assert conds["Ready"].status == "False" and "DEPLOYING" in conds["Ready"].message
    older = ServeObservation(True, {rev: 100}, None, running={"other": 100})
    status = plan(spec, status, observe(serve=older)).status
    assert {c.type: c.status for c in status.conditions}["Serving"] == "False"
    status = plan(spec, status, observe(serve=served({rev: 100}))).status
    assert {c.type: c.status for c in status.conditions}["Ready"] == "True"


def test_a_canary_step_waits_for_the_app_before_probing_or_counting_its_time() -> None:
    spec, status, old, new = in_canary()
    assert not any(isinstance(a, Probe) for a in plan(spec, status, observe()).actions)
    later = T0 + timedelta(hours=1)
    stale = ServeObservation(True, {old: 90, new: 10}, None, running={old: 100})
    p = plan(spec, status, observe(now=later, serve=stale))
    assert not any(isinstance(a, Probe) for a in p.actions)  # the app would answer 404
    assert p.status.canary.step_started_at == timestamp(later)  # the step's clock is held
    assert p.status.phase == Phase.CANARY and p.status.canary.step == 0
    running = plan(spec, p.status, observe(now=later, serve=served({old: 90, new: 10})))
    assert any(isinstance(a, Probe) and a.revision == new for a in running.actions)


@pytest.mark.parametrize(("rate", "shown"), [(1.0, "1.00"), (0.2, "0.20"), (0.0, "0.00"),
                                            (0.05, "0.05")])
def test_the_meta_lang_column_shows_the_stable_rate_with_two_decimals(rate: float, shown: str) -> None:
    """kubectl prints a number column as 1 or 0.2; the column reads a string field instead."""
    spec = make_spec(evaluation={"gates": {"maxMetaLanguageRate": 1.0}})
    rev = desired_revision(spec, {})
    status = plan(spec, MoltingModelStatus(), observe()).status
    status = plan(spec, status, observe(jobs=[train_ok(rev)])).status
    status = plan(spec, status, observe(jobs=[train_ok(rev), eval_done(
        rev, {**GOOD, "metaLanguageRate": rate})])).status
    assert status.phase == Phase.SERVING
    assert status.to_wire()["metaLanguageRate"] == rate
    assert status.to_wire()["metaLanguageRateText"] == shown
    assert row("m", status, None)[5] == shown  # `molting get` agrees


def test_first_revision_that_fails_its_gates_serves_nothing() -> None:
    spec = make_spec()
    rev = desired_revision(spec, {})
    status = plan(spec, MoltingModelStatus(), observe()).status
    status = plan(spec, status, observe(jobs=[train_ok(rev)])).status
    p = plan(spec, status, observe(jobs=[eval_done(rev, BAD)]))
    assert p.status.phase == Phase.GATE_FAILED and p.status.traffic == []
    assert not any(isinstance(a, ApplyTraffic) for a in p.actions)


def test_passing_candidate_with_a_stable_starts_the_canary_at_the_first_step() -> None:
    spec, status, old, new = in_canary()
    assert {t.revision: t.weight for t in status.traffic} == {old: 90, new: 10}
    assert status.canary.step == 0 and status.canary_weight == 10


def test_gate_failure_keeps_stable_serving_with_reasons_per_gate() -> None:
    spec1 = make_spec()
    status, old = serving_one(spec1)
    spec2 = make_spec(lr=1e-3)
    new = desired_revision(spec2, {})
    status = plan(spec2, status, observe()).status
    status = plan(spec2, status, observe(jobs=[train_ok(new)])).status
    p = plan(spec2, status, observe(jobs=[eval_done(new, BAD, GOOD)]))
    assert p.status.phase == Phase.GATE_FAILED
    assert {t.revision: t.weight for t in p.status.traffic} == {old: 100}
    failed = [g.name for g in p.status.candidate.evaluation.gates if not g.passed]
    assert failed == ["metaLanguage", "noRegression"]
    gate_cond = next(c for c in p.status.conditions if c.type == "GatesPassed")
    assert gate_cond.status == "False" and "metaLanguage" in gate_cond.message
    assert any(isinstance(a, EmitEvent) and a.reason == "GatesFailed" for a in p.actions)


def test_canary_holds_until_the_step_duration_passes() -> None:
    spec, status, old, new = in_canary()
    serve = served({old: 90, new: 10}, stats(**{old: (50, 0, 0), new: (10, 0, 0)}))
    p = plan(spec, status, observe(T0 + timedelta(seconds=30), serve=serve))
    assert p.status.canary.step == 0 and kinds(p.actions) == []


def test_healthy_canary_advances_then_promotes() -> None:
    spec, status, old, new = in_canary()
    healthy = stats(**{old: (50, 0, 0), new: (10, 0, 0)})
    p = plan(spec, status, observe(T0 + timedelta(minutes=2),
                                   serve=served({old: 90, new: 10}, healthy)))
    assert p.status.canary.step == 1
    assert {t.revision: t.weight for t in p.status.traffic} == {old: 50, new: 50}
    # No probe yet: the app does not run the new split until the next observation shows it.
    assert "ApplyTraffic" in kinds(p.actions) and "Probe" not in kinds(p.actions)
    p = plan(spec, p.status, observe(T0 + timedelta(minutes=4),
                                     serve=served({old: 50, new: 50}, healthy)))
    assert p.status.canary.step == 2 and p.status.canary_weight == 100
    p = plan(spec, p.status, observe(T0 + timedelta(minutes=5),
                                     serve=served({new: 100}, healthy)))
    assert p.status.phase == Phase.SERVING
    assert p.status.stable.revision == new and p.status.previous.revision == old
    assert {t.revision: t.weight for t in p.status.traffic} == {new: 100}


def test_breach_with_auto_rollback_sends_all_traffic_back_to_stable() -> None:
    spec, status, old, new = in_canary()
    noisy = stats(**{old: (50, 0, 0), new: (10, 0, 9)})
    p = plan(spec, status, observe(T0 + timedelta(seconds=10),
                                   serve=served({old: 90, new: 10}, noisy)))
    assert p.status.phase == Phase.ROLLED_BACK
    assert {t.revision: t.weight for t in p.status.traffic} == {old: 100}
    assert p.status.history[-1].revision == new and p.status.history[-1].outcome == "RolledBack"
    apply = [a for a in p.actions if isinstance(a, ApplyTraffic)][0]
    assert apply.as_dict() == {old: 100} and dict(apply.adapters)[new]  # kept loaded at 0
    # and the spec that produced it is not retried
    later = plan(spec, p.status, observe(T0 + timedelta(minutes=9)))
    assert later.status.phase == Phase.ROLLED_BACK and "RunTraining" not in kinds(later.actions)


def test_breach_without_auto_rollback_holds_and_warns() -> None:
    spec, status, old, new = in_canary()
    spec = spec.model_copy(deep=True)
    spec.serving.rollout.auto_rollback = False
    noisy = stats(**{old: (50, 0, 0), new: (10, 5, 0)})
    p = plan(spec, status, observe(T0 + timedelta(minutes=5),
                                   serve=served({old: 90, new: 10}, noisy)))
    assert p.status.phase == Phase.CANARY and p.status.canary.step == 0
    assert any(isinstance(a, EmitEvent) and a.warning for a in p.actions)


def test_inconclusive_analysis_holds_the_step_and_probes_again() -> None:
    spec, status, old, new = in_canary()
    quiet = stats(**{old: (50, 0, 0), new: (1, 0, 0)})
    p = plan(spec, status, observe(T0 + timedelta(minutes=5),
                                   serve=served({old: 90, new: 10}, quiet)))
    assert p.status.canary.step == 0 and kinds(p.actions) == ["Probe"]
    assert p.status.canary.analysis.startswith("Inconclusive")


def test_manual_promote_skips_the_remaining_steps_once() -> None:
    spec, status, old, new = in_canary()
    p = plan(spec, status, observe(annotations={PROMOTE_ANNOTATION: "t1"}))
    assert p.status.phase == Phase.SERVING and p.status.stable.revision == new
    again = plan(spec, p.status, observe(annotations={PROMOTE_ANNOTATION: "t1"}))
    assert kinds(again.actions) == [] and again.status.stable.revision == new


def test_manual_rollback_returns_to_previous_in_one_step_and_is_idempotent() -> None:
    spec, status, old, new = in_canary()
    status = plan(spec, status, observe(annotations={PROMOTE_ANNOTATION: "p"})).status
    notes = {PROMOTE_ANNOTATION: "p", ROLLBACK_ANNOTATION: "r1"}
    p = plan(spec, status, observe(annotations=notes))
    assert p.status.stable.revision == old and p.status.previous.revision == new
    assert [a.as_dict() for a in p.actions if isinstance(a, ApplyTraffic)] == [{old: 100}]
    again = plan(spec, p.status, observe(annotations=notes))
    assert not any(isinstance(a, (ApplyTraffic, RunTraining)) for a in again.actions)
    assert again.status.stable.revision == old


def test_manual_rollback_mid_canary_rolls_the_candidate_back() -> None:
    spec, status, old, new = in_canary()
    p = plan(spec, status, observe(annotations={ROLLBACK_ANNOTATION: "now"}))
    assert p.status.phase == Phase.ROLLED_BACK
    assert {t.revision: t.weight for t in p.status.traffic} == {old: 100}


def test_new_revision_mid_canary_supersedes_the_candidate_cleanly() -> None:
    spec, status, old, new = in_canary()
    spec3 = make_spec(lr=5e-4)
    newer = desired_revision(spec3, {})
    p = plan(spec3, status, observe())
    assert CancelJobs(new) in p.actions and RunTraining(newer) in p.actions
    assert {t.revision: t.weight for t in p.status.traffic} == {old: 100}
    assert p.status.candidate.revision == newer and p.status.phase == Phase.TRAINING
    assert p.status.history[-1].outcome == "Superseded"


def test_rollout_only_change_does_not_retrain() -> None:
    spec1 = make_spec()
    status, rev = serving_one(spec1)
    spec2 = spec1.model_copy(deep=True)
    spec2.serving.rollout.steps[0].weight = 20
    spec2.serving.filter.enabled = False
    p = plan(spec2, status, observe())
    assert "RunTraining" not in kinds(p.actions) and p.status.phase == Phase.SERVING


def test_retrain_token_gives_a_new_revision() -> None:
    spec = make_spec()
    status, rev = serving_one(spec)
    p = plan(spec, status, observe(annotations={"molting.dev/retrain": "again"}))
    assert p.status.candidate.revision != rev and "RunTraining" in kinds(p.actions)


def test_paused_starts_nothing() -> None:
    spec = make_spec(paused=True)
    p = plan(spec, MoltingModelStatus(), observe())
    assert kinds(p.actions) == []
    assert any(c.type == "Ready" and c.reason == "Paused" for c in p.status.conditions)


def test_dependency_problem_is_a_condition_and_an_event_not_a_crash() -> None:
    spec = make_spec()
    p = plan(spec, MoltingModelStatus(), observe(problems=("configmap d not found",)))
    assert kinds(p.actions) == []
    ready = next(c for c in p.status.conditions if c.type == "Ready")
    assert ready.reason == "DependencyMissing" and "configmap d" in ready.message
    again = plan(spec, p.status, observe(problems=("configmap d not found",)))
    assert not any(isinstance(a, EmitEvent) for a in again.actions)  # no event storm


def test_a_lost_serve_app_gets_its_traffic_again() -> None:
    spec = make_spec()
    status, rev = serving_one(spec)
    p = plan(spec, status, observe(serve=ServeObservation(False, None)))
    assert [a.as_dict() for a in p.actions if isinstance(a, ApplyTraffic)] == [{rev: 100}]
    steady = plan(spec, status, observe(serve=served({rev: 100})))
    assert kinds(steady.actions) == []


def test_planning_imports_no_io_libraries() -> None:
    code = ("import sys, molting_operator.planning.planner;"
            "bad = [m for m in ('kopf', 'kubernetes', 'ray', 'torch', 'httpx', 'subprocess')"
            " if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- sequences of observations ----------------------------------------------------------------


@dataclass
class World:
    """A fake cluster: Jobs run when asked and finish as the test says; Serve applies weights."""

    spec: MoltingModelSpec
    status: MoltingModelStatus = field(default_factory=MoltingModelStatus)
    now: datetime = T0
    jobs: dict[tuple[str, JobKind], JobObservation] = field(default_factory=dict)
    creations: dict[tuple[str, JobKind], int] = field(default_factory=dict)
    applied: dict[str, int] | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    gate_passed: set[str] = field(default_factory=set)
    outcome: dict[str, bool] = field(default_factory=dict)  # revision -> eval will pass
    meta_hits: int = 0

    def step(self) -> None:
        observed = Observed(
            now=self.now, generation=1, annotations=dict(self.annotations), jobs=dict(self.jobs),
            serve=served(self.applied, self._stats()),
        )
        before = dict(self.jobs)
        p = plan(self.spec, self.status, observed)
        for action in p.actions:
            if isinstance(action, RunTraining):
                key = (action.revision, JobKind.TRAIN)
                assert key not in before, "RunTraining for a revision whose Job exists"
                self._create(key)
            elif isinstance(action, RunEvaluation):
                self._create((action.revision, JobKind.EVAL))
            elif isinstance(action, ApplyTraffic):
                self.applied = action.as_dict()
                for rev, weight in action.weights:
                    assert weight == 0 or rev in self.gate_passed, f"{rev} served before gates"
                    assert rev in dict(action.adapters), f"{rev} weighted without an adapter"
                for rev, _ in action.adapters:  # even at weight 0 a pinned request reaches it
                    assert rev in self.gate_passed, f"{rev} loadable before its gates passed"
            elif isinstance(action, CancelJobs):
                for kind in JobKind:
                    self.jobs.pop((action.revision, kind), None)
        self.status = p.status
        check_invariants(self.status)

    def _create(self, key: tuple[str, JobKind]) -> None:
        if key not in self.jobs:
            self.creations[key] = self.creations.get(key, 0) + 1
            self.jobs[key] = JobObservation(key[0], key[1], JobState.RUNNING)

    def finish_jobs(self, train_ok_: bool) -> None:
        for (rev, kind), job in list(self.jobs.items()):
            if job.state != JobState.RUNNING:
                continue
            if kind == JobKind.TRAIN:
                self.jobs[(rev, kind)] = train_ok(rev) if train_ok_ else JobObservation(
                    rev, kind, JobState.FAILED, message="boom")
            else:
                good = self.outcome.setdefault(rev, True)
                if good:
                    self.gate_passed.add(rev)
                self.jobs[(rev, kind)] = eval_done(rev, GOOD if good else BAD)

    def _stats(self) -> AppStats:
        return AppStats(revisions=[
            RevisionStats(revision=r, user=Counters(requests=20, meta_hits=self.meta_hits))
            for r in (self.applied or {})
        ])


def check_invariants(status: MoltingModelStatus) -> None:
    if status.traffic:
        assert sum(t.weight for t in status.traffic) == 100
        assert status.stable is not None
    for ref in (status.stable, status.previous):
        if ref is not None:
            assert ref.adapter, f"{ref.revision} lost its adapter"
    if status.previous is not None and status.stable is not None:
        assert status.previous.revision != status.stable.revision
    for t in status.traffic:
        known = {r.revision for r in (status.stable, status.candidate, status.previous) if r}
        assert t.revision in known


EVENTS = st.sampled_from([
    "tick", "tick", "tick", "finish_ok", "finish_ok", "finish_fail", "new_spec", "bad_next",
    "rollback", "promote", "meta_spike", "meta_calm", "pause", "unpause",
])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=st.lists(EVENTS, min_size=1, max_size=40))
def test_random_sequences_keep_the_invariants(events: list[str]) -> None:
    world = World(make_spec())
    lr = 2e-4
    world.step()
    for i, event in enumerate(events):
        if event == "tick":
            world.now += timedelta(seconds=45)
        elif event == "finish_ok":
            world.finish_jobs(True)
        elif event == "finish_fail":
            world.finish_jobs(False)
        elif event == "new_spec":
            lr *= 1.5
            world.spec = make_spec(lr=lr, paused=world.spec.paused)
        elif event == "bad_next":
            world.outcome[desired_revision(world.spec, world.annotations)] = False
        elif event == "rollback":
            world.annotations[ROLLBACK_ANNOTATION] = f"r{i}"
        elif event == "promote":
            world.annotations[PROMOTE_ANNOTATION] = f"p{i}"
        elif event == "meta_spike":
            world.meta_hits = 20
        elif event == "meta_calm":
            world.meta_hits = 0
        elif event in ("pause", "unpause"):
            world.spec = world.spec.model_copy(update={"paused": event == "pause"})
        world.step()
        world.step()  # planning twice on the same observation must be harmless
    assert all(n == 1 for n in world.creations.values()), world.creations


@pytest.mark.parametrize("steps", [1, 2, 3])
def test_planning_is_deterministic(steps: int) -> None:
    spec, status, old, new = in_canary()
    obs = observe(T0 + timedelta(minutes=steps),
                  serve=served({old: 90, new: 10},
                                         stats(**{old: (9, 0, 0), new: (9, 0, 0)})))
    assert plan(spec, status, obs) == plan(spec, status, obs)


def test_partial_or_malformed_progress_is_ignored() -> None:
    spec = make_spec()
    rev = desired_revision(spec, {})
    status = plan(spec, MoltingModelStatus(), observe()).status
    for progress in ({"step": 0, "total": None}, {"step": "x"}, {"step": 2, "total": 9, "extra": 1}):
        job = JobObservation(rev, JobKind.TRAIN, JobState.RUNNING, progress=progress)
        p = plan(spec, status, observe(jobs=[job]))
        assert p.status.phase == Phase.TRAINING
    assert p.status.progress is None or p.status.progress.step in (0, 2)


def test_an_ungated_candidate_is_never_loadable_by_the_serve_app() -> None:
    spec, status, old, new = in_canary()
    status = plan(spec, status, observe(annotations={PROMOTE_ANNOTATION: "p"})).status
    spec3 = make_spec(lr=5e-4)
    newest = desired_revision(spec3, {})
    notes = {PROMOTE_ANNOTATION: "p"}
    status = plan(spec3, status, observe(annotations=notes)).status
    status = plan(spec3, status, observe(jobs=[train_ok(newest)], annotations=notes)).status
    assert status.phase == Phase.EVALUATING and status.candidate.adapter
    # a rollback (or a restarted Serve app) while the candidate is still being evaluated
    p = plan(spec3, status, observe(annotations={**notes, ROLLBACK_ANNOTATION: "r"},
                                    serve=ServeObservation(False, None)))
    applied = [a for a in p.actions if isinstance(a, ApplyTraffic)]
    assert applied and all(newest not in dict(a.adapters) for a in applied)
    assert dict(applied[-1].adapters).keys() == {old, new}


def test_a_serving_spec_edit_is_re_applied_without_retraining() -> None:
    """The driver reports the settings hash of the config it wrote and the one the spec builds
    now for the same split (builders.serve_app): an edit of the filter, replicas or generation
    settings changes the second, and the planner applies the traffic again."""
    from molting_operator.builders import serve_app
    from molting_workloads.contract.serve_config import settings_hash

    spec = make_spec()
    status, rev = serving_one(spec)
    written = serve_app.serve_app_config("m", spec, ApplyTraffic(((rev, 100),),
                                                                 ((rev, status.stable.adapter),)))

    def seen(now: MoltingModelSpec) -> ServeObservation:
        return served({rev: 100}, fingerprint=settings_hash(written),
                      spec_fingerprint=serve_app.spec_fingerprint("m", now, written.revisions))

    assert kinds(plan(spec, status, observe(serve=seen(spec))).actions) == []
    edited = spec.model_copy(deep=True)
    edited.serving.filter.enabled = False
    p = plan(edited, status, observe(serve=seen(edited)))
    assert kinds(p.actions) == ["ApplyTraffic"]
    assert serve_app.serve_app_config("m", edited, p.actions[0]).filter.enabled is False
    for key, value in (("replicas", 3), ("generation", {"temperature": 0.1})):
        other = MoltingModelSpec.model_validate({**spec.to_wire(), "serving": {
            **spec.serving.to_wire(), key: value}})
        assert kinds(plan(other, status, observe(serve=seen(other))).actions) == ["ApplyTraffic"]
    unknown = served({rev: 100})  # a driver that cannot tell
    assert kinds(plan(edited, status, observe(serve=unknown)).actions) == []


# -- the not-worse rule (spec.serving.rollout.analysis.notWorse) ----------------------------


def with_not_worse(spec: MoltingModelSpec, **rule: Any) -> MoltingModelSpec:
    doc = spec.to_wire()
    doc["serving"]["rollout"]["analysis"]["notWorse"] = {"metric": "metaLanguage", **rule}
    return MoltingModelSpec.model_validate(doc)


def test_not_worse_passes_a_candidate_as_good_as_stable_and_records_the_verdict() -> None:
    spec, status, old, new = in_canary()
    spec = with_not_worse(spec)
    same = stats(**{old: (1000, 0, 20), new: (1000, 0, 20)})
    p = plan(spec, status, observe(T0 + timedelta(minutes=2), serve=served({old: 90, new: 10}, same)))
    assert p.status.canary.step == 1
    verdict = p.status.verdict
    assert verdict.decision == "Pass" and verdict.metric == "metaLanguage"
    assert (verdict.candidate_revision, verdict.stable_revision) == (new, old)
    assert verdict.candidate.n == 1000 and verdict.candidate.low < 0.02 < verdict.candidate.high
    assert verdict.margin == 0.05 and verdict.confidence == 0.95
    # `molting describe` shows it: each revision's figure with its interval, and the decision.
    from rich.console import Console

    from molting_operator.drivers.local.view import verdict as verdict_view
    console = Console(record=True, width=160)
    console.print(verdict_view(p.status))
    shown = console.export_text()
    assert "Pass" in shown and f"{new}" in shown and "0.020 [0.013, 0.031]" in shown
    # The same figures later do not move the verdict's time (no status write on a quiet tick).
    again = plan(spec, p.status, observe(T0 + timedelta(minutes=3),
                                         serve=served({old: 50, new: 50}, same)))
    assert again.status.verdict == verdict


def test_not_worse_fails_where_the_fixed_thresholds_pass_and_rolls_back() -> None:
    spec, status, old, new = in_canary()
    worse = stats(**{old: (1000, 0, 20), new: (1000, 0, 100)})
    assert plan(spec, status, observe(T0 + timedelta(minutes=2),
                                      serve=served({old: 90, new: 10}, worse))).status.canary.step == 1
    p = plan(with_not_worse(spec), status, observe(T0 + timedelta(seconds=10),
                                                   serve=served({old: 90, new: 10}, worse)))
    assert p.status.phase == Phase.ROLLED_BACK and p.status.verdict.decision == "Fail"
    assert "not-worse Fail" in p.status.history[-1].reason
    assert p.status.verdict.difference_low >= 0.05


def test_not_worse_inconclusive_holds_the_step_past_its_duration() -> None:
    spec, status, old, new = in_canary()
    few = stats(**{old: (1000, 0, 20), new: (20, 0, 0)})
    p = plan(with_not_worse(spec), status, observe(T0 + timedelta(minutes=5),
                                                   serve=served({old: 90, new: 10}, few)))
    assert p.status.phase == Phase.CANARY and p.status.canary.step == 0
    assert p.status.canary.analysis.startswith("Inconclusive")
    assert "need 30 samples" in p.status.canary.analysis
    assert p.status.verdict.decision == "Inconclusive"


def test_not_worse_on_ratings_without_ratings_is_inconclusive() -> None:
    spec, status, old, new = in_canary()
    busy = stats(**{old: (1000, 0, 0), new: (1000, 0, 0)})
    p = plan(with_not_worse(spec, metric="rating", margin=0.25), status,
             observe(T0 + timedelta(minutes=5), serve=served({old: 90, new: 10}, busy)))
    assert p.status.canary.step == 0 and p.status.verdict.decision == "Inconclusive"
    assert "need 30 ratings on each side (candidate 0, stable 0)" in p.status.canary.analysis


def test_not_worse_on_ratings_reads_the_feedback_counted_on_stats() -> None:
    """The ratings POST /v1/feedback counts (RevisionStats.ratings) are what the rule tests."""
    from molting_workloads.contract.live_stats import Ratings

    spec, status, old, new = in_canary()
    busy = stats(**{old: (1000, 0, 0), new: (1000, 0, 0)})
    for rev, scores in ((old, {"4": 20, "5": 20}), (new, {"4": 22, "5": 18})):
        busy.of(rev).ratings = Ratings(count=40, by_score=scores)
    p = plan(with_not_worse(spec, metric="rating", margin=0.5), status,
             observe(T0 + timedelta(minutes=2), serve=served({old: 90, new: 10}, busy)))
    assert p.status.verdict.decision == "Pass", p.status.canary.analysis
    assert p.status.canary.step == 1


def test_not_worse_rule_ranges_are_refused_naming_the_field() -> None:
    from pydantic import ValidationError

    spec = make_spec()
    for rule, field_ in (({"margin": 1.5}, "margin"), ({"confidence": 1.0}, "confidence"),
                         ({"minSamples": 100, "maxSamples": 50}, "maxSamples"),
                         ({"metric": "latency"}, "metric")):
        with pytest.raises(ValidationError, match=field_):
            with_not_worse(spec, **rule)
    rating = with_not_worse(spec, metric="rating", margin=1.5).serving.rollout.analysis.not_worse
    assert rating.margin == 1.5


def test_revision_filter_turns_the_filter_off_for_the_candidate_during_the_canary_only() -> None:
    from molting_operator.builders.serve_app import serve_app_config, spec_fingerprint
    from molting_workloads.contract.serve_config import settings_hash

    spec, status, old, new = in_canary()
    doc = spec.to_wire()
    doc["serving"]["rollout"]["revisionFilter"] = {"candidate": False}
    spec = MoltingModelSpec.model_validate(doc)
    healthy = stats(**{old: (50, 0, 0), new: (10, 0, 0)})
    p = plan(spec, status, observe(T0 + timedelta(minutes=2),
                                   serve=served({old: 90, new: 10}, healthy)))
    apply = next(a for a in p.actions if isinstance(a, ApplyTraffic))
    assert apply.filters == ((new, False),)
    config = serve_app_config("m", spec, apply)
    assert {r.revision: r.filter for r in config.revisions} == {old: None, new: False}
    assert config.filter.enabled is True
    # What was written reads back to the same fingerprint (no endless re-apply).
    assert spec_fingerprint("m", spec, config.revisions) == settings_hash(config)
    # Promoted: the candidate is stable and filtered as serving.filter says.
    for minutes, split_ in ((4, {old: 50, new: 50}), (5, {new: 100})):
        p = plan(spec, p.status, observe(T0 + timedelta(minutes=minutes),
                                         serve=served(split_, healthy)))
    assert p.status.phase == Phase.SERVING
    assert next(a for a in p.actions if isinstance(a, ApplyTraffic)).filters == ()
