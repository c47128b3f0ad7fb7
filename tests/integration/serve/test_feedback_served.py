"""Feedback and capture through the real Serve app: an answer carries its id in the body and a
header (and in every chunk of a stream), POST /v1/feedback counts the rating under the revision
that answered, refuses unknown, duplicate and out-of-range ratings, and with capture on the
capture file holds the redacted conversation and the rating record."""

from __future__ import annotations

import json
import time

import pytest
from servekit import AUTH, ServedApp

from molting_workloads.contract.capture import (
    CAPTURE_FILE,
    CaptureSettings,
    ConversationRecord,
    RatingRecord,
    read_record,
)

QUESTION = [{"role": "user", "content": "I am ann.lee@example.com, card 4111 1111 1111 1111. Why is the sky blue?"}]
PIN = {"x-molting-revision": "canary"}


@pytest.fixture
def capturing(app: ServedApp, tmp_path_factory) -> tuple[ServedApp, str]:
    folder = tmp_path_factory.mktemp("capture") / "mm-test" / "capture"
    app.apply(app.base.model_copy(update={"capture": CaptureSettings(enabled=True, directory=str(folder))}))
    return app, str(folder)


def _records(folder: str, timeout_s: float = 30.0, want: int = 1) -> list:
    path = f"{folder}/{CAPTURE_FILE}"
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with open(path, encoding="utf-8") as handle:
                records = [read_record(line) for line in handle if line.strip()]
        except FileNotFoundError:
            records = []
        if len(records) >= want or time.monotonic() > deadline:
            return records
        time.sleep(0.1)


def _feedback(app: ServedApp, client, headers: dict | None = None, **body):
    return client.post(app.url + "/v1/feedback", json=body, headers=AUTH if headers is None else headers)


def test_feedback_is_counted_under_the_revision_and_captured(capturing, client):
    app, folder = capturing
    answer = app.chat(client, headers=PIN, messages=QUESTION)
    assert answer.status_code == 200, answer.text
    cid = answer.json()["id"]
    assert answer.headers["x-molting-completion-id"] == cid
    assert cid.startswith("chatcmpl-canary-")

    before = app.stats().of("canary").ratings
    rated = _feedback(app, client, id=cid, rating=4, comment="reach me at bob@corp.io")
    assert rated.status_code == 200, rated.text
    assert rated.json()["revision"] == "canary"
    thumbs = _feedback(app, client, id=app.chat(client, headers=PIN).json()["id"], rating="up")
    assert thumbs.status_code == 200, thumbs.text
    after = app.stats().of("canary").ratings
    assert after.count == before.count + 1
    assert after.thumbs_up == before.thumbs_up + 1
    assert after.mean is not None

    again = _feedback(app, client, id=cid, rating=5)
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_rated"
    forged = _feedback(app, client, id=cid.replace("canary", "stable"), rating=5)
    assert forged.status_code == 404 and "not an id this app issued" in forged.json()["error"]["message"]
    wrong = _feedback(app, client, id=cid, rating=9)
    assert wrong.status_code == 400 and wrong.json()["error"]["param"] == "rating"
    assert _feedback(app, client, headers={}, id=cid, rating=3).status_code == 401
    assert app.stats().of("canary").ratings.count == after.count  # refusals count nothing

    records = _records(folder, want=4)
    conversation = next(r for r in records if isinstance(r, ConversationRecord) and r.id == cid)
    rating = next(r for r in records if isinstance(r, RatingRecord) and r.id == cid)
    assert conversation.revision == "canary" and conversation.model == app.base.name
    assert conversation.messages[0].content == "I am [redacted], card [redacted]. Why is the sky blue?"
    assert conversation.answer == answer.json()["choices"][0]["message"]["content"]
    assert rating.rating == 4 and rating.comment == "reach me at [redacted]"
    text = open(f"{folder}/{CAPTURE_FILE}", encoding="utf-8").read()
    assert "example.com" not in text and "4111" not in text and "bob@" not in text
    metrics = client.get(app.url + "/metrics", headers=AUTH).text
    assert 'molting_feedback_score_count{app="mm-test",revision="canary"}' in metrics
    assert 'molting_capture_records_total{app="mm-test",result="written"}' in metrics


def test_a_stream_carries_the_id_in_every_chunk_and_the_header(capturing, client):
    app, folder = capturing
    with client.stream("POST", app.url + "/v1/chat/completions", headers=AUTH | PIN,
                       json={"messages": QUESTION, "max_tokens": 8, "stream": True}) as response:
        assert response.status_code == 200
        cid = response.headers["x-molting-completion-id"]
        chunks = [json.loads(line[6:]) for line in response.iter_lines()
                  if line.startswith("data: {")]
    assert chunks and {c["id"] for c in chunks} == {cid}
    rated = _feedback(app, client, id=cid, rating="down")
    assert rated.status_code == 200 and rated.json()["revision"] == "canary"
    records = _records(folder, want=2)
    streamed = next(r for r in records if isinstance(r, ConversationRecord) and r.id == cid)
    assert streamed.stream and "example.com" not in streamed.messages[0].content
