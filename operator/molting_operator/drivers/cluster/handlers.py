"""The Kopf handlers and the registry that holds them.

Each handler only says *when* a model is reconciled; reconciling.reconcile says how, and the
planner decides what. `molting operator` and the kmock tests both call ``build_registry``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import kopf

from molting_operator.builders import names
from molting_operator.drivers.cluster import cache, observe, reconciling, settings
from molting_operator.drivers.cluster.config import Context
from molting_operator.planning.observed import JobState

MODELS = ("molting.dev", "v1alpha1", "moltingmodels")
JOBS = ("batch", "v1", "jobs")
RAYSERVICES = ("ray.io", "v1", "rayservices")


def build_registry(context: Context, login: Callable[..., Any]) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    kopf.on.startup(registry=registry)(settings.configure)
    kopf.on.login(registry=registry)(login)
    kopf.on.resume(*MODELS, id="resume", registry=registry)(on_model_change)
    kopf.on.create(*MODELS, id="create", registry=registry)(on_model_change)
    kopf.on.update(*MODELS, id="update", registry=registry)(on_model_change)
    kopf.timer(*MODELS, id="tick", interval=context.config.interval,
               initial_delay=context.config.interval, registry=registry)(on_tick)
    kopf.on.event(*JOBS, id="job", labels={names.LABEL_MODEL: kopf.PRESENT},
                  registry=registry)(on_job_event)
    if context.config.kuberay:
        kopf.on.event(*RAYSERVICES, id="rayservice", registry=registry)(on_ray_service_event)
    return registry


def on_model_change(
    name: str, namespace: str, body: kopf.Body, memo: kopf.Memo, logger: kopf.Logger, retry: int,
    **_: Any,
) -> None:
    reconciling.reconcile(memo.context, namespace, name, logger, retry=retry, trigger="change",
                          body=body)


def on_tick(
    name: str, namespace: str, body: kopf.Body, memo: kopf.Memo, logger: kopf.Logger, retry: int,
    **_: Any,
) -> None:
    reconciling.reconcile(memo.context, namespace, name, logger, retry=retry, trigger="timer",
                          body=body)


def on_job_event(
    type: str | None, body: kopf.Body, namespace: str, memo: kopf.Memo, logger: kopf.Logger,
    **_: Any,
) -> None:
    """Keep the Job cache; when a Job of ours ended, move its model on now rather than at
    the next tick (the initial listing, type None, is left to the resume handlers)."""
    memo.context.children.seen(cache.JOBS, type, body)
    meta = body.metadata
    state = observe.job_state(dict(body))
    if type in (None, "DELETED") or state == JobState.RUNNING:
        return
    if not memo.context.first_seen(meta.uid or "", state):
        return
    try:
        reconciling.reconcile(memo.context, namespace, meta.labels[names.LABEL_MODEL], logger,
                              trigger="job")
    except (kopf.TemporaryError, kopf.PermanentError) as error:
        logger.info("Reconcile after Job %s %s deferred to the timer: %s", meta.name, state.value,
                    error)


def on_ray_service_event(type: str | None, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    memo.context.children.seen(cache.RAYSERVICES, type, body)
