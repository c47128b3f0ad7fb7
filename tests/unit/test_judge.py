"""The judge: parsing its replies (leniently in form, strictly in content), the reply cache, the
retries, and the gates it feeds (a failed judge is an Error gate, never a pass).

The HTTP faults (timeouts, 5xx) are injected with httpx's MockTransport; the real judge, a model
served by Molting's own OpenAI route, is in tests/integration/serve/test_judge_served.py.
"""

from __future__ import annotations

import json

import httpx
import pytest

from molting_workloads.contract.gates import decide, passed
from molting_workloads.contract.judging import DEFAULT_CRITERIA, JudgePolicy, JudgeScores
from molting_workloads.contract.policies import GatePolicy
from molting_workloads.contract.summaries import EvalMetrics, GateVerdict
from molting_workloads.evaluation import format_verdicts
from molting_workloads.judge import (
    JudgeCallError,
    JudgeClient,
    JudgeParseError,
    build_messages,
    cache_key,
    judge_answers,
    parse_reply,
)

CRITERIA = list(DEFAULT_CRITERIA)
POLICY = JudgePolicy(url="http://judge.test/v1", model="judge-1", retries=2, timeout_seconds=1)
GOOD = {"quality": {"score": 9, "reason": "complete"}, "personality": {"score": 8.5, "reason": "warm"},
        "factualAccuracy": {"score": 10, "reason": "true"}, "coherence": {"score": 8, "reason": "clear"}}


# ---------------------------------------------------------------- parsing


def test_parses_a_json_reply_with_reasons() -> None:
    scores = parse_reply(json.dumps(GOOD), CRITERIA)
    assert {k: s.value for k, s in scores.items()} == {
        "quality": 9.0, "personality": 8.5, "factualAccuracy": 10.0, "coherence": 8.0}
    assert scores["personality"].reason == "warm"


def test_parses_json_inside_prose_and_a_code_fence() -> None:
    reply = "Sure! Here is my grading:\n```json\n" + json.dumps(GOOD) + "\n```\nHope it helps {"
    assert parse_reply(reply, CRITERIA)["quality"].value == 9.0


def test_parses_flat_json_and_loose_key_spelling() -> None:
    reply = '{"Quality": 7.25, "Personality": "8/10", "factual_accuracy": 6, "COHERENCE": 9, ' \
            '"reason": "fine overall"}'
    scores = parse_reply(reply, CRITERIA)
    assert scores["quality"].value == 7.25 and scores["personality"].value == 8.0
    assert scores["factualAccuracy"].value == 6.0 and scores["coherence"].reason == "fine overall"


def test_parses_score_lines() -> None:
    reply = ("Quality: 8/10 - a good answer\n**Personality**: 7.5 — a bit flat\n"
             "Factual accuracy: 9 out of 10, all true\n- Coherence = 8.5 (on topic)")
    scores = parse_reply(reply, CRITERIA)
    assert [scores[c.name].value for c in CRITERIA] == [8.0, 7.5, 9.0, 8.5]
    assert scores["quality"].reason == "a good answer"
    assert "flat" in scores["personality"].reason


@pytest.mark.parametrize("reply", ["", "   ", "The the the sky is blue because of bees.",
                                   "I will now explain the answer step by step.", "{]}"])
def test_nonsense_is_refused_with_the_reply_quoted(reply: str) -> None:
    with pytest.raises(JudgeParseError) as caught:
        parse_reply(reply, CRITERIA)
    assert repr(" ".join(reply.split())) in str(caught.value)


def test_a_missing_criterion_is_named() -> None:
    partial = {k: v for k, v in GOOD.items() if k != "coherence"}
    with pytest.raises(JudgeParseError, match="no coherence score"):
        parse_reply(json.dumps(partial), CRITERIA)


@pytest.mark.parametrize(("value", "why"), [(11, "11 is outside 0-10"), (-1, "-1 is outside 0-10"),
                                            ("85/100", "not a score out of 10"),
                                            ("eight", "not a score out of 10"),
                                            (True, "not a score out of 10")])
