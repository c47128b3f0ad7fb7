"""What the operator last saw of its Jobs and RayServices, kept from kopf's watches.

handlers.py feeds every watch event in; apply.py writes through what it creates or deletes;
observe.py reads. A timer tick of a quiet model then costs no API request at all, where a LIST
per model every few seconds would load the API server with hundreds of models.

The cache can lag the cluster (a watch event still in flight) but never invents an object. After
a restart it starts empty until the watches have listed; a Job the planner then believes absent
is created again and the API server answers 409, which apply.py takes as "it exists".
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Mapping
from typing import Any

from molting_operator.builders import names

JOBS = "jobs"
RAYSERVICES = "rayservices"


def _trim(kind: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """Only what observe.py reads: a Job's labels and status, a RayService's serve config and
    what KubeRay's status says of its apps."""
    meta = body.get("metadata") or {}
    kept: dict[str, Any] = {"metadata": {
        key: copy.deepcopy(meta[key]) for key in
        ("name", "namespace", "uid", "labels", "resourceVersion", "deletionTimestamp") if key in meta
    }}
    if kind == JOBS:
        kept["status"] = copy.deepcopy(body.get("status") or {})
    else:
        kept["spec"] = {"serveConfigV2": (body.get("spec") or {}).get("serveConfigV2")}
        kept["metadata"]["annotations"] = dict(meta.get("annotations") or {})
        kept["status"] = _ray_service_status(body.get("status") or {})
    return kept


def _ray_service_status(status: Mapping[str, Any]) -> dict[str, Any]:
    """What KubeRay says of the apps and of readiness (observe.kuberay_problem reads it)."""
    apps = (status.get("activeServiceStatus") or {}).get("applicationStatuses") or {}
    kept: dict[str, Any] = {}
    if apps:
        kept["activeServiceStatus"] = {"applicationStatuses": {
            name: {k: app.get(k) for k in ("status", "message") if app.get(k) is not None}
            for name, app in apps.items()}}
    if status.get("conditions"):
        kept["conditions"] = [{k: c.get(k) for k in ("type", "status", "reason", "message")}
                              for c in status["conditions"]]
    return kept


class Children:
    """Thread-safe: written from the event loop's handlers and read from worker threads."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._by_model: dict[tuple[str, str, str], set[str]] = {}

    def seen(self, kind: str, event_type: str | None, body: Mapping[str, Any]) -> None:
        """A watch event: the object as it now is, or gone."""
        meta = body.get("metadata") or {}
        if event_type == "DELETED":
            self.forget(kind, meta.get("namespace", ""), meta.get("name", ""))
        else:
            self._store(kind, _trim(kind, body))

    def wrote(self, kind: str, body: Mapping[str, Any]) -> None:
        """An object this process created (or found existing): known now, before its event."""
        meta = body.get("metadata") or {}
        with self._guard:
            if (kind, meta.get("namespace", ""), meta.get("name", "")) in self._objects:
                return  # what the watch said is at least as new
        self._store(kind, _trim(kind, body))

    def forget(self, kind: str, namespace: str, name: str) -> None:
        with self._guard:
            old = self._objects.pop((kind, namespace, name), None)
            if old is not None:
                model = (old["metadata"].get("labels") or {}).get(names.LABEL_MODEL, "")
                self._by_model.get((kind, namespace, model), set()).discard(name)

    def of_model(self, kind: str, namespace: str, model: str) -> list[dict[str, Any]]:
        with self._guard:
            keys = self._by_model.get((kind, namespace, model), set())
            return [copy.deepcopy(self._objects[(kind, namespace, n)]) for n in sorted(keys)]

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        with self._guard:
            found = self._objects.get((kind, namespace, name))
            return copy.deepcopy(found) if found is not None else None

    def _store(self, kind: str, body: dict[str, Any]) -> None:
        meta = body["metadata"]
        namespace, name = meta.get("namespace", ""), meta.get("name", "")
        model = (meta.get("labels") or {}).get(names.LABEL_MODEL, "")
        with self._guard:
            self._objects[(kind, namespace, name)] = body
            self._by_model.setdefault((kind, namespace, model), set()).add(name)
