"""The KubeRay RayService (ray.io/v1) that serves a MoltingModel's adapters.

Pure. ``serveConfigV2`` carries the traffic split (from the contract's ``to_ray_service_yaml``);
KubeRay applies a change of it in place, through Serve's ``reconfigure()``. The
``rayClusterConfig`` depends only on the operator's defaults and the spec's serving and
scheduling fields, never on a revision or its weights: a change there makes KubeRay build a new
Ray cluster, which a canary step must not cause.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from molting_operator.api.spec import MoltingModelSpec
from molting_operator.builders import jobs, names

RAY_VERSION = "2.60.0"  # the Ray in the workloads image (pyproject's serve extra)
SERVE_PORT = 8000
DASHBOARD_PORT = 8265
# The fingerprint of the rayClusterConfig the operator last wrote: the driver rewrites the
# cluster only when this changes (a spec edit), never because KubeRay defaulted a field.
CLUSTER_HASH_ANNOTATION = "molting.dev/cluster-config-hash"
# The settings hash of the serveConfigV2 written (serve_config.settings_hash, also inside it):
# what the app's /stats reports once it runs that config, for a person or a tool to compare.
SERVING_FINGERPRINT_ANNOTATION = "molting.dev/serving-fingerprint"


def build_ray_service(
    owner: names.Owner,
    spec: MoltingModelSpec,
    serve_config_yaml: str,
    defaults: jobs.JobDefaults,
    fingerprint: str = "",
) -> dict[str, Any]:
    name = names.ray_service_name(owner.name, spec)
    cluster = build_cluster_config(spec, defaults)
    metadata = owner.metadata(name, names.labels(owner.name, component="serving"))
    notes = metadata.setdefault("annotations", {})
    notes[CLUSTER_HASH_ANNOTATION] = cluster_hash(cluster)
    if fingerprint:
        notes[SERVING_FINGERPRINT_ANNOTATION] = fingerprint
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayService",
        "metadata": metadata,
        "spec": {"serveConfigV2": serve_config_yaml, "rayClusterConfig": cluster},
    }


def cluster_hash(cluster: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(cluster, sort_keys=True).encode()).hexdigest()[:16]


def worker_resources(spec: MoltingModelSpec, defaults: jobs.JobDefaults) -> dict[str, Any]:
    """One Generator replica's pod resources, from spec.serving.resources (never spec.training);
    requests equal limits, so KubeRay advertises exactly the CPUs the replica reserves."""
    wanted = spec.serving.resources
    amounts = {"cpu": wanted.cpu, "memory": wanted.memory}
    if wanted.gpus:
        amounts[defaults.gpu_resource] = str(wanted.gpus)
    return {"requests": dict(amounts), "limits": dict(amounts)}


def build_cluster_config(spec: MoltingModelSpec, defaults: jobs.JobDefaults) -> dict[str, Any]:
    """A head (Serve controller, HTTP proxy, the dashboard) and one worker group for the
    Generator replicas, every pod with the artifacts claim mounted read-only at /artifacts (read
    and write with spec.serving.capture or humanEval on: the Ingress appends its files there)."""
    writable = spec.serving.capture.enabled or spec.serving.human_eval.enabled
    worker_pod = _ray_pod("ray-worker", defaults, worker_resources(spec, defaults), ports=[],
                          writable=writable)
    selector = jobs.node_selector(spec, defaults)
    if selector:
        worker_pod["spec"]["nodeSelector"] = selector
    tolerations = jobs.merged_tolerations(spec, defaults)
    if tolerations:
        worker_pod["spec"]["tolerations"] = tolerations
    head_ports = [
        {"name": "gcs", "containerPort": 6379},
        {"name": "dashboard", "containerPort": DASHBOARD_PORT},
        {"name": "client", "containerPort": 10001},
        {"name": "serve", "containerPort": SERVE_PORT},
    ]
    head_resources = {"requests": {"cpu": "1", "memory": "4Gi"}, "limits": {"memory": "4Gi"}}
    replicas = spec.serving.replicas
    return {
        "rayVersion": RAY_VERSION,
        "enableInTreeAutoscaling": False,
        "headGroupSpec": {
            # No CPUs advertised on the head: Generator replicas land on the workers.
            "rayStartParams": {"dashboard-host": "0.0.0.0", "num-cpus": "0"},
            "template": _ray_pod("ray-head", defaults, head_resources, ports=head_ports,
                                 writable=writable),
        },
        "workerGroupSpecs": [
            {
                "groupName": "generators",
                "replicas": replicas,
                "minReplicas": replicas,
                "maxReplicas": replicas,
                "rayStartParams": {},
                "template": worker_pod,
            }
        ],
    }


def _ray_pod(
    container_name: str,
    defaults: jobs.JobDefaults,
    resources: dict[str, Any],
    ports: list[dict[str, Any]],
    writable: bool = False,
) -> dict[str, Any]:
    security = jobs.container_security()
    # Ray writes its session, logs and spill files outside /tmp in places that vary by version.
    security["readOnlyRootFilesystem"] = False
    container: dict[str, Any] = {
        "name": container_name,
        "image": defaults.image,
        "imagePullPolicy": "IfNotPresent",
        "env": jobs.scratch_env(),
        "resources": resources,
        "securityContext": security,
        "volumeMounts": [
            {"name": "artifacts", "mountPath": jobs.ARTIFACTS_MOUNT, "readOnly": not writable},
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "cache", "mountPath": jobs.CACHE_DIR},
            {"name": "dshm", "mountPath": "/dev/shm"},
        ],
    }
    if ports:
        container["ports"] = ports
    return {
        "spec": {
            "automountServiceAccountToken": False,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": jobs.RUN_AS,
                "runAsGroup": jobs.RUN_AS,
                "fsGroup": jobs.RUN_AS,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [container],
            "volumes": [
                {
                    "name": "artifacts",
                    "persistentVolumeClaim": {"claimName": defaults.artifacts_pvc,
                                              "readOnly": not writable},
                },
                {"name": "tmp", "emptyDir": {}},
                {"name": "cache", "emptyDir": {}},
                # Ray's object store lives in /dev/shm.
                {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "4Gi"}},
            ],
        }
    }


def serve_url(owner: names.Owner, spec: MoltingModelSpec) -> str:
    """The Serve HTTP endpoint KubeRay exposes for this RayService (``<name>-serve-svc``)."""
    name = names.ray_service_name(owner.name, spec)
    return f"http://{name}-serve-svc.{owner.namespace}.svc:{SERVE_PORT}"
