"""The chart renders with a real Helm, every object passes the Kubernetes schemas, and the values
reach the operator as the flags and environment it reads."""

from __future__ import annotations

import json
from typing import Any

import kubernetes_validate
import pytest
import yaml
from chartkit import (
    CHART,
    NAMESPACE,
    ROOT,
    SCENARIOS,
    Render,
    env_of,
    of_kind,
    one,
    operator_container,
)

# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest schema we have.
KUBE_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
# Kinds whose schema is not part of Kubernetes; checked by hand in test_service_monitor_*.
NOT_IN_KUBERNETES = {"ServiceMonitor"}


@pytest.mark.parametrize("scenario", ["defaults", "namespaced", "everything-on"])
def test_chart_passes_helm_lint_strict(helm: Any, tmp_path: Any, scenario: str) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump(SCENARIOS[scenario]))
    out = helm("lint", "--strict", str(CHART), "-f", str(values))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 chart(s) failed" in out.stdout


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_rendered_object_passes_the_kubernetes_schema(
    render: Render, scenario: str, kube_version: str
) -> None:
    objects = render(SCENARIOS[scenario], include_crds=True)
    assert objects
    for obj in objects:
        if obj["kind"] in NOT_IN_KUBERNETES:
            continue
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        try:
            # strict: unknown fields are errors, as with `kubectl apply` (strict field validation).
            kubernetes_validate.validate(obj, kube_version, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{where} fails the Kubernetes {kube_version} schema: {error.message}")


def test_chart_crd_is_the_generated_crd_byte_for_byte() -> None:
    generated = ROOT / "crds" / "moltingmodel.yaml"
    assert (CHART / "crds" / "moltingmodel.yaml").read_bytes() == generated.read_bytes(), (
        "charts/molting/crds/moltingmodel.yaml differs from crds/moltingmodel.yaml: "
        "run `make crd` (it copies the CRD into the chart)"
    )


def test_include_crds_installs_the_moltingmodel_crd(render: Render) -> None:
    crd = one(render(include_crds=True), "CustomResourceDefinition")
    assert crd == yaml.safe_load((ROOT / "crds" / "moltingmodel.yaml").read_text())
    assert crd["metadata"]["name"] == "moltingmodels.molting.dev"
    assert not of_kind(render(), "CustomResourceDefinition"), "templates must not also render it"


def test_default_install_serves_all_namespaces_with_one_replica(render: Render) -> None:
    objects = render()
    deployment = one(objects, "Deployment")
    args = operator_container(objects)["args"]
    assert args[0] == "operator"
    assert "--all-namespaces" in args and "--namespace" not in args
    assert "--leader-election" not in args
    assert args[args.index("--liveness-port") + 1] == "8080"
    assert args[args.index("--metrics-port") + 1] == "9090"
    assert deployment["metadata"]["namespace"] == NAMESPACE
    assert deployment["spec"]["replicas"] == 1
    # Two operators without leader election would fight over the same objects.
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}


def test_default_environment_matches_the_documented_defaults(render: Render) -> None:
    env = env_of(operator_container(render()))
    assert env["MOLTING_TRAINING_IMAGE"] == "ghcr.io/molting-dev/molting-workloads:0.1.0"
    assert env["MOLTING_GPU_RESOURCE"] == "nvidia.com/gpu"
    assert env["MOLTING_ARTIFACTS_PVC"] == "molting-artifacts"
    assert json.loads(env["MOLTING_DEFAULT_NODE_SELECTOR"]) == {}
    assert json.loads(env["MOLTING_DEFAULT_TOLERATIONS"]) == []
    assert env["MOLTING_KUBERAY"] == "true"


def test_namespaced_mode_passes_one_namespace_flag_per_namespace(render: Render) -> None:
    args = operator_container(render(SCENARIOS["namespaced"]))["args"]
    assert "--all-namespaces" not in args
    flags = [args[i + 1] for i, a in enumerate(args) if a == "--namespace"]
    assert flags == ["team-a", "team-b"]


def test_namespaced_mode_creates_the_artifacts_claim_in_each_namespace(render: Render) -> None:
    claims = of_kind(render(SCENARIOS["namespaced"]), "PersistentVolumeClaim")
    assert sorted(c["metadata"]["namespace"] for c in claims) == ["team-a", "team-b"]
    assert {c["metadata"]["name"] for c in claims} == {"molting-artifacts"}


def test_default_claim_is_created_in_the_release_namespace_and_kept(render: Render) -> None:
    claim = one(render(), "PersistentVolumeClaim")
    assert claim["metadata"]["namespace"] == NAMESPACE
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "100Gi"
    assert "storageClassName" not in claim["spec"], "empty means the cluster's default class"


