"""With kube-controller-manager running: the Job controller turns the operator's training Job
into a pod that Pod Security "restricted" admits, and the garbage collector removes a deleted
model's Jobs, request ConfigMaps and RayService through their ownerReferences.

The controller manager runs only for this module (started and stopped here): the lifecycle
tests play the Job controller themselves and must not race a real one."""

from __future__ import annotations

import pytest
from controlplane import ControlPlane
from kopfkit import (
    CONFIGMAPS,
    JOBS,
    MODELS,
    NS,
    PODS,
    RAYSERVICES,
    dataset,
    eval_summary,
    eventually,
    model,
    revision_of,
    train_summary,
)

pytestmark = pytest.mark.timeout(150)
RESTRICTED = "pod-security.kubernetes.io/enforce"


@pytest.fixture(scope="module")
def controllers(control_plane: ControlPlane, installed):
    control_plane.start_controller_manager()
    yield control_plane
    control_plane.stop_controller_manager()


@pytest.fixture()
def restricted(controllers: ControlPlane):
    controllers.kubectl("label", "namespace", NS, f"{RESTRICTED}=restricted", "--overwrite")
    yield
    controllers.kubectl("label", "namespace", NS, f"{RESTRICTED}-")


async def test_the_job_controller_makes_a_restricted_pod_of_the_training_job(
    controllers, restricted, operator_factory, cluster
):
    await cluster.create(CONFIGMAPS, dataset())
    await operator_factory()
    body = model()
    await cluster.create(MODELS, body)
    job = f"mm-{revision_of(body)}-train"

    pods = await eventually(lambda: [p for p in cluster.all(PODS)
                                     if p["metadata"].get("labels", {}).get("job-name") == job],
                            timeout=60, what="the Job controller's pod")
    assert [e for e in cluster.events("FailedCreate")] == []
    spec = pods[0]["spec"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    container = spec["containers"][0]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert pods[0]["metadata"]["ownerReferences"][0]["name"] == job


async def test_a_deleted_model_takes_its_children_with_it(controllers, operator_factory, cluster):
    await cluster.create(CONFIGMAPS, dataset())
    await operator_factory()
    body = model()
    await cluster.create(MODELS, body)
    rev = revision_of(body)
    await eventually(lambda: cluster.get(JOBS, f"mm-{rev}-train"), what="training Job")
    await cluster.finish_job(f"mm-{rev}-train", train_summary("mm", rev))
    await eventually(lambda: cluster.get(JOBS, f"mm-{rev}-eval"), timeout=30, what="eval Job")
    await cluster.finish_job(f"mm-{rev}-eval", eval_summary(rev))
    await eventually(lambda: cluster.get(RAYSERVICES, "mm"), timeout=30, what="RayService")
    owned = [c["metadata"]["name"] for c in cluster.all(CONFIGMAPS)
             if c["metadata"].get("ownerReferences")]
    assert f"mm-{rev}-train-request" in owned

    await cluster.delete(MODELS, "mm")

    await eventually(lambda: cluster.get(MODELS, "mm") is None, timeout=30, what="the model gone")
    await eventually(lambda: not cluster.all(JOBS) and cluster.get(RAYSERVICES, "mm") is None
                     and not any(c["metadata"]["name"] in owned for c in cluster.all(CONFIGMAPS)),
                     timeout=60, what="the garbage collector to remove the children")
    assert cluster.get(CONFIGMAPS, "mm-data") is not None  # the user's own data stays
