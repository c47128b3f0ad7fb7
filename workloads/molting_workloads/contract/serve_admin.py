"""A small client for a running serving app: the Ray Serve REST API (apply, status, delete) on the
Ray dashboard, and the app's own routes (/stats, probe requests through the live path).

The operator (in a cluster, through ``spec.serving.rayAddress``) and the local driver call it.
Every failure is a ``ServeConfigError`` that names the URL and what the server said.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import httpx
from pydantic import ValidationError

from molting_workloads.contract.base import WireModel
from molting_workloads.contract.errors import ServeConfigError
from molting_workloads.contract.live_stats import AppStats

APPLICATIONS_PATH = "/api/serve/applications/"
LOOPBACK = "127.0.0.1"
# Measured here (NOTES, "Ray Serve on 2 cores"): without the second one Ray still binds to the
# host's address even with _node_ip_address=127.0.0.1. Every local Ray runner uses this.
LOOPBACK_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
PROBE_HEADER = "x-molting-probe"
# The serving app's bearer token, for the app and for whoever calls it (drivers, probes).
API_KEY_ENV = "MOLTING_API_KEY"
REVISION_HEADER = "x-molting-revision"


class AppStatus(WireModel):
    """What Serve reports for one application."""

    name: str
    status: str  # NOT_STARTED, DEPLOYING, RUNNING, DEPLOY_FAILED, UNHEALTHY, DELETING
    message: str = ""
    last_deployed_time_s: float | None = None
    deployments: dict[str, str] = {}  # deployment name -> HEALTHY, UPDATING, ...

    @property
    def is_running(self) -> bool:
        return self.status == "RUNNING" and all(s == "HEALTHY" for s in self.deployments.values())

    @property
    def has_failed(self) -> bool:
        return self.status in ("DEPLOY_FAILED", "UNHEALTHY")


def ray_token_from_environment() -> str | None:
    """The Ray dashboard token as Ray itself finds it, or None when token auth is off.

    ``RAY_AUTH_MODE=disabled`` turns it off; else ``RAY_AUTH_TOKEN``, the file named by
    ``RAY_AUTH_TOKEN_PATH``, or ``~/.ray/auth_token``.
    """
    if os.environ.get("RAY_AUTH_MODE", "").lower() == "disabled":
        return None
    if os.environ.get("RAY_AUTH_TOKEN"):
        return os.environ["RAY_AUTH_TOKEN"].strip()
    path = Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token")
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


class ServeAdmin:
    """Apply Serve configs to one Ray cluster and talk to the apps it serves.

    ``address`` is the Ray dashboard (``http://127.0.0.1:8265``), ``token`` its bearer token
    (Ray 2.60 token auth). ``api_key`` is the serving app's own bearer token, for /stats and
    probes when the app has auth on.
    """

    def __init__(
        self,
        address: str,
        token: str | None = None,
        *,
        api_key: str | None = None,
        timeout_s: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.address = address.rstrip("/")
        self.api_key = api_key
        # The Ray token goes to the dashboard only, never to the app's routes.
        self._ray_headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.Client(timeout=timeout_s, transport=transport)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ServeAdmin:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

    # -- the Serve REST API ----------------------------------------------------------------

    def apply(self, config: dict, *, keep_other_apps: bool = True) -> None:
        """PUT the config. A PUT replaces every application on the cluster, so by default the
        other declaratively deployed apps are carried over unchanged.

        A change that touches only ``user_config`` is applied in place by ``reconfigure()``.
        """
        if not isinstance(config.get("applications"), list):
            raise ServeConfigError("apply: the config has no 'applications' list")
        body = dict(config)
        if keep_other_apps:
            mine = {a.get("name") for a in body["applications"]}
            others = [a for a in self._deployed_app_configs() if a.get("name") not in mine]
            body["applications"] = others + list(body["applications"])
        self._request("PUT", self.address + APPLICATIONS_PATH, json=body)

    def status(self) -> dict:
        """The raw ``ServeInstanceDetails`` of the cluster."""
        return self._json("GET", self.address + APPLICATIONS_PATH)

    def app_status(self, name: str) -> AppStatus | None:
        """One application's status, or None when it is not deployed."""
        app = (self.status().get("applications") or {}).get(name)
        if app is None:
            return None
        return AppStatus(
            name=name,
            status=app.get("status", "NOT_STARTED"),
            message=app.get("message") or "",
            last_deployed_time_s=app.get("last_deployed_time_s"),
            deployments={
                d: info.get("status", "") for d, info in (app.get("deployments") or {}).items()
            },
        )

    def wait_running(self, name: str, *, timeout_s: float = 120.0, since: float | None = None) -> AppStatus:
        """Poll until the app runs with every deployment healthy (deployed after ``since``, an
        epoch time, when given); ``ServeConfigError`` when it fails or the deadline passes."""
        deadline = time.monotonic() + timeout_s
        last: AppStatus | None = None
        while time.monotonic() < deadline:
            last = self.app_status(name)
            fresh = last is not None and (
                since is None or (last.last_deployed_time_s or 0) >= since
            )
            if last is not None and fresh and last.has_failed:
                raise ServeConfigError(f"app {name!r} is {last.status}: {last.message}")
            if last is not None and fresh and last.is_running:
                return last
            time.sleep(0.2)
        state = f"{last.status}: {last.message}" if last else "not deployed"
        raise ServeConfigError(f"app {name!r} not running after {timeout_s:.0f}s ({state})")

    def delete(self, name: str | None = None) -> None:
        """Remove one app (the others are re-applied as they are), or, without a name, shut
        Serve down on the cluster."""
        if name is None:
            self._request("DELETE", self.address + APPLICATIONS_PATH)
            return
        others = [a for a in self._deployed_app_configs() if a.get("name") != name]
        if others:
            self._request("PUT", self.address + APPLICATIONS_PATH, json={"applications": others})
        else:
            self._request("DELETE", self.address + APPLICATIONS_PATH)

    def _deployed_app_configs(self) -> list[dict]:
        apps = (self.status().get("applications") or {}).values()
        return [a["deployed_app_config"] for a in apps if a.get("deployed_app_config")]

    # -- the app's own routes --------------------------------------------------------------

    def stats(self, app_route_base_url: str) -> AppStats:
        """The app's live per-revision counters (GET /stats)."""
        data = self._json("GET", app_route_base_url.rstrip("/") + "/stats", headers=self._app_headers())
        try:
            return AppStats.model_validate(data)
        except ValidationError as error:
            raise ServeConfigError(f"{app_route_base_url}/stats: unexpected body: {error}") from error

    def wait_applied(self, app_route_base_url: str, settings_hash: str, *, timeout_s: float = 60.0) -> AppStats:
        """Poll /stats until the ingress runs the settings with this fingerprint
        (``serve_config.settings_hash``): the config's reconfigure has landed."""
        deadline = time.monotonic() + timeout_s
        last: AppStats | str = "no answer"
        while time.monotonic() < deadline:
            try:
                last = self.stats(app_route_base_url)
            except ServeConfigError as error:
                last = str(error)
            else:
                if last.settings_hash == settings_hash:
                    return last
            time.sleep(0.1)
        seen = last.settings_hash if isinstance(last, AppStats) else last
        raise ServeConfigError(
            f"{app_route_base_url}: settings {settings_hash} not applied after {timeout_s:.0f}s "
            f"(ingress reports {seen})"
        )

    def probe(
        self,
        base_url: str,
        revision: str,
        questions: list[str],
        *,
        max_tokens: int | None = None,
        label: str = "canary-analysis",
        probe_header: str = PROBE_HEADER,
        revision_header: str = REVISION_HEADER,
    ) -> list[str]:
        """Ask ``questions`` of one revision through the live path; the answers, in order.

        The requests are pinned to ``revision`` and labelled as probes, so the app counts them
        apart from user traffic.
        """
        url = base_url.rstrip("/") + "/v1/chat/completions"
        headers = self._app_headers() | {revision_header: revision, probe_header: label}
        answers = []
        for question in questions:
            body: dict[str, Any] = {"messages": [{"role": "user", "content": question}]}
            if max_tokens is not None:
                body["max_tokens"] = max_tokens
            data = self._json("POST", url, json=body, headers=headers)
            served = data.get("molting", {}).get("revision")
            if served is not None and served != revision:
                raise ServeConfigError(f"probe pinned to {revision!r} was served by {served!r}")
            try:
                answers.append(data["choices"][0]["message"]["content"])
            except (KeyError, IndexError, TypeError) as error:
                raise ServeConfigError(f"{url}: unexpected completion body: {data!r}") from error
        return answers

    def _app_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    # -- HTTP --------------------------------------------------------------------------------

    def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        if url.startswith(self.address + "/api/"):
            kwargs["headers"] = self._ray_headers | kwargs.get("headers", {})
        try:
            response = self._client.request(method, url, **kwargs)
        except httpx.HTTPError as error:
            raise ServeConfigError(f"{method} {url}: {type(error).__name__}: {error}") from error
        if response.status_code >= 400:
            hint = ""
            if response.status_code in (401, 403) and url.startswith(self.address):
                hint = " (Ray token auth: pass the token, or run Ray with RAY_AUTH_MODE=disabled)"
            raise ServeConfigError(
                f"{method} {url}: HTTP {response.status_code}: {response.text[:2000]}{hint}"
            )
        return response

    def _json(self, method: str, url: str, **kwargs: Any) -> Any:
        response = self._request(method, url, **kwargs)
        try:
            return response.json()
        except ValueError as error:
            raise ServeConfigError(f"{method} {url}: not JSON: {response.text[:200]!r}") from error