def test_claim_namespaces_can_be_named_explicitly(render: Render) -> None:
    claims = of_kind(render({"artifacts": {"namespaces": ["default"]}}), "PersistentVolumeClaim")
    assert [c["metadata"]["namespace"] for c in claims] == ["default"]


def test_claim_takes_the_storage_class_access_mode_and_size(render: Render) -> None:
    claim = one(render(SCENARIOS["everything-on"]), "PersistentVolumeClaim")
    assert claim["spec"]["storageClassName"] == "fast-rwx"
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "20Gi"
    assert "annotations" not in claim["metadata"]


def test_existing_claim_is_passed_to_the_operator_and_not_created(render: Render) -> None:
    objects = render(SCENARIOS["existing-pvc"])
    assert not of_kind(objects, "PersistentVolumeClaim")
    assert env_of(operator_container(objects))["MOLTING_ARTIFACTS_PVC"] == "shared-adapters"


def test_custom_images_reach_the_operator_pod_and_the_jobs(render: Render) -> None:
    objects = render(SCENARIOS["custom-image"])
    container = operator_container(objects)
    assert container["image"] == "registry.example.com:5000/ml/molting-operator:1.2.3"
    # A digest pins the workloads image and wins over the (default) tag.
    assert env_of(container)["MOLTING_TRAINING_IMAGE"] == (
        "registry.example.com:5000/ml/molting-workloads@sha256:" + "ab" * 32
    )
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    test_pod = one(objects, "Pod")
    assert test_pod["spec"]["containers"][0]["image"] == container["image"]


def test_training_defaults_reach_the_operator_as_json(render: Render) -> None:
    env = env_of(operator_container(render(SCENARIOS["everything-on"])))
    assert json.loads(env["MOLTING_DEFAULT_NODE_SELECTOR"]) == {"pool": "gpu"}
    assert json.loads(env["MOLTING_DEFAULT_TOLERATIONS"]) == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]


def test_leader_election_adds_the_flag_and_allows_a_rolling_update(render: Render) -> None:
    objects = render(SCENARIOS["everything-on"])
    deployment = one(objects, "Deployment")
    assert "--leader-election" in operator_container(objects)["args"]
    assert deployment["spec"]["replicas"] == 2
    assert "strategy" not in deployment["spec"]
    names = {e["name"] for e in operator_container(objects)["env"]}
    assert {"POD_NAMESPACE", "POD_NAME"} <= names


def test_the_operator_knows_its_pod_name_without_leader_election(render: Render) -> None:
    """kopf's identity (and the Lease holder): without it kopf asks the passwd file for the UID."""
    env = {e["name"]: e for e in operator_container(render())["env"]}
    assert env["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}


def test_kuberay_off_tells_the_operator(render: Render) -> None:
    assert env_of(operator_container(render(SCENARIOS["kuberay-off"])))["MOLTING_KUBERAY"] == "false"


def test_probes_use_kopf_health_endpoint_on_the_liveness_port(render: Render) -> None:
    container = operator_container(render({"health": {"port": 8081}}))
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"health": 8081, "metrics": 9090}
    assert container["args"][container["args"].index("--liveness-port") + 1] == "8081"
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "health"}, probe


def test_operator_has_resource_requests_and_limits(render: Render) -> None:
    resources = operator_container(render())["resources"]
    assert set(resources["requests"]) == {"cpu", "memory"}
    assert set(resources["limits"]) == {"cpu", "memory"}


def test_metrics_service_reaches_the_operator_metrics_port(render: Render) -> None:
    objects = render()
    service = one(objects, "Service")
    pod = one(objects, "Deployment")["spec"]["template"]
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    [port] = service["spec"]["ports"]
    assert port["name"] == "metrics" and port["port"] == 9090
    named = {p["name"]: p["containerPort"] for p in pod["spec"]["containers"][0]["ports"]}
    assert named[port["targetPort"]] == 9090
    assert not of_kind(objects, "ServiceMonitor"), "the ServiceMonitor is opt-in"


def test_service_monitor_scrapes_the_metrics_service(render: Render) -> None:
    objects = render(SCENARIOS["everything-on"])
    monitor = one(objects, "ServiceMonitor")
    service = one(objects, "Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"
    assert endpoint["interval"] == "30s"


def test_notes_tell_what_to_do_next(helm: Any) -> None:
    out = helm("install", "molting", str(CHART), "--namespace", NAMESPACE, "--dry-run=client")
    assert out.returncode == 0, out.stderr
    notes = out.stdout[out.stdout.index("NOTES:"):]
    assert "kubectl apply -f examples/moltingmodel.yaml" in notes
    assert "kubectl get moltingmodels -w" in notes
    assert "helm test molting -n molting-system" in notes
    assert "molting.dev/rollback=$(date +%s) --overwrite" in notes
