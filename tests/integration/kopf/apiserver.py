"""kmock's Kubernetes emulator with the API-server behaviour Kopf and the driver rely on.

kmock 0.8 (pinned in pyproject) stores objects and streams watch events, but a real API server
does more. ``ApiServer`` adds only what the kopf tests and bench/operator_scale.py need, with the
real server's semantics as the reference:

* every write stamps ``metadata.uid`` (on create), ``resourceVersion`` (one global counter),
  ``creationTimestamp`` and ``generation`` (bumped when ``spec`` changes); lists report the
  current resourceVersion;
* a create ignores ``.status`` where the resource has the status subresource;
* ``generateName`` makes a name (kopf posts its Events with it; kmock answered 409);
* a failed JSON-patch ``test`` answers 422 Invalid (kmock: 500, which hangs kopf's flows);
* a watch that starts from a resourceVersion replays only objects changed after it (kmock
  replayed everything, so kopf saw old objects as new and fired handlers twice);
* ``labelSelector`` on lists and watches (equality, inequality and existence terms);
* a ``/status`` patch changes only ``.status``, a main-resource patch leaves ``.status`` alone
  (CRDs with the status subresource);
* ``PUT`` replaces an object, refused with 409 when its resourceVersion is stale (Leases);
* ``pods/NAME/log`` answers the text a test put in ``logs[(namespace, pod)]``, as a kubelet;
* ``refuse[plural] = (code, message)`` refuses every create of that resource (fault injection);
* only the last ``keep_requests`` requests are kept, and reads go by key: kmock matches each
  request against its whole request history and scans every stored object for each read,
  which made a run of a few thousand requests quadratic (80 ms a request at 800 requests).
  ``creates`` and ``reads`` count create and get/list requests per resource instead.

Not emulated: ownerReference cascades, admission, defaulting, deletions between a list and the
start of its watch. It leans on kmock's internals (``_objects``, ``_buses``, ``_lock``): the pin
in pyproject keeps them stable.
"""

from __future__ import annotations

import collections
import copy
import datetime
import itertools
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp.web
import attrs
import jsonpatch
import kmock
from kmock._internal import enums, k8s, rendering

Payload = dict[str, Any]


