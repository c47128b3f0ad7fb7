"""The CRD on a real API server: installed by `helm install` as the chart ships it, every example
accepted, every malformed resource of the unit tests refused *by the server* with the field in
its message, `kubectl explain`, the status subresource, pruning and the printer columns.

tests/unit/test_api.py checks the same resources with jsonschema and cel-python; this tier is the
reference those checks stand in for (they once passed a CRD the server refused)."""

from __future__ import annotations

import copy
import json

import pytest
import yaml
from controlplane import ROOT
from kopfkit import NS
from kubekit import MERGE, Installed, url
from test_api import MALFORMED, _set

MODELS = "molting.dev/v1alpha1/moltingmodels"
EXAMPLES = sorted(p for p in (ROOT / "examples").rglob("*.yaml")
                  if "MoltingModel" in p.read_text())


def full_model(name: str = "full") -> dict:
    body = yaml.safe_load((ROOT / "examples" / "moltingmodel.yaml").read_text())
    body["metadata"] = {"name": name, "namespace": NS}
    return body


def create(installed: Installed, body: dict, *, dry_run: bool = True, strict: bool = True):
    """POST as `kubectl apply` would (strict field validation), optionally as a dry run."""
    params = {"fieldValidation": "Strict" if strict else "Ignore"}
    if dry_run:
        params["dryRun"] = "All"
    with installed.plane.client() as client:
        return client.post(url(MODELS), json=body, params=params)


def _first_difference(a, b, path: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                return f"{path}.{key}: only in {'ours' if key not in a else 'the server'}"
            if a[key] != b[key]:
                return _first_difference(a[key], b[key], f"{path}.{key}")
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if x != y:
                return _first_difference(x, y, f"{path}[{i}]")
    return f"{path}: server {a!r} vs ours {b!r}"


def test_helm_install_put_the_crd_in_as_the_chart_ships_it(installed: Installed):
    crd = json.loads(installed.plane.kubectl(
        "get", "crd", "moltingmodels.molting.dev", "-o", "json").stdout)
    conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conditions["Established"] == "True" and conditions["NamesAccepted"] == "True"
    shipped = yaml.safe_load((ROOT / "charts" / "molting" / "crds" / "moltingmodel.yaml").read_text())
    served, ours = crd["spec"]["versions"][0]["schema"], shipped["spec"]["versions"][0]["schema"]
    assert served == ours, _first_difference(served, ours)
    rules = json.dumps(crd["spec"]["versions"][0]["schema"]).count('"rule"')
    assert rules >= 5  # the CEL rules compiled within the server's cost budget


def test_kubectl_apply_of_the_repository_crd_is_accepted(installed: Installed):
    result = installed.plane.kubectl("apply", "--dry-run=server", "-f",
                                     str(ROOT / "crds" / "moltingmodel.yaml"))
    assert "moltingmodels.molting.dev" in result.stdout


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.relative_to(ROOT / "examples").as_posix())
def test_every_example_is_accepted_by_the_api_server(installed: Installed, path):
    for doc in yaml.safe_load_all(path.read_text()):
        if not doc or doc.get("kind") != "MoltingModel":
            continue
        doc["metadata"]["namespace"] = NS
        response = create(installed, doc)
        assert response.status_code == 201, response.text


@pytest.mark.parametrize(("field", "value", "named"), [c[1:] for c in MALFORMED],
                         ids=[c[0] for c in MALFORMED])
def test_a_malformed_resource_is_refused_by_the_api_server_naming_the_field(
    installed: Installed, field, value, named
):
    body = full_model()
    _set(body, field, copy.deepcopy(value) if isinstance(value, (dict, list)) else value)
    response = create(installed, body)
    assert response.status_code in (400, 422), f"the API server accepted {field}={value!r}"
    assert named in response.json()["message"], response.json()["message"]


def test_kubectl_explain_describes_the_spec(installed: Installed):
    explain = installed.plane.kubectl("explain", "moltingmodels.spec").stdout
    for field in ("baseModel", "dataset", "training", "serving", "evaluation", "cleaning"):
        assert f"{field}\t<Object>" in explain
    resources = installed.plane.kubectl("explain", "moltingmodels.spec.serving.resources",
                                        "--recursive").stdout
    assert "gpus" in resources and "memory" in resources
    source = installed.plane.kubectl("explain", "moltingmodels.spec.baseModel.source").stdout
    assert "/artifacts/" in source
    steps = installed.plane.kubectl("explain", "moltingmodels.spec.serving.rollout.steps").stdout
    assert "100" in steps


def test_the_status_is_a_subresource_and_stale_writes_conflict(installed: Installed, kube_cluster):
    body = full_model("sub")
    body["status"] = {"phase": "Serving"}
    created = create(installed, body, dry_run=False)
    assert created.status_code == 201, created.text
    assert "status" not in created.json() or created.json()["status"] == {}  # a create drops it
    path = url(MODELS, "sub")
    with installed.plane.client() as client:
        on_main = client.patch(path, json={"status": {"phase": "Canary"}}, headers=MERGE).json()
        assert (on_main.get("status") or {}).get("phase") is None
        on_status = client.patch(f"{path}/status", json={"status": {"phase": "Canary"}},
                                 headers=MERGE).json()
        assert on_status["status"]["phase"] == "Canary"
        stale = copy.deepcopy(created.json())
        stale["spec"]["historyLimit"] = 7
        conflict = client.put(path, json=stale)
        assert conflict.status_code == 409, conflict.text


def test_unknown_fields_are_pruned_when_validation_is_not_strict(installed: Installed, kube_cluster):
    body = full_model("pruned")
    body["spec"]["training"]["notAField"] = 3
    refused = create(installed, body)
    assert refused.status_code in (400, 422) and "notAField" in refused.json()["message"]
    stored = create(installed, body, dry_run=False, strict=False)
    assert stored.status_code == 201, stored.text
    assert "notAField" not in stored.json()["spec"]["training"]


def test_kubectl_get_prints_the_printer_columns(installed: Installed, kube_cluster):
    assert create(installed, full_model("cols"), dry_run=False).status_code == 201
    with installed.plane.client() as client:
        client.patch(url(MODELS, "cols", "status"), headers=MERGE, json={"status": {
            "phase": "Canary", "stable": {"revision": "70277d53"},
            "candidate": {"revision": "9a1f03c2"}, "canaryWeight": 25, "metaLanguageRate": 1.0,
            "metaLanguageRateText": "1.00"}}).raise_for_status()
    table = installed.plane.kubectl("get", "moltingmodels", "-n", NS).stdout.splitlines()
    assert table[0].split() == ["NAME", "PHASE", "STABLE", "CANDIDATE", "CANARY", "META-LANG", "AGE"]
    row = next(line.split() for line in table[1:] if line.startswith("cols"))
    assert row[1:6] == ["Canary", "70277d53", "9a1f03c2", "25", "1.00"]
    short = installed.plane.kubectl("get", "molt", "-n", NS, "-o", "name").stdout
    assert "moltingmodel.molting.dev/cols" in short
