"""What the operator does with input it cannot use, under Kopf against kmock: a missing
ConfigMap, an invalid spec, a crashing Job, a superseded revision, nowhere to serve. Each gives
a condition with a clear reason and an Event, and nothing crashes or spins."""

from __future__ import annotations

import pytest
from kopfkit import (
    CONFIGMAPS,
    JOBS,
    MODELS,
    RAYSERVICES,
    Cluster,
    FakeServe,
    dataset,
    eval_summary,
    eventually,
    model,
    revision_of,
    start_training,
    train_summary,
)

pytestmark = pytest.mark.timeout(60)



def condition(cluster: Cluster, type_: str) -> dict:
    return next((c for c in cluster.status().get("conditions", []) if c["type"] == type_), {})


async def test_a_missing_dataset_configmap_is_reported_and_retried(operator_factory, cluster):
    await operator_factory()
    body = model()
    await cluster.create(MODELS, body)

    ready = await eventually(lambda: condition(cluster, "Ready").get("reason") == "DependencyMissing"
                             and condition(cluster, "Ready"), what="DependencyMissing")
    assert ready["status"] == "False"
    assert "spec.dataset.configMap: ConfigMap 'mm-data' not found in namespace 'ml'" in ready["message"]
    warnings = await eventually(lambda: cluster.events("DependencyMissing"))
    assert warnings[0]["type"] == "Warning"
    assert cluster.all(JOBS) == []

    await cluster.create(CONFIGMAPS, dataset())  # the user fixes it; the backoff retry sees it
    await eventually(lambda: cluster.get(JOBS, f"mm-{revision_of(body)}-train"), what="Job after fix")
    assert len(cluster.events("DependencyMissing")) == 1  # one Event, not one per retry


async def test_a_configmap_without_the_key_names_the_keys_it_has(operator_factory, cluster):
    configmap = dataset()
    configmap["data"] = {"other.jsonl": "{}"}
    await cluster.create(CONFIGMAPS, configmap)
    await operator_factory()
    await cluster.create(MODELS, model())

    ready = await eventually(lambda: condition(cluster, "Ready").get("reason") == "DependencyMissing"
                             and condition(cluster, "Ready"))
    assert "has no key 'conversations.jsonl' (it has: other.jsonl)" in ready["message"]


async def test_an_invalid_spec_is_a_condition_and_an_event_not_a_crash(operator_factory, cluster):
    await cluster.create(CONFIGMAPS, dataset())
    await operator_factory()
    # The CRD's CEL rule would refuse this; kmock does not, so the operator's own check must.
    await cluster.create(MODELS, model(steps=[(50, "1m"), (10, "1m"), (100, "0s")]))

    ready = await eventually(lambda: condition(cluster, "Ready").get("reason") == "InvalidSpec"
                             and condition(cluster, "Ready"), what="InvalidSpec")
    assert "strictly increasing" in ready["message"]
    assert (await eventually(lambda: cluster.events("InvalidSpec")))[0]["type"] == "Warning"
    assert cluster.all(JOBS) == []

    await cluster.patch(MODELS, "mm", {"spec": {"serving": {"rollout": {"steps": [
        {"weight": 10, "duration": "1m"}, {"weight": 100, "duration": "0s"}]}}}})
    await eventually(lambda: cluster.all(JOBS), what="a Job once the spec is fixed")


async def test_a_crashed_training_job_fails_the_revision_with_its_log_tail(operator_factory, cluster):
    body, rev, _ = await start_training(cluster, operator_factory)

    await cluster.finish_job(f"mm-{rev}-train", "Traceback (most recent call last):\n"
                             "torch.OutOfMemoryError: CUDA out of memory", ok=False)

    status = await eventually(lambda: cluster.status().get("phase") == "Failed" and cluster.status())
    trained = condition(cluster, "Trained")
    assert trained["status"] == "False" and trained["reason"] == "TrainingFailed"
    assert "CUDA out of memory" in trained["message"] and "exit code 1" in trained["message"]
    assert status["history"][-1]["outcome"] == "Failed"
    await eventually(lambda: cluster.events("TrainingFailed"))


async def test_a_new_revision_mid_training_cancels_the_old_jobs(operator_factory, cluster):
    body, old, _ = await start_training(cluster, operator_factory)

    patched = await cluster.patch(MODELS, "mm", {"spec": {"training": {"epochs": 5}}})
    new = revision_of(patched)

    await eventually(lambda: cluster.get(JOBS, f"mm-{new}-train"), what="the new Job")
    await eventually(lambda: cluster.get(JOBS, f"mm-{old}-train") is None, what="old Job deleted")
    assert cluster.get(CONFIGMAPS, f"mm-{old}-train-request") is None
    status = await eventually(lambda: cluster.status()["candidate"]["revision"] == new
                              and cluster.status(), what="the new candidate in status")
    assert status["history"][-1]["outcome"] == "Superseded"


async def test_a_serving_change_alone_does_not_retrain(operator_factory, cluster):
    body, rev, _ = await start_training(cluster, operator_factory)
    creates = cluster.creates(JOBS)

    await cluster.patch(MODELS, "mm", {"spec": {"serving": {"replicas": 3}}})
    await eventually(lambda: cluster.status().get("observedGeneration") == 2, what="generation 2")
    assert cluster.creates(JOBS) == creates
    assert cluster.status()["candidate"]["revision"] == rev


async def test_without_kuberay_or_a_ray_address_a_passed_revision_waits_for_serving(
    operator_factory, cluster
):
    body, rev, _ = await start_training(cluster, operator_factory, kuberay=False)
    await cluster.finish_job(f"mm-{rev}-train", train_summary("mm", rev))
    await eventually(lambda: cluster.get(JOBS, f"mm-{rev}-eval"))
    await cluster.finish_job(f"mm-{rev}-eval", eval_summary(rev))

    ready = await eventually(lambda: condition(cluster, "Ready").get("reason") == "DependencyMissing"
                             and condition(cluster, "Ready"))
    assert "MOLTING_KUBERAY=false" in ready["message"]
    assert cluster.get(RAYSERVICES, "mm") is None


async def test_with_a_ray_address_traffic_goes_through_the_serve_rest_api(
    operator_factory, cluster, serve: FakeServe
):
    body, rev, _ = await start_training(cluster, operator_factory, model(serving={"rayAddress": "http://ray-head.ml.svc:8265"}))
    await cluster.finish_job(f"mm-{rev}-train", train_summary("mm", rev))
    await eventually(lambda: cluster.get(JOBS, f"mm-{rev}-eval"))
    await cluster.finish_job(f"mm-{rev}-eval", eval_summary(rev))

    await eventually(lambda: cluster.status().get("phase") == "Serving")
    config = serve.applied[-1]
    ingress = next(d for d in config["applications"][0]["deployments"] if d["name"] == "Ingress")
    assert [(r["revision"], r["weight"]) for r in ingress["user_config"]["revisions"]] == [(rev, 100)]
    assert cluster.get(RAYSERVICES, "mm") is None


async def test_a_paused_model_starts_nothing(operator_factory, cluster):
    await cluster.create(CONFIGMAPS, dataset())
    await operator_factory()
    await cluster.create(MODELS, model(paused=True))

    ready = await eventually(lambda: condition(cluster, "Ready").get("reason") == "Paused"
                             and condition(cluster, "Ready"))
    assert ready["status"] == "False"
    assert cluster.all(JOBS) == []
