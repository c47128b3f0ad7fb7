"""The local stand-in for a RayService: a Ray head on 127.0.0.1 started as a process, and the
Serve app applied through the Serve REST API (user_config changes reconfigure in place).

The Ray head runs as its own process (`ray start`), so this module needs no Ray import; it stops
the head on exit only when it started it, and then only that head's processes (ray_head.py),
never another Ray on the machine.
"""

from __future__ import annotations

import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from molting_operator.drivers.local import ray_head
from molting_operator.planning.observed import ServeObservation
from molting_workloads.contract.errors import ServeConfigError
from molting_workloads.contract.serve_admin import (
    API_KEY_ENV,
    LOOPBACK,
    LOOPBACK_ENV,
    ServeAdmin,
    ray_token_from_environment,
)
from molting_workloads.contract.serve_config import (
    ServeAppConfig,
    build_serve_config,
    settings_hash,
)

HOST = LOOPBACK


def loopback_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment that keeps the Ray head on loopback and quiet."""
    env = dict(os.environ if base is None else base)
    env.update({**LOOPBACK_ENV, "RAY_DASHBOARD_HOST": HOST})
    env.setdefault("RAY_AUTH_MODE", "disabled")
    return env


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


class LocalServe:
    def __init__(self, http_port: int = 8000, dashboard_port: int = 8265,
                 num_cpus: int = 2, log_dir: Path | None = None) -> None:
        self.http_port, self.dashboard_port, self.num_cpus = http_port, dashboard_port, num_cpus
        self.dashboard = f"http://{HOST}:{dashboard_port}"
        self.started_here = False
        self.log_dir = log_dir
        self._applied: dict[str, dict[str, int]] = {}
        self._routes: dict[str, str] = {}
        self._written: dict[str, ServeAppConfig] = {}
        self._admin: ServeAdmin | None = None
        self._temp_dir: Path | None = None
        self._gcs_port: int | None = None

    def endpoint(self, route_prefix: str = "/") -> str:
        return f"http://{HOST}:{self.http_port}{route_prefix.rstrip('/')}"

    @property
    def admin(self) -> ServeAdmin:
        if self._admin is None:
            self._admin = ServeAdmin(self.dashboard, ray_token_from_environment(), timeout_s=60,
                                     api_key=os.environ.get(API_KEY_ENV))
        return self._admin

    def _dashboard_up(self) -> bool:
        try:
            return httpx.get(self.dashboard + "/api/version", timeout=2).status_code < 500
        except httpx.HTTPError:
            return False

    def head_resources(self, cfg: ServeAppConfig | None) -> list[str]:
        """The Ray head offers what the app's Generators reserve (spec.serving.resources), as
        logical resources: a machine without a GPU still schedules a replica that asks for one,
        and the Generator then runs on the CPU (it picks cuda only when torch sees it)."""
        cpus, gpus = self.num_cpus, 0
        if cfg is not None:
            cpus = max(cpus, math.ceil(cfg.replicas * cfg.num_cpus))
            gpus = math.ceil(cfg.replicas * cfg.num_gpus)
        return [f"--num-cpus={cpus}"] + ([f"--num-gpus={gpus}"] if gpus else [])

    def ensure_started(self, timeout_s: float = 120.0, cfg: ServeAppConfig | None = None) -> None:
        if self._dashboard_up():
            return
        ray = shutil.which("ray", path=str(Path(sys.executable).parent)) or "ray"
        # Its own temp dir and GCS port mark this head's processes, so stop() ends only them.
        self._temp_dir = Path(tempfile.mkdtemp(prefix="molting-ray-"))
        self._gcs_port = _free_port()
        cmd = [ray, "start", "--head", f"--node-ip-address={HOST}", f"--dashboard-host={HOST}",
               f"--dashboard-port={self.dashboard_port}", f"--port={self._gcs_port}",
               f"--temp-dir={self._temp_dir}", *self.head_resources(cfg),
               "--disable-usage-stats", "--include-dashboard=true"]
        out = subprocess.run(cmd, env=loopback_env(), capture_output=True, text=True, timeout=timeout_s)
        if out.returncode != 0:
            raise ServeConfigError(f"`ray start` failed: {out.stderr.strip()[-1000:]}")
        self.started_here = True
        deadline = time.monotonic() + timeout_s
        while not self._dashboard_up():
            if time.monotonic() > deadline:
                raise ServeConfigError(f"the Ray dashboard at {self.dashboard} did not come up")
            time.sleep(0.5)

    def apply(self, cfg: ServeAppConfig) -> None:
        """PUT the config and wait until the ingress runs it (its settings hash shows on
        /stats), so a probe right after never races the reconfigure."""
        self.ensure_started(cfg=cfg)
        self.admin.apply(build_serve_config(cfg, http_options={"host": HOST, "port": self.http_port}))
        self._routes[cfg.name] = cfg.route_prefix
        self.admin.wait_applied(self.endpoint(cfg.route_prefix), settings_hash(cfg), timeout_s=300)
        self._applied[cfg.name] = cfg.weights()
        self._written[cfg.name] = cfg

    def written(self, name: str) -> ServeAppConfig | None:
        """The config last applied (and seen running) for the app ``name``."""
        return self._written.get(name)

    def observe(self, name: str) -> ServeObservation:
        """What the app serves. When its /stats does not answer (Ray died, the app is gone) the
        traffic counts as unknown, and the planner applies it again."""
        if name not in self._applied:
            return ServeObservation(reachable=self._dashboard_up(), applied=None)
        try:
            stats = self.admin.stats(self.endpoint(self._routes[name]))
        except ServeConfigError as error:
            return ServeObservation(False, None, None, str(error))
        return ServeObservation(True, {k: v for k, v in self._applied[name].items() if v}, stats,
                                running={r.revision: r.weight for r in stats.revisions if r.weight})

    def probe(self, name: str, revision: str, questions: list[str], max_tokens: int) -> list[str]:
        return self.admin.probe(self.endpoint(self._routes[name]), revision, questions,
                                max_tokens=max_tokens)

    def stop(self) -> None:
        if self._admin is not None:
            self._admin.close()
        if self.started_here:
            ray_head.stop([str(self._temp_dir), f"{HOST}:{self._gcs_port}"])
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self.started_here = False
