"""The seam between the Kopf driver and a running Serve app: live stats, probes, and (with
``spec.serving.rayAddress``) the Serve REST API. observe.py and apply.py call it.

``HttpServe`` talks HTTP through the contract's ``ServeAdmin``; tests hand the driver a fake with
the same methods, so a canary's live analysis can be scripted without Ray.
"""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from molting_operator.api.spec import MoltingModelSpec
from molting_operator.builders import names, rayservice
from molting_workloads.contract.errors import ServeConfigError
from molting_workloads.contract.live_stats import AppStats
from molting_workloads.contract.serve_admin import (
    API_KEY_ENV,
    ServeAdmin,
    ray_token_from_environment,
)
from molting_workloads.contract.serve_config import weights_of

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServeTarget:
    """One model's Serve app: its name, its HTTP endpoint, and the Ray dashboard when the
    config goes through the Serve REST API instead of a RayService."""

    namespace: str
    app: str
    base_url: str
    dashboard: str | None = None

    @classmethod
    def of(cls, owner: names.Owner, spec: MoltingModelSpec) -> ServeTarget:
        address = spec.serving.ray_address
        if address:
            # The Serve proxy listens on 8000 on the same host as the dashboard.
            host = urlsplit(address if "://" in address else f"http://{address}").hostname
            return cls(owner.namespace, owner.name, f"http://{host}:{rayservice.SERVE_PORT}",
                       address)
        return cls(owner.namespace, owner.name, rayservice.serve_url(owner, spec))


class ServeSeam(Protocol):
    def stats(self, target: ServeTarget) -> AppStats | None:
        """The app's live per-revision counters, or None when it cannot be reached."""

    def deployed_weights(self, target: ServeTarget) -> dict[str, int] | None:
        """The weights the Ray cluster at ``target.dashboard`` serves, None when not deployed."""

    def apply(self, target: ServeTarget, config: dict) -> None:
        """Put the app's Serve config through the Serve REST API (ServeConfigError on failure)."""

    def probe(self, target: ServeTarget, revision: str, questions: list[str]) -> None:
        """Ask ``questions`` of ``revision`` in the background; returns at once."""


class HttpServe:
    """The real seam. Stats and REST calls are short and synchronous (they run in kopf's worker
    threads); probes generate text, which is slow, so they run in a small pool of their own."""

    def __init__(self, timeout_s: float = 3.0, probe_workers: int = 2) -> None:
        self.timeout_s = timeout_s
        self.api_key = os.environ.get(API_KEY_ENV) or None
        self._probes = ThreadPoolExecutor(probe_workers, thread_name_prefix="molting-probe")
        self._running: set[tuple[str, str, str]] = set()
        self._guard = threading.Lock()

    def _admin(self, target: ServeTarget, timeout_s: float | None = None) -> ServeAdmin:
        token = ray_token_from_environment() if target.dashboard else None
        return ServeAdmin(target.dashboard or target.base_url, token, api_key=self.api_key,
                          timeout_s=timeout_s or self.timeout_s)

    def stats(self, target: ServeTarget) -> AppStats | None:
        try:
            with self._admin(target) as admin:
                return admin.stats(target.base_url)
        except ServeConfigError as error:
            logger.debug("No live stats for %s/%s: %s", target.namespace, target.app, error)
            return None

    def deployed_weights(self, target: ServeTarget) -> dict[str, int] | None:
        with self._admin(target) as admin:
            apps = (admin.status().get("applications") or {}).values()
        configs = [a["deployed_app_config"] for a in apps if a.get("deployed_app_config")]
        return weights_of({"applications": configs}, target.app)

    def apply(self, target: ServeTarget, config: dict) -> None:
        with self._admin(target, timeout_s=30.0) as admin:
            admin.apply(config)

    def probe(self, target: ServeTarget, revision: str, questions: list[str]) -> None:
        key = (target.namespace, target.app, revision)
        with self._guard:
            if key in self._running:
                return
            self._running.add(key)
        self._probes.submit(self._probe, key, target, revision, questions)

    def _probe(self, key: tuple[str, str, str], target: ServeTarget, revision: str,
               questions: list[str]) -> None:
        try:
            with self._admin(target, timeout_s=120.0) as admin:
                admin.probe(target.base_url, revision, questions, max_tokens=64)
        except ServeConfigError as error:
            logger.warning("Probe of %s/%s revision %s failed: %s",
                           target.namespace, target.app, revision, error)
        finally:
            with self._guard:
                self._running.discard(key)

    def close(self) -> None:
        self._probes.shutdown(wait=False, cancel_futures=True)
