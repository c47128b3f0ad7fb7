"""What the Kopf driver sees of one MoltingModel before it plans: its Jobs (state, termination
summary, training progress) and its Serve app (the applied split and live stats).

Reads only; reconciling.py calls ``observe_model``. Jobs and the RayService come from the watch
cache (cache.py); pods and logs are read only for the revisions the planner can act on, so a
quiet model costs no API request per tick.

Training progress comes from the training pod's log: the workload prints the contract's
progress lines (contract/progress.py) and the operator reads the log's tail (RBAC: pods/log get). The pod needs no token, no API access and no
extra volume for this (docs/architecture.md).
"""

from __future__ import annotations

import logging
from typing import Any

import yaml

from molting_operator.api.resource import MoltingModel
from molting_operator.api.spec import DataSource
from molting_operator.api.status import Phase
from molting_operator.builders import names, serve_app
from molting_operator.drivers.cluster import cache, kube, serving
from molting_operator.drivers.cluster.config import Context
from molting_operator.planning.dependencies import needed_sources
from molting_operator.planning.observed import (
    JobKind,
    JobObservation,
    JobState,
    Observed,
    ServeObservation,
)
from molting_operator.planning.planner import desired_revision
from molting_workloads.contract.errors import ServeConfigError
from molting_workloads.contract.progress import parse_progress
from molting_workloads.contract.serve_config import (
    IngressSettings,
    ingress_settings_of,
    weights_of,
)
from molting_workloads.contract.summaries import read_summary

logger = logging.getLogger(__name__)

LOG_TAIL_LINES = 40
_ACTIVE = (Phase.TRAINING, Phase.EVALUATING)


def observe_model(ctx: Context, owner: names.Owner, model: MoltingModel) -> Observed:
    status = model.status
    focus = {desired_revision(model.spec, model.metadata.annotations, status)}
    if status.candidate and status.phase in _ACTIVE:
        focus.add(status.candidate.revision)
    jobs = observe_jobs(ctx, owner, focus, with_progress=status.phase == Phase.TRAINING)
    serving_now = bool(status.traffic) or status.phase == Phase.CANARY
    return Observed(
        now=ctx.now(),
        generation=model.metadata.generation,
        annotations=dict(model.metadata.annotations),
        jobs=jobs,
        serve=observe_serve(ctx, owner, model) if serving_now else None,
        dependency_problems=dependency_problems(ctx, owner, model),
    )


# -- what the spec names --------------------------------------------------------------------


def dependency_problems(ctx: Context, owner: names.Owner, model: MoltingModel) -> tuple[str, ...]:
    """ConfigMaps the spec names that the cluster lacks, seen before planning (as the local
    driver checks its files), so the planner waits instead of starting a plan that fails
    half-way. Each is read only while the next step needs it (planning.dependencies, the rule
    the local driver follows too)."""
    problems = [source_problem(ctx, owner, source, field)
                for field, source in needed_sources(model.spec, model.status, model.metadata.annotations)]
    return tuple(p for p in problems if p)


def source_problem(ctx: Context, owner: names.Owner, source: DataSource, field: str) -> str | None:
    """What is wrong with a ConfigMap the spec reads from (PVCs are the kubelet's business: the
    operator has no rights on them)."""
    ref = source.config_map
    if ref is None:
        return None
    try:
        configmap = ctx.kube.get(kube.CONFIGMAPS.path(owner.namespace, ref.name))
    except kube.ApiError as error:
        if error.status == 404:
            return (f"{field}.configMap: ConfigMap {ref.name!r} not found in namespace "
                    f"{owner.namespace!r}")
        raise
    keys = sorted(configmap.get("data") or {})
    if ref.key not in keys:
        return (f"{field}.configMap.key: ConfigMap {ref.name!r} has no key {ref.key!r} "
                f"(it has: {', '.join(keys) or 'none'})")
    return None


# -- Jobs -------------------------------------------------------------------------------------


