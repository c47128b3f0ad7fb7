"""The Generator deployment: the base model once per replica, LoRA adapters multiplexed by
revision (LRU, ``max_adapters_per_replica``), and every request (plain or streamed) queued into
the replica's batch engine (engine.py), where one batch mixes revisions.

The ingress calls ``generate`` / ``stream`` through a handle with ``multiplexed_model_id`` set
to the revision (Serve routes a revision to replicas that hold its adapter), and passes the
adapter path with each request, so a revision can be served the moment the ingress knows it,
whatever order Serve reconfigures the two deployments in. Failures come back as values
(``{"error", "status"}``, plus ``code`` and ``retry_after`` when overloaded) rather than
exceptions, so they cross Ray intact.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from ray import serve

from molting_workloads import model_loading
from molting_workloads.contract.errors import ModelLoadError
from molting_workloads.contract.serve_config import GENERATOR, AppArgs, GeneratorSettings
from molting_workloads.serving.engine import AdapterUnavailable, Engine, Limits, Overloaded
from molting_workloads.serving.rows import Row, tune_for_cuda

logger = logging.getLogger(__name__)

# After a failed load, a revision answers 503 at once for this long before loading is retried.
RETRY_FAILED_LOAD_S = 10.0
_END = object()


class _LoadedAdapter:
    """The multiplexed "model": one adapter inside the shared PeftModel. Evicting it (Serve
    calls ``__del__`` on LRU eviction) deletes the adapter's weights once no row uses them."""

    def __init__(self, engine: Engine, revision: str) -> None:
        self.engine, self.revision = engine, revision
        self._released = False

    def __del__(self) -> None:
        # Serve calls this on eviction, and Python again at collection: release once.
        if self._released:
            return
        self._released = True
        self.engine.evict(self.revision)


