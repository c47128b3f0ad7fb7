"""The human evaluation routes of the Ingress: the page and its three API calls.

  GET  /eval              the rater's page (static HTML, no data; open, like /healthz)
  GET  /v1/eval/pair      a question and two anonymised answers, "A" and "B" in random order,
                          with a sealed token saying which revision wrote which (``?question=``:
                          the rater's own question)
  POST /v1/eval/vote      {token, choice: "A" | "B" | "tie", rater?}
  GET  /v1/eval/results   per-revision wins, losses, ties, win rate and its Wilson interval

The API calls need the same bearer token as the chat routes. Answers come from the Generator
the way chat answers do (the revision as the multiplexed model id, the app's generation
defaults, the filter applied), but are not counted in the live stats: they are not user traffic.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from typing import Protocol

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from molting_workloads.contract.human_eval import MAX_QUESTION_CHARS, HumanEvalSettings
from molting_workloads.contract.questions import questions_in
from molting_workloads.serving.eval_page import PAGE
from molting_workloads.serving.eval_token import Sealer
from molting_workloads.serving.eval_votes import VoteError, VoteStore
from molting_workloads.serving.openai_types import ApiError, json_object

logger = logging.getLogger(__name__)

PAGE_PATH = "/eval"
MAX_VOTE_BYTES = 256 * 1024


class _Serving(Protocol):
    """What the routes need of the Ingress replica."""

    live: object

    def _handle(self, revision: str, *, stream: bool): ...


class _Questions:
    """The configured questions, the file's re-read only when its path or mtime changes."""

    def __init__(self) -> None:
        self._key: tuple | None = None
        self._from_file: list[str] = []

    def of(self, settings: HumanEvalSettings) -> list[str]:
        path = settings.questions_file
        if path:
            try:
                key = (path, os.stat(path).st_mtime_ns)
            except OSError:
                key = (path, None)
            if key != self._key:
                self._from_file = [q for q in questions_in(path) if len(q) <= MAX_QUESTION_CHARS]
                self._key = key
        return list(settings.questions) + (self._from_file if path else [])


def router(ingress: _Serving, *, rng: random.Random | None = None, sealer: Sealer | None = None) -> APIRouter:
    """The routes of one replica; votes and the token secret live with it."""
    rng = rng or random.SystemRandom()
    store = VoteStore(sealer or Sealer())
    questions = _Questions()
    api = APIRouter()

    def settings_of(live) -> HumanEvalSettings:
        settings = live.settings.human_eval or HumanEvalSettings()
        store.use_file(settings.votes_file)
        return settings

    async def answer(live, revision: str, question: str, max_new_tokens: int | None) -> str:
        generation = live.settings.generation
        payload = {
            "messages": [{"role": "user", "content": question}],
            "adapter": live.adapters[revision],
            "max_new_tokens": max_new_tokens or generation.max_new_tokens,
            "temperature": generation.temperature,
            "top_p": generation.top_p,
            "seed": None,
        }
        try:
            result = await ingress._handle(revision, stream=False).generate.remote(payload)
        except Exception as error:
            logger.exception("human eval: generation failed for %s", revision)
            raise ApiError(503, f"generation failed for one of the answers: {type(error).__name__}",
                           code="generation_failed") from error
        if "error" in result:
            raise ApiError(503, f"one of the answers could not be generated: {result['error']}",
                           code="generation_failed")
        text = result["text"]
        if live.settings.filter.enabled:
            text = live.language.strip(text).text
        return text

    @api.get(PAGE_PATH, response_class=HTMLResponse)
    async def page() -> HTMLResponse:
        return HTMLResponse(PAGE, headers={"cache-control": "no-store",
                                           "content-security-policy": "default-src 'self'; "
                                           "script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:"})

    @api.get("/v1/eval/pair")
    async def pair(question: str | None = None) -> dict:
        live = ingress.live
        settings = settings_of(live)
        revisions = settings.pair_of(list(live.adapters))
        if revisions is None or any(r not in live.adapters for r in revisions):
            raise ApiError(409, "the human evaluation needs two configured revisions", code="no_pair")
        if question is not None:
            question = question.strip()
            if not settings.typed_questions:
                raise ApiError(403, "this app shows only its own questions", param="question", code="typed_questions_off")
            limit = min(MAX_QUESTION_CHARS, live.settings.max_prompt_chars)
            if not question or len(question) > limit:
                raise ApiError(400, f"the question must have 1 to {limit} characters", param="question",
                               code="invalid_question")
        else:
            pool = questions.of(settings)
            if not pool:
                raise ApiError(404, "no questions are configured: type one", code="no_questions")
            question = rng.choice(pool)
        first, second = await asyncio.gather(
            *(answer(live, r, question, settings.max_new_tokens) for r in revisions)
        )
        a, b = (revisions, (first, second)) if rng.random() < 0.5 else ((revisions[1], revisions[0]), (second, first))
        token = store.sealer.seal({"q": question, "a": a[0], "b": a[1], "answers": list(b)}, settings.token_ttl_s)
        return {"question": question, "answers": {"A": b[0], "B": b[1]}, "token": token,
                "expiresInS": settings.token_ttl_s}

    @api.post("/v1/eval/vote")
    async def vote(request: Request) -> dict:
        settings_of(ingress.live)
        raw = await request.body()
        if len(raw) > MAX_VOTE_BYTES:
            raise ApiError(413, f"the body is {len(raw)} bytes; the limit is {MAX_VOTE_BYTES}", code="body_too_large")
        body = json_object(raw, "{token, choice, rater?}")
        try:
            store.vote(body.get("token"), body.get("choice"), body.get("rater"))
        except VoteError as error:
            raise ApiError(error.status, str(error), code=error.code) from error
        return {"recorded": True, "votes": store.votes}

    @api.get("/v1/eval/results")
    async def results() -> dict:
        settings_of(ingress.live)
        return store.results()

    return api
