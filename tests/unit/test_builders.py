"""The pure builders of a MoltingModel's children: golden manifests, the security context every
pod runs with, deterministic short names, and scheduling taken from the spec.

Golden files live in tests/data/golden/. After an intended change, regenerate them with
``MOLTING_UPDATE_GOLDEN=1 pytest tests/unit/test_builders.py`` and review the diff.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from molting_operator.api.resource import parse_resource
from molting_operator.api.spec import MoltingModelSpec
from molting_operator.builders import jobs, names, rayservice, serve_app
from molting_operator.planning.actions import ApplyTraffic, RunEvaluation
from molting_operator.planning.observed import JobKind
from molting_workloads.contract.serve_config import to_ray_service_yaml

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden"
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DEFAULTS = jobs.JobDefaults(
    image="ghcr.io/molting-dev/molting-workloads:0.1.0",
    artifacts_pvc="molting-artifacts",
    node_selector={"pool": "gpu", "cloud.google.com/gke-accelerator": "nvidia-l4"},
    tolerations=({"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"},),
)
REVISION = "3f9a2c1b"
STABLE = "0a1b2c3d"


def load_model():
    return parse_resource(yaml.safe_load((GOLDEN / "moltingmodel.yaml").read_text()))


def owner_of(model) -> names.Owner:
    return names.Owner(model.metadata.name, model.metadata.namespace, model.metadata.uid)


def spec_with(**training: Any) -> MoltingModelSpec:
    return MoltingModelSpec.model_validate({
        "baseModel": {"source": "org/base"},
        "dataset": {"path": "/artifacts/data/set.jsonl"},
        "training": training,
    })


def evaluation_action(model) -> RunEvaluation:
    name = model.metadata.name
    return RunEvaluation(
        revision=REVISION, adapter=jobs.LAYOUT.adapter(name, REVISION),
        stable_revision=STABLE, stable_adapter=jobs.LAYOUT.adapter(name, STABLE),
    )


def traffic(model, weights: dict[str, int]) -> ApplyTraffic:
    name = model.metadata.name
    return ApplyTraffic(
        weights=tuple(weights.items()),
        adapters=tuple((rev, jobs.LAYOUT.adapter(name, rev)) for rev in sorted(weights)),
    )


def built() -> dict[str, dict[str, Any]]:
    model = load_model()
    owner = owner_of(model)
    train_cm, train_job = jobs.build_training(owner, model.spec, REVISION, DEFAULTS)
    eval_cm, eval_job = jobs.build_evaluation(owner, model.spec, evaluation_action(model), DEFAULTS)
    config = serve_app.serve_app_config(owner.name, model.spec, traffic(model, {STABLE: 80, REVISION: 20}))
    ray = rayservice.build_ray_service(owner, model.spec, to_ray_service_yaml(config), DEFAULTS)
    return {
        "train-request-configmap": train_cm, "train-job": train_job,
        "eval-request-configmap": eval_cm, "eval-job": eval_job, "rayservice": ray,
    }


@pytest.mark.parametrize("name", ["train-request-configmap", "train-job", "eval-request-configmap",
                                  "eval-job", "rayservice"])
def test_manifest_matches_its_golden_file(name):
    manifest = built()[name]
    path = GOLDEN / f"{name}.yaml"
    if os.environ.get("MOLTING_UPDATE_GOLDEN"):
        path.write_text(yaml.safe_dump(manifest, sort_keys=False))
    assert manifest == yaml.safe_load(path.read_text())


def pods() -> list[tuple[str, dict[str, Any]]]:
    """Every pod template the builders make, by a readable label."""
    out = built()
    ray = out["rayservice"]["spec"]["rayClusterConfig"]
    return [
        ("train", out["train-job"]["spec"]["template"]["spec"]),
        ("eval", out["eval-job"]["spec"]["template"]["spec"]),
        ("ray-head", ray["headGroupSpec"]["template"]["spec"]),
        *((f"ray-{g['groupName']}", g["template"]["spec"]) for g in ray["workerGroupSpecs"]),
    ]


@pytest.mark.parametrize("label,pod", pods(), ids=[label for label, _ in pods()])
def test_every_pod_runs_unprivileged_without_a_token(label, pod):
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in pod["containers"]:
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False
        assert security["privileged"] is False
        assert security["capabilities"] == {"drop": ["ALL"]}
        assert security["runAsNonRoot"] is True
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}
        mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
        assert "/tmp" in mounts and "/cache" in mounts  # scratch space, not the image's
        assert mounts["/artifacts"].get("readOnly", False) is label.startswith("ray")


@pytest.mark.parametrize("kind", ["train-job", "eval-job"])
def test_job_pods_have_a_read_only_root_and_report_through_the_termination_message(kind):
    job = built()[kind]
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert pod["restartPolicy"] == "Never"
    assert job["spec"]["backoffLimit"] == 2
    assert job["spec"]["activeDeadlineSeconds"] == 7200
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["artifacts"]["persistentVolumeClaim"] == {"claimName": "molting-artifacts"}


def test_jobs_are_owned_by_the_model_and_labelled_for_selection():
    job = built()["train-job"]
    assert job["metadata"]["ownerReferences"] == [{
        "apiVersion": "molting.dev/v1alpha1", "kind": "MoltingModel", "name": "support-bot",
        "uid": "0b0e8a34-5f4c-4d6e-9a51-2c1f0e7d9b10", "controller": True,
        "blockOwnerDeletion": True,
    }]
    labels = job["metadata"]["labels"]
    assert labels["molting.dev/model"] == "support-bot"
    assert labels["molting.dev/revision"] == REVISION
    assert labels["molting.dev/kind"] == "train"
    assert labels["app.kubernetes.io/managed-by"] == "molting-operator"
    assert job["spec"]["template"]["metadata"]["labels"] == labels


def test_gpus_come_from_the_spec_and_the_resource_name_from_the_operator():
    owner = names.Owner("m", "ns", "u")
    amd = jobs.JobDefaults(gpu_resource="amd.com/gpu")
    _, four = jobs.build_training(owner, spec_with(gpus=4), "r1", amd)
    limits = four["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits == {"amd.com/gpu": "4"}
    _, none = jobs.build_training(owner, spec_with(gpus=0), "r1", amd)
    assert "resources" not in none["spec"]["template"]["spec"]["containers"][0] or not any(
        "gpu" in key for part in none["spec"]["template"]["spec"]["containers"][0]["resources"].values()
        for key in part)
    action = RunEvaluation(revision="r1", adapter="/artifacts/m/r1/adapter")
    _, evaluation = jobs.build_evaluation(owner, spec_with(gpus=4), action, amd)
    resources = evaluation["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert resources["limits"] == {"amd.com/gpu": "1"}  # one GPU answers the questions


def test_node_selector_and_tolerations_merge_the_spec_over_the_operator_defaults():
    pod = built()["train-job"]["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {
        "pool": "gpu", "cloud.google.com/gke-accelerator": "nvidia-h100-80gb"}  # spec wins
    assert pod["tolerations"] == [
        {"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"},
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
    ]
    repeated = spec_with(tolerations=[DEFAULTS.tolerations[0]])
    _, job = jobs.build_training(names.Owner("m", "ns", "u"), repeated, "r1", DEFAULTS)
    assert job["spec"]["template"]["spec"]["tolerations"] == [DEFAULTS.tolerations[0]]


@pytest.mark.parametrize("source,path,volume", [
    ({"configMap": {"name": "cm", "key": "a.jsonl"}}, "/data/dataset/dataset.jsonl",
     {"name": "dataset", "configMap": {"name": "cm", "items": [{"key": "a.jsonl", "path": "dataset.jsonl"}]}}),
    ({"pvc": {"claimName": "datasets", "path": "/x/a.jsonl"}}, "/data/dataset/x/a.jsonl",
     {"name": "dataset", "persistentVolumeClaim": {"claimName": "datasets", "readOnly": True}}),
    ({"pvc": {"claimName": "molting-artifacts", "path": "x/a.jsonl"}}, "/artifacts/x/a.jsonl", None),
    ({"path": "/opt/data/a.jsonl"}, "/opt/data/a.jsonl", None),
], ids=["configmap", "pvc", "artifacts-pvc", "path"])
def test_the_dataset_reaches_the_pod_from_each_kind_of_source(source, path, volume):
    spec = MoltingModelSpec.model_validate({"baseModel": {"source": "org/base"}, "dataset": source})
    configmap, job = jobs.build_training(names.Owner("m", "ns", "u"), spec, "r1", DEFAULTS)
    assert yaml.safe_load(configmap["data"]["request.yaml"])["dataset"] == path
    volumes = [v for v in job["spec"]["template"]["spec"]["volumes"] if v["name"] == "dataset"]
    assert volumes == ([volume] if volume else [])


def test_evaluation_without_questions_reads_the_candidates_validation_split():
    spec = spec_with()
    action = RunEvaluation(revision="r1", adapter="/artifacts/m/r1/adapter")
    configmap, _ = jobs.build_evaluation(names.Owner("m", "ns", "u"), spec, action, DEFAULTS)
    request = yaml.safe_load(configmap["data"]["request.yaml"])
    assert request["questions"] == "/artifacts/m/r1/data/validation.jsonl"
    assert request["outputDir"] == "/artifacts/m/r1/eval"


def test_the_ray_cluster_does_not_change_with_the_traffic_split():
    model = load_model()
    owner = owner_of(model)
    configs = [serve_app.serve_app_config(owner.name, model.spec, traffic(model, split))
               for split in ({STABLE: 100}, {STABLE: 90, REVISION: 10}, {REVISION: 100})]
    services = [rayservice.build_ray_service(owner, model.spec, to_ray_service_yaml(c), DEFAULTS)
                for c in configs]
    assert services[0]["spec"]["rayClusterConfig"] == services[2]["spec"]["rayClusterConfig"]
    assert len({s["spec"]["serveConfigV2"] for s in services}) == 3
    assert services[1]["spec"]["serveConfigV2"] == to_ray_service_yaml(configs[1])


def serving_spec(training: dict[str, Any], resources: dict[str, Any] | None = None) -> MoltingModelSpec:
    serving = {"resources": resources} if resources is not None else {}
    return MoltingModelSpec.model_validate({
        "baseModel": {"source": "org/base"}, "dataset": {"path": "/artifacts/data/set.jsonl"},
        "training": training, "serving": serving})


def generator_of(spec: MoltingModelSpec) -> tuple[dict[str, Any], dict[str, Any]]:
    """The worker pod's resources and the Generator's ray_actor_options for a spec."""
    cluster = rayservice.build_cluster_config(spec, DEFAULTS)
    pod = cluster["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]["resources"]
    action = ApplyTraffic(weights=(("r1", 100),), adapters=(("r1", "/artifacts/m/r1/adapter"),))
    serve = yaml.safe_load(to_ray_service_yaml(serve_app.serve_app_config("m", spec, action)))
    generator = next(d for d in serve["applications"][0]["deployments"] if d["name"] == "Generator")
    return pod, generator["ray_actor_options"]


def test_serving_resources_come_from_spec_serving_not_from_training():
    """Training on 0 or 4 GPUs, 48Gi: the Generator still gets the serving defaults."""
    for training in ({"gpus": 0}, {"gpus": 4, "resources": {"limits": {"memory": "48Gi"}}}):
        pod, actor = generator_of(serving_spec(training))
        wanted = {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"}
        assert pod == {"requests": wanted, "limits": wanted}
        assert actor == {"num_cpus": 4.0, "num_gpus": 1.0}


def test_serving_on_cpu_asks_for_no_gpu_even_when_training_uses_them():
    pod, actor = generator_of(serving_spec({"gpus": 2}, {"gpus": 0, "cpu": "500m", "memory": "2Gi"}))
    assert pod == {"requests": {"cpu": "500m", "memory": "2Gi"},
                   "limits": {"cpu": "500m", "memory": "2Gi"}}
    assert actor == {"num_cpus": 0.5}


def test_serving_gpus_follow_spec_serving_and_the_operators_resource_name():
    spec = serving_spec({"gpus": 1}, {"gpus": 2})
    cluster = rayservice.build_cluster_config(spec, jobs.JobDefaults(gpu_resource="amd.com/gpu"))
    pod = cluster["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]["resources"]
    assert pod["limits"]["amd.com/gpu"] == pod["requests"]["amd.com/gpu"] == "2"
    assert generator_of(spec)[1]["num_gpus"] == 2.0
    assert rayservice.serve_url(names.Owner("m", "ns", "u"), spec) == "http://m-serve-svc.ns.svc:8000"


def test_a_named_ray_service_is_used_as_named():
    spec = MoltingModelSpec.model_validate({
        "baseModel": {"source": "org/base"}, "dataset": {"path": "/d.jsonl"},
        "serving": {"rayService": {"name": "shared-llm"}}})
    assert names.ray_service_name("m", spec) == "shared-llm"
    assert rayservice.serve_url(names.Owner("m", "ns", "u"), spec).startswith("http://shared-llm-serve-svc.ns")


MODEL_NAMES = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,50}[a-z0-9])?", fullmatch=True)
REVISIONS = st.from_regex(r"[0-9a-f]{8}", fullmatch=True)


@given(MODEL_NAMES, REVISIONS, st.sampled_from(list(JobKind)))
def test_child_names_are_dns_labels_of_at_most_63_characters(model, revision, kind):
    for name in (names.job_name(model, revision, kind), names.request_name(model, revision, kind)):
        assert len(name) <= 63
        assert DNS_LABEL.match(name), name
        assert revision in name


@given(MODEL_NAMES, REVISIONS)
def test_child_names_are_deterministic_and_distinct(model, revision):
    built_names = [names.job_name(model, revision, k) for k in JobKind] + [
        names.request_name(model, revision, k) for k in JobKind]
    assert built_names == [names.job_name(model, revision, k) for k in JobKind] + [
        names.request_name(model, revision, k) for k in JobKind]
    assert len(set(built_names)) == 4


def test_long_model_names_are_shortened_with_a_hash_that_tells_them_apart():
    a, b = "a" * 50 + "-x", "a" * 50 + "-y"
    assert names.request_name(a, "12345678", JobKind.TRAIN) != names.request_name(
        b, "12345678", JobKind.TRAIN)
    assert names.job_name("short", "12345678", JobKind.EVAL) == "short-12345678-eval"


def test_cluster_fingerprint_moves_with_the_serving_spec_not_the_revision() -> None:
    model = load_model()
    base = rayservice.cluster_hash(rayservice.build_cluster_config(model.spec, DEFAULTS))
    more = model.spec.model_copy(deep=True)
    more.serving.replicas = model.spec.serving.replicas + 1
    assert rayservice.cluster_hash(rayservice.build_cluster_config(more, DEFAULTS)) != base
    bigger = model.spec.model_copy(deep=True)
    bigger.serving.resources.memory = "32Gi"
    assert rayservice.cluster_hash(rayservice.build_cluster_config(bigger, DEFAULTS)) != base
    for yaml_text in ("applications: []\n", "applications: [{name: other}]\n"):
        body = rayservice.build_ray_service(owner_of(model), model.spec, yaml_text, DEFAULTS)
        assert body["metadata"]["annotations"][rayservice.CLUSTER_HASH_ANNOTATION] == base
