"""The training and evaluation Jobs of a revision, and the ConfigMaps carrying their requests.

Pure: the Kopf driver passes the owner, the spec, the planner's action and the operator's
defaults (read from its environment), and creates what comes back. Pods run as non-root with a
read-only root filesystem, no capabilities and no service-account token; they write only to the
artifacts volume and to scratch emptyDirs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from molting_operator.api.spec import DataSource, MoltingModelSpec
from molting_operator.builders import names, requests
from molting_operator.planning.actions import RunEvaluation
from molting_operator.planning.observed import JobKind
from molting_workloads.contract.base import WireModel
from molting_workloads.contract.judging import JUDGE_API_KEY_ENV
from molting_workloads.contract.layout import Layout

ARTIFACTS_MOUNT = "/artifacts"
LAYOUT = Layout(ARTIFACTS_MOUNT)
REQUEST_DIR = "/etc/molting"
REQUEST_KEY = "request.yaml"
CACHE_DIR = "/cache"
RUN_AS = 10001
_INPUT_DIRS = {"dataset": "/data/dataset", "questions": "/data/questions"}
_VERBS = {JobKind.TRAIN: "train", JobKind.EVAL: "eval"}


@dataclass(frozen=True)
class JobDefaults:
    """The operator's settings for every Job; a MoltingModel's spec.training overrides them."""

    image: str = "ghcr.io/molting-dev/molting-workloads:latest"
    gpu_resource: str = "nvidia.com/gpu"
    artifacts_pvc: str = "molting-artifacts"
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Mounted:
    """An input file as the pod sees it, and the volume that brings it there (if any)."""

    path: str
    volumes: tuple[dict[str, Any], ...] = ()
    mounts: tuple[dict[str, Any], ...] = ()


def mount_source(source: DataSource, role: str, defaults: JobDefaults) -> Mounted:
    """Where a dataset or question file appears in the pod.

    A ConfigMap key is mounted as ``<role>.jsonl``; a PVC file is read from the claim mounted
    read-only (or from /artifacts when it is the artifacts claim); a path is used as written.
    """
    folder = _INPUT_DIRS[role]
    if source.config_map is not None:
        file = f"{role}.jsonl"
        volume = {
            "name": role,
            "configMap": {
                "name": source.config_map.name,
                "items": [{"key": source.config_map.key, "path": file}],
            },
        }
        mount = {"name": role, "mountPath": folder, "readOnly": True}
        return Mounted(f"{folder}/{file}", (volume,), (mount,))
    if source.pvc is not None:
        inside = source.pvc.path.lstrip("/")
        if source.pvc.claim_name == defaults.artifacts_pvc:
            return Mounted(f"{ARTIFACTS_MOUNT}/{inside}")
        volume = {
            "name": role,
            "persistentVolumeClaim": {"claimName": source.pvc.claim_name, "readOnly": True},
        }
        mount = {"name": role, "mountPath": folder, "readOnly": True}
        return Mounted(f"{folder}/{inside}", (volume,), (mount,))
    assert source.path is not None  # DataSource validates exactly one
    return Mounted(source.path)


def build_request_configmap(
    owner: names.Owner, revision: str, kind: JobKind, request: WireModel
) -> dict[str, Any]:
    name = names.request_name(owner.name, revision, kind)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": owner.metadata(name, names.labels(owner.name, revision=revision, kind=kind)),
        "data": {REQUEST_KEY: yaml.safe_dump(request.to_wire(), sort_keys=True)},
    }


def build_training(
    owner: names.Owner, spec: MoltingModelSpec, revision: str, defaults: JobDefaults,
    production_cutoff: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The request ConfigMap and the Job that trains ``revision`` (on production data up to
    ``production_cutoff`` too, when given; the capture folder is on the artifacts claim)."""
    dataset = mount_source(spec.dataset, "dataset", defaults)
    request = requests.train_request(spec, owner.name, revision, LAYOUT, dataset.path,
                                     production_cutoff)
    configmap = build_request_configmap(owner, revision, JobKind.TRAIN, request)
    job = _build_job(owner, spec, revision, JobKind.TRAIN, spec.training.gpus, dataset, defaults)
    return configmap, job


