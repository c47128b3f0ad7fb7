"""The human evaluation without Ray: sealed pair tokens (opaque, unforgeable, expiring), vote
validation (bad token, bad choice, double vote), the Wilson interval on known values, the
tallies and their JSONL file, and the routes on a fake Generator."""

from __future__ import annotations

import json
import random
from types import SimpleNamespace

import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from molting_workloads.contract.errors import ServeConfigError
from molting_workloads.contract.human_eval import HumanEvalSettings
from molting_workloads.contract.serve_config import (
    IngressSettings,
    build_ingress_settings,
    validate_config,
)
from molting_workloads.serving import human_eval
from molting_workloads.serving.eval_token import Sealer, TokenError, _b64, _unb64
from molting_workloads.serving.eval_votes import VoteError, VoteStore, wilson
from molting_workloads.serving.openai_types import ApiError

PAIR = {"q": "Why is the sky blue?", "a": "stable", "b": "canary", "answers": ["one", "two"]}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- tokens ----------------------------------------------------------------------------------

def test_a_token_opens_to_its_payload_and_hides_it():
    sealer = Sealer(b"k" * 32)
    token = sealer.seal(PAIR, ttl_s=60)
    token_id, payload, _ = sealer.open(token)
    assert payload == PAIR and len(token_id) == 32
    assert b"stable" not in _unb64(token) and b"canary" not in _unb64(token)  # encrypted
    assert sealer.seal(PAIR, ttl_s=60) != token  # a fresh nonce each time


@pytest.mark.parametrize("mangle", [
    lambda t: t[:-2] + ("AA" if t[-2:] != "AA" else "BB"),  # the tag
    lambda t: t[:30] + ("A" if t[30] != "A" else "B") + t[31:],  # the ciphertext
    lambda t: t[:40],  # truncated
    lambda t: "not a token!",
    lambda t: "",
])
def test_altered_or_made_up_tokens_are_refused(mangle):
    sealer = Sealer(b"k" * 32)
    with pytest.raises(TokenError):
        sealer.open(mangle(sealer.seal(PAIR, ttl_s=60)))


def test_a_token_from_another_secret_is_refused():
    with pytest.raises(TokenError, match="not issued by this server"):
        Sealer(b"k" * 32).open(Sealer(b"x" * 32).seal(PAIR, ttl_s=60))


def test_swapping_a_and_b_cannot_be_forged_by_flipping_bits():
    """XOR malleability is what the MAC is for: flip the bytes where "stable" sits and it fails."""
    sealer = Sealer(b"k" * 32)
    raw = bytearray(_unb64(sealer.seal(PAIR, ttl_s=60)))
    raw[20] ^= 1
    with pytest.raises(TokenError):
        sealer.open(_b64(bytes(raw)))


def test_tokens_expire():
    clock = Clock()
    sealer = Sealer(b"k" * 32, clock=clock)
    token = sealer.seal(PAIR, ttl_s=60)
    clock.now += 61
    with pytest.raises(TokenError) as error:
        sealer.open(token)
    assert error.value.code == "token_expired"


# -- Wilson ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("k", "n", "low", "high"), [
    (8, 10, 0.4902, 0.9433),
    (0, 10, 0.0, 0.2775),
    (10, 10, 0.7225, 1.0),
    (50, 100, 0.4038, 0.5962),
    (1, 2, 0.0945, 0.9055),
])
def test_wilson_interval_on_known_values(k, n, low, high):
    lo, hi = wilson(k, n)
    assert lo == pytest.approx(low, abs=1e-4) and hi == pytest.approx(high, abs=1e-4)


def test_wilson_without_data_is_none():
    assert wilson(0, 0) is None


# -- votes -----------------------------------------------------------------------------------

def _store(tmp_path=None, clock=None) -> VoteStore:
    store = VoteStore(Sealer(b"k" * 32, clock=clock or Clock()), clock=clock or Clock())
    if tmp_path is not None:
        store.use_file(str(tmp_path / "votes.jsonl"))
    return store


def _pair(store: VoteStore, a="stable", b="canary") -> str:
    return store.sealer.seal(PAIR | {"a": a, "b": b}, ttl_s=60)


