"""Deterministic names, labels and owner references of a MoltingModel's children.

The Job, ConfigMap and RayService builders and the Kopf driver use these. Equal inputs give equal
names on every machine, so a restarted operator finds the children it made instead of making
them again (a create that answers 409 is done).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from molting_operator.api.spec import MoltingModelSpec
from molting_operator.planning.observed import JobKind

MAX_NAME = 63  # a DNS-1123 label: Job names also become the pods' `job-name` label value
# KubeRay appends "-serve-svc" and a 6-character suffix to a RayService's name; longer names are
# refused by its validation (MaxRayServiceNameLength in ray-operator/controllers/ray/utils).
MAX_RAY_SERVICE_NAME = 47

PART_OF = "molting"
MANAGED_BY = "molting-operator"
LABEL_MODEL = "molting.dev/model"
LABEL_REVISION = "molting.dev/revision"
LABEL_KIND = "molting.dev/kind"

_COMPONENTS = {JobKind.TRAIN: "training", JobKind.EVAL: "evaluation"}


def child_name(model: str, revision: str, suffix: str) -> str:
    """``<model>-<revision>-<suffix>``, shortened with a hash of the model name past 63 chars."""
    name = f"{model}-{revision}-{suffix}"
    if len(name) <= MAX_NAME:
        return name
    tail = f"-{hashlib.sha256(model.encode()).hexdigest()[:6]}-{revision}-{suffix}"
    return model[: MAX_NAME - len(tail)].rstrip("-") + tail


def job_name(model: str, revision: str, kind: JobKind) -> str:
    return child_name(model, revision, kind.value)


def request_name(model: str, revision: str, kind: JobKind) -> str:
    """The ConfigMap that carries a Job's request file."""
    return child_name(model, revision, f"{kind.value}-request")


def ray_service_name(model: str, spec: MoltingModelSpec) -> str:
    return spec.serving.ray_service.name or model


def labels(
    model: str, *, revision: str | None = None, kind: JobKind | None = None, component: str = ""
) -> dict[str, str]:
    """Recommended app.kubernetes.io labels plus the molting.dev keys the driver selects by."""
    out = {
        "app.kubernetes.io/name": "molting",
        "app.kubernetes.io/instance": model,
        "app.kubernetes.io/component": component or (_COMPONENTS[kind] if kind else "model"),
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        LABEL_MODEL: model,
    }
    if revision:
        out[LABEL_REVISION] = revision
    if kind:
        out[LABEL_KIND] = kind.value
    return out


def selector(match: dict[str, str]) -> str:
    """A labelSelector query value for equality matches."""
    return ",".join(f"{key}={value}" for key, value in sorted(match.items()))


@dataclass(frozen=True)
class Owner:
    """The MoltingModel that owns a child (its ownerReference and where children go)."""

    name: str
    namespace: str
    uid: str
    api_version: str = "molting.dev/v1alpha1"
    kind: str = "MoltingModel"

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> Owner:
        meta = body.get("metadata", {})
        return cls(
            name=meta["name"],
            namespace=meta.get("namespace") or "default",
            uid=meta.get("uid") or "",
            api_version=body.get("apiVersion", cls.api_version),
            kind=body.get("kind", cls.kind),
        )

    def reference(self) -> dict[str, Any]:
        """A controller ownerReference: deleting the model deletes the child (garbage collector)."""
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }

    def metadata(self, name: str, child_labels: dict[str, str]) -> dict[str, Any]:
        return {
            "name": name,
            "namespace": self.namespace,
            "labels": dict(child_labels),
            "ownerReferences": [self.reference()],
        }
