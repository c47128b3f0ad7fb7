"""The serving app on one machine: a local Ray bound to 127.0.0.1, and deploys through the Serve
REST API, exactly as the operator does against a cluster.

`molting serve` and the local driver (`molting up`) call ``start_local_ray``, ``deploy`` and
``shutdown``. Every deploy is a declarative PUT, so a change that touches only ``user_config``
(weights, revisions, filter) is a ``reconfigure()`` in place: no replica restarts.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from pathlib import Path

import ray

from molting_workloads.contract.errors import ServeConfigError
from molting_workloads.contract.serve_admin import (
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
from molting_workloads.serving.ingress import read_api_key

logger = logging.getLogger(__name__)

_WORKLOADS_ROOT = str(Path(__file__).resolve().parents[2])


class _State:
    dashboard: str | None = None  # http://127.0.0.1:PORT of the Ray we started
    http_port: int | None = None  # the Serve proxy's port, fixed at the first deploy


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def start_local_ray(
    *, num_cpus: int = 2, num_gpus: int | None = None, dashboard_port: int | None = None,
    log_to_driver: bool = True, timeout_s: float = 90.0,
) -> str:
    """Start (once) a local Ray on loopback with the dashboard; its address (``http://…``)."""
    if _State.dashboard and ray.is_initialized():
        return _State.dashboard
    if ray.is_initialized():
        raise ServeConfigError("Ray is already initialised in this process without molting's dashboard")
    os.environ.update(LOOPBACK_ENV)
    # Workers import the app by its import path.
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if _WORKLOADS_ROOT not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([_WORKLOADS_ROOT, *paths])
    context = ray.init(
        address="local",  # never attach to someone else's cluster
        _node_ip_address=LOOPBACK,
        num_cpus=num_cpus,
        num_gpus=num_gpus,
        include_dashboard=True,
        dashboard_host=LOOPBACK,
        dashboard_port=dashboard_port or free_port(),
        object_store_memory=100 * 1024 * 1024,
        log_to_driver=log_to_driver,
    )
    _State.dashboard = f"http://{context.dashboard_url}"
    _wait_for_dashboard(_State.dashboard, timeout_s)
    logger.info("local Ray started; dashboard %s", _State.dashboard)
    return _State.dashboard


def _wait_for_dashboard(address: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    with _admin(address) as admin:
        while True:
            try:
                admin.status()
                return
            except ServeConfigError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)


def _admin(address: str, api_key: str | None = None) -> ServeAdmin:
    return ServeAdmin(address, token=ray_token_from_environment(), api_key=api_key)


def endpoint(cfg: ServeAppConfig) -> str:
    """The base URL of the app's routes (``…/v1/chat/completions`` lives under it)."""
    if _State.http_port is None:
        raise ServeConfigError("nothing deployed yet")
    prefix = cfg.route_prefix.rstrip("/")
    return f"http://{LOOPBACK}:{_State.http_port}{prefix}"


def deploy(cfg: ServeAppConfig, *, http_port: int | None = None, timeout_s: float = 300.0) -> str:
    """Apply the app's config and wait until it runs with these exact settings; the endpoint.

    The first deploy starts Serve on ``http_port`` (default: a free port); later deploys keep it.
    """
    address = start_local_ray()
    if _State.http_port is None:
        _State.http_port = http_port or free_port()
    config = build_serve_config(cfg, http_options={"host": LOOPBACK, "port": _State.http_port})
    base_url = endpoint(cfg)
    with _admin(address, api_key=read_api_key(cfg.api_key_file)) as admin:
        since = time.time()
        admin.apply(config)
        admin.wait_running(cfg.name, timeout_s=timeout_s, since=since)
        admin.wait_applied(base_url, settings_hash(cfg), timeout_s=timeout_s)
    logger.info("deployed %s at %s (weights %s)", cfg.name, base_url, cfg.weights())
    return base_url


def shutdown() -> None:
    """Stop Serve and the local Ray this process started (a no-op when none runs)."""
    if _State.dashboard and ray.is_initialized():
        try:
            with _admin(_State.dashboard) as admin:
                admin.delete()
        except ServeConfigError as error:
            logger.warning("serve shutdown: %s", error)
    if ray.is_initialized():
        ray.shutdown()
    _State.dashboard = None
    _State.http_port = None
