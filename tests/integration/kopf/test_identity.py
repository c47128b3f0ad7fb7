"""The operator starts under a UID with no passwd entry (an image run as an arbitrary UID, as
OpenShift does): kopf's default identity calls getpass.getuser(), which raises KeyError there.

The operator runs in a forked child that drops to such a UID (a fork, not an exec: the test's
Python lives where that UID may not read), against the kmock API server of the parent.
"""

from __future__ import annotations

import asyncio
import os

import kopf
import pytest
from kopfkit import NS
from nobody import USER_VARIABLES, can_run_as_nobody, run_as_nobody

from molting_operator.builders.jobs import JobDefaults
from molting_operator.drivers.cluster import kube, running, serving
from molting_operator.drivers.cluster.config import Context, OperatorConfig

pytestmark = pytest.mark.timeout(60)


def _start_and_stop(url: str) -> None:
    """In the child: start the operator, wait until kopf is ready, stop it."""
    async def login(**_: object) -> kopf.ConnectionInfo:
        return kopf.ConnectionInfo(server=url, insecure=True, default_namespace=NS)

    async def main() -> None:
        context = Context(kube=kube.Kube(kube.configuration_for(url)),
                          config=OperatorConfig(defaults=JobDefaults()), serve=serving.HttpServe())
        stop, ready = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(running.run(context, login=login, namespaces=[NS],
                                               stop_flag=stop, ready_flag=ready))
        await asyncio.wait_for(asyncio.wait({task, asyncio.create_task(ready.wait())},
                                            return_when=asyncio.FIRST_COMPLETED), 20)
        if task.done():
            task.result()  # raises what kopf raised
        stop.set()
        await asyncio.wait_for(task, 15)

    asyncio.run(main())


@pytest.mark.skipif(not can_run_as_nobody(),
                    reason="needs root to drop to a UID without a passwd entry")
@pytest.mark.parametrize("pod_name", ["molting-7d9c-x2k4p", None], ids=["pod-name", "hostname"])
async def test_the_operator_runs_under_a_uid_without_a_passwd_entry(
    apiserver, monkeypatch, pod_name
):
    for name in USER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    if pod_name:
        monkeypatch.setenv("POD_NAME", pod_name)
    code, trace = await asyncio.to_thread(
        run_as_nobody, lambda: _start_and_stop(str(apiserver.url).rstrip("/")))
    assert code == 0, trace
    assert running.own_identity() == (pod_name or os.uname().nodename)
