"""The whole lifecycle under Kopf against the kmock API server: train → evaluate → serve → canary
→ promote; automatic and manual rollback; failed gates; a restart in the middle of a canary.

kmock has no Job controller or kubelet: the tests play them (``Cluster.finish_job``), and a fake
Serve seam scripts the live stats the canary analysis reads.
"""

from __future__ import annotations

import json

import pytest
import yaml
from kopfkit import (
    CONFIGMAPS,
    JOBS,
    META_HEAVY,
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

from molting_operator.drivers.cluster import metrics

pytestmark = pytest.mark.timeout(90)



def served_weights(ray_service: dict) -> dict[str, int]:
    """The split the RayService asks Serve for (the Ingress's user_config)."""
    config = yaml.safe_load(ray_service["spec"]["serveConfigV2"])
    ingress = next(d for d in config["applications"][0]["deployments"] if d["name"] == "Ingress")
    return {r["revision"]: r["weight"] for r in ingress["user_config"]["revisions"] if r["weight"]}


def weight_history(cluster: Cluster) -> list[dict[str, int]]:
    """Every distinct split the RayService went through, in order."""
    out: list[dict[str, int]] = []
    for version in cluster.history(RAYSERVICES, "mm"):
        weights = served_weights(version)
        if not out or out[-1] != weights:
            out.append(weights)
    return out


def condition(cluster: Cluster, type_: str) -> dict:
    return next((c for c in cluster.status().get("conditions", []) if c["type"] == type_), {})


def phase_is(cluster: Cluster, phase: str):
    return lambda: cluster.status().get("phase") == phase and cluster.status()


async def train_and_evaluate(cluster: Cluster, rev: str, metrics_=None, stable=None) -> None:
    """Play both Jobs of ``rev`` to success (the operator must create each first)."""
    await eventually(lambda: cluster.get(JOBS, f"mm-{rev}-train"), what=f"training Job of {rev}")
    await cluster.finish_job(f"mm-{rev}-train", train_summary("mm", rev))
    await eventually(lambda: cluster.get(JOBS, f"mm-{rev}-eval"), what=f"eval Job of {rev}")
    kwargs = {"metrics": metrics_} if metrics_ else {}
    await cluster.finish_job(f"mm-{rev}-eval", eval_summary(rev, stable=stable, **kwargs))


async def serve_first_revision(cluster: Cluster, operator_factory):
    """Apply a model and play its first revision into Serving; the revision and the operator."""
    await cluster.create(CONFIGMAPS, dataset())
    operator = await operator_factory()
    body = model()
    await cluster.create(MODELS, body)
    rev = revision_of(body)
    await train_and_evaluate(cluster, rev)
    await eventually(phase_is(cluster, "Serving"), what="first revision serving")
    return rev, operator


async def new_revision(cluster: Cluster, learning_rate: float = 1e-4) -> str:
    patched = await cluster.patch(MODELS, "mm", {"spec": {"training": {"learningRate": learning_rate}}})
    return revision_of(patched)


async def test_apply_creates_the_training_job_with_the_right_spec(operator_factory, cluster):
    await cluster.create(CONFIGMAPS, dataset())
    await operator_factory()
    body = model()
    await cluster.create(MODELS, body)
    rev = revision_of(body)

    job = await eventually(lambda: cluster.get(JOBS, f"mm-{rev}-train"), what="training Job")
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == "registry.test/molting-workloads:1"
    assert container["command"] == ["molting", "train", "--request", "/etc/molting/request.yaml"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert pod["nodeSelector"] == {"pool": "gpu", "gpu": "h100"}
    assert pod["automountServiceAccountToken"] is False
    assert job["metadata"]["ownerReferences"][0]["uid"] == cluster.get(MODELS, "mm")["metadata"]["uid"]
    request = yaml.safe_load(cluster.get(CONFIGMAPS, f"mm-{rev}-train-request")["data"]["request.yaml"])
    assert request["revision"] == rev
    assert request["dataset"] == "/data/dataset/dataset.jsonl"
    assert request["outputDir"] == f"/artifacts/mm/{rev}"
    status = await eventually(phase_is(cluster, "Training"))
    assert status["candidate"]["revision"] == rev
    assert status["observedGeneration"] == 1
    events = await eventually(lambda: cluster.events(), what="an Event")  # posted in the background
    assert [e["reason"] for e in events] == ["TrainingStarted"]


async def test_training_progress_reaches_the_status(operator_factory, cluster):
    body, rev, _ = await start_training(cluster, operator_factory)
    await cluster.run_pod(f"mm-{rev}-train", "loading\nmolting-progress {\"step\": 3, \"total\": 30, "
                          "\"loss\": 2.5}\nmolting-progress {\"step\": 12, \"total\": 30, \"loss\": 1.9, "
                          "\"etaSeconds\": 40}\nnot json\n")

    progress = await eventually(lambda: cluster.status().get("progress"), what="progress")
    assert progress == {"step": 12, "total": 30, "loss": 1.9, "etaSeconds": 40.0}


async def test_a_trained_revision_is_evaluated_then_served_at_100_percent(operator_factory, cluster):
    body, rev, _ = await start_training(cluster, operator_factory)
    await cluster.finish_job(f"mm-{rev}-train", train_summary("mm", rev))

    job = await eventually(lambda: cluster.get(JOBS, f"mm-{rev}-eval"), what="eval Job")
    assert job["spec"]["template"]["spec"]["containers"][0]["command"][:2] == ["molting", "eval"]
    request = yaml.safe_load(cluster.get(CONFIGMAPS, f"mm-{rev}-eval-request")["data"]["request.yaml"])
    assert request["adapter"] == f"/artifacts/mm/{rev}/adapter"
    assert "stableAdapter" not in request
    await eventually(phase_is(cluster, "Evaluating"))

    await cluster.finish_job(f"mm-{rev}-eval", eval_summary(rev))
    ray_service = await eventually(lambda: cluster.get(RAYSERVICES, "mm"), what="RayService")
    assert served_weights(ray_service) == {rev: 100}
    status = await eventually(phase_is(cluster, "Serving"))
    assert status["stable"]["revision"] == rev
    assert status["traffic"] == [{"revision": rev, "weight": 100}]
    # Ready once the app reports it runs the split (the next observation), not when written.
    status = await eventually(lambda: condition(cluster, "Ready").get("status") == "True"
                              and cluster.status(), what="Ready")
    assert condition(cluster, "Serving")["message"] == f"serving {rev} 100%"
    await eventually(lambda: {"TrainingSucceeded", "EvaluationStarted", "GatesPassed", "Promoted"}
                     <= {e["reason"] for e in cluster.events()}, what="the Events")


async def test_a_new_revision_that_passes_its_gates_walks_the_canary_steps(
    operator_factory, cluster, serve: FakeServe
):
    first, _ = await serve_first_revision(cluster, operator_factory)
    second = await new_revision(cluster)
    serve.healthy(first, second)
    await train_and_evaluate(cluster, second, stable=eval_summary(first).metrics)

    await eventually(phase_is(cluster, "Canary"), what="canary")
    status = await eventually(phase_is(cluster, "Serving"), what="promotion", timeout=30)
    assert status["stable"]["revision"] == second
    assert status["previous"]["revision"] == first
    assert weight_history(cluster) == [
        {first: 100}, {first: 90, second: 10}, {first: 50, second: 50}, {second: 100}]
    assert all(probe == ("mm", second) for probe in serve.probes)
    request = yaml.safe_load(cluster.get(CONFIGMAPS, f"mm-{second}-eval-request")["data"]["request.yaml"])
    assert request["stableRevision"] == first
    # The cluster part of the RayService never changed: only serveConfigV2 did.
    clusters = {json.dumps(v["spec"]["rayClusterConfig"], sort_keys=True)
                for v in cluster.history(RAYSERVICES, "mm")}
    assert len(clusters) == 1
    assert metrics.REGISTRY.get_sample_value(
        "molting_phase_transitions_total", {"from_phase": "Canary", "to_phase": "Serving"}) >= 1


async def test_a_failing_live_analysis_rolls_back_automatically(
    operator_factory, cluster, serve: FakeServe
):
    first, _ = await serve_first_revision(cluster, operator_factory)
    second = await new_revision(cluster)
    serve.healthy(first)
    serve.meta_heavy(second)
    before = metrics.REGISTRY.get_sample_value("molting_rollbacks_total", {"trigger": "auto"}) or 0
    await train_and_evaluate(cluster, second, stable=eval_summary(first).metrics)

    status = await eventually(phase_is(cluster, "RolledBack"), what="rollback")
    assert status["stable"]["revision"] == first
    assert status["traffic"] == [{"revision": first, "weight": 100}]
    assert status["history"][-1]["revision"] == second
    assert status["history"][-1]["outcome"] == "RolledBack"
    assert weight_history(cluster) == [{first: 100}, {first: 90, second: 10}, {first: 100}]
    warning = (await eventually(lambda: cluster.events("AnalysisFailed")))[0]
    assert warning["type"] == "Warning" and "meta-language" in warning["message"]
    assert metrics.REGISTRY.get_sample_value("molting_rollbacks_total", {"trigger": "auto"}) == before + 1


async def test_a_rollback_annotation_puts_the_previous_revision_back(
    operator_factory, cluster, serve: FakeServe
):
    first, _ = await serve_first_revision(cluster, operator_factory)
    second = await new_revision(cluster)
    serve.healthy(first, second)
    await train_and_evaluate(cluster, second, stable=eval_summary(first).metrics)
    await eventually(lambda: cluster.status().get("stable", {}).get("revision") == second,
                     what="second promoted", timeout=30)

    await cluster.patch(MODELS, "mm", {"metadata": {"annotations": {"molting.dev/rollback": "t1"}}})

    status = await eventually(phase_is(cluster, "RolledBack"), what="manual rollback")
    assert status["stable"]["revision"] == first
    assert status["previous"]["revision"] == second
    assert status["handledTokens"] == {"rollback": "t1"}
    assert weight_history(cluster)[-1] == {first: 100}
    assert (await eventually(lambda: cluster.events("ManualRollback")))[0]["message"] == f"Rolled back from {second} to {first}"


async def test_failed_gates_keep_the_stable_revision_serving(operator_factory, cluster):
    first, _ = await serve_first_revision(cluster, operator_factory)
    second = await new_revision(cluster)
    await train_and_evaluate(cluster, second, metrics_=META_HEAVY, stable=eval_summary(first).metrics)

    status = await eventually(phase_is(cluster, "GateFailed"), what="gates failed")
    assert status["stable"]["revision"] == first
    assert status["traffic"] == [{"revision": first, "weight": 100}]
    assert weight_history(cluster) == [{first: 100}]
    gates = next(c for c in status["conditions"] if c["type"] == "GatesPassed")
    assert gates["status"] == "False" and "metaLanguage" in gates["message"]
    warning = (await eventually(lambda: cluster.events("GatesFailed")))[0]
    assert warning["type"] == "Warning" and f"{first} keeps serving" in warning["message"]


async def test_an_operator_restarted_mid_canary_resumes_without_a_second_job(
    operator_factory, cluster, serve: FakeServe
):
    first, operator = await serve_first_revision(cluster, operator_factory)
    second = await new_revision(cluster)
    serve.healthy(first, second)
    await cluster.patch(MODELS, "mm", {"spec": {"serving": {"rollout": {"steps": [
        {"weight": 10, "duration": "1s"}, {"weight": 50, "duration": "1h"},
        {"weight": 100, "duration": "0s"}]}}}})
    await train_and_evaluate(cluster, second, stable=eval_summary(first).metrics)
    await eventually(lambda: cluster.status().get("canaryWeight") == 50, what="canary at 50%")

    await operator.stop()
    creates_before = cluster.creates(JOBS)
    await operator_factory()
    await cluster.patch(MODELS, "mm", {"metadata": {"annotations": {"molting.dev/promote": "go"}}})

    status = await eventually(phase_is(cluster, "Serving"), what="promotion after restart")
    assert status["stable"]["revision"] == second
    assert status["previous"]["revision"] == first
    assert cluster.creates(JOBS) == creates_before  # not even tried: the status says where it was
    trains = [j for j in cluster.all(JOBS) if j["metadata"]["labels"]["molting.dev/revision"] == second]
    assert sorted(j["metadata"]["name"] for j in trains) == [f"mm-{second}-eval", f"mm-{second}-train"]


async def test_a_deleted_model_is_released_by_the_operator(operator_factory, cluster):
    """kopf puts a finalizer on objects with timers; deleting must still go through."""
    first, _ = await serve_first_revision(cluster, operator_factory)
    assert cluster.get(MODELS, "mm")["metadata"]["finalizers"] == ["operator.molting.dev/finalizer"]

    await cluster.delete(MODELS, "mm")

    # kopf stops the timer before it lets the finalizer go: slow on a loaded machine.
    await eventually(lambda: cluster.get(MODELS, "mm") is None, timeout=60, what="the model gone")
    assert first


async def test_a_quiet_serving_model_costs_no_api_read_per_tick(operator_factory, cluster, apiserver):
    """Jobs and the RayService come from the watches; an ended Job's pod is read once."""
    await serve_first_revision(cluster, operator_factory)

    def ticks() -> float:
        return metrics.REGISTRY.get_sample_value(
            "molting_reconciles_total", {"trigger": "timer", "result": "ok"}) or 0.0

    start = ticks()
    await eventually(lambda: ticks() >= start + 1, what="a first tick")
    before = dict(apiserver.reads)
    start = ticks()
    await eventually(lambda: ticks() >= start + 4, what="four more ticks")
    assert {k: v - before.get(k, 0) for k, v in apiserver.reads.items() if v != before.get(k, 0)} == {}


async def test_a_serving_edit_reaches_the_ray_service_without_retraining(operator_factory, cluster):
    rev, _ = await serve_first_revision(cluster, operator_factory)
    await cluster.patch(MODELS, "mm", {"spec": {"serving": {"replicas": 2,
                                                             "filter": {"enabled": False}}}})

    def updated():
        body = cluster.get(RAYSERVICES, "mm")
        config = yaml.safe_load(body["spec"]["serveConfigV2"])
        app = config["applications"][0]
        generator = next(d for d in app["deployments"] if d["name"] == "Generator")
        ingress = next(d for d in app["deployments"] if d["name"] == "Ingress")
        workers = body["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]
        return (generator["num_replicas"] == 2 and ingress["user_config"]["filter"]["enabled"]
                is False and workers["replicas"] == 2 and body)

    body = await eventually(updated, what="the RayService to follow the serving edit")
    assert served_weights(body) == {rev: 100}
    assert sorted(j["metadata"]["name"] for j in cluster.all(JOBS)) == [f"mm-{rev}-eval", f"mm-{rev}-train"]
    assert cluster.creates(JOBS) == 2


async def test_the_ray_service_takes_its_resources_from_spec_serving_not_training(
    operator_factory, cluster
):
    """Training asks for a GPU (model()'s gpus: 1); serving on CPU must not."""
    await cluster.create(CONFIGMAPS, dataset())
    await operator_factory()
    body = model()
    body["spec"]["serving"]["resources"] = {"gpus": 0, "cpu": "2", "memory": "8Gi"}
    await cluster.create(MODELS, body)
    rev = revision_of(body)
    await train_and_evaluate(cluster, rev)

    ray_service = await eventually(lambda: cluster.get(RAYSERVICES, "mm"), what="RayService")
    config = yaml.safe_load(ray_service["spec"]["serveConfigV2"])
    generator = next(d for d in config["applications"][0]["deployments"] if d["name"] == "Generator")
    assert generator["ray_actor_options"] == {"num_cpus": 2.0}
    group = ray_service["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]
    wanted = {"cpu": "2", "memory": "8Gi"}
    assert group["template"]["spec"]["containers"][0]["resources"] == {
        "requests": wanted, "limits": wanted}


async def test_a_ray_service_whose_app_does_not_run_is_not_serving(
    operator_factory, cluster, serve: FakeServe
):
    """KubeRay may need minutes to bring the app up (a Generator that cannot be scheduled):
    until the app reports the split, neither Serving nor Ready is True."""
    serve.up = False
    await cluster.create(CONFIGMAPS, dataset())
    await operator_factory()
    body = model()
    await cluster.create(MODELS, body)
    rev = revision_of(body)
    await train_and_evaluate(cluster, rev)
    await eventually(lambda: cluster.get(RAYSERVICES, "mm"), what="RayService")
    await cluster.patch(RAYSERVICES, "mm", {"status": {"activeServiceStatus": {
        "applicationStatuses": {"mm": {"status": "DEPLOYING",
                                       "message": "Generator: 0/1 replicas (no GPU node)"}}}}},
        sub="status")

    serving = await eventually(lambda: "DEPLOYING" in condition(cluster, "Serving").get("message", "")
                               and condition(cluster, "Serving"),
                               what=lambda: f"ServePending: {cluster.status()}")
    assert serving["status"] == "False" and serving["reason"] == "ServePending"
    assert "no GPU node" in serving["message"]
    ready = condition(cluster, "Ready")
    assert ready["status"] == "False" and "DEPLOYING" in ready["message"]

    serve.up = True  # the app comes up and reports the split
    await eventually(lambda: condition(cluster, "Ready").get("status") == "True", what="Ready")
    assert condition(cluster, "Serving")["message"] == f"serving {rev} 100%"


async def test_a_canary_probe_waits_until_the_app_runs_the_new_split(
    operator_factory, cluster, serve: FakeServe
):
    """The first canary probe got a 404 (unknown revision) when it ran before Serve had the
    config; the step's clock also waits for the app."""
    first, _ = await serve_first_revision(cluster, operator_factory)
    second = await new_revision(cluster)
    serve.healthy(first)  # the candidate has no traffic yet: the analysis needs a probe
    serve.up = False  # the app does not answer while the canary's split is applied
    await train_and_evaluate(cluster, second, stable=eval_summary(first).metrics)
    await eventually(phase_is(cluster, "Canary"), what="canary")
    await eventually(lambda: "does not answer" in (cluster.status().get("canary") or {}).get(
        "analysis", ""), what="the canary waiting for the app")
    assert serve.probes == []
    serve.up = True
    await eventually(lambda: serve.probes, what="a probe once the app runs the split")
    assert set(serve.probes) == {("mm", second)}


async def test_a_missing_dependency_mid_canary_freezes_it_and_cancels_nothing(
    operator_factory, cluster, serve: FakeServe
):
    """A spec edited mid-canary names a ConfigMap that does not exist: the operator waits, as
    the local driver does. Before, the plan's first actions ran (the candidate's Jobs deleted,
    the RayService sent to 100% stable) while the status still showed the canary."""
    first, _ = await serve_first_revision(cluster, operator_factory)
    await cluster.patch(MODELS, "mm", {"spec": {"serving": {"rollout": {"steps": [
        {"weight": 10, "duration": "1h"}, {"weight": 100, "duration": "0s"}]}}}})
    second = await new_revision(cluster)
    serve.healthy(first, second)
    await train_and_evaluate(cluster, second, stable=eval_summary(first).metrics)
    await eventually(lambda: cluster.status().get("canaryWeight") == 10, what="canary at 10%")
    jobs_before = sorted(j["metadata"]["name"] for j in cluster.all(JOBS))

    await cluster.patch(MODELS, "mm", {"spec": {"dataset": {"configMap": {
        "name": "new-data", "key": "conversations.jsonl"}}}})

    ready = await eventually(lambda: condition(cluster, "Ready").get("reason") == "DependencyMissing"
                             and condition(cluster, "Ready"), what="DependencyMissing")
    assert "ConfigMap 'new-data' not found" in ready["message"]
    status = cluster.status()
    assert status["phase"] == "Canary" and status["candidate"]["revision"] == second
    assert weight_history(cluster)[-1] == {first: 90, second: 10}  # the split the status shows
    assert sorted(j["metadata"]["name"] for j in cluster.all(JOBS)) == jobs_before

    data = dataset()
    data["metadata"]["name"] = "new-data"
    await cluster.create(CONFIGMAPS, data)  # the user adds it: the new revision starts
    third = revision_of(cluster.get(MODELS, "mm"))
    await eventually(lambda: cluster.get(JOBS, f"mm-{third}-train"), what="the new training Job")
    status = await eventually(lambda: cluster.status()["candidate"]["revision"] == third
                              and cluster.status(), what="the new candidate")
    assert status["traffic"] == [{"revision": first, "weight": 100}]


def _train_request(cluster: Cluster, rev: str) -> dict:
    return yaml.safe_load(cluster.get(CONFIGMAPS, f"mm-{rev}-train-request")["data"]["request.yaml"])


async def _train_and_evaluate_production(cluster: Cluster, rev: str, rows: int, stable=None) -> None:
    await eventually(lambda: cluster.get(JOBS, f"mm-{rev}-train"), what=f"training Job of {rev}")
    summary = train_summary("mm", rev)
    summary.production_rows = rows
    await cluster.finish_job(f"mm-{rev}-train", summary)
    await eventually(lambda: cluster.get(JOBS, f"mm-{rev}-eval"), what=f"eval Job of {rev}")
    await cluster.finish_job(f"mm-{rev}-eval", eval_summary(rev, stable=stable))


async def test_rated_production_traffic_trains_the_next_revision_and_its_canary_is_judged_on_ratings(
    operator_factory, cluster, serve: FakeServe
):
    """The loop under Kopf: capture on, a production revision from the start whose training
    request names the capture folder and its cutoff; retrainAfter new good ratings on the app's
    /stats start the next revision with a later cutoff; its canary must be not worse on ratings,
    and the verdict reaches the status."""
    await cluster.create(CONFIGMAPS, dataset())
    await operator_factory()
    body = model()
    body["spec"]["dataset"]["production"] = {"enabled": True, "minRating": 4, "retrainAfter": 3}
    body["spec"]["serving"]["capture"] = {"enabled": True}
    body["spec"]["serving"]["rollout"]["analysis"]["notWorse"] = {
        "metric": "rating", "margin": 0.5, "confidence": 0.9, "minSamples": 5}
    await cluster.create(MODELS, body)
    status = await eventually(lambda: cluster.status().get("candidate") and cluster.status(),
                              what="a first candidate")
    first, cutoff = status["candidate"]["revision"], status["production"]["cutoff"]
    assert first != revision_of(body)  # the cutoff is part of the id
    request = await eventually(lambda: cluster.get(CONFIGMAPS, f"mm-{first}-train-request"),
                               what="the training request")
    production = yaml.safe_load(request["data"]["request.yaml"])["production"]
    assert (production["captureDir"], production["cutoff"]) == ("/artifacts/mm/capture", cutoff)
    await _train_and_evaluate_production(cluster, first, rows=0)
    await eventually(phase_is(cluster, "Serving"), what="first revision serving")
    # The Ray pods may write the capture folder: the artifacts claim is mounted read-write.
    ray = cluster.get(RAYSERVICES, "mm")
    mounts = [m for g in [ray["spec"]["rayClusterConfig"]["headGroupSpec"]]
              for c in g["template"]["spec"]["containers"] for m in c.get("volumeMounts", [])]
    assert any(m["mountPath"] == "/artifacts" and not m.get("readOnly") for m in mounts), mounts

    serve.healthy(first)
    serve.rated(first, {5: 1, 2: 4})
    await eventually(lambda: (cluster.status().get("production") or {}).get("rated") == 1,
                     what="the mark counts the qualifying rating")
    serve.rated(first, {5: 3, 4: 1, 2: 10})  # three more good ones (the 2s never count)
    status = await eventually(lambda: cluster.status().get("phase") == "Training"
                              and cluster.status(), what="a production retrain")
    second = status["candidate"]["revision"]
    assert second != first and status["production"]["cutoff"] > cutoff
    assert _train_request(cluster, second)["production"]["cutoff"] == status["production"]["cutoff"]
    event = (await eventually(lambda: cluster.events("ProductionData")))[0]
    assert "3 new qualifying ratings (retrainAfter 3)" in event["message"]

    serve.healthy(first, second)
    serve.rated(second, {5: 2, 3: 6})  # two new good ones: fewer than retrainAfter
    await _train_and_evaluate_production(cluster, second, rows=4, stable=eval_summary(first).metrics)
    status = await eventually(phase_is(cluster, "Serving"), what="promotion", timeout=30)
    assert status["stable"]["revision"] == second
    assert status["stable"]["production"] == {"cutoff": status["production"]["cutoff"], "rows": 4}
    verdict = status["verdict"]
    assert (verdict["metric"], verdict["decision"]) == ("rating", "Pass")
    assert (verdict["candidateRevision"], verdict["stableRevision"]) == (second, first)
    assert verdict["candidate"]["n"] == 8 and verdict["stable"]["n"] == 14
    assert verdict["candidate"]["value"] == 3.5 and verdict["difference"] > 0