@serve.deployment(name=GENERATOR, ray_actor_options={"num_cpus": 1})
class Generator:
    def __init__(self, args: dict) -> None:
        spec = AppArgs.model_validate(args)
        model, tokenizer = model_loading.load_base(
            spec.base_model,
            spec.base_model_revision,
            quantize_4bit=spec.quantize_4bit,
            device=spec.device,
        )
        if model.device.type == "cuda":
            tune_for_cuda(model)
        self.engine = Engine(model, tokenizer)
        self._paths: dict[str, str] = {}
        self._failed: dict[str, tuple[float, str]] = {}
        self._prewarm_task: asyncio.Task | None = None

        async def load(revision: str) -> _LoadedAdapter:
            return await self._load_adapter(revision)

        # Wired at init so the cache size comes from the config (Serve supports this form).
        self._get_adapter = serve.multiplexed(
            max_num_models_per_replica=spec.max_adapters_per_replica
        )(load)

    async def reconfigure(self, config: dict) -> None:
        settings = GeneratorSettings.model_validate(config or {})
        self.engine.limits = Limits(
            max_batch_size=settings.max_batch_size,
            batch_wait_timeout_s=settings.batch_wait_timeout_s,
            max_queued=settings.max_queued_requests,
        )
        for entry in settings.prewarm:
            self._paths[entry.revision] = entry.adapter
        if settings.prewarm:
            names = [e.revision for e in settings.prewarm]
            self._prewarm_task = asyncio.get_running_loop().create_task(self._prewarm(names))

    # -- requests ----------------------------------------------------------------------------

    async def generate(self, request: dict) -> dict:
        """``{"text"}``, or ``{"error", "status"}``: 503 when the adapter is unavailable or the
        queue is full (then with ``code: overloaded`` and ``retry_after`` seconds)."""
        revision = serve.get_multiplexed_model_id()
        row = _row(request, revision)
        try:
            async with self._admitted(row):
                return {"text": await self.engine.submit(row)}
        except (AdapterUnavailable, Overloaded) as error:
            return _unavailable(error)
        except Exception as error:  # the batch failed: this request gets a 500
            return {"error": f"{type(error).__name__}: {error}", "status": 500}

    async def stream(self, request: dict) -> AsyncIterator[dict]:
        """``{"ready"}`` once the request is queued, then ``{"delta"}`` items; or one
        ``{"error", "status"}`` item. Closing the stream (the client went away) stops its row."""
        revision = serve.get_multiplexed_model_id()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        row = _row(request, revision, on_delta=lambda d: loop.call_soon_threadsafe(queue.put_nowait, {"delta": d}))
        try:
            admitted = self._admitted(row)
            await admitted.__aenter__()
        except (AdapterUnavailable, Overloaded) as error:
            yield _unavailable(error)
            return
        task = loop.create_task(self.engine.submit(row))
        task.add_done_callback(lambda _: queue.put_nowait(_END))
        try:
            yield {"ready": True}
            while (item := await queue.get()) is not _END:
                yield item
            if not task.cancelled() and task.exception() is not None:
                error = task.exception()
                logger.error("streaming generation failed for revision %s: %s", revision, error)
                yield {"error": f"{type(error).__name__}: {error}", "status": 500}
        finally:
            if not task.done():
                self.engine.cancel(row)
                task.cancel()
            await admitted.__aexit__(None, None, None)

    @asynccontextmanager
    async def _admitted(self, row: Row) -> AsyncIterator[None]:
        """Refuse at once when overloaded; otherwise pin the revision (no eviction until the
        answer is out) and make sure its adapter is loaded."""
        self.engine.admit()
        self.engine.pin(row.revision)
        try:
            await self._ensure_adapter(row.revision, row.adapter)
            yield
        finally:
            self.engine.unpin(row.revision)

    # -- adapters ----------------------------------------------------------------------------

    async def _ensure_adapter(self, revision: str, path: str) -> None:
        if not revision:
            raise AdapterUnavailable("no revision given (multiplexed_model_id is empty)")
        failed = self._failed.get(revision)
        if failed and time.monotonic() - failed[0] < RETRY_FAILED_LOAD_S and self._paths.get(revision) == path:
            raise AdapterUnavailable(failed[1])
        self._paths[revision] = path
        try:
            await self._get_adapter(revision)
        except ModelLoadError as error:
            reason = f"revision {revision!r} is unavailable: {error}"
            self._failed[revision] = (time.monotonic(), reason)
            raise AdapterUnavailable(reason) from error
        self._failed.pop(revision, None)

    async def _load_adapter(self, revision: str) -> _LoadedAdapter:
        path = self._paths[revision]
        started = time.perf_counter()
        await asyncio.to_thread(self.engine.load, revision, path)
        logger.info("loaded adapter %s from %s in %.0f ms", revision, path, (time.perf_counter() - started) * 1e3)
        return _LoadedAdapter(self.engine, revision)

    async def _prewarm(self, revisions: list[str]) -> None:
        for revision in revisions:
            try:
                await self._ensure_adapter(revision, self._paths[revision])
            except AdapterUnavailable as error:
                logger.warning("prewarm: %s", error)

    # -- for benchmarks and tests ------------------------------------------------------------

    def loaded_adapters(self) -> list[str]:
        return self.engine.loaded()

    def engine_stats(self) -> dict:
        """Queue depth, rows running and the engine's counters (batches, rows, mixed_batches,
        cancelled, overloaded)."""
        return {"queued": self.engine.queued(), "running": self.engine.running,
                "loaded": self.engine.loaded(), **self.engine.counts}


def _row(request: dict, revision: str, on_delta=None) -> Row:
    return Row(
        messages=request["messages"],
        revision=revision,
        adapter=request["adapter"],
        max_new_tokens=int(request["max_new_tokens"]),
        temperature=float(request["temperature"]),
        top_p=float(request["top_p"]),
        seed=request.get("seed"),
        on_delta=on_delta,
    )


def _unavailable(error: Exception) -> dict:
    if isinstance(error, Overloaded):
        return {"error": str(error), "status": 503, "code": "overloaded", "retry_after": error.retry_after_s}
    return {"error": str(error), "status": 503}
