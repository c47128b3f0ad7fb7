"""The Ingress deployment: OpenAI-compatible HTTP routes, bearer-token auth, the sticky traffic
split, the filter (in process: no extra hop), response labels and the live counters.

Routes: POST /v1/chat/completions (JSON or SSE), POST /v1/feedback, GET /v1/models, /healthz,
/stats, /metrics, and the human evaluation's (serving.human_eval). Everything but /healthz and
the static /eval page needs the token when auth is on. Every answer carries a signed completion
id (body and ``x-molting-completion-id``) that names its revision, so a rating counts under the
revision that answered; with capture on, answered conversations and ratings go to the capture
writer's queue, never waited on. The filter runs on a revision's answers as its entry's
``filter`` says, else as ``filter.enabled`` does. ``reconfigure`` swaps the split, the filter and
the limits in one assignment, so a request sees either the old or the new settings.
"""

from __future__ import annotations

import hmac
import logging
import os
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from ray import serve
from ray.serve.exceptions import BackPressureError
from ray.serve.handle import DeploymentHandle
from starlette.exceptions import HTTPException as StarletteHTTPException

from molting_workloads.contract.capture import ConversationRecord, Message, RatingRecord
from molting_workloads.contract.serve_admin import API_KEY_ENV
from molting_workloads.contract.serve_config import INGRESS, AppArgs, IngressSettings
from molting_workloads.language import MetaLanguage, StreamFilter
from molting_workloads.serving import human_eval, openai_types, streaming
from molting_workloads.serving.capture import CaptureWriter, sampled
from molting_workloads.serving.completion_ids import CompletionIds, ExpiredId, UnknownId, key_from
from molting_workloads.serving.feedback import RatedIds, parse_feedback
from molting_workloads.serving.openai_types import ApiError, ChatCompletionRequest
from molting_workloads.serving.routing import Split
from molting_workloads.serving.stats import Kind, LiveStats, Outcome

logger = logging.getLogger(__name__)

FILTERED_HEADER = "x-molting-filtered"
COMPLETION_ID_HEADER = "x-molting-completion-id"
OPEN_PATHS = ("/healthz", human_eval.PAGE_PATH)  # the eval page is static; its API needs the token


def read_api_key(path: str | None) -> str | None:
    """The bearer token: the mounted secret file when configured, else ``MOLTING_API_KEY``.

    A configured file that is missing or empty stops the replica: never serve open by mistake.
    """
    if path:
        key = Path(path).read_text(encoding="utf-8").strip()
        if not key:
            raise ValueError(f"apiKeyFile {path!r} is empty")
        return key
    return os.environ.get(API_KEY_ENV) or None


@dataclass(frozen=True)
class _Live:
    """The settings one request runs with (replaced whole by ``reconfigure``)."""

    settings: IngressSettings
    split: Split
    adapters: dict[str, str]  # revision -> adapter path, every configured revision
    weights: dict[str, int]
    language: MetaLanguage
    fingerprint: str | None  # the config's serve_config.settings_hash, as ``settings`` carry it
    filtered: dict[str, bool]  # revision -> whether the filter runs on its answers

    def filters(self, revision: str) -> bool:
        return self.filtered.get(revision, self.settings.filter.enabled)

    @classmethod
    def build(cls, settings: IngressSettings) -> _Live:
        weights = {r.revision: r.weight for r in settings.revisions}
        return cls(
            settings=settings,
            split=Split.of(list(weights.items())),
            adapters={r.revision: r.adapter for r in settings.revisions},
            weights=weights,
            language=MetaLanguage(extra_patterns=tuple(settings.filter.extra_patterns),
                                  threshold=settings.filter.meta_threshold,
                                  builtin=settings.filter.builtin_detector,
                                  field="filter"),
            fingerprint=settings.settings_hash,
            filtered={r.revision: r.filter for r in settings.revisions if r.filter is not None},
        )