def test_out_of_range_or_not_a_number_is_refused_not_clamped(value, why) -> None:
    bad = GOOD | {"quality": {"score": value, "reason": "x"}}
    with pytest.raises(JudgeParseError, match=f"quality: .*{why}"):
        parse_reply(json.dumps(bad), CRITERIA)


def test_out_of_range_in_a_line_is_refused() -> None:
    with pytest.raises(JudgeParseError, match="quality: '12/10' is not a score|quality: 12 is outside"):
        parse_reply("Quality: 12/10\nPersonality: 8\nFactual accuracy: 8\nCoherence: 8", CRITERIA)


def test_the_prompt_names_every_criterion_and_quotes_the_pair() -> None:
    messages = build_messages("Why is the sky blue?", "Rayleigh scattering.", CRITERIA)
    text = messages[-1]["content"]
    assert "Why is the sky blue?" in text and "Rayleigh scattering." in text
    assert all(c.name in text and c.description in text for c in CRITERIA)


def test_user_criteria_replace_the_default() -> None:
    policy = JudgePolicy(url="http://j/v1", model="m",
                         criteria=[{"name": "brevity", "description": "short", "minScore": 5}])
    assert parse_reply('{"brevity": {"score": 6, "reason": "short"}}', policy.criteria)["brevity"].value == 6


# ---------------------------------------------------------------- the spec side


def test_default_rubric_is_the_four_seed_scores() -> None:
    assert {c.name: c.min_score for c in JudgePolicy(url="http://j/v1", model="m").criteria} == {
        "quality": 8.5, "personality": 8.0, "factualAccuracy": 8.0, "coherence": 8.0}


@pytest.mark.parametrize(("data", "field"), [
    ({"url": "judge:8000", "model": "m"}, "url"),
    ({"url": "http://j/v1", "model": ""}, "model"),
    ({"url": "http://j/v1", "model": "m", "criteria": []}, "criteria"),
    ({"url": "http://j/v1", "model": "m",
      "criteria": [{"name": "q", "description": "d", "minScore": 11}]}, "criteria.0.minScore"),
    ({"url": "http://j/v1", "model": "m",
      "criteria": [{"name": "Bad Name", "description": "d", "minScore": 1}]}, "criteria.0.name"),
    ({"url": "http://j/v1", "model": "m",
      "criteria": [{"name": "q", "description": "d", "minScore": 1}] * 2}, "criteria"),
    ({"url": "http://j/v1", "model": "m", "retries": 9}, "retries"),
])
def test_bad_judge_settings_name_the_field(data: dict, field: str) -> None:
    from pydantic import ValidationError

    from molting_workloads.evaluation import problems_from

    with pytest.raises(ValidationError) as caught:
        JudgePolicy.model_validate(data)
    paths = {p.path for p in problems_from(caught.value)}
    assert field in paths, paths


# ---------------------------------------------------------------- HTTP faults, cache


def _completion(content: str) -> httpx.Response:
    return httpx.Response(200, json={"choices": [{"message": {"role": "assistant", "content": content}}]})


def _client(tmp_path, handler, **policy) -> tuple[JudgeClient, list[float]]:
    slept: list[float] = []
    p = POLICY.model_copy(update=policy)
    return JudgeClient(p, tmp_path / "cache", api_key="k", transport=httpx.MockTransport(handler),
                       sleep=slept.append), slept


def test_a_timeout_is_retried_with_backoff_then_an_error(tmp_path) -> None:
    def handler(request):
        raise httpx.ReadTimeout("slow", request=request)

    client, slept = _client(tmp_path, handler)
    with pytest.raises(JudgeCallError, match="timed out after 1s .*after 3 attempts"):
        client.reply("q", "a")
    assert client.calls == 3 and slept == [1.0, 2.0]
    assert not list((tmp_path / "cache").glob("*.json"))  # a failed call is not kept


