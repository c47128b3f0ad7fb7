"""Runs the Kopf driver in the current event loop until a stop flag is set or a signal arrives.

`molting operator` calls ``run`` with the kubeconfig login; the kmock tests and the benchmark
call it with a login that points kopf at the mock. ``kopf.spawn_tasks`` + ``kopf.run_tasks``
are used rather than ``kopf.operator()``, which waits on exit and cancels foreign tasks.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any

import kopf

import molting_operator
from molting_operator.drivers.cluster import handlers
from molting_operator.drivers.cluster.config import Context


def login_with_kubeconfig(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """kopf's own login through the `kubernetes` package: in-cluster, else the kubeconfig."""
    return kopf.login_via_client(**kwargs)


def own_identity(environ: Mapping[str, str] = os.environ) -> str:
    """Who this operator is, for kopf and the Lease: the pod name (the chart's POD_NAME, from
    the downward API), else the hostname. kopf's own default calls getpass.getuser(), which
    raises KeyError under a UID with no passwd entry (any arbitrary UID an image runs as)."""
    return environ.get("POD_NAME") or socket.gethostname()


async def run(
    context: Context,
    *,
    login: Callable[..., Any] = login_with_kubeconfig,
    namespaces: Collection[str] = (),
    clusterwide: bool = False,
    liveness_endpoint: str | None = None,
    stop_flag: asyncio.Event | None = None,
    ready_flag: asyncio.Event | None = None,
) -> None:
    registry = handlers.build_registry(context, login)
    foreign = ForeignTasks(asyncio.all_tasks())
    tasks = await kopf.spawn_tasks(
        registry=registry,
        memo=kopf.Memo(context=context),
        namespaces=list(namespaces),
        clusterwide=clusterwide,
        standalone=True,
        identity=own_identity(),  # kopf.Identity is a NewType of str
        liveness_endpoint=liveness_endpoint,
        stop_flag=stop_flag,
        ready_flag=ready_flag,
    )
    await kopf.run_tasks(tasks, ignored=foreign)


_OURS = tuple(os.path.dirname(m.__file__) + os.sep for m in (kopf, molting_operator))


class ForeignTasks(Collection[asyncio.Task]):
    """The tasks kopf must leave alone when it stops: those that existed before it started, and
    any later one not running kopf's or Molting's code (a test's, or an in-process API mock's
    connection handlers). ``kopf.run_tasks`` cancels every other task it finds at exit."""

    def __init__(self, before: Collection[asyncio.Task]) -> None:
        self._before = set(before)

    def __contains__(self, task: object) -> bool:
        if task in self._before:
            return True
        code = getattr(getattr(task, "get_coro", lambda: None)(), "cr_code", None)
        return code is None or not code.co_filename.startswith(_OURS)

    def __iter__(self) -> Iterator[asyncio.Task]:
        return iter(self._before)

    def __len__(self) -> int:
        return len(self._before)
