"""The batch engine of one Generator replica, without Ray: a bounded queue of rows, one batch at
a time in a worker thread, mixed adapters in each batch, and adapter loads and evictions that
never touch an adapter a queued or running row uses.

A batch takes up to ``max_batch_size`` rows, whatever their revisions, once the first row has
waited ``batch_wait_timeout_s``; rows are grouped by sampling settings (rows.py) and each group
is one ``generate`` call. A row whose adapter cannot be (re)loaded when its batch starts fails
alone (``AdapterUnavailable``); its batch-mates run. Past ``max_queued`` waiting rows,
``submit`` refuses at once with ``Overloaded`` (the server's 503 + Retry-After).
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass

from molting_workloads import model_loading
from molting_workloads.contract.errors import ModelLoadError
from molting_workloads.serving.rows import Row, generate_rows

logger = logging.getLogger(__name__)


class AdapterUnavailable(Exception):
    """The adapter of a revision could not be loaded."""


class Overloaded(Exception):
    """The queue is full; retry after ``retry_after_s`` seconds."""

    def __init__(self, queued: int, retry_after_s: int) -> None:
        super().__init__(f"the generator is overloaded ({queued} requests queued); retry after {retry_after_s} s")
        self.queued, self.retry_after_s = queued, retry_after_s


@dataclass
class Limits:
    max_batch_size: int = 8
    batch_wait_timeout_s: float = 0.005
    max_queued: int = 64


class Engine:
    """Owns the shared (Peft)model: adapters by revision, the queue and the batch loop."""

    def __init__(self, model, tokenizer, limits: Limits | None = None) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.limits = limits or Limits()
        # Adapter loads and deletes change the shared model: never during a generation.
        self.lock = threading.RLock()
        self._state = threading.Lock()  # pins and pending evictions (held briefly, never blocks long)
        self._pins: Counter[str] = Counter()  # revision -> queued or running rows using it
        self._evict_later: set[str] = set()
        self._waiting: deque[tuple[Row, asyncio.Future, float]] = deque()  # row, answer, queued at
        self._wakeup: asyncio.Event | None = None
        self._loop_task: asyncio.Task | None = None
        self.running = 0  # rows in the batch being generated
        self.batch_s = 0.05  # moving average of a batch's wall time (for Retry-After)
        self.counts: Counter[str] = Counter()  # batches, rows, mixed_batches, cancelled, overloaded

    # -- adapters --------------------------------------------------------------------------------

    def loaded(self) -> list[str]:
        return sorted(getattr(self.model, "peft_config", {}))

    def load(self, revision: str, path: str) -> None:
        """Load ``revision``'s adapter unless it is there; ModelLoadError when it cannot. Blocks
        while a batch runs: call it from a thread."""
        with self._state:
            self._evict_later.discard(revision)
        with self.lock:
            self._ensure_present(revision, path)

    def _ensure_present(self, revision: str, path: str) -> None:
        """Under the lock: an adapter evicted before its row was queued is loaded again."""
        if revision not in getattr(self.model, "peft_config", {}):
            self.model = model_loading.add_adapter(self.model, revision, path)

    def evict(self, revision: str) -> None:
        """Delete the adapter once no queued or running row uses it. Never blocks (Serve calls it
        on the event loop): while a batch runs, the batch thread deletes it when done."""
        with self._state:
            self._evict_later.add(revision)
        self._collect(blocking=False)

    def _collect(self, *, blocking: bool) -> None:
        if not self.lock.acquire(blocking=blocking):
            return
        try:
            with self._state:
                idle = [r for r in self._evict_later if self._pins[r] <= 0]
                self._evict_later.difference_update(idle)
            for revision in idle:
                peft_config = getattr(self.model, "peft_config", {})
                if revision in peft_config and len(peft_config) > 1:
                    self.model.delete_adapter(revision)
                    logger.info("evicted adapter %s", revision)
        finally:
            self.lock.release()

    def pin(self, revision: str) -> None:
        """A row will use ``revision``: its adapter is not deleted until ``unpin``."""
        with self._state:
            self._pins[revision] += 1

    def unpin(self, revision: str) -> None:
        with self._state:
            self._pins[revision] -= 1
            due = self._pins[revision] <= 0 and revision in self._evict_later
            if self._pins[revision] <= 0:
                del self._pins[revision]
        if due:
            self._collect(blocking=False)

    # -- requests --------------------------------------------------------------------------------

    def queued(self) -> int:
        return len(self._waiting)

    def retry_after_s(self) -> int:
        batches_ahead = self.queued() / self.limits.max_batch_size + 1
        return max(1, min(60, math.ceil(batches_ahead * self.batch_s)))

    def admit(self) -> None:
        """Overloaded when the queue is full (checked again by ``submit``)."""
        if len(self._waiting) >= self.limits.max_queued:
            self.counts["overloaded"] += 1
            raise Overloaded(len(self._waiting), self.retry_after_s())

    async def submit(self, row: Row) -> str:
        """The row's answer once its batch ran. Overloaded when the queue is full;
        AdapterUnavailable when its adapter cannot be loaded; cancelling the caller cancels the
        row (a running row stops at its next token)."""
        self.admit()
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.pin(row.revision)
        self._waiting.append((row, future, loop.time()))
        self._ensure_loop(loop)
        self._wakeup.set()
        try:
            return await future
        except asyncio.CancelledError:
            self.cancel(row)
            raise
        finally:
            self.unpin(row.revision)

    def cancel(self, row: Row) -> None:
        """The client went away: drop the row if it waits, stop it if it runs."""
        if not row.cancelled.is_set():
            row.cancelled.set()
            self.counts["cancelled"] += 1
        for item in self._waiting:
            if item[0] is row:
                self._waiting.remove(item)
                if not item[1].done():
                    item[1].cancel()
                break

    def _ensure_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._loop_task is None or self._loop_task.done():
            self._wakeup = asyncio.Event()
            self._loop_task = loop.create_task(self._batch_loop())

    async def _batch_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._waiting:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            # The oldest row waits at most batch_wait_timeout_s for batch-mates (rows that queued
            # behind a running batch have waited already).
            deadline = self._waiting[0][2] + self.limits.batch_wait_timeout_s
            while len(self._waiting) < self.limits.max_batch_size and (left := deadline - loop.time()) > 0:
                self._wakeup.clear()
                try:
                    await asyncio.wait_for(self._wakeup.wait(), left)
                except TimeoutError:
                    break
            batch = []
            while self._waiting and len(batch) < self.limits.max_batch_size:
                row, future, _ = self._waiting.popleft()
                if not future.done():
                    batch.append((row, future))
            if not batch:
                continue
            self.running = len(batch)
            started = time.perf_counter()
            try:
                results = await asyncio.to_thread(self._run_batch, [row for row, _ in batch])
            except Exception as error:  # a bug in the batch code: every row of the batch fails
                logger.exception("batch failed")
                results = [error] * len(batch)
            finally:
                self.running = 0
            self.batch_s = 0.8 * self.batch_s + 0.2 * (time.perf_counter() - started)
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    def _run_batch(self, rows: list[Row]) -> list[str | BaseException]:
        """In the worker thread: (re)load what was evicted, then one generate per sampling group."""
        results: list[str | BaseException | None] = [None] * len(rows)
        with self.lock:
            live = []
            for i, row in enumerate(rows):
                if row.cancelled.is_set():
                    results[i] = asyncio.CancelledError()
                    continue
                try:
                    self._ensure_present(row.revision, row.adapter)
                    live.append(i)
                except ModelLoadError as error:
                    results[i] = AdapterUnavailable(f"revision {row.revision!r} is unavailable: {error}")
            groups: dict[tuple, list[int]] = {}
            for i in live:
                groups.setdefault(rows[i].sampling_key(), []).append(i)
            self.counts["batches"] += 1
            self.counts["rows"] += len(live)
            self.counts["mixed_batches"] += len({rows[i].revision for i in live}) > 1
            for indexes in groups.values():
                try:
                    texts = generate_rows(self.model, self.tokenizer, [rows[i] for i in indexes])
                except Exception as error:  # each row of the group fails (500)
                    logger.exception("generation failed for %d rows", len(indexes))
                    texts = [error] * len(indexes)
                for i, text in zip(indexes, texts, strict=True):
                    results[i] = text
        self._collect(blocking=True)  # evictions that waited for this batch
        return results
