"""The operator starts under a UID with no passwd entry (an image run as an arbitrary UID, as
OpenShift does): kopf's default identity calls getpass.getuser(), which raises KeyError there.

The operator runs in a forked child that drops to such a UID (a fork, not an exec: the test's
Python lives where that UID may not read), against the kmock API server of the parent.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import traceback

import kopf
import pytest
from kopfkit import NS

from molting_operator.builders.jobs import JobDefaults
from molting_operator.drivers.cluster import kube, running, serving
from molting_operator.drivers.cluster.config import Context, OperatorConfig

NOBODY = 54321  # no passwd entry
pytestmark = pytest.mark.timeout(60)


def _has_no_passwd_entry(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return True
    return False


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


@pytest.mark.skipif(os.getuid() != 0 or not _has_no_passwd_entry(NOBODY),
                    reason="needs root to drop to a UID without a passwd entry")
@pytest.mark.parametrize("pod_name", ["molting-7d9c-x2k4p", None], ids=["pod-name", "hostname"])
async def test_the_operator_runs_under_a_uid_without_a_passwd_entry(
    apiserver, monkeypatch, pod_name
):
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME", "POD_ID", "POD_NAME"):
        monkeypatch.delenv(name, raising=False)  # getpass reads these before the passwd file
    if pod_name:
        monkeypatch.setenv("POD_NAME", pod_name)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 1
        try:
            os.close(read)
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            _start_and_stop(str(apiserver.url).rstrip("/"))
            code = 0
        except BaseException:
            os.write(write, traceback.format_exc().encode())
        finally:
            os._exit(code)
    os.close(write)
    _, status = await asyncio.to_thread(os.waitpid, pid, 0)
    with os.fdopen(read, "rb") as pipe:
        trace = pipe.read().decode()
    assert os.waitstatus_to_exitcode(status) == 0, trace
    assert running.own_identity() == (pod_name or os.uname().nodename)