def test_a_5xx_then_an_answer_recovers_and_sends_the_key(tmp_path) -> None:
    seen = []

    def handler(request):
        seen.append(request)
        return httpx.Response(503, text="busy") if len(seen) == 1 else _completion(json.dumps(GOOD))

    client, slept = _client(tmp_path, handler)
    assert client.reply("q", "a") == (json.dumps(GOOD), False)
    assert slept == [1.0] and seen[-1].headers["authorization"] == "Bearer k"
    body = json.loads(seen[-1].content)
    assert body["model"] == "judge-1" and body["temperature"] == 0.0
    assert str(seen[-1].url) == "http://judge.test/v1/chat/completions"


def test_a_4xx_is_not_retried(tmp_path) -> None:
    client, slept = _client(tmp_path, lambda r: httpx.Response(401, text="bad key"))
    with pytest.raises(JudgeCallError, match="HTTP 401: bad key"):
        client.reply("q", "a")
    assert client.calls == 1 and slept == []


def test_a_second_evaluation_reads_the_cache(tmp_path) -> None:
    client, _ = _client(tmp_path, lambda r: _completion(json.dumps(GOOD)))
    first = judge_answers(POLICY, ["q1", "q2"], ["a1", "a2"], tmp_path, client=client)
    assert client.calls == 2 and first.scores.means["quality"] == 9.0 and first.scores.cached == 0
    again, _ = _client(tmp_path, lambda r: pytest.fail("the judge was called again"))
    second = judge_answers(POLICY, ["q1", "q2"], ["a1", "a2"], tmp_path, client=again)
    assert again.calls == 0 and second.scores == first.scores.model_copy(update={"cached": 2})
    assert all(r["cached"] for r in second.rows)


def test_the_cache_key_is_the_rubric_not_the_thresholds() -> None:
    stricter = POLICY.model_copy(update={"criteria": [c.model_copy(update={"min_score": 9.9})
                                                      for c in POLICY.criteria]})
    assert cache_key(stricter, "q", "a") == cache_key(POLICY, "q", "a")
    assert cache_key(POLICY, "q", "a") != cache_key(POLICY, "q", "a!")
    assert cache_key(POLICY.model_copy(update={"model": "other"}), "q", "a") != cache_key(POLICY, "q", "a")


def test_a_timeout_stops_the_run_and_leaves_no_means(tmp_path) -> None:
    def handler(request):
        raise httpx.ConnectTimeout("no route", request=request)

    client, _ = _client(tmp_path, handler, retries=0)
    run = judge_answers(POLICY, ["q1", "q2", "q3"], ["a1", "a2", "a3"], tmp_path, client=client)
    assert client.calls == 1 and run.scores.means == {}
    assert run.scores.error.startswith("answer 1: POST http://judge.test/v1/chat/completions: timed out")
    assert len(run.rows) == 3


def test_one_nonsense_reply_refuses_the_run_but_every_answer_is_judged(tmp_path) -> None:
    replies = iter([json.dumps(GOOD), "bees bees bees", json.dumps(GOOD)])
    client, _ = _client(tmp_path, lambda r: _completion(next(replies)))
    run = judge_answers(POLICY, ["q1", "q2", "q3"], ["a1", "a2", "a3"], tmp_path, client=client)
    assert client.calls == 3 and run.scores.means == {}
    assert "answer 2: no scores in the reply" in run.scores.error and "'bees bees bees'" in run.scores.error
    assert "scores" in run.rows[0] and run.rows[1]["reply"] == "bees bees bees"


# ---------------------------------------------------------------- the gates


def _metrics(judge: JudgeScores | None) -> EvalMetrics:
    return EvalMetrics(n=3, meta_language_rate=0.0, mean_length=300, median_length=300,
                       in_window_rate=1.0, relevance=0.9, repetition=0.0, empty_rate=0.0, judge=judge)


