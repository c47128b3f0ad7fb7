"""Carries out the planner's actions against the Kubernetes API, and writes the status.

reconciling.py calls ``carry_out``, then ``write_status``, then ``emit_events``. Every step is
idempotent: a create that answers 409 is done, a delete that answers 404 is done, a RayService
is patched only when its serveConfigV2 differs. The ConfigMaps the spec names are checked
before planning (observe.dependency_problems); what only a serving write can find out (no
KubeRay, a RayService that may not be created) raises ``DependencyError``, which reconciling.py
turns into a condition and a retry with backoff.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from molting_operator.api.spec import MoltingModelSpec
from molting_operator.api.status import MoltingModelStatus
from molting_operator.builders import jobs, names, rayservice, serve_app
from molting_operator.drivers.cluster import cache, kube, serving
from molting_operator.drivers.cluster.config import Context
from molting_operator.planning.actions import (
    Action,
    ApplyTraffic,
    CancelJobs,
    EmitEvent,
    Probe,
    RunEvaluation,
    RunTraining,
)
from molting_operator.planning.observed import JobKind
from molting_workloads.contract.questions import questions_in_text
from molting_workloads.contract.serve_config import (
    build_serve_config,
    settings_hash,
    to_ray_service_yaml,
)

PROBE_QUESTIONS = 8
# Asked of a candidate when the spec names no question file the operator can read.
DEFAULT_PROBE_QUESTIONS = (
    "What is the capital of France?",
    "Give me three tips for writing clear emails.",
    "Explain what a hash table is in two sentences.",
    "How do I boil an egg?",
)


class DependencyError(Exception):
    """Something the spec names is missing from the cluster (the message says what and where)."""


def carry_out(
    ctx: Context, owner: names.Owner, spec: MoltingModelSpec, actions: list[Action],
    logger: logging.Logger | logging.LoggerAdapter,
) -> None:
    """Every action but the Events, which go out only once the status is written."""
    for action in actions:
        match action:
            case RunTraining():
                ensure_training(ctx, owner, spec, action.revision, logger,
                                action.production_cutoff)
            case RunEvaluation():
                ensure_evaluation(ctx, owner, spec, action, logger)
            case CancelJobs():
                cancel_jobs(ctx, owner, action.revision, logger)
            case ApplyTraffic():
                apply_traffic(ctx, owner, spec, action, logger)
            case Probe():
                probe(ctx, owner, spec, action.revision)
            case EmitEvent():
                pass


def emit_events(body: dict[str, Any], actions: list[Action]) -> None:
    for action in actions:
        if isinstance(action, EmitEvent):
            kind = "Warning" if action.warning else "Normal"
            kopf.event(body, type=kind, reason=action.reason, message=action.message)


# -- Jobs -------------------------------------------------------------------------------------


_CACHED = {kube.JOBS: cache.JOBS, kube.RAYSERVICES: cache.RAYSERVICES}


def ensure_created(ctx: Context, resource: kube.Resource, body: dict[str, Any]) -> bool:
    """Create ``body`` unless it exists; True when this call created it."""
    kind = _CACHED.get(resource)
    try:
        created = ctx.kube.create(resource, body["metadata"]["namespace"], body)
    except kube.ApiError as error:
        if error.status != 409:
            raise
        if kind:
            ctx.children.wrote(kind, body)
        return False
    if kind:
        ctx.children.wrote(kind, created)
    return True


def ensure_training(
    ctx: Context, owner: names.Owner, spec: MoltingModelSpec, revision: str,
    logger: logging.Logger | logging.LoggerAdapter, production_cutoff: str | None = None,
) -> None:
    configmap, job = jobs.build_training(owner, spec, revision, ctx.config.defaults,
                                         production_cutoff)
    ensure_created(ctx, kube.CONFIGMAPS, configmap)
    if ensure_created(ctx, kube.JOBS, job):
        logger.info("Created Job %s for revision %s", job["metadata"]["name"], revision)


def ensure_evaluation(
    ctx: Context, owner: names.Owner, spec: MoltingModelSpec, action: RunEvaluation,
    logger: logging.Logger | logging.LoggerAdapter,
) -> None:
    configmap, job = jobs.build_evaluation(owner, spec, action, ctx.config.defaults)
    ensure_created(ctx, kube.CONFIGMAPS, configmap)
    if ensure_created(ctx, kube.JOBS, job):
        logger.info("Created Job %s for revision %s", job["metadata"]["name"], action.revision)


def cancel_jobs(
    ctx: Context, owner: names.Owner, revision: str, logger: logging.Logger | logging.LoggerAdapter
) -> None:
    for kind in JobKind:
        for resource, name in (
            (kube.JOBS, names.job_name(owner.name, revision, kind)),
            (kube.CONFIGMAPS, names.request_name(owner.name, revision, kind)),
        ):
            try:
                ctx.kube.delete(resource.path(owner.namespace, name))
                logger.info("Deleted %s %s of superseded revision %s", resource.plural, name, revision)
            except kube.ApiError as error:
                if error.status != 404:
                    raise
            if resource == kube.JOBS:
                ctx.children.forget(cache.JOBS, owner.namespace, name)


# -- serving ----------------------------------------------------------------------------------


def apply_traffic(
    ctx: Context, owner: names.Owner, spec: MoltingModelSpec, action: ApplyTraffic,
    logger: logging.Logger | logging.LoggerAdapter,
) -> None:
    """Through the Serve REST API with spec.serving.rayAddress, else into the RayService."""
    config = serve_app.serve_app_config(owner.name, spec, action)
    fingerprint = settings_hash(config)
    split = ", ".join(f"{rev} {weight}%" for rev, weight in action.weights)
    if spec.serving.ray_address:
        ctx.serve.apply(serving.ServeTarget.of(owner, spec), build_serve_config(config))
        logger.info("Applied traffic %s through %s", split, spec.serving.ray_address)
        return
    if not ctx.config.kuberay:
        raise DependencyError(
            "spec.serving: this operator runs without KubeRay (MOLTING_KUBERAY=false) and "
            "spec.serving.rayAddress is not set, so nothing can serve the model"
        )
    name = names.ray_service_name(owner.name, spec)
    if len(name) > names.MAX_RAY_SERVICE_NAME:
        raise DependencyError(
            f"spec.serving.rayService.name: {name!r} is longer than the "
            f"{names.MAX_RAY_SERVICE_NAME} characters KubeRay accepts"
        )
    serve_yaml = to_ray_service_yaml(config)
    path = kube.RAYSERVICES.path(owner.namespace, name)
    try:
        current = ctx.kube.get(path)
    except kube.ApiError as error:
        if error.status != 404:
            raise
        _create_ray_service(ctx, owner, spec, serve_yaml, fingerprint)
        logger.info("Created RayService %s serving %s", name, split)
        return
    patch: dict = {}
    notes = (current.get("metadata") or {}).get("annotations") or {}
    if (current.get("spec") or {}).get("serveConfigV2") != serve_yaml:
        patch["spec"] = {"serveConfigV2": serve_yaml}
    if notes.get(rayservice.SERVING_FINGERPRINT_ANNOTATION) != fingerprint:
        patch["metadata"] = {"annotations": {rayservice.SERVING_FINGERPRINT_ANNOTATION: fingerprint}}
    if spec.serving.ray_service.create:
        # A spec edit (replicas, GPUs, scheduling) changes the cluster: rewrite it, once.
        cluster = rayservice.build_cluster_config(spec, ctx.config.defaults)
        wanted = rayservice.cluster_hash(cluster)
        if notes.get(rayservice.CLUSTER_HASH_ANNOTATION) != wanted:
            patch.setdefault("spec", {})["rayClusterConfig"] = cluster
            patch.setdefault("metadata", {}).setdefault("annotations", {})[
                rayservice.CLUSTER_HASH_ANNOTATION] = wanted
            logger.info("Updating RayService %s's cluster (the serving spec changed)", name)
    if patch:
        current = ctx.kube.patch(path, patch)
        logger.info("Patched RayService %s to serve %s", name, split)
    ctx.children.seen(cache.RAYSERVICES, "MODIFIED", current)


def _create_ray_service(
    ctx: Context, owner: names.Owner, spec: MoltingModelSpec, serve_yaml: str, fingerprint: str
) -> None:
    name = names.ray_service_name(owner.name, spec)
    if not spec.serving.ray_service.create:
        raise DependencyError(
            f"spec.serving.rayService.name: RayService {name!r} not found in namespace "
            f"{owner.namespace!r}, and spec.serving.rayService.create is false"
        )
    body = rayservice.build_ray_service(owner, spec, serve_yaml, ctx.config.defaults, fingerprint)
    try:
        ensure_created(ctx, kube.RAYSERVICES, body)
    except kube.ApiError as error:
        if error.status == 404:  # the API server does not know ray.io/v1 at all
            raise DependencyError(
                "spec.serving: the RayService kind (ray.io/v1) is not installed: install KubeRay "
                "or set spec.serving.rayAddress"
            ) from None
        raise


def probe(ctx: Context, owner: names.Owner, spec: MoltingModelSpec, revision: str) -> None:
    ctx.serve.probe(serving.ServeTarget.of(owner, spec), revision, probe_questions(ctx, owner, spec))


def probe_questions(ctx: Context, owner: names.Owner, spec: MoltingModelSpec) -> list[str]:
    """The first evaluation questions when they are in a ConfigMap, else a neutral few."""
    ref = spec.evaluation.questions.config_map if spec.evaluation.questions else None
    if ref is not None:
        try:
            data = ctx.kube.get(kube.CONFIGMAPS.path(owner.namespace, ref.name)).get("data") or {}
        except kube.ApiError:
            data = {}
        questions = questions_in_text(data.get(ref.key) or "")[:PROBE_QUESTIONS]
        if questions:
            return questions
    return list(DEFAULT_PROBE_QUESTIONS)


# -- status -----------------------------------------------------------------------------------


def calculate_merge_patch(old: Any, new: Any) -> Any:
    """The RFC 7386 merge patch that turns ``old`` into ``new`` (None: nothing to change)."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return None if old == new else new
    patch: dict[str, Any] = {}
    for key in old.keys() - new.keys():
        patch[key] = None
    for key, value in new.items():
        if key not in old:
            patch[key] = value
        elif isinstance(value, dict) and isinstance(old[key], dict):
            sub = calculate_merge_patch(old[key], value)
            if sub:
                patch[key] = sub
        elif old[key] != value:
            patch[key] = value
    return patch


def write_status(
    ctx: Context, owner: names.Owner, old: dict[str, Any], status: MoltingModelStatus
) -> bool:
    """Patch the status subresource with what changed (only the keys Molting owns)."""
    known = {f.alias or name for name, f in MoltingModelStatus.model_fields.items()}
    mine = {key: value for key, value in old.items() if key in known}
    patch = calculate_merge_patch(mine, status.to_wire())
    if not patch:
        return False
    path = kube.MODELS.path(owner.namespace, owner.name, "status")
    written = ctx.kube.patch(path, {"status": patch})
    version = (written.get("metadata") or {}).get("resourceVersion")
    if version:
        ctx.written[(owner.namespace, owner.name)] = version
    return True
