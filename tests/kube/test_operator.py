"""What the real cluster showed about the operator itself, proven on the real API server:
training progress reaches the status within one read interval (it never did: the log was asked
for as text/plain, which the server refuses with 406, and a pod still pending used up the
interval), and the operator works under a UID with no passwd entry (kopf's default identity
crashed there), with its ServiceAccount token."""

from __future__ import annotations

import asyncio
import base64
import json
import tempfile
import time
from pathlib import Path

import kopf
import pytest
from controlplane import requests
from kopfkit import CONFIGMAPS, JOBS, MODELS, NS, dataset, eventually, model, revision_of
from kubekit import OPERATOR_USER, Installed, KubeCluster
from nobody import USER_VARIABLES, can_run_as_nobody, run_as_nobody

from molting_operator.builders.jobs import JobDefaults
from molting_operator.drivers.cluster import cache, kube, running, serving
from molting_operator.drivers.cluster.config import Context, OperatorConfig

pytestmark = pytest.mark.timeout(120)
READ_EVERY = 2.0


async def test_progress_reaches_the_status_within_one_read_interval(operator_factory, cluster):
    await cluster.create(CONFIGMAPS, dataset())
    await operator_factory(progress_every=READ_EVERY)
    body = model()
    await cluster.create(MODELS, body)
    job = f"mm-{revision_of(body)}-train"
    await eventually(lambda: cluster.get(JOBS, job), what="the training Job")
    await cluster.create_pod(job, f"{job}-r1")  # pulling its image: Pending for a while
    await asyncio.sleep(READ_EVERY * 1.5)

    await cluster.run_pod(job, 'molting-progress {"step": 4, "total": 40, "loss": 2.1}\n',
                          created=True)
    started = time.monotonic()
    progress = await eventually(lambda: cluster.status().get("progress"), timeout=READ_EVERY * 4,
                                what="progress")
    assert progress == {"step": 4, "total": 40, "loss": 2.1}
    assert time.monotonic() - started <= READ_EVERY + 1.5  # one read interval, plus a tick
    logs = requests(cluster.plane.audit_events(OPERATOR_USER), "get", "pods", "log")
    assert logs and all(e["responseStatus"]["code"] == 200 for e in logs)
    assert cluster.kubelet.requests  # the API server really proxied to the "kubelet"


def _operate_until_the_job_exists(installed: Installed, kubeconfig: Path, ca: bytes) -> None:
    """In the forked child, as NOBODY: the Kopf driver logged in with the token, until it has
    created the training Job of model ``mm``."""
    async def login(**_: object) -> kopf.ConnectionInfo:
        return kopf.ConnectionInfo(server=installed.plane.url, ca_data=ca, token=installed.token,
                                   default_namespace=NS)

    async def main() -> None:
        client = kube.Kube(kube.configuration_from_kubeconfig(kubeconfig))
        context = Context(kube=client, config=OperatorConfig(defaults=JobDefaults(), interval=0.5),
                          serve=serving.HttpServe())
        stop, ready = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(running.run(context, login=login, namespaces=[NS],
                                               stop_flag=stop, ready_flag=ready))
        deadline = time.monotonic() + 60
        while not context.children.of_model(cache.JOBS, NS, "mm"):
            if task.done():
                task.result()  # raises what kopf raised
            if time.monotonic() > deadline:
                raise TimeoutError("no training Job within 60 s")
            await asyncio.sleep(0.2)
        stop.set()
        await asyncio.wait_for(task, 15)

    asyncio.run(main())


@pytest.mark.skipif(not can_run_as_nobody(),
                    reason="needs root to drop to a UID without a passwd entry")
def test_the_operator_works_under_a_uid_without_a_passwd_entry(
    installed: Installed, kube_cluster: KubeCluster, monkeypatch
):
    for name in USER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    plane = installed.plane
    ca = plane.ca.cert.read_bytes()
    folder = Path(tempfile.mkdtemp(prefix="molting-uid-"))
    folder.chmod(0o755)
    kubeconfig = folder / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "op",
        "clusters": [{"name": "c", "cluster": {"server": plane.url,
                                               "certificate-authority-data": base64.b64encode(ca).decode()}}],
        "users": [{"name": "op", "user": {"token": installed.token}}],
        "contexts": [{"name": "op", "context": {"cluster": "c", "user": "op", "namespace": NS}}],
    }))
    kubeconfig.chmod(0o644)
    with plane.client() as client:
        client.post(f"/api/v1/namespaces/{NS}/configmaps", json=dataset()).raise_for_status()
        client.post(f"/apis/molting.dev/v1alpha1/namespaces/{NS}/moltingmodels",
                    json=model()).raise_for_status()

    code, trace = run_as_nobody(lambda: _operate_until_the_job_exists(installed, kubeconfig, ca))
    assert code == 0, trace
    job = kube_cluster.get(JOBS, f"mm-{revision_of(model())}-train")
    assert job is not None
    creates = requests(kube_cluster.plane.audit_events(OPERATOR_USER), "create", "jobs")
    assert any(e["responseStatus"]["code"] == 201 for e in creates)
