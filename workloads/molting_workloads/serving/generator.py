"""The Generator deployment: the base model once per replica, LoRA adapters multiplexed by
revision (LRU, ``max_adapters_per_replica``), requests batched per adapter with ``@serve.batch``.

The ingress calls ``generate`` / ``stream`` through a handle with ``multiplexed_model_id`` set
to the revision, and passes the adapter path with each request, so a revision can be served the
moment the ingress knows it, whatever order Serve reconfigures the two deployments in. Failures
come back as values (``{"error", "status"}``) rather than exceptions, so they cross Ray intact.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

from ray import serve

from molting_workloads import model_loading
from molting_workloads.contract.errors import ModelLoadError
from molting_workloads.contract.serve_config import GENERATOR, AppArgs, GeneratorSettings

logger = logging.getLogger(__name__)

# After a failed load, a revision answers 503 at once for this long before loading is retried.
RETRY_FAILED_LOAD_S = 10.0
_END = object()


class AdapterUnavailable(Exception):
    """The adapter of a revision could not be loaded."""


class _LoadedAdapter:
    """The multiplexed "model": one adapter inside the shared PeftModel. Evicting it (Serve
    calls ``__del__`` on LRU eviction) deletes the adapter's weights from the model."""

    def __init__(self, owner: Generator, revision: str) -> None:
        self.owner, self.revision = owner, revision
        self._released = False

    def __del__(self) -> None:
        # Serve calls this on eviction, and Python again at collection: release once.
        if self._released:
            return
        self._released = True
        self.owner._drop_adapter(self.revision)


@serve.deployment(name=GENERATOR, ray_actor_options={"num_cpus": 1})
class Generator:
    def __init__(self, args: dict) -> None:
        spec = AppArgs.model_validate(args)
        self._model, self._tokenizer = model_loading.load_base(
            spec.base_model,
            spec.base_model_revision,
            quantize_4bit=spec.quantize_4bit,
            device=spec.device,
        )
        # Adapter loads and deletes change the shared model: never during a generation.
        self._lock = threading.RLock()
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
        self._generate_batch.set_max_batch_size(settings.max_batch_size)
        self._generate_batch.set_batch_wait_timeout_s(settings.batch_wait_timeout_s)
        for entry in settings.prewarm:
            self._paths[entry.revision] = entry.adapter
        if settings.prewarm:
            names = [e.revision for e in settings.prewarm]
            self._prewarm_task = asyncio.get_running_loop().create_task(self._prewarm(names))

    # -- requests ----------------------------------------------------------------------------

    async def generate(self, request: dict) -> dict:
        """``{"text"}``, or ``{"error", "status"}``: 503 when the adapter is unavailable."""
        revision = serve.get_multiplexed_model_id()
        try:
            await self._ensure_adapter(revision, request["adapter"])
        except AdapterUnavailable as error:
            return {"error": str(error), "status": 503}
        return await self._generate_batch(request)

    async def stream(self, request: dict) -> AsyncIterator[dict]:
        """``{"ready"}`` once the adapter is loaded, then ``{"delta"}`` items; or one
        ``{"error", "status"}`` item."""
        revision = serve.get_multiplexed_model_id()
        try:
            await self._ensure_adapter(revision, request["adapter"])
        except AdapterUnavailable as error:
            yield {"error": str(error), "status": 503}
            return
        yield {"ready": True}
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        cancelled = threading.Event()

        def put(item: Any) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        def run() -> None:
            try:
                with self._lock:
                    self._reload_if_evicted(revision)
                    deltas = model_loading.generate_stream(
                        self._model, self._tokenizer, request["messages"],
                        adapter=revision, **_sampling(request),
                    )
                    try:
                        for delta in deltas:
                            if cancelled.is_set():
                                break
                            put({"delta": delta})
                    finally:
                        deltas.close()
            except Exception as error:  # reported to the client as a stream error
                logger.exception("streaming generation failed for revision %s", revision)
                put({"error": f"{type(error).__name__}: {error}", "status": 500})
            finally:
                put(_END)

        worker = loop.run_in_executor(None, run)
        try:
            while (item := await queue.get()) is not _END:
                yield item
        finally:
            cancelled.set()
            await worker

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.005)
    async def _generate_batch(self, requests: list[dict]) -> list[dict]:
        # Serve splits batches by multiplexed model id: one adapter per batch.
        revision = serve.get_multiplexed_model_id()
        return await asyncio.to_thread(self._generate_sync, revision, requests)

    def _generate_sync(self, revision: str, requests: list[dict]) -> list[dict]:
        results: list[dict] = [{}] * len(requests)
        groups: dict[tuple, list[int]] = {}
        for i, request in enumerate(requests):
            groups.setdefault(tuple(sorted(_sampling(request).items())), []).append(i)
        for key, indexes in groups.items():
            try:
                with self._lock:
                    self._reload_if_evicted(revision)
                    texts = model_loading.generate(
                        self._model, self._tokenizer,
                        [requests[i]["messages"] for i in indexes],
                        adapter=revision, **dict(key),
                    )
                for i, text in zip(indexes, texts, strict=True):
                    results[i] = {"text": text}
            except Exception as error:  # each request of the group gets a 500
                logger.exception("generation failed for revision %s", revision)
                for i in indexes:
                    results[i] = {"error": f"{type(error).__name__}: {error}", "status": 500}
        return results

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
        await asyncio.to_thread(self._add_adapter, revision, path)
        logger.info("loaded adapter %s from %s in %.0f ms", revision, path, (time.perf_counter() - started) * 1e3)
        return _LoadedAdapter(self, revision)

    def _add_adapter(self, revision: str, path: str) -> None:
        with self._lock:
            if revision not in getattr(self._model, "peft_config", {}):
                self._model = model_loading.add_adapter(self._model, revision, path)

    def _reload_if_evicted(self, revision: str) -> None:
        """Under the lock: an adapter evicted between its load and its batch is loaded again."""
        if revision not in getattr(self._model, "peft_config", {}):
            self._model = model_loading.add_adapter(self._model, revision, self._paths[revision])

    def _drop_adapter(self, revision: str) -> None:
        with self._lock:
            if revision in getattr(self._model, "peft_config", {}) and len(self._model.peft_config) > 1:
                self._model.delete_adapter(revision)
                logger.info("evicted adapter %s", revision)

    async def _prewarm(self, revisions: list[str]) -> None:
        for revision in revisions:
            try:
                await self._ensure_adapter(revision, self._paths[revision])
            except AdapterUnavailable as error:
                logger.warning("prewarm: %s", error)

    # -- for benchmarks and tests ------------------------------------------------------------

    def loaded_adapters(self) -> list[str]:
        return sorted(getattr(self._model, "peft_config", {}))


def _sampling(request: dict) -> dict:
    return {
        "max_new_tokens": int(request["max_new_tokens"]),
        "temperature": float(request["temperature"]),
        "top_p": float(request["top_p"]),
        "seed": request.get("seed"),
    }