def matches_selector(labels: dict[str, str], selector: str | None) -> bool:
    """Equality-based label selector terms: k=v, k==v, k!=v, k, !k."""
    for term in filter(None, (t.strip() for t in (selector or "").split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if labels.get(key) != value:
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def merge_diff(old: Any, new: Any) -> Any:
    """The merge patch that turns ``old`` into ``new`` (kmock stores versions as merge patches)."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return new
    patch: Payload = {key: None for key in old.keys() - new.keys()}
    for key, value in new.items():
        if key not in old or old[key] != value:
            patch[key] = merge_diff(old.get(key), value) if key in old else value
    return patch


@attrs.define(kw_only=True)
class ApiServer(kmock.KubernetesEmulator):
    logs: dict[tuple[str, str], str] = attrs.field(factory=dict)
    # Fault injection: creates of these plurals are refused with (HTTP status, message).
    refuse: dict[str, tuple[int, str]] = attrs.field(factory=dict)
    keep_requests: int = 16
    creates: collections.Counter[str] = attrs.field(factory=collections.Counter, init=False)
    reads: collections.Counter[str] = attrs.field(factory=collections.Counter, init=False)
    _versions: itertools.count = attrs.field(factory=lambda: itertools.count(1), init=False)
    _current: int = attrs.field(default=0, init=False)
    _born: dict[str, int] = attrs.field(factory=dict, init=False)  # uid -> creation version

    def _next_version(self) -> str:
        self._current = next(self._versions)
        return str(self._current)

    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        if len(self._requests) > 2 * self.keep_requests:
            del self._requests[: -self.keep_requests]
        if request.resource is None:
            return await super()._handle(request)
        if request.action in (enums.action.FETCH, enums.action.LIST):
            self.reads[request.resource.plural or ""] += 1
        if request.action == enums.action.FETCH and request.subresource == "log":
            return aiohttp.web.Response(text=self.logs.get((request.namespace, request.name), ""))
        if request.action == enums.action.CREATE and isinstance(request.data, dict):
            self.creates[request.resource.plural or ""] += 1
            if (refused := self.refuse.get(request.resource.plural or "")) is not None:
                code, message = refused
                return aiohttp.web.json_response({
                    "kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code,
                    "reason": "Invalid" if code == 422 else "BadRequest", "message": message},
                    status=code)
            self._stamp_new(request)
        elif request.action == enums.action.UPDATE and request.name is not None:
            return await self._update(request, replace=False)
        elif request.method == enums.method.PUT and request.name is not None:
            return await self._update(request, replace=True)
        return await super()._handle(request)

    def _stamp_new(self, request: rendering.Request) -> None:
        if request.resource in self.resources and "status" in self.resources[request.resource].subresources:
            request.data.pop("status", None)  # a create does not set what /status owns
        meta = request.data.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = f"{meta['generateName']}{uuid.uuid4().hex[:5]}"
        if request.namespace:
            meta.setdefault("namespace", request.namespace)
        meta["uid"] = str(uuid.uuid4())
        meta["resourceVersion"] = self._next_version()
        meta["creationTimestamp"] = _now()
        if "spec" in request.data:
            meta["generation"] = 1
        self._born[meta["uid"]] = self._current

    async def _update(self, request: rendering.Request, *, replace: bool) -> aiohttp.web.StreamResponse:
        key = (request.resource, request.namespace, request.name)
        async with self._lock:
            if key not in self._objects or self._objects[key].deleted:
                raise k8s.KubernetesObjectNotFoundError()
            old = copy.deepcopy(self._objects[key].raw)
            # A merge shares unchanged sub-dicts with ``old``: copy before stamping.
            new = copy.deepcopy(self._updated(old, request, replace=replace))
            new["metadata"]["resourceVersion"] = self._next_version()
            if old.get("spec") != new.get("spec"):
                new["metadata"]["generation"] = int(old["metadata"].get("generation") or 0) + 1
            self._objects[key].patch(merge_diff(old, new))
            await self._buses[request.resource].put({"type": "MODIFIED", "object": new})
            if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
                self._objects[key].delete()  # the last finalizer is gone: the object goes
                await self._buses[request.resource].put({"type": "DELETED", "object": new})
        return aiohttp.web.json_response(new)

    def _updated(self, old: Payload, request: rendering.Request, *, replace: bool) -> Payload:
        data = request.data
        if replace:
            sent = str((data.get("metadata") or {}).get("resourceVersion") or "")
            if sent and sent != old["metadata"]["resourceVersion"]:
                raise k8s.KubernetesError(status=409, reason="Conflict", message=(
                    f"the object has been modified (resourceVersion {sent} is stale)"))
            new = copy.deepcopy(data)
            new["metadata"] = {**old["metadata"], **(data.get("metadata") or {})}
        elif isinstance(data, list):
            try:
                new = jsonpatch.apply_patch(old, data, in_place=False)
            except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as error:
                raise k8s.KubernetesError(status=422, reason="Invalid", message=str(error)) from None
        else:
            new = kmock_merge(old, data or {})
        # Identity is the server's; with the status subresource, each endpoint owns its part.
        for field in ("uid", "creationTimestamp", "name", "namespace"):
            if field in old["metadata"]:
                new["metadata"][field] = old["metadata"][field]
        if request.subresource == "status":
            return {**old, "status": new.get("status")} if "status" in new else _without(old, "status")
        if "status" in old or "status" in new:
            return {**new, "status": old["status"]} if "status" in old else _without(new, "status")
        return new

    # Reads by key. kmock scans every stored object for each read, which grows with the cluster.

    async def _serve_fetch(self, request: rendering.Request) -> Payload:
        key = (request.resource, request.namespace, request.name)
        if key not in self._objects or self._objects[key].deleted:
            raise k8s.KubernetesObjectNotFoundError()
        return self._objects[key].raw

    async def _serve_create(self, request: rendering.Request) -> Payload:
        meta = request.data.get("metadata") or {}
        key = (request.resource, request.namespace or meta.get("namespace"), meta.get("name"))
        return self._objects[key].last.raw

    async def _serve_delete(self, request: rendering.Request) -> Payload:
        return self._objects[(request.resource, request.namespace, request.name)].last.raw

    async def _serve_list(self, request: rendering.Request) -> Payload:
        payload = await super()._serve_list(request)
        selector = request.params.get("labelSelector")
        payload["items"] = [i for i in payload["items"] if _selected(i, selector)]
        payload["metadata"] = {"resourceVersion": str(self._current)}
        return payload

    async def _serve_watch(self, request: rendering.Request) -> AsyncIterator[Payload | bytes]:
        yield b""
        selector = request.params.get("labelSelector")
        since = int(request.params.get("resourceVersion") or 0)
        async with self._lock:
            mark = await self._buses[request.resource].mark()
            replay = []
            for (resource, namespace, _), obj in self._objects.items():
                if resource != request.resource or obj.deleted:
                    continue
                if request.namespace is not None and namespace != request.namespace:
                    continue
                raw = obj.raw
                meta = raw.get("metadata", {})
                if int(meta.get("resourceVersion") or 0) <= since or not _selected(raw, selector):
                    continue
                born = self._born.get(meta.get("uid", ""), 0)
                replay.append({"type": "ADDED" if born > since else "MODIFIED", "object": raw})
        try:
            for event in replay:
                yield event
            async for event in mark:
                obj = event.get("object", {})
                if request.namespace is not None and obj.get("metadata", {}).get("namespace") != request.namespace:
                    continue
                if _selected(obj, selector):
                    yield event
        finally:
            await self._buses[request.resource].unmark(mark)


def kmock_merge(old: Payload, patch: Payload) -> Payload:
    """RFC 7386 merge (kmock's own implementation: dicts merge, None deletes, lists replace)."""
    from kmock._internal import dicts

    return dict(dicts.merge_patch_dict(old, patch))


def _without(obj: Payload, key: str) -> Payload:
    return {k: v for k, v in obj.items() if k != key}


def _selected(obj: Payload, selector: str | None) -> bool:
    return matches_selector((obj.get("metadata") or {}).get("labels") or {}, selector)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
