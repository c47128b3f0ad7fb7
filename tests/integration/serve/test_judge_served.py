"""The judge for real: `run_eval` on the tiny model with a judge that is the tiny model itself,
served by Molting's own Serve app through its OpenAI /v1/chat/completions route.

A ~1M-parameter model trained on a small corpus cannot grade, and nothing here pretends it can:
its replies hold no scores, so the honest outcome is checked: every judge gate is in Error, not
passed, and the error quotes the reply it refused. The calls are real (the app counts them), the
second evaluation reads the replies from the cache (the app counts none), and a judge that
cannot answer in time is an Error too.
"""

from __future__ import annotations

import json

import pytest
from servekit import API_KEY, ServedApp

from molting_workloads.contract.judging import JUDGE_API_KEY_ENV
from molting_workloads.contract.requests import EvalRequest
from molting_workloads.evaluation import run_eval

QUESTIONS = ["Why is the sky blue?", "How do bees make honey?"]


def _user_requests(app: ServedApp) -> int:
    return sum(r.user.requests for r in app.stats().revisions)


def _request(tmp_path, tiny_model_dir, adapter_paths, app: ServedApp, out: str, **judge) -> EvalRequest:
    questions = tmp_path / "questions.jsonl"
    questions.write_text("".join(json.dumps({"question": q}) + "\n" for q in QUESTIONS))
    return EvalRequest.model_validate({
        "revision": "judged", "baseModel": str(tiny_model_dir), "adapter": adapter_paths["clean"],
        "questions": str(questions), "outputDir": str(tmp_path / out), "maxNewTokens": 24,
        "judgeCacheDir": str(tmp_path / "judge-cache"),
        # The app's maxTokensLimit is 64 (servekit); 0 retries keeps the failing case short.
        "judge": {"url": app.url + "/v1", "model": app.base.name, "maxTokens": 48,
                  "retries": 0, "timeoutSeconds": 60} | judge,
    })


@pytest.fixture
def judge_key(monkeypatch):
    monkeypatch.setenv(JUDGE_API_KEY_ENV, API_KEY)


def _judge_gates(outcome) -> list:
    return [v for v in outcome.verdicts if v.name.startswith("judge.")]


def test_a_real_judge_that_answers_nonsense_is_refused_and_its_replies_are_cached(
    app: ServedApp, tiny_model_dir, adapter_paths, tmp_path, judge_key
) -> None:
    before = _user_requests(app)
    first = run_eval(_request(tmp_path, tiny_model_dir, adapter_paths, app, "eval1"),
                     relevance_backend="tfidf", device="cpu", termination_log=tmp_path / "none")
    assert _user_requests(app) - before == len(QUESTIONS)  # one real call per answer

    gates = _judge_gates(first)
    assert [g.name for g in gates] == ["judge.quality", "judge.personality",
                                       "judge.factualAccuracy", "judge.coherence"]
    assert all(g.state == "Error" and not g.passed for g in gates)
    assert first.summary.passed is False
    judge = first.report["judge"]
    assert judge["means"] == {} and judge["cached"] == 0 and judge["error"].startswith("answer 1: ")
    rows = [q["candidate"]["judge"] for q in first.report["questions"]]
    for row in rows:  # each refusal names what is missing and quotes the real reply
        assert isinstance(row["reply"], str) and not row["cached"]
        assert "the judge replied: " + repr(" ".join(row["reply"].split())[:300]).rstrip("'") \
            in row["error"]
    assert gates[0].reason.startswith(f"judge {app.base.name}: answer 1: ")
    html = first.html_path.read_text(encoding="utf-8")
    assert "<h2>Judge</h2>" in html and "The judge gave no scores" in html

    again = run_eval(_request(tmp_path, tiny_model_dir, adapter_paths, app, "eval2"),
                     relevance_backend="tfidf", device="cpu", termination_log=tmp_path / "none")
    assert _user_requests(app) - before == len(QUESTIONS)  # the cache answered; no new call
    assert again.report["judge"]["cached"] == len(QUESTIONS)
    assert [q["candidate"]["judge"]["reply"] for q in again.report["questions"]] == [
        r["reply"] for r in rows]
    assert [g.reason for g in _judge_gates(again)] == [g.reason for g in gates]


def test_a_judge_that_times_out_is_an_error_gate(
    app: ServedApp, tiny_model_dir, adapter_paths, tmp_path, judge_key
) -> None:
    request = _request(tmp_path, tiny_model_dir, adapter_paths, app, "eval",
                       timeoutSeconds=0.001, retries=1)
    outcome = run_eval(request, relevance_backend="tfidf", device="cpu",
                       termination_log=tmp_path / "none")
    gates = _judge_gates(outcome)
    assert gates and all(g.state == "Error" and not g.passed for g in gates)
    assert "timed out after 0.001s" in gates[0].reason and "after 2 attempts" in gates[0].reason
    assert not list((tmp_path / "judge-cache").glob("*.json"))  # nothing paid, nothing kept
