"""The endpoint speaks the OpenAI chat-completions API: the `openai` client works for
non-streaming and streaming answers, responses carry the revision and the filter indicator,
and /v1/models, /healthz, /stats and /metrics answer."""

from __future__ import annotations

import openai
import pytest
from servekit import API_KEY, AUTH, ServedApp


@pytest.fixture
def oa(app: ServedApp):
    with openai.OpenAI(base_url=app.url + "/v1", api_key=API_KEY, timeout=60, max_retries=0) as client:
        yield client


def _same_words(a: str, b: str) -> bool:
    return a.split() == b.split()


def test_openai_client_non_streaming(app: ServedApp, oa: openai.OpenAI):
    raw = oa.chat.completions.with_raw_response.create(
        model=app.base.name, messages=[{"role": "user", "content": "Why is the sky blue?"}],
        max_tokens=16, extra_headers={"x-molting-revision": "stable"},
    )
    completion = raw.parse()
    assert raw.headers["x-molting-revision"] == "stable"
    assert raw.headers["x-molting-filtered"] in ("true", "false")
    assert completion.object == "chat.completion"
    assert completion.model == app.base.name
    assert isinstance(completion.choices[0].message.content, str)
    assert completion.choices[0].message.content.strip()
    assert completion.model_extra["molting"]["revision"] == "stable"


def test_openai_client_streaming_gives_the_same_answer_in_pieces(app: ServedApp, oa: openai.OpenAI):
    question = [{"role": "user", "content": "How do bees make honey?"}]
    pinned = {"x-molting-revision": "canary"}
    whole = oa.chat.completions.create(
        model=app.base.name, messages=question, max_tokens=24, extra_headers=pinned
    ).choices[0].message.content
    stream = oa.chat.completions.create(
        model=app.base.name, messages=question, max_tokens=24, extra_headers=pinned, stream=True
    )
    chunks = list(stream)
    pieces = [c.choices[0].delta.content or "" for c in chunks if c.choices]
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].model_extra["molting"]["revision"] == "canary"
    assert _same_words("".join(pieces), whole)  # greedy: the same answer either way


def test_models_lists_the_app_and_its_split(app: ServedApp, oa: openai.OpenAI):
    models = oa.models.list()
    (model,) = models.data
    assert model.id == app.base.name
    assert model.model_extra["molting"]["revisions"] == {"stable": 90, "canary": 10, "broken": 0}


def test_healthz_stats_and_metrics(app: ServedApp, client):
    assert client.get(app.url + "/healthz").json()["status"] == "ok"
    app.chat(client, headers={"x-molting-revision": "stable"})
    stats = client.get(app.url + "/stats", headers=AUTH).json()
    assert {r["revision"] for r in stats["revisions"]} >= {"stable", "canary", "broken"}
    assert stats["settingsHash"]
    metrics = client.get(app.url + "/metrics", headers=AUTH).text
    assert 'molting_requests_total{app="mm-test",kind="user",revision="stable"}' in metrics
    assert "molting_request_latency_seconds_bucket" in metrics
    assert 'molting_revision_weight{app="mm-test",revision="canary"} 10.0' in metrics
