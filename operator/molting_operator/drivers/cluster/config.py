"""The operator's own settings (from its environment) and the context every handler shares.

`molting operator` builds a ``Context`` once and hands it to kopf as the memo; tests build one
pointed at kmock with a fake Serve seam.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from molting_operator.builders.jobs import JobDefaults
from molting_operator.drivers.cluster import cache, kube, serving


class ConfigError(ValueError):
    """An environment variable the operator cannot use."""


@dataclass(frozen=True)
class OperatorConfig:
    defaults: JobDefaults = field(default_factory=JobDefaults)
    kuberay: bool = True  # ray.io/v1 RayServices can be created (MOLTING_KUBERAY)
    interval: float = 5.0  # seconds between two reconciles of one model
    max_backoff: float = 300.0  # the longest wait after repeated failures
    progress_every: float = 30.0  # seconds between two reads of a training pod's log

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> OperatorConfig:
        base = JobDefaults()
        defaults = JobDefaults(
            image=environ.get("MOLTING_TRAINING_IMAGE") or base.image,
            gpu_resource=environ.get("MOLTING_GPU_RESOURCE") or base.gpu_resource,
            artifacts_pvc=environ.get("MOLTING_ARTIFACTS_PVC") or base.artifacts_pvc,
            node_selector=_json(environ, "MOLTING_DEFAULT_NODE_SELECTOR", dict, {}),
            tolerations=tuple(_json(environ, "MOLTING_DEFAULT_TOLERATIONS", list, [])),
        )
        if not all(isinstance(v, str) for v in defaults.node_selector.values()):
            raise ConfigError("MOLTING_DEFAULT_NODE_SELECTOR: values must be strings")
        if not all(isinstance(t, dict) for t in defaults.tolerations):
            raise ConfigError("MOLTING_DEFAULT_TOLERATIONS: expected a JSON list of objects")
        kuberay = environ.get("MOLTING_KUBERAY", "true").strip().lower()
        if kuberay not in ("true", "false", "1", "0", "yes", "no"):
            raise ConfigError(f"MOLTING_KUBERAY: expected true or false, got {kuberay!r}")
        interval = float(environ.get("MOLTING_RECONCILE_INTERVAL", "5"))
        return cls(defaults=defaults, kuberay=kuberay in ("true", "1", "yes"), interval=interval)

    def backoff(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (0-based): doubling, capped."""
        return min(self.interval * 2 ** min(retry, 16), self.max_backoff)


def _json(environ: Mapping[str, str], key: str, kind: type, default: Any) -> Any:
    text = environ.get(key, "").strip()
    if not text:
        return default
    try:
        value = json.loads(text)
    except ValueError as error:
        raise ConfigError(f"{key}: not JSON ({error}): {text[:80]!r}") from None
    if value is None:
        return default
    if not isinstance(value, kind):
        raise ConfigError(f"{key}: expected a JSON {kind.__name__}, got {type(value).__name__}")
    return value


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Context:
    """What every handler needs; kopf passes it around as ``memo.context``."""

    kube: kube.Kube
    config: OperatorConfig
    serve: serving.ServeSeam
    now: Callable[[], datetime] = utcnow
    workers: int = 16  # kopf's handler threads, and the size of the HTTP connection pool
    children: cache.Children = field(default_factory=cache.Children)
    _locks: dict[tuple[str, str], threading.Lock] = field(default_factory=dict)
    _guard: threading.Lock = field(default_factory=threading.Lock)
    # (job uid, state) already reacted to, so a replayed watch event reconciles nothing twice.
    seen_job_states: set[tuple[str, str]] = field(default_factory=set)
    # The resourceVersion each model had after this process last wrote its status.
    written: dict[tuple[str, str], str] = field(default_factory=dict)
    # When each training Job's log was last read for progress (monotonic seconds).
    progress_read: dict[str, float] = field(default_factory=dict)
    # What an ended Job's pod reported, by Job uid: read once, not on every tick.
    reports: dict[str, Any] = field(default_factory=dict)

    def lock(self, namespace: str, name: str) -> threading.Lock:
        """One lock per model: the timer, the change handlers and Job events never reconcile
        the same model at once, so none plans from a status another is replacing."""
        with self._guard:
            return self._locks.setdefault((namespace, name), threading.Lock())

    def forget(self, namespace: str, name: str) -> None:
        with self._guard:
            self._locks.pop((namespace, name), None)
            self.written.pop((namespace, name), None)

    def is_current(self, body: Mapping[str, Any]) -> bool:
        """Whether a body kopf handed over already shows this process's last status write
        (then it can stand in for a fresh read)."""
        meta = body.get("metadata") or {}
        written = self.written.get((meta.get("namespace") or "", meta.get("name") or ""))
        return written is None or written == meta.get("resourceVersion")

    def progress_due(self, job: str) -> bool:
        """Whether the progress of this Job should be read now (at most every progress_every)."""
        now = time.monotonic()
        with self._guard:
            if now - self.progress_read.get(job, -math.inf) < self.config.progress_every:
                return False
            self.progress_read[job] = now
            return True

    def first_seen(self, job_uid: str, state: str) -> bool:
        """True once per (Job, state): a replayed watch event is not a new fact."""
        with self._guard:
            if (job_uid, state) in self.seen_job_states:
                return False
            self.seen_job_states.add((job_uid, state))
            return True
