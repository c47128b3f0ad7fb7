"""Kopf against kmock: the API server emulator (apiserver.py documents what it adds to kmock
0.8) and an ``operator_factory`` that runs the Kopf driver in-process against it.

kopf is pointed at the emulator by an ``on.login`` handler returning
``kopf.ConnectionInfo(server=<url>)``, and the driver's own client gets the same URL. Each
operator runs ``kopf.spawn_tasks``/``run_tasks`` (through ``running.run``) in an asyncio task of
the test's loop, with a fresh registry, and stops on a stop flag.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import kmock
import kopf
import pytest
import pytest_asyncio
from apiserver import ApiServer
from kopfkit import INTERVAL, NS, Cluster, FakeServe, RunningOperator, declare_resources

from molting_operator.builders.jobs import JobDefaults
from molting_operator.drivers.cluster import kube, running
from molting_operator.drivers.cluster.config import Context, OperatorConfig


@pytest_asyncio.fixture()
async def apiserver() -> AsyncIterator[ApiServer]:
    async with ApiServer() as server, kmock.Server(server):
        declare_resources(server)
        yield server


@pytest.fixture()
def cluster(apiserver: ApiServer) -> Cluster:
    return Cluster(apiserver)


@pytest.fixture()
def serve(cluster: Cluster) -> FakeServe:
    return FakeServe(cluster)


OperatorFactory = Callable[..., Awaitable[RunningOperator]]


@pytest_asyncio.fixture()
async def operator_factory(apiserver: ApiServer, serve: FakeServe) -> AsyncIterator[OperatorFactory]:
    started: list[RunningOperator] = []
    url = str(apiserver.url).rstrip("/")

    async def login(**_: Any) -> kopf.ConnectionInfo:
        return kopf.ConnectionInfo(server=url, insecure=True, default_namespace=NS)

    async def start(*, kuberay: bool = True, interval: float = INTERVAL) -> RunningOperator:
        config = OperatorConfig(
            defaults=JobDefaults(image="registry.test/molting-workloads:1", artifacts_pvc="arts",
                                 node_selector={"pool": "gpu"}),
            kuberay=kuberay, interval=interval, max_backoff=2.0, progress_every=0.0,
        )
        context = Context(kube=kube.Kube(kube.configuration_for(url), pool_size=8),
                          config=config, serve=serve, workers=4)
        stop_flag, ready_flag = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(running.run(
            context, login=login, namespaces=[NS], stop_flag=stop_flag, ready_flag=ready_flag))
        await asyncio.wait_for(ready_flag.wait(), timeout=15)
        operator = RunningOperator(context, task, stop_flag)
        started.append(operator)
        return operator

    yield start
    for operator in started:
        if not operator.task.done():
            await operator.stop()