@serve.deployment(name=INGRESS, ray_actor_options={"num_cpus": 0}, max_ongoing_requests=128)
@serve.ingress()
class Ingress:
    def __init__(self, generator: DeploymentHandle, args: dict) -> None:
        spec = AppArgs.model_validate(args)
        self.name = spec.name
        self._generator = generator
        self._api_key_file = spec.api_key_file
        self._api_key = read_api_key(spec.api_key_file)
        self.stats = LiveStats(spec.name)
        self.live = _Live.build(IngressSettings())
        self._rng = random.Random()
        self._handles: dict[tuple[str, bool], DeploymentHandle] = {}
        self._ids = CompletionIds(key_from(self._api_key))
        self._rated = RatedIds(self._ids.window_s)
        self._capture: CaptureWriter | None = None

    def reconfigure(self, config: dict) -> None:
        live = _Live.build(IngressSettings.model_validate(config or {}))
        api_key = read_api_key(self._api_key_file)
        if api_key != self._api_key:  # ids signed with the old key stop being accepted
            self._ids = CompletionIds(key_from(api_key))
        self._api_key = api_key
        self._swap_capture(live.settings)
        self.live = live
        self.stats.set_weights(live.weights)
        logger.info("reconfigured: weights %s, filter %s", live.weights, live.settings.filter.enabled)

    def _swap_capture(self, settings: IngressSettings) -> None:
        wanted = settings.capture
        current = self._capture
        if current is not None and current.settings == wanted:
            return
        self._capture = CaptureWriter(wanted, on_result=self.stats.record_capture) if wanted.enabled else None
        if current is not None:
            current.close(timeout_s=1.0)  # what it still holds goes to the old folder

    def _capture_answer(self, cid: str, revision: str, kind: Kind, messages: list[dict],
                        raw: str, text: str, *, filtered: bool, stream: bool) -> None:
        writer = self._capture
        if writer is None or not sampled(cid, writer.settings.sample_rate):
            return
        writer.offer(ConversationRecord(
            id=cid, time=time.time(), model=self.name, revision=revision, kind=kind,
            messages=[Message(role=m["role"], content=m["content"]) for m in messages],
            raw_answer=raw, answer=text, filtered=filtered, stream=stream,
        ))

    def __serve_build_asgi_app__(self) -> FastAPI:
        return build_api(self)

    # -- auth ----------------------------------------------------------------------------------

    def is_authorized(self, header: str | None) -> bool:
        if self._api_key is None:
            return True
        scheme, _, token = (header or "").partition(" ")
        # Bytes: compare_digest refuses non-ASCII str, and a header may carry anything.
        return scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode(), self._api_key.encode()
        )

    # -- feedback ------------------------------------------------------------------------------

    async def feedback(self, request: Request) -> dict:
        """Count one rating under the revision its id names; 400, 404 or 409 otherwise."""
        body = await request.body()
        if len(body) > 65536:
            raise ApiError(413, f"the body is {len(body)} bytes; the limit is 65536", code="body_too_large")
        rating = parse_feedback(body)
        try:
            issued = self._ids.parse(rating.id)
        except UnknownId as error:
            raise ApiError(404, str(error), param="id", code="completion_not_found") from None
        except ExpiredId as error:
            raise ApiError(404, str(error), param="id", code="completion_expired") from None
        now = time.time()
        if not self._rated.add(issued.id, now):
            raise ApiError(409, f"completion {issued.id!r} has already been rated", param="id",
                           code="already_rated")
        self.stats.record_rating(issued.revision, rating.score, rating.thumb)
        writer = self._capture
        if writer is not None and sampled(issued.id, writer.settings.sample_rate):
            writer.offer(RatingRecord(id=issued.id, time=now, revision=issued.revision,
                                      rating=rating.score, thumb=rating.thumb, comment=rating.comment))
        return {"object": "feedback", "id": issued.id, "revision": issued.revision,
                "rating": rating.rating, "accepted": True}

    # -- chat completions -------------------------------------------------------------------

    async def chat(self, request: Request) -> Response:
        started = time.perf_counter()
        live = self.live
        chat, body_s = await self._parse(request, live.settings)
        revision, kind = self._choose(request, live)
        payload = {
            "messages": chat.conversation(),
            "adapter": live.adapters[revision],
            "max_new_tokens": chat.requested_tokens() or live.settings.generation.max_new_tokens,
            "temperature": chat.temperature if chat.temperature is not None else live.settings.generation.temperature,
            "top_p": chat.top_p if chat.top_p is not None else live.settings.generation.top_p,
            "seed": chat.seed,
        }
        cid = self._ids.issue(revision)
        labels = {live.settings.revision_header: revision, COMPLETION_ID_HEADER: cid}
        molting = {"revision": revision, "probe": kind == "probe"}
        if chat.stream:
            return await self._stream(payload, revision, kind, live, labels, molting, started, cid)
        handle = self._handle(revision, stream=False)
        generation_started = time.perf_counter()
        try:
            result = await handle.generate.remote(payload)
        except BackPressureError as error:  # Serve's own queue bound in front of the Generator
            result = _overloaded(error)
        except Exception as error:  # a replica died or Serve refused: the client gets a 5xx
            logger.exception("generator call failed for revision %s", revision)
            self.stats.record(revision, kind, Outcome(ok=False, latency_s=time.perf_counter() - started))
            raise ApiError(500, f"generation failed: {type(error).__name__}", code="generation_failed") from error
        if "error" in result:
            self._record_failure(revision, kind, result, started)
            raise _generator_error(result, revision)
        generation_s = time.perf_counter() - generation_started
        raw = result["text"]
        text, removed, fallback = _apply_filter(live, raw, revision)
        self.stats.record(
            revision, kind,
            Outcome(ok=True, latency_s=time.perf_counter() - started, raw_meta=live.language.contains(raw),
                    removed=len(removed), length=len(text)),
        )
        molting |= {"filtered": bool(removed), "removed": len(removed), "fallback": fallback}
        response = JSONResponse(
            openai_types.completion_body(self.name, text, molting, cid=cid),
            headers=labels | {FILTERED_HEADER: "true" if removed else "false"},
        )
        self._capture_answer(cid, revision, kind, payload["messages"], raw, text,
                             filtered=bool(removed), stream=False)
        self.stats.record_own_time(time.perf_counter() - started - generation_s - body_s)
        return response

    async def _parse(self, request: Request, settings: IngressSettings) -> tuple[ChatCompletionRequest, float]:
        """The request and the seconds spent waiting for its body (Serve pulls it from the proxy)."""
        limit = settings.max_prompt_chars * 6 + 65536  # JSON escapes take up to 6 bytes a char
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise ApiError(413, f"the body is {declared} bytes; the limit is {limit}", code="body_too_large")
        waiting = time.perf_counter()
        raw = await request.body()
        body_s = time.perf_counter() - waiting
        if len(raw) > limit:
            raise ApiError(413, f"the body is {len(raw)} bytes; the limit is {limit}", code="body_too_large")
        chat = openai_types.parse_chat_request(raw)
        if chat.prompt_chars() > settings.max_prompt_chars:
            raise ApiError(
                400,
                f"the prompt has {chat.prompt_chars()} characters; the limit is {settings.max_prompt_chars}",
                param="messages", code="prompt_too_long",
            )
        tokens = chat.requested_tokens()
        if tokens is not None and not 1 <= tokens <= settings.max_tokens_limit:
            param = "max_tokens" if chat.max_tokens is not None else "max_completion_tokens"
            raise ApiError(
                400, f"{param} must be between 1 and {settings.max_tokens_limit}, got {tokens}",
                param=param, code="invalid_value",
            )
        return chat, body_s

    def _choose(self, request: Request, live: _Live) -> tuple[str, Kind]:
        settings = live.settings
        kind: Kind = "probe" if request.headers.get(settings.probe_label_header) else "user"
        pinned = request.headers.get(settings.revision_header)
        if pinned is not None:
            if pinned not in live.adapters:
                known = ", ".join(live.adapters) or "none"
                raise ApiError(
                    404, f"unknown revision {pinned!r} in {settings.revision_header} (known: {known})",
                    param=settings.revision_header, code="revision_not_found",
                )
            return pinned, kind
        revision = live.split.pick(request.headers.get(settings.sticky_header), self._rng)
        if revision is None:
            self.stats.record_unrouted()
            raise ApiError(503, "no revision is serving traffic yet", code="no_revision")
        return revision, kind

    async def _stream(
        self, payload: dict, revision: str, kind: Kind, live: _Live,
        labels: dict, molting: dict, started: float, cid: str,
    ) -> Response:
        handle = self._handle(revision, stream=True)
        items = handle.stream.remote(payload)
        try:
            first = await items.__anext__()
        except BackPressureError as error:
            first = _overloaded(error)
        except Exception as error:
            logger.exception("generator stream failed for revision %s", revision)
            self.stats.record(revision, kind, Outcome(ok=False, latency_s=time.perf_counter() - started))
            raise ApiError(500, f"generation failed: {type(error).__name__}", code="generation_failed") from error
        if "error" in first:
            self._record_failure(revision, kind, first, started)
            raise _generator_error(first, revision)

        async def deltas() -> AsyncIterator[str]:
            async for item in items:
                if "error" in item:
                    raise streaming.GenerationFailed(item["error"])
                yield item["delta"]

        outcome = streaming.StreamOutcome()
        make_filter = (lambda: StreamFilter(live.language)) if live.filters(revision) else None
        events = streaming.filtered_sse(
            deltas(), cid=cid, model=self.name,
            molting=molting, make_filter=make_filter, outcome=outcome,
        )

        async def body() -> AsyncIterator[bytes]:
            try:
                async for event in events:
                    yield event
            finally:
                if not outcome.completed and outcome.error is None:
                    items.cancel()  # the client went away
                elif outcome.error is not None or outcome.completed:
                    self.stats.record(
                        revision, kind,
                        Outcome(ok=outcome.error is None, latency_s=time.perf_counter() - started,
                                raw_meta=live.language.contains(outcome.raw),
                                removed=len(outcome.removed), length=len(outcome.sent)),
                    )
                    if outcome.completed:
                        self._capture_answer(cid, revision, kind, payload["messages"], outcome.raw,
                                             outcome.sent, filtered=bool(outcome.removed), stream=True)

        return StreamingResponse(
            body(), media_type="text/event-stream", headers=labels | {"cache-control": "no-cache"}
        )

    def _handle(self, revision: str, *, stream: bool) -> DeploymentHandle:
        key = (revision, stream)
        if key not in self._handles:
            self._handles[key] = self._generator.options(multiplexed_model_id=revision, stream=stream)
        return self._handles[key]

    def _record_failure(self, revision: str, kind: Kind, result: dict, started: float) -> None:
        if result.get("code") == "overloaded":  # the server's load, not the revision's fault
            self.stats.record_overloaded()
            return
        self.stats.record(
            revision, kind,
            Outcome(ok=False, latency_s=time.perf_counter() - started, unavailable=result.get("status") == 503),
        )