def observe_jobs(
    ctx: Context, owner: names.Owner, focus: set[str], *, with_progress: bool
) -> dict[tuple[str, JobKind], JobObservation]:
    """Every Job of the model by (revision, kind), from the watch cache; summaries and progress
    (which need the pods) for ``focus`` only."""
    found: dict[tuple[str, JobKind], JobObservation] = {}
    for job in ctx.children.of_model(cache.JOBS, owner.namespace, owner.name):
        labels = job["metadata"].get("labels", {})
        revision, kind = labels.get(names.LABEL_REVISION), labels.get(names.LABEL_KIND)
        if not revision or kind not in (k.value for k in JobKind):
            continue
        kind = JobKind(kind)
        if job["metadata"]["name"] != names.job_name(owner.name, revision, kind):
            continue  # not one of ours, whatever its labels say
        state = job_state(job)
        observation = JobObservation(revision, kind, state)
        if revision in focus and state in (JobState.SUCCEEDED, JobState.FAILED):
            observation = _ended(ctx, owner, observation, job)
        elif (revision in focus and state == JobState.RUNNING and kind == JobKind.TRAIN
              and with_progress):
            observation = _with_progress(ctx, owner, observation, job["metadata"]["name"])
        found[(revision, kind)] = observation
    return found


def job_state(job: dict[str, Any]) -> JobState:
    """Complete/Failed conditions are final; without them the Job is still running."""
    status = job.get("status") or {}
    for condition in status.get("conditions") or []:
        if condition.get("status") != "True":
            continue
        if condition.get("type") == "Complete":
            return JobState.SUCCEEDED
        if condition.get("type") == "Failed":
            return JobState.FAILED
    return JobState.RUNNING


def _ended(
    ctx: Context, owner: names.Owner, obs: JobObservation, job: dict[str, Any]
) -> JobObservation:
    """An ended Job's report, read from its pod once and then remembered (the planner acts on
    the first answer, so a later read could not change anything)."""
    uid = job["metadata"].get("uid")
    if not uid:
        return _with_summary(ctx.kube, owner, obs, job)
    key = f"{uid}/{obs.state.value}"
    if key not in ctx.reports:
        ctx.reports[key] = _with_summary(ctx.kube, owner, obs, job)
    return ctx.reports[key]


def _pods(client: kube.Kube, owner: names.Owner, obs: JobObservation) -> list[dict[str, Any]]:
    match = names.labels(owner.name, revision=obs.revision, kind=obs.kind)
    pods = client.list(kube.PODS, owner.namespace, match)
    return sorted(pods, key=lambda p: p["metadata"].get("creationTimestamp") or "")


def _terminated(pod: dict[str, Any], container: str) -> dict[str, Any] | None:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") != container:
            continue
        for key in ("state", "lastState"):
            terminated = (status.get(key) or {}).get("terminated")
            if terminated:
                return terminated
    return None


def _with_summary(
    client: kube.Kube, owner: names.Owner, obs: JobObservation, job: dict[str, Any]
) -> JobObservation:
    """The summary from the pod's termination message (JSON), else what went wrong."""
    wanted_phase = "Succeeded" if obs.state == JobState.SUCCEEDED else "Failed"
    pods = _pods(client, owner, obs)
    pods = [p for p in pods if (p.get("status") or {}).get("phase") == wanted_phase] or pods
    for pod in reversed(pods):
        terminated = _terminated(pod, obs.kind.value)
        if terminated is None:
            continue
        text = (terminated.get("message") or "").strip()
        summary = read_summary(text, revision=obs.revision, kind=obs.kind.value)
        if summary is not None:
            return JobObservation(obs.revision, obs.kind, obs.state, summary=summary)
        detail = f"exit code {terminated.get('exitCode')} ({terminated.get('reason', '')})"
        tail = text.splitlines()[-3:] if text else []
        return JobObservation(obs.revision, obs.kind, obs.state,
                              message="; ".join([detail, *tail])[:1000])
    reasons = [c.get("message") or c.get("reason") for c in (job.get("status") or {}).get(
        "conditions") or [] if c.get("status") == "True"]
    return JobObservation(obs.revision, obs.kind, obs.state, message="; ".join(
        r for r in reasons if r) or "no pod with a termination message was found")