def test_a_vote_counts_for_the_revision_behind_the_letter():
    store = _store()
    store.vote(_pair(store, "canary", "stable"), "A", "ann")
    store.vote(_pair(store, "stable", "canary"), "tie", "bob")
    results = store.results()
    rows = {r["revision"]: r for r in results["revisions"]}
    assert (rows["canary"]["wins"], rows["canary"]["losses"], rows["canary"]["ties"]) == (1, 0, 1)
    assert (rows["stable"]["wins"], rows["stable"]["losses"], rows["stable"]["ties"]) == (0, 1, 1)
    assert rows["canary"]["winRate"] == 0.75 and rows["stable"]["winRate"] == 0.25  # a tie is half
    assert rows["canary"]["low"] < 0.75 < rows["canary"]["high"]
    assert results["votes"] == 2 and results["raters"] == 2
    assert {(p["revision"], p["against"]) for p in results["pairs"]} == {("canary", "stable"), ("stable", "canary")}


@pytest.mark.parametrize(("token", "choice", "rater", "status", "code"), [
    ("garbage", "A", None, 400, "invalid_token"),
    (None, "A", None, 400, "invalid_token"),
    ("GOOD", "C", None, 400, "invalid_choice"),
    ("GOOD", None, None, 400, "invalid_choice"),
    ("GOOD", "a", None, 400, "invalid_choice"),
    ("GOOD", "A", "x" * 65, 400, "invalid_rater"),
    ("GOOD", "A", 7, 400, "invalid_rater"),
])
def test_bad_votes_are_refused_and_not_counted(token, choice, rater, status, code):
    store = _store()
    with pytest.raises(VoteError) as error:
        store.vote(_pair(store) if token == "GOOD" else token, choice, rater)
    assert (error.value.status, error.value.code) == (status, code)
    assert store.results()["votes"] == 0


def test_a_pair_takes_one_vote():
    store = _store()
    token = _pair(store)
    store.vote(token, "B")
    with pytest.raises(VoteError) as error:
        store.vote(token, "A")
    assert (error.value.status, error.value.code) == (409, "already_voted")
    assert store.results()["votes"] == 1


def test_votes_are_appended_to_the_file_and_read_back(tmp_path):
    store = _store(tmp_path)
    store.vote(_pair(store), "A", "ann")
    store.vote(_pair(store), "B")
    lines = [json.loads(line) for line in (tmp_path / "votes.jsonl").read_text().splitlines()]
    assert [(r["winner"], r["choice"], r["rater"]) for r in lines] == [("stable", "A", "ann"), ("canary", "B", None)]
    assert lines[0]["answers"] == {"stable": "one", "canary": "two"} and lines[0]["question"] == PAIR["q"]
    (tmp_path / "votes.jsonl").open("a").write("not json\n")
    again = _store(tmp_path)  # a restarted replica
    assert again.results()["revisions"] == store.results()["revisions"]


# -- settings --------------------------------------------------------------------------------

def test_the_pair_defaults_to_the_first_and_last_revisions():
    assert HumanEvalSettings().pair_of(["r1", "r2", "r3"]) == ("r1", "r3")
    assert HumanEvalSettings().pair_of(["r1"]) is None
    assert HumanEvalSettings(revisions=["r3", "r2"]).pair_of(["r1", "r2", "r3"]) == ("r3", "r2")


def test_the_app_config_checks_the_human_eval_revisions():
    base = {"name": "m", "baseModel": "b", "revisions": [{"revision": "r1", "adapter": "/a", "weight": 100},
                                                         {"revision": "r2", "adapter": "/b"}]}
    cfg = validate_config(base | {"humanEval": {"revisions": ["r2", "r1"], "questions": ["Why?"]}})
    assert build_ingress_settings(cfg).human_eval.revisions == ["r2", "r1"]
    with pytest.raises(ServeConfigError, match="unknown revisions"):
        validate_config(base | {"humanEval": {"revisions": ["r1", "nope"]}})
    with pytest.raises(ServeConfigError, match="must differ"):
        validate_config(base | {"humanEval": {"revisions": ["r1", "r1"]}})
    assert "humanEval" not in validate_config(base).to_wire()  # unset: the fingerprint is unchanged


# -- routes on a fake Generator ----------------------------------------------------------------