def _judge_verdicts(judge: JudgeScores | None) -> list[GateVerdict]:
    verdicts = decide(_metrics(judge), None, GatePolicy(), POLICY)
    return [v for v in verdicts if v.name.startswith("judge.")]


def test_judge_gates_pass_and_fail_on_the_mean_scores() -> None:
    means = {"quality": 8.5, "personality": 7.9, "factualAccuracy": 9, "coherence": 8}
    verdicts = {v.name: v for v in _judge_verdicts(JudgeScores(model="judge-1", n=3, means=means))}
    assert [v.state for v in verdicts.values()] == ["Passed", "Failed", "Passed", "Passed"]
    assert verdicts["judge.personality"].reason == "mean 7.90/10 over 3 answers < 8.0"
    assert verdicts["judge.quality"].threshold == ">= 8.5"


@pytest.mark.parametrize("scores", [
    JudgeScores(model="judge-1", error="answer 1: POST ...: timed out after 1s (after 3 attempts)"),
    None,
])
def test_a_failed_or_missing_judge_is_an_error_gate_that_fails(scores) -> None:
    verdicts = _judge_verdicts(scores)
    assert len(verdicts) == 4 and all(v.state == "Error" and not v.passed for v in verdicts)
    assert not passed(decide(_metrics(scores), None, GatePolicy(), POLICY))
    assert ("timed out" if scores else "without a judge") in verdicts[0].reason


def test_an_advisory_judge_is_decided_and_shown_but_never_blocks() -> None:
    advisory = POLICY.model_copy(update={"advisory": True})
    failing = JudgeScores(model="judge-1", error="answer 1: the judge replied: 'zzz'")
    verdicts = decide(_metrics(failing), None, GatePolicy(), advisory)
    judged = [v for v in verdicts if v.name.startswith("judge.")]
    assert judged and all(v.state == "Error" and v.advisory and not v.passed for v in judged)
    assert passed(verdicts)  # the metric gates all pass; the judge's are not counted
    lines = format_verdicts(verdicts)
    assert lines[-1] == "gates passed" and "(advisory)" in lines[len(verdicts) - 1]
    # A metric gate that fails still fails, advisory judge or not.
    bad = decide(_metrics(failing).model_copy(update={"meta_language_rate": 0.9}), None,
                 GatePolicy(), advisory)
    assert not passed(bad)
    # The same judge, not advisory, blocks.
    assert not passed(decide(_metrics(failing), None, GatePolicy(), POLICY))


def test_no_judge_no_judge_gates_and_every_verdict_has_a_state() -> None:
    verdicts = decide(_metrics(None), None, GatePolicy())
    assert not [v for v in verdicts if v.name.startswith("judge.")]
    assert {v.state for v in verdicts} <= {"Passed", "Failed"}
    with pytest.raises(ValueError, match="Error has not passed"):
        GateVerdict(name="x", passed=True, state="Error")


# ---------------------------------------------------------------- the report


def test_the_html_report_shows_each_score_with_its_reason_and_the_means(tmp_path) -> None:
    from molting_workloads.report import _answers, _gates, _judge

    client, _ = _client(tmp_path, lambda r: _completion(json.dumps(GOOD)))
    run = judge_answers(POLICY, ["q1"], ["a1"], tmp_path, client=client)
    judge = {"url": POLICY.url, "model": POLICY.model,
             "criteria": [c.to_wire() for c in POLICY.criteria], **run.scores.to_wire()}
    section = _judge(judge)
    assert "judge-1" in section and "9.00" in section and "≥ 8.5" in section
    row = {"index": 1, "question": "q1", "candidate": {"answer": "a1", "judge": run.rows[0]}}
    answers = _answers([row], with_stable=False)
    assert "<b>personality</b> 8.5/10 — warm" in answers
    error = [v.to_wire() for v in _judge_verdicts(JudgeScores(model="judge-1", error="nope"))]
    assert "! Error" in _gates(error)