def _apply_filter(live: _Live, raw: str, revision: str) -> tuple[str, list[str], bool]:
    if not live.filters(revision):
        return raw, [], False
    result = live.language.strip(raw)
    return result.text, list(result.removed), bool(result.fallback)


def _overloaded(error: Exception) -> dict:
    return {"error": f"the generator is overloaded: {error}", "status": 503, "code": "overloaded", "retry_after": 1}


def _generator_error(result: dict, revision: str) -> ApiError:
    status = int(result.get("status", 500))
    if result.get("code") == "overloaded":
        return ApiError(503, str(result["error"]), code="overloaded",
                        headers={"retry-after": str(int(result.get("retry_after", 1)))})
    code = "revision_unavailable" if status == 503 else "generation_failed"
    return ApiError(status, str(result["error"]), param=None, code=code)


def _relative_path(scope: dict) -> str:
    path, root = scope.get("path", ""), scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root):] or "/"
    return path


class _TokenGate:
    """Pure ASGI middleware (cheaper than ``BaseHTTPMiddleware``): 401 without the token."""

    def __init__(self, app, ingress: Ingress) -> None:
        self.app, self.ingress = app, ingress

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or _relative_path(scope) in OPEN_PATHS:
            return await self.app(scope, receive, send)
        header = dict(scope.get("headers") or ()).get(b"authorization", b"").decode("latin-1")
        if self.ingress.is_authorized(header):
            return await self.app(scope, receive, send)
        error = ApiError(401, "missing or wrong bearer token", code="invalid_api_key", type="authentication_error")
        response = JSONResponse(error.body(), status_code=401, headers={"www-authenticate": "Bearer"})
        await response(scope, receive, send)


