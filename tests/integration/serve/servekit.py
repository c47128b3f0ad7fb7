"""Helpers for the serve tests: the deployed app (redeploy with changes, back to the base
config), chat calls and a bounded concurrent load generator. Loopback only."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import httpx

from molting_workloads.contract.live_stats import AppStats, Counters
from molting_workloads.contract.serve_admin import ServeAdmin
from molting_workloads.contract.serve_config import ServeAppConfig

API_KEY = "molting-test-key"
MAX_PROMPT_CHARS = 2000
MAX_TOKENS_LIMIT = 64
AUTH = {"authorization": f"Bearer {API_KEY}"}
QUESTION = [{"role": "user", "content": "Why is the sky blue?"}]
QUESTIONS = ["Why is the sky blue?", "How do bees make honey?", "What makes bread rise?",
             "Why do cats purr?", "How do vaccines work?", "Why is the ocean salty?"]


@dataclass
class ServedApp:
    """The app under test and how to change it; ``reset`` goes back to the base config."""

    base: ServeAppConfig
    url: str
    dashboard: str
    current: ServeAppConfig = field(init=False)

    def __post_init__(self) -> None:
        self.current = self.base

    def apply(self, cfg: ServeAppConfig) -> None:
        from molting_workloads.serving import local

        local.deploy(cfg)
        self.current = cfg

    def reweight(self, **weights: int) -> None:
        self.apply(self.current.with_weights(weights))

    def reset(self) -> None:
        if self.current != self.base:
            self.apply(self.base)

    def admin(self) -> ServeAdmin:
        return ServeAdmin(self.dashboard, api_key=API_KEY)

    def stats(self) -> AppStats:
        with self.admin() as admin:
            return admin.stats(self.url)

    def chat(self, client: httpx.Client, *, headers: dict | None = None, **body) -> httpx.Response:
        payload = {"messages": QUESTION, "max_tokens": 8} | body
        return client.post(self.url + "/v1/chat/completions", json=payload, headers=AUTH | (headers or {}))


def delta(after: Counters, before: Counters, name: str) -> int:
    return getattr(after, name) - getattr(before, name)


@dataclass
class Result:
    status: int
    revision: str | None
    body: str


async def _load(url: str, headers: list[dict], concurrency: int, deadline_s: float, max_tokens: int) -> list[Result]:
    """POST one request per entry of ``headers`` with at most ``concurrency`` in flight; stop
    sending at the deadline. Results come back in the order of ``headers`` (None: not sent)."""
    results: list[Result | None] = [None] * len(headers)
    stop_at = time.monotonic() + deadline_s
    queue: asyncio.Queue = asyncio.Queue()
    for item in enumerate(headers):
        queue.put_nowait(item)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty() and time.monotonic() < stop_at:
            i, h = queue.get_nowait()
            try:
                r = await client.post(
                    url + "/v1/chat/completions",
                    json={"messages": QUESTION, "max_tokens": max_tokens},
                    headers=AUTH | h,
                )
                results[i] = Result(r.status_code, r.headers.get("x-molting-revision"), r.text[:300])
            except httpx.HTTPError as error:
                results[i] = Result(0, None, f"{type(error).__name__}: {error}")

    async with httpx.AsyncClient(timeout=30) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return results


def load(url: str, headers: list[dict], *, concurrency: int = 4, deadline_s: float = 120.0,
         max_tokens: int = 4) -> list[Result]:
    """Bounded in count (``len(headers)``) and in time (``deadline_s``)."""
    return asyncio.run(_load(url, headers, concurrency, deadline_s, max_tokens))


class BackgroundLoad:
    """Closed-loop load in a thread while the test changes the config: ``concurrency`` clients
    send requests until ``stop()`` (or ``max_requests`` / ``deadline_s``, whichever comes first)."""

    def __init__(self, url: str, *, concurrency: int = 3, max_requests: int = 3000, deadline_s: float = 240.0) -> None:
        import threading

        self.url, self.concurrency = url, concurrency
        self.max_requests, self.deadline_s = max_requests, deadline_s
        self.results: list[Result] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def __enter__(self) -> BackgroundLoad:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> list[Result]:
        self._stop.set()
        self._thread.join(60)
        return self.results

    def wait_for(self, count: int, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        target = len(self.results) + count
        while len(self.results) < target and time.monotonic() < deadline and self._thread.is_alive():
            time.sleep(0.05)

    async def _run(self) -> None:
        stop_at = time.monotonic() + self.deadline_s

        async def worker(client: httpx.AsyncClient, n: int) -> None:
            while not self._stop.is_set() and time.monotonic() < stop_at and len(self.results) < self.max_requests:
                try:
                    r = await client.post(
                        self.url + "/v1/chat/completions",
                        json={"messages": QUESTION, "max_tokens": 4},
                        headers=AUTH | {"x-user-id": f"load-{n}-{len(self.results)}"},
                    )
                    self.results.append(Result(r.status_code, r.headers.get("x-molting-revision"), r.text[:300]))
                except httpx.HTTPError as error:
                    self.results.append(Result(0, None, f"{type(error).__name__}: {error}"))

        async with httpx.AsyncClient(timeout=30) as client:
            await asyncio.gather(*(worker(client, n) for n in range(self.concurrency)))
