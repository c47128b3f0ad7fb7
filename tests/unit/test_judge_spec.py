"""spec.evaluation.judge from the resource to the evaluation Job and back through the planner:
the request carries the rubric (never the key), the Job gets the key from its Secret, and a
judge gate in Error keeps the revision from serving, with the judge's error in the condition."""

from __future__ import annotations

import pytest
import yaml

from molting_operator.api.spec import MoltingModelSpec
from molting_operator.api.status import MoltingModelStatus, Phase
from molting_operator.builders import jobs, names, requests
from molting_operator.planning.actions import ApplyTraffic, RunEvaluation
from molting_operator.planning.observed import JobKind, JobObservation, JobState, Observed
from molting_operator.planning.planner import desired_revision, plan
from molting_workloads.contract.judging import JUDGE_API_KEY_ENV
from molting_workloads.contract.layout import Layout

JUDGE = {"url": "http://judge.molting.svc:8000/v1", "model": "judge",
         "apiKeySecret": {"name": "judge-key", "key": "token"}, "timeoutSeconds": 20}
GOOD = {"n": 2, "metaLanguageRate": 0.0, "meanLength": 300.0, "medianLength": 300.0,
        "inWindowRate": 1.0, "relevance": 0.6, "repetition": 0.1, "emptyRate": 0.0}


def spec(judge: dict | None = JUDGE) -> MoltingModelSpec:
    doc = {"baseModel": {"source": "/models/tiny"}, "dataset": {"path": "/data/c.jsonl"}}
    if judge is not None:
        doc["evaluation"] = {"judge": judge}
    return MoltingModelSpec.model_validate(doc)


def action() -> RunEvaluation:
    return RunEvaluation(revision="r1", adapter="/artifacts/m/r1/adapter")


def test_the_request_carries_the_rubric_and_the_cache_but_not_the_secret() -> None:
    request = requests.eval_request(spec(), "m", action(), Layout("/artifacts"), None)
    assert request.judge.url == JUDGE["url"] and request.judge.timeout_seconds == 20
    assert [c.name for c in request.judge.criteria] == [
        "quality", "personality", "factualAccuracy", "coherence"]
    assert request.judge_cache_dir == "/artifacts/m/judge-cache"
    assert "apiKeySecret" not in yaml.safe_dump(request.to_wire())
    plain = requests.eval_request(spec(None), "m", action(), Layout("/artifacts"), None)
    assert plain.judge is None and plain.judge_cache_dir is None


def test_the_eval_job_reads_the_key_from_the_secret_and_training_does_not() -> None:
    owner = names.Owner("m", "ns", "uid")
    _, job = jobs.build_evaluation(owner, spec(), action(), jobs.JobDefaults())
    env = job["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": JUDGE_API_KEY_ENV,
            "valueFrom": {"secretKeyRef": {"name": "judge-key", "key": "token"}}} in env
    _, train = jobs.build_training(owner, spec(), "r1", jobs.JobDefaults())
    assert JUDGE_API_KEY_ENV not in str(train)


@pytest.mark.parametrize(("judge", "path"), [
    ({"model": "m"}, "url"),
    ({"url": "http://j/v1", "model": "m", "criteria": [
        {"name": "tone", "description": "d", "minScore": 12}]}, "minScore"),
    ({"url": "http://j/v1", "model": "m", "apiKeySecret": {"name": "s"}}, "key"),
])
def test_a_bad_judge_is_refused_naming_the_field(judge: dict, path: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=path):
        spec(judge)


def _observed(*jobs_: JobObservation) -> Observed:
    return Observed(now=_now(), jobs={(j.revision, j.kind): j for j in jobs_})


def _evaluated(s: MoltingModelSpec, judge_scores: dict | None):
    rev = desired_revision(s, {})
    status = plan(s, MoltingModelStatus(), _observed()).status
    train = JobObservation(rev, JobKind.TRAIN, JobState.SUCCEEDED, summary={
        "kind": "train", "revision": rev, "ok": True, "adapter": f"/a/{rev}/adapter"})
    status = plan(s, status, _observed(train)).status
    metrics = GOOD | ({"judge": judge_scores} if judge_scores else {})
    done = JobObservation(rev, JobKind.EVAL, JobState.SUCCEEDED, summary={
        "kind": "eval", "revision": rev, "ok": True, "metrics": metrics})
    return plan(s, status, _observed(train, done))


def _now():
    from datetime import UTC, datetime

    return datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)


def test_a_judge_error_fails_the_gates_and_nothing_serves() -> None:
    error = "answer 1: no scores in the reply; the judge replied: 'bees bees'"
    p = _evaluated(spec(), {"model": "judge", "error": error})
    assert p.status.phase == Phase.GATE_FAILED and p.status.traffic == []
    assert not any(isinstance(a, ApplyTraffic) for a in p.actions)
    judged = [g for g in p.status.candidate.evaluation.gates if g.name.startswith("judge.")]
    assert len(judged) == 4 and all(g.state == "Error" and not g.passed for g in judged)
    cond = next(c for c in p.status.conditions if c.type == "GatesPassed")
    assert "judge.quality: Error: judge judge: answer 1: no scores" in cond.message
    assert "'bees bees'" in cond.message


def test_judge_scores_over_the_minimum_pass_and_promote() -> None:
    means = {"quality": 9.0, "personality": 8.0, "factualAccuracy": 8.5, "coherence": 9.5}
    p = _evaluated(spec(), {"model": "judge", "n": 2, "means": means})
    assert p.status.phase != Phase.GATE_FAILED
    assert any(isinstance(a, ApplyTraffic) for a in p.actions)
    low = _evaluated(spec(), {"model": "judge", "n": 2, "means": means | {"quality": 8.4}})
    assert low.status.phase == Phase.GATE_FAILED
    cond = next(c for c in low.status.conditions if c.type == "GatesPassed")
    assert "judge.quality: mean 8.40/10 over 2 answers < 8.5" in cond.message
