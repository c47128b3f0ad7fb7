"""One reconcile of one MoltingModel: read it → observe → plan → carry out → write the status →
emit the Events. Every handler in handlers.py calls ``reconcile``; errors become kopf's retry
signals here and nowhere else.

The model is read under a per-model lock, and its status is written in the same critical
section: the timer, the change handlers and the Job watch may all fire for one model, and none
may plan from a status another is about to replace. That is why the status goes out as a merge
patch from here rather than through kopf's ``patch`` (which applies after the handler returns).
The body kopf passes stands in for the read when it already shows this process's last write.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import kopf
from pydantic import ValidationError

from molting_operator.api.resource import parse_resource
from molting_operator.api.status import ConditionType, MoltingModelStatus, Reason
from molting_operator.builders import names
from molting_operator.drivers.cluster import apply, kube, metrics, observe
from molting_operator.drivers.cluster.config import Context
from molting_operator.planning import conditions, planner
from molting_operator.planning.actions import EmitEvent
from molting_workloads.contract.errors import ServeConfigError, SpecError

Logger = logging.Logger | logging.LoggerAdapter
_EXPECTED = (kopf.TemporaryError, kopf.PermanentError, SpecError, apply.DependencyError,
             kube.ApiError, ServeConfigError)


def reconcile(
    ctx: Context, namespace: str, name: str, logger: Logger, *, retry: int = 0, trigger: str,
    body: Mapping[str, Any] | None = None,
) -> None:
    """Bring one model a step forward. Raises kopf.TemporaryError (retry after a backoff) or
    kopf.PermanentError (an invalid spec: wait for the user to change it).

    ``body`` is the model as kopf last saw it; it is used instead of a fresh read when it
    already shows this process's last status write."""
    with ctx.lock(namespace, name), metrics.RECONCILE_SECONDS.time():
        try:
            _reconcile(ctx, namespace, name, logger, body)
        except Exception as error:
            metrics.RECONCILES.labels(trigger, "error").inc()
            if not isinstance(error, _EXPECTED):  # a bug: keep its traceback in the log
                logger.error("Unexpected failure reconciling %s/%s", namespace, name, exc_info=True)
            signal = translate(ctx, error, retry)
            if signal is error:
                raise
            raise signal from error
    metrics.RECONCILES.labels(trigger, "ok").inc()


def translate(ctx: Context, error: Exception, retry: int) -> Exception:
    """The one place where failures become kopf's retry signals."""
    delay = ctx.config.backoff(retry)
    match error:
        case kopf.TemporaryError() | kopf.PermanentError():
            return error
        case SpecError():
            return kopf.PermanentError(f"invalid spec: {error}")
        case apply.DependencyError():
            return kopf.TemporaryError(f"waiting for a dependency: {error}", delay=delay)
        case kube.ApiError(status=403):
            return kopf.TemporaryError(f"forbidden (check the operator's RBAC): {error}",
                                       delay=ctx.config.max_backoff)
        case kube.ApiError(status=400 | 422):
            # What the operator sent is wrong: the same request fails again, so back off hard.
            return kopf.TemporaryError(f"the API server refused a request: {error}",
                                       delay=ctx.config.max_backoff)
        case kube.ApiError() if not error.retriable and error.status != 404:
            return kopf.TemporaryError(str(error), delay=ctx.config.max_backoff)
        case kube.ApiError() | ServeConfigError():
            return kopf.TemporaryError(str(error), delay=delay)
        case _:
            return kopf.TemporaryError(f"{type(error).__name__}: {error}", delay=delay)


def _reconcile(
    ctx: Context, namespace: str, name: str, logger: Logger, seen: Mapping[str, Any] | None
) -> None:
    if seen is not None and ctx.is_current(seen):
        body = dict(seen)
    else:
        try:
            body = ctx.kube.get(kube.MODELS.path(namespace, name))
        except kube.ApiError as error:
            if error.status == 404:  # deleted meanwhile; the garbage collector takes the children
                ctx.forget(namespace, name)
                metrics.forget((namespace, name))
                return
            raise
    if (body.get("metadata") or {}).get("deletionTimestamp"):
        return  # being deleted: its children go with it, nothing new may start
    owner = names.Owner.from_body(body)
    old_status = _stored_status(body)
    try:
        model = parse_resource({**body, "status": old_status.to_wire()})
    except SpecError as error:
        _report_invalid_spec(ctx, owner, body, old_status, error)
        raise
    observed = observe.observe_model(ctx, owner, model)
    result = planner.plan(model.spec, model.status, observed)
    try:
        apply.carry_out(ctx, owner, model.spec, result.actions, logger)
    except apply.DependencyError as error:
        observed = replace(observed, dependency_problems=(str(error),))
        result = planner.plan(model.spec, model.status, observed)
        _finish(ctx, owner, body, model.status, result, logger)
        raise
    except kube.ApiError as error:
        if error.status in (400, 422):
            _report(ctx, owner, body, model.status, Reason.REQUEST_REJECTED,
                    f"the API server refused a request of the operator (a bug in Molting: "
                    f"please report it): {error}")
        raise
    _finish(ctx, owner, body, model.status, result, logger)


def _finish(
    ctx: Context, owner: names.Owner, body: dict[str, Any], old: MoltingModelStatus,
    result: planner.Plan, logger: Logger,
) -> None:
    """Write the new status; only then tell the world (Events, metrics, a log line)."""
    apply.write_status(ctx, owner, body.get("status") or {}, result.status)
    apply.emit_events(body, result.actions)
    metrics.record((owner.namespace, owner.name), old.phase, result.status.phase, result.actions)
    if old.phase != result.status.phase:
        logger.info("Phase %s → %s: %s", old.phase.value, result.status.phase.value,
                    result.status.message or "")


def _stored_status(body: dict[str, Any]) -> MoltingModelStatus:
    """The status as stored, ignoring keys Molting does not own (say, another tool's)."""
    raw = body.get("status") or {}
    known = {f.alias or n for n, f in MoltingModelStatus.model_fields.items()}
    try:
        return MoltingModelStatus.model_validate({k: v for k, v in raw.items() if k in known})
    except ValidationError as error:
        # A hand-edited status is not trusted halfway: nothing is done until it is fixed.
        raise kopf.TemporaryError(f"status does not validate, fix or remove it: {error}",
                                  delay=300) from None


def _report_invalid_spec(
    ctx: Context, owner: names.Owner, body: dict[str, Any], status: MoltingModelStatus,
    error: SpecError,
) -> None:
    """Ready=False/InvalidSpec plus one Warning Event per distinct problem list."""
    _report(ctx, owner, body, status, Reason.INVALID_SPEC,
            "; ".join(str(p) for p in error.problems))


def _report(
    ctx: Context, owner: names.Owner, body: dict[str, Any], status: MoltingModelStatus,
    reason: Reason, message: str,
) -> None:
    """Ready=False with ``reason`` plus one Warning Event per distinct message."""
    message = message[:1000]
    new = status.model_copy(deep=True)
    generation = (body.get("metadata") or {}).get("generation")
    new.observed_generation = generation
    now = planner.timestamp(ctx.now())
    conditions.set_condition(new, ConditionType.READY, False, reason.value, message,
                             now, generation)
    changed = new.message != message
    new.message = message
    apply.write_status(ctx, owner, body.get("status") or {}, new)
    if changed:
        apply.emit_events(body, [EmitEvent(reason.value, message, warning=True)])
