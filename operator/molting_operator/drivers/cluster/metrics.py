"""Prometheus metrics of the operator, served on --metrics-port at /metrics.

reconciling.py records one reconcile at a time; the planner's Events are the transitions, so
rollbacks and gate failures are counted from them. One registry per process: tests and
benchmarks that start several operators read the same counters.
"""

from __future__ import annotations

import threading

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    start_http_server,
)

from molting_operator.api.status import Outcome, Phase, Reason
from molting_operator.planning.actions import Action, EmitEvent

REGISTRY = CollectorRegistry(auto_describe=True)
# The process's own series too (resident memory, CPU seconds, GC), as on the default registry.
for _collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
    REGISTRY.register(_collector)

RECONCILES = Counter(
    "molting_reconciles", "Reconciles of a MoltingModel, by trigger and result.",
    ["trigger", "result"], registry=REGISTRY,
)
RECONCILE_SECONDS = Histogram(
    "molting_reconcile_duration_seconds", "Time to observe, plan, apply and write one model.",
    registry=REGISTRY, buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
TRANSITIONS = Counter(
    "molting_phase_transitions", "Phase changes of MoltingModels.", ["from_phase", "to_phase"],
    registry=REGISTRY,
)
ROLLBACKS = Counter(
    "molting_rollbacks", "Rollbacks, automatic (failed live analysis) or manual (annotation).",
    ["trigger"], registry=REGISTRY,
)
GATE_FAILURES = Counter(
    "molting_gate_failures", "Candidates that failed their evaluation gates.", registry=REGISTRY,
)
MODELS = Gauge("molting_models", "MoltingModels by phase.", ["phase"], registry=REGISTRY)

_phases: dict[tuple[str, str], str] = {}
_guard = threading.Lock()


def serve(port: int) -> None:
    """Serve /metrics in a daemon thread."""
    start_http_server(port, registry=REGISTRY)


def record(key: tuple[str, str], old: Phase, new: Phase, actions: list[Action]) -> None:
    """Count what one successful reconcile changed."""
    if old != new:
        TRANSITIONS.labels(old.value, new.value).inc()
    for action in actions:
        if not isinstance(action, EmitEvent):
            continue
        if action.outcome == Outcome.GATE_FAILED.value:
            GATE_FAILURES.inc()
        elif action.outcome == Outcome.ROLLED_BACK.value:
            manual = action.reason == Reason.MANUAL_ROLLBACK.value
            ROLLBACKS.labels("manual" if manual else "auto").inc()
    _set_phase(key, new.value)


def forget(key: tuple[str, str]) -> None:
    _set_phase(key, None)


def _set_phase(key: tuple[str, str], phase: str | None) -> None:
    with _guard:
        old = _phases.pop(key, None)
        if phase is not None:
            _phases[key] = phase
        if old != phase:
            if old is not None:
                MODELS.labels(old).dec()
            if phase is not None:
                MODELS.labels(phase).inc()
