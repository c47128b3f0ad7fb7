"""Helpers shared by the chart tests (fixtures are in conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "molting"
RELEASE = "molting"
NAMESPACE = "molting-system"

Obj = dict[str, Any]
Render = Callable[..., list[Obj]]

# The non-default installs the issue names, reused by several test files.
SCENARIOS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "namespaced": {"watch": {"allNamespaces": False, "namespaces": ["team-a", "team-b"]}},
    "custom-image": {
        "image": {"repository": "registry.example.com:5000/ml/molting-operator", "tag": "1.2.3"},
        "training": {"image": {"repository": "registry.example.com:5000/ml/molting-workloads",
                               "digest": "sha256:" + "ab" * 32}},
        "imagePullSecrets": [{"name": "regcred"}],
    },
    "existing-pvc": {"artifacts": {"claimName": "shared-adapters", "create": False}},
    "everything-on": {
        "watch": {"allNamespaces": False, "namespaces": ["team-a"]},
        "leaderElection": {"enabled": True},
        "replicaCount": 2,
        "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}}},
        "training": {"nodeSelector": {"pool": "gpu"},
                     "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists",
                                      "effect": "NoSchedule"}]},
        "artifacts": {"storageClassName": "fast-rwx", "accessModes": ["ReadWriteOnce"],
                      "size": "20Gi", "keepOnUninstall": False},
    },
    "kuberay-off": {"kuberay": {"enabled": False}},
}


class HelmRefused(Exception):
    """`helm template` exited non-zero; the message is its stderr."""


def of_kind(objects: list[Obj], kind: str) -> list[Obj]:
    return [o for o in objects if o["kind"] == kind]


def one(objects: list[Obj], kind: str) -> Obj:
    found = of_kind(objects, kind)
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def operator_container(objects: list[Obj]) -> Obj:
    [container] = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    return container


def env_of(container: Obj) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in container.get("env", [])}