def _with_progress(
    ctx: Context, owner: names.Owner, obs: JobObservation, job: str
) -> JobObservation:
    """The progress in the running pod's log tail. The pod is looked for on every tick until it
    runs, and only a log read counts against ``progress_every``: a pod still pulling its image
    at the first look must not hold the first read back by a whole interval."""
    client = ctx.kube
    running = [p for p in _pods(client, owner, obs) if (p.get("status") or {}).get("phase") == "Running"]
    if not running or not ctx.progress_due(job):
        return obs
    pod = running[-1]["metadata"]["name"]
    path = kube.PODS.path(owner.namespace, pod, "log")
    try:
        log = client.text(path, {"container": obs.kind.value, "tailLines": str(LOG_TAIL_LINES)})
    except kube.ApiError as error:
        logger.debug("Cannot read the log of %s/%s: %s", owner.namespace, pod, error)
        return obs
    progress = parse_progress(log)
    if progress is None:
        return obs
    return JobObservation(obs.revision, obs.kind, obs.state, progress=progress.to_wire())


# -- the Serve app ----------------------------------------------------------------------------


def observe_serve(ctx: Context, owner: names.Owner, model: MoltingModel) -> ServeObservation:
    """What the Serve config says (``applied``) and what the app reports it runs (``running``,
    from its /stats); KubeRay's status explains a RayService whose app does not run."""
    target = serving.ServeTarget.of(owner, model.spec)
    why = None
    if target.dashboard:
        try:
            applied = ctx.serve.deployed_weights(target)
        except ServeConfigError as error:
            return ServeObservation(reachable=False, error=f"Ray at {target.dashboard}: {error}")
        written = None  # a shared Ray's config is not read back: only the split is compared
    else:
        applied, written = _written(ctx, owner, model)
        if applied is None:
            return ServeObservation(reachable=False, error="the RayService does not exist yet")
        why = kuberay_problem(_ray_service(ctx, owner, model) or {}, owner.name)
    stats = ctx.serve.stats(target)
    running = {r.revision: r.weight for r in stats.revisions if r.weight} if stats else None
    if stats is None and why is None:
        why = f"no answer from {target.base_url}/stats"
    return ServeObservation(
        reachable=True, applied=applied, stats=stats, running=running, not_running=why,
        fingerprint=written.settings_hash if written else None,
        spec_fingerprint=(serve_app.spec_fingerprint(owner.name, model.spec, written.revisions)
                          if written else None),
    )


def kuberay_problem(body: dict[str, Any], app: str) -> str | None:
    """Why KubeRay's status says the RayService's app does not run, or None when it does (or
    says nothing either way)."""
    status = body.get("status") or {}
    active = ((status.get("activeServiceStatus") or {}).get("applicationStatuses") or {}).get(app)
    if active and active.get("status") not in (None, "RUNNING"):
        detail = (active.get("message") or "").strip()
        return f"KubeRay reports the app {active['status']}" + (f": {detail[:300]}" if detail else "")
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    if ready and ready.get("status") != "True":
        detail = ready.get("message") or ready.get("reason") or ""
        return "KubeRay reports the RayService not ready" + (f": {detail[:300]}" if detail else "")
    if not status:
        return "KubeRay has not reported on the RayService yet"
    return None


def _ray_service(ctx: Context, owner: names.Owner, model: MoltingModel) -> dict | None:
    name = names.ray_service_name(owner.name, model.spec)
    return ctx.children.get(cache.RAYSERVICES, owner.namespace, name)


def _written(ctx: Context, owner: names.Owner, model: MoltingModel
             ) -> tuple[dict[str, int] | None, IngressSettings | None]:
    """The split in the RayService's serveConfigV2 (KubeRay applies it in place) and its Ingress
    settings (the adapters and the settings hash of the config written); (None, None) when the
    RayService was not seen (yet): apply.py reads the API before it creates or patches."""
    body = _ray_service(ctx, owner, model)
    if body is None:
        return None, None
    try:
        config = yaml.safe_load((body.get("spec") or {}).get("serveConfigV2") or "") or {}
    except yaml.YAMLError:
        return {}, None
    if not isinstance(config, dict):
        return {}, None
    return weights_of(config, owner.name) or {}, ingress_settings_of(config, owner.name)