class _Generate:
    def __init__(self, revision: str, calls: list) -> None:
        self.revision, self.calls = revision, calls

    async def remote(self, payload: dict) -> dict:
        self.calls.append((self.revision, payload))
        if self.revision == "broken":
            return {"error": "adapter broken could not be loaded", "status": 503}
        return {"text": f"answer of {self.revision}"}


class FakeIngress:
    def __init__(self, human: dict | None) -> None:
        settings = IngressSettings.model_validate({
            "revisions": [{"revision": r, "adapter": f"/a/{r}", "weight": w}
                          for r, w in (("stable", 90), ("canary", 10), ("broken", 0))],
            "humanEval": human,
        })
        self.live = SimpleNamespace(settings=settings, adapters={r.revision: r.adapter for r in settings.revisions},
                                    language=SimpleNamespace(strip=lambda text: SimpleNamespace(text=text)))
        self.calls: list = []

    def _handle(self, revision: str, *, stream: bool):
        return SimpleNamespace(generate=_Generate(revision, self.calls))


def _client(human: dict | None, seed: int = 0) -> tuple[TestClient, FakeIngress]:
    ingress = FakeIngress(human)
    api = FastAPI()
    api.include_router(human_eval.router(ingress, rng=random.Random(seed)))

    @api.exception_handler(ApiError)
    async def api_error(_, error: ApiError):
        return JSONResponse(error.body(), status_code=error.status)

    return TestClient(api), ingress


def test_a_pair_shows_both_revisions_answers_in_either_order_and_the_vote_lands():
    client, ingress = _client({"revisions": ["stable", "canary"], "questions": ["Why is the sky blue?"]})
    orders = set()
    for _ in range(12):
        pair = client.get("/v1/eval/pair").json()
        assert pair["question"] == "Why is the sky blue?"
        assert set(pair["answers"].values()) == {"answer of stable", "answer of canary"}
        orders.add(pair["answers"]["A"])
    assert orders == {"answer of stable", "answer of canary"}  # random order
    assert "stable" not in pair["token"]
    a_was = pair["answers"]["A"].removeprefix("answer of ")
    assert client.post("/v1/eval/vote", json={"token": pair["token"], "choice": "A"}).json()["recorded"]
    again = client.post("/v1/eval/vote", json={"token": pair["token"], "choice": "B"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_voted"
    rows = {r["revision"]: r for r in client.get("/v1/eval/results").json()["revisions"]}
    assert rows[a_was]["wins"] == 1 and sum(r["losses"] for r in rows.values()) == 1
    assert ingress.calls[0][1]["messages"] == [{"role": "user", "content": "Why is the sky blue?"}]


def test_route_refusals_are_clear():
    client, _ = _client({"revisions": ["stable", "canary"]})
    assert client.get("/v1/eval/pair").json()["error"]["code"] == "no_questions"
    assert client.get("/v1/eval/pair", params={"question": "  "}).json()["error"]["code"] == "invalid_question"
    assert client.get("/v1/eval/pair", params={"question": "Own?"}).json()["question"] == "Own?"
    bad = client.post("/v1/eval/vote", json={"token": "x", "choice": "A"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_token"
    assert client.post("/v1/eval/vote", content=b"{").json()["error"]["code"] == "invalid_json"
    assert client.post("/v1/eval/vote", json=["A"]).json()["error"]["code"] == "invalid_json"
    broken, _ = _client({"revisions": ["stable", "broken"], "questions": ["Q?"]})
    failed = broken.get("/v1/eval/pair")
    assert failed.status_code == 503 and failed.json()["error"]["code"] == "generation_failed"
    closed, _ = _client({"revisions": ["stable", "canary"], "typedQuestions": False})
    assert closed.get("/v1/eval/pair", params={"question": "Own?"}).status_code == 403


def test_questions_come_from_the_file_too(tmp_path):
    path = tmp_path / "questions.jsonl"
    path.write_text(json.dumps({"question": "From the file?"}) + "\n")
    client, _ = _client({"revisions": ["stable", "canary"], "questionsFile": str(path)})
    assert client.get("/v1/eval/pair").json()["question"] == "From the file?"


def test_the_page_is_self_contained():
    client, _ = _client(None)
    page = client.get("/eval")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "http://" not in page.text and "https://" not in page.text  # no external assets
    assert "innerHTML" not in page.text