def build_evaluation(
    owner: names.Owner, spec: MoltingModelSpec, action: RunEvaluation, defaults: JobDefaults
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The request ConfigMap and the Job that evaluates ``action.revision`` (against stable)."""
    questions = spec.evaluation.questions
    mounted = mount_source(questions, "questions", defaults) if questions else Mounted("")
    request = requests.eval_request(spec, owner.name, action, LAYOUT, mounted.path or None)
    configmap = build_request_configmap(owner, action.revision, JobKind.EVAL, request)
    gpus = 1 if spec.training.gpus > 0 else 0  # one GPU answers the questions
    job = _build_job(owner, spec, action.revision, JobKind.EVAL, gpus, mounted, defaults)
    return configmap, job


def _build_job(
    owner: names.Owner,
    spec: MoltingModelSpec,
    revision: str,
    kind: JobKind,
    gpus: int,
    inputs: Mounted,
    defaults: JobDefaults,
) -> dict[str, Any]:
    job_labels = names.labels(owner.name, revision=revision, kind=kind)
    training = spec.training
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": owner.metadata(names.job_name(owner.name, revision, kind), job_labels),
        "spec": {
            "backoffLimit": training.backoff_limit,
            "activeDeadlineSeconds": training.active_deadline_seconds,
            "completions": 1,
            "parallelism": 1,
            "template": {
                "metadata": {"labels": job_labels},
                "spec": pod_spec(
                    _container(spec, kind, gpus, inputs, defaults),
                    _volumes(owner, revision, kind, inputs, defaults),
                    spec,
                    defaults,
                ),
            },
        },
    }


def pod_spec(
    container: dict[str, Any],
    volumes: list[dict[str, Any]],
    spec: MoltingModelSpec,
    defaults: JobDefaults,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS,
            "runAsGroup": RUN_AS,
            "fsGroup": RUN_AS,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": volumes,
    }
    selector = node_selector(spec, defaults)
    if selector:
        out["nodeSelector"] = selector
    tolerations = merged_tolerations(spec, defaults)
    if tolerations:
        out["tolerations"] = tolerations
    return out


def node_selector(spec: MoltingModelSpec, defaults: JobDefaults) -> dict[str, str]:
    """The operator's node selector with the spec's keys on top."""
    return {**defaults.node_selector, **spec.training.node_selector}


def merged_tolerations(spec: MoltingModelSpec, defaults: JobDefaults) -> list[dict[str, Any]]:
    """The operator's tolerations, then the spec's, each once."""
    out: list[dict[str, Any]] = []
    for toleration in [*defaults.tolerations, *(t.to_wire() for t in spec.training.tolerations)]:
        if toleration not in out:
            out.append(dict(toleration))
    return out


def container_security() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def scratch_env() -> list[dict[str, str]]:
    """Point every cache at a writable emptyDir: the root filesystem is read-only."""
    return [
        {"name": "HOME", "value": "/tmp"},
        {"name": "HF_HOME", "value": f"{CACHE_DIR}/huggingface"},
        {"name": "TRITON_CACHE_DIR", "value": f"{CACHE_DIR}/triton"},
        {"name": "MPLCONFIGDIR", "value": "/tmp/matplotlib"},
        # Progress lines must reach the log while training runs (docs/architecture.md).
        {"name": "PYTHONUNBUFFERED", "value": "1"},
    ]


def judge_env(spec: MoltingModelSpec) -> list[dict[str, Any]]:
    """The judge's API key from its Secret, as the variable the evaluation Job reads."""
    judge = spec.evaluation.judge
    if judge is None or judge.api_key_secret is None:
        return []
    ref = judge.api_key_secret
    return [{"name": JUDGE_API_KEY_ENV,
             "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}}}]


def _container(
    spec: MoltingModelSpec,
    kind: JobKind,
    gpus: int,
    inputs: Mounted,
    defaults: JobDefaults,
) -> dict[str, Any]:
    resources: dict[str, dict[str, str]] = {
        "requests": dict(spec.training.resources.requests),
        "limits": dict(spec.training.resources.limits),
    }
    if gpus:
        # Extended resources go in limits; a request, if given, must equal the limit.
        resources["limits"][defaults.gpu_resource] = str(gpus)
        resources["requests"][defaults.gpu_resource] = str(gpus)
    return {
        "name": kind.value,
        "image": spec.training.image or defaults.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["molting", _VERBS[kind], "--request", f"{REQUEST_DIR}/{REQUEST_KEY}"],
        "env": scratch_env() + (judge_env(spec) if kind == JobKind.EVAL else []),
        "resources": {key: value for key, value in resources.items() if value},
        "securityContext": container_security(),
        "volumeMounts": [
            {"name": "request", "mountPath": REQUEST_DIR, "readOnly": True},
            {"name": "artifacts", "mountPath": ARTIFACTS_MOUNT},
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "cache", "mountPath": CACHE_DIR},
            {"name": "dshm", "mountPath": "/dev/shm"},
            *inputs.mounts,
        ],
        # The summary is the termination message; a crash leaves the log's tail there instead.
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }


def _volumes(
    owner: names.Owner, revision: str, kind: JobKind, inputs: Mounted, defaults: JobDefaults
) -> list[dict[str, Any]]:
    return [
        {
            "name": "request",
            "configMap": {
                "name": names.request_name(owner.name, revision, kind),
                "items": [{"key": REQUEST_KEY, "path": REQUEST_KEY}],
            },
        },
        {"name": "artifacts", "persistentVolumeClaim": {"claimName": defaults.artifacts_pvc}},
        {"name": "tmp", "emptyDir": {}},
        {"name": "cache", "emptyDir": {}},
        # PyTorch data loaders share tensors through /dev/shm, which is 64 MiB by default.
        {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "2Gi"}},
        *inputs.volumes,
    ]
