"""The real-API-server tier: one control plane for the session (controlplane.py), the chart
installed into it with `helm install` as a user would, and per-test fixtures with the same names
as the kmock tier's (``cluster``, ``serve``, ``operator_factory``, ``kube_client``), so the Kopf
driver's lifecycle tests run unchanged against the real server.

The operator runs with the chart's ServiceAccount token, never as admin: every request it makes
passes the chart's RBAC. The test itself plays the scheduler, the Job controller and the
kubelet (kubekit.KubeCluster), as envtest tests do.

Without the binaries the tier skips and says how to provide them; under CI (CI=true) it fails
instead, so it can never be skipped there.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import kopf
import pytest
import pytest_asyncio

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
for folder in (HERE, ROOT / "tests" / "integration" / "kopf", ROOT / "tests" / "unit"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import controlplane  # noqa: E402
from kopfkit import INTERVAL, NS, FakeServe, RunningOperator  # noqa: E402
from kubekit import HELM, Installed, KubeCluster, url  # noqa: E402

from molting_operator.builders.jobs import JobDefaults  # noqa: E402
from molting_operator.drivers.cluster import kube, running  # noqa: E402
from molting_operator.drivers.cluster.config import Context, OperatorConfig  # noqa: E402

RELEASE, RELEASE_NS, OPERATOR_SA = "molting", "molting-system", "molting"
RAYSERVICE_CRD = HERE / "data" / "rayservice-crd.yaml"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.kube)


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[controlplane.ControlPlane]:
    try:
        assets = controlplane.find_assets()
    except controlplane.MissingAssets as error:
        if os.environ.get("CI"):
            pytest.fail(f"the real-API-server tier must run in CI: {error}")
        pytest.skip(str(error))
    plane = controlplane.ControlPlane(tmp_path_factory.mktemp("kube"), assets)
    try:
        plane.start()
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="session")
def installed(control_plane: controlplane.ControlPlane) -> Iterator[Installed]:
    """`helm install` of the chart (CRD, RBAC, operator Deployment), KubeRay's RayService kind
    (a schemaless stand-in), a node for the fake kubelet, and namespace NS."""
    plane = control_plane
    if not HELM.exists():
        pytest.fail(f"{HELM} is missing: run `make tools`")
    kubelet = controlplane.FakeKubelet(plane)
    with plane.client() as client:
        kubelet.register(client)
    plane.kubectl("apply", "-f", str(RAYSERVICE_CRD))
    result = subprocess.run(
        [str(HELM), "--kubeconfig", str(plane.admin_kubeconfig), "install", RELEASE,
         str(ROOT / "charts" / "molting"), "--namespace", RELEASE_NS, "--create-namespace"],
        capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, f"helm install: {result.stderr}"
    plane.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                  "crd/moltingmodels.molting.dev", "crd/rayservices.ray.io")
    plane.kubectl("create", "namespace", NS)
    plane.kubectl("create", "serviceaccount", "default", "-n", NS)
    token = plane.token(RELEASE_NS, OPERATOR_SA)
    kubeconfig = plane.write_kubeconfig("operator", token=token, namespace=NS)
    try:
        yield Installed(plane, kubelet, token, kubeconfig)
    finally:
        kubelet.close()


def _empty_namespace(plane: controlplane.ControlPlane) -> None:
    """Remove what a test left in NS (no garbage collector runs in this tier)."""
    with plane.client() as client:
        models = url("molting.dev/v1alpha1/moltingmodels")
        for item in client.get(models).json().get("items") or []:
            client.patch(f"{models}/{item['metadata']['name']}", json={"metadata": {"finalizers": None}},
                         headers={"Content-Type": "application/merge-patch+json"})
        for resource in ("molting.dev/v1alpha1/moltingmodels", "batch/v1/jobs", "v1/pods",
                         "v1/configmaps", "v1/events", "ray.io/v1/rayservices",
                         "coordination.k8s.io/v1/leases"):
            client.request("DELETE", url(resource), params={"gracePeriodSeconds": "0"},
                           json={"propagationPolicy": "Background", "gracePeriodSeconds": 0})


@pytest.fixture()
def kube_cluster(installed: Installed) -> Iterator[KubeCluster]:
    _empty_namespace(installed.plane)
    cluster = KubeCluster(installed.plane, installed.kubelet)
    try:
        yield cluster
    finally:
        cluster.close()
        _empty_namespace(installed.plane)


# -- the names the kmock tier's tests ask for -------------------------------------------------


@pytest.fixture()
def cluster(kube_cluster: KubeCluster) -> KubeCluster:
    return kube_cluster


@pytest.fixture()
def apiserver(kube_cluster: KubeCluster) -> KubeCluster:
    """What the kmock tier's ``apiserver`` offers that tests read: ``reads``."""
    return kube_cluster


@pytest.fixture()
def serve(kube_cluster: KubeCluster) -> FakeServe:
    return FakeServe(kube_cluster)


@pytest.fixture()
def kube_client(installed: Installed, kube_cluster: KubeCluster) -> Iterator[kube.Kube]:
    """The driver's own client, as the operator's ServiceAccount."""
    client = kube.Kube(kube.configuration_from_kubeconfig(installed.kubeconfig))
    yield client
    client.close()


@pytest_asyncio.fixture()
async def operator_factory(installed: Installed, kube_cluster: KubeCluster,
                           serve: FakeServe) -> AsyncIterator[Any]:
    """The Kopf driver in-process, logged in with the chart's ServiceAccount token."""
    started: list[RunningOperator] = []
    plane = installed.plane

    async def login(**_: Any) -> kopf.ConnectionInfo:
        return kopf.ConnectionInfo(server=plane.url, ca_path=str(plane.ca.cert),
                                   token=installed.token, default_namespace=NS)

    async def start(*, kuberay: bool = True, interval: float = INTERVAL,
                    progress_every: float = 0.0) -> RunningOperator:
        config = OperatorConfig(
            defaults=JobDefaults(image="registry.test/molting-workloads:1", artifacts_pvc="arts",
                                 node_selector={"pool": "gpu"}),
            kuberay=kuberay, interval=interval, max_backoff=2.0, progress_every=progress_every,
        )
        client = kube.Kube(kube.configuration_from_kubeconfig(installed.kubeconfig), pool_size=8)
        context = Context(kube=client, config=config, serve=serve, workers=4)
        stop_flag, ready_flag = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(running.run(
            context, login=login, namespaces=[NS], stop_flag=stop_flag, ready_flag=ready_flag))
        await asyncio.wait_for(ready_flag.wait(), timeout=30)
        operator = RunningOperator(context, task, stop_flag)
        started.append(operator)
        return operator

    yield start
    for operator in started:
        if not operator.task.done():
            await operator.stop()