def build_api(ingress: Ingress) -> FastAPI:
    """The FastAPI app of one ingress replica; routes close over the replica."""
    api = FastAPI(title=f"molting: {ingress.name}", docs_url=None, redoc_url=None, openapi_url=None)

    api.add_middleware(_TokenGate, ingress=ingress)
    api.include_router(human_eval.router(ingress))  # /eval and /v1/eval/*

    @api.exception_handler(ApiError)
    async def api_error(_: Request, error: ApiError) -> JSONResponse:
        return JSONResponse(error.body(), status_code=error.status, headers=error.headers)

    @api.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        body = ApiError(error.status_code, str(error.detail), code="not_found" if error.status_code == 404 else None)
        return JSONResponse(body.body(), status_code=error.status_code)

    @api.exception_handler(RequestValidationError)
    async def validation_error(_: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse(ApiError(400, str(error.errors()[:3])).body(), status_code=400)

    @api.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Response:
        return await ingress.chat(request)

    @api.post("/v1/feedback")
    async def feedback(request: Request) -> dict:
        return await ingress.feedback(request)

    @api.get("/v1/models")
    async def models() -> dict:
        live = ingress.live
        return {
            "object": "list",
            "data": [
                {
                    "id": ingress.name, "object": "model", "created": int(ingress.stats.started_at),
                    "owned_by": "molting", "molting": {"revisions": live.weights},
                }
            ],
        }

    @api.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok", "app": ingress.name, "revisions": len(ingress.live.adapters)}

    @api.get("/stats")
    async def stats() -> dict:
        live = ingress.live
        return ingress.stats.snapshot(live.weights, live.adapters, live.fingerprint).to_wire()

    @api.get("/metrics")
    async def metrics() -> Response:
        return Response(ingress.stats.prometheus_text(), media_type="text/plain; version=0.0.4")

    return api
