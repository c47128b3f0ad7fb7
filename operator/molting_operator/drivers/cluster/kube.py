"""A small JSON client of the Kubernetes API, on the `kubernetes` package's ApiClient.

observe.py, apply.py and leadership.py call it from kopf's sync handlers (worker threads). It
keeps the client's configuration handling (kubeconfig, in-cluster token refresh, TLS) and skips
its model classes: objects stay plain dicts, as the builders make them, and every failure is one
``ApiError`` carrying the HTTP status.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import kubernetes
import urllib3

MERGE_PATCH = "application/merge-patch+json"
TIMEOUT = (5.0, 30.0)  # connect, read (seconds)


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    plural: str

    def path(self, namespace: str, name: str | None = None, sub: str | None = None) -> str:
        root = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        parts = [root, "namespaces", namespace, self.plural, name, sub]
        return "/".join(p for p in parts if p)


MODELS = Resource("molting.dev", "v1alpha1", "moltingmodels")
JOBS = Resource("batch", "v1", "jobs")
PODS = Resource("", "v1", "pods")
CONFIGMAPS = Resource("", "v1", "configmaps")
RAYSERVICES = Resource("ray.io", "v1", "rayservices")
LEASES = Resource("coordination.k8s.io", "v1", "leases")


class ApiError(Exception):
    """A request the API server refused (``status`` is the HTTP code, 0 when unreachable)."""

    def __init__(self, status: int, reason: str, message: str, path: str = "") -> None:
        self.status, self.reason, self.message, self.path = status, reason, message, path
        super().__init__(f"{path}: HTTP {status} {reason}: {message}" if status else f"{path}: {message}")

    @property
    def retriable(self) -> bool:
        """Worth trying again as it is: unreachable, overloaded, or a write conflict."""
        return self.status in (0, 409, 429) or self.status >= 500


def configuration_from_environment() -> kubernetes.client.Configuration:
    """The in-cluster service account, else the current kubeconfig context (as kubectl)."""
    try:
        kubernetes.config.load_incluster_config()
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config()
    return kubernetes.client.Configuration.get_default_copy()


def configuration_from_kubeconfig(path: str | os.PathLike[str]) -> kubernetes.client.Configuration:
    """The current context of one kubeconfig file (a token or a client certificate)."""
    config = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(config_file=os.fspath(path), client_configuration=config)
    return config


def configuration_for(server: str) -> kubernetes.client.Configuration:
    """A plain-HTTP, token-less configuration (an API mock in tests and benchmarks)."""
    config = kubernetes.client.Configuration()
    config.host = server.rstrip("/")
    return config


class Kube:
    """Thread-safe: urllib3's pool serves kopf's worker threads."""

    def __init__(self, config: kubernetes.client.Configuration, pool_size: int = 32) -> None:
        config.connection_pool_maxsize = max(pool_size, config.connection_pool_maxsize or 0)
        self._api = kubernetes.client.ApiClient(config)
        self._api.user_agent = "molting-operator"

    def close(self) -> None:
        self._api.close()

    def get(self, path: str, query: dict[str, str] | None = None) -> dict[str, Any]:
        return self._json("GET", path, query=query)

    def list(self, resource: Resource, namespace: str, match: dict[str, str]) -> list[dict]:
        """Objects whose labels include ``match``. The selector is also checked here, so a
        server that ignores it (kmock) returns the same answer."""
        query = {"labelSelector": ",".join(f"{k}={v}" for k, v in sorted(match.items()))}
        items = self._json("GET", resource.path(namespace), query=query).get("items") or []
        return [i for i in items if _has_labels(i, match)]

    def create(self, resource: Resource, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._json("POST", resource.path(namespace), body=body)

    def patch(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._json("PATCH", path, body=body, content_type=MERGE_PATCH)

    def replace(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """PUT: the server refuses it with 409 when ``metadata.resourceVersion`` is stale."""
        return self._json("PUT", path, body=body)

    def delete(self, path: str) -> None:
        self._json("DELETE", path, body={"propagationPolicy": "Background"})

    def text(self, path: str, query: dict[str, str] | None = None) -> str:
        """A plain-text answer (``pods/log``). The API server negotiates only its serializers'
        media types, so ``Accept: text/plain`` alone gets a 406; kubectl sends this too."""
        return self._call("GET", path, query=query, accept="application/json, */*").decode(
            errors="replace")

    # -- transport ------------------------------------------------------------------------

    def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        data = self._call(method, path, **kwargs)
        return json.loads(data) if data else {}

    def _call(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        accept: str = "application/json",
    ) -> bytes:
        headers = {"Accept": accept}
        if body is not None:
            headers["Content-Type"] = content_type
        method, url, headers, body, _ = self._api.param_serialize(
            method=method,
            resource_path=path,
            query_params=list((query or {}).items()),
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        try:
            response = self._api.call_api(method, url, headers, body, _request_timeout=TIMEOUT)
            data = response.read()
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise ApiError(0, "Unreachable", f"{type(error).__name__}: {error}", path) from error
        if response.status >= 400:
            raise _error(response.status, data, path)
        return data


def _error(status: int, data: bytes, path: str) -> ApiError:
    try:
        payload = json.loads(data)
        return ApiError(status, payload.get("reason", ""), payload.get("message", ""), path)
    except (ValueError, AttributeError):
        return ApiError(status, "", data[:300].decode(errors="replace"), path)


def _has_labels(obj: dict[str, Any], match: dict[str, str]) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return all(labels.get(key) == value for key, value in match.items())
