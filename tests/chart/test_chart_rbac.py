"""The operator's RBAC is exactly what it does (docs/security.md justifies each rule): no
secrets, no wildcards, no cluster-wide rights in namespaced mode."""

from __future__ import annotations

from typing import Any

import pytest
from chartkit import NAMESPACE, RELEASE, SCENARIOS, Obj, Render, of_kind, one

# Written out from the operator's API calls (the brief and docs/security.md), not from the chart.
OPERATOR_RULES: dict[tuple[str, str], set[str]] = {
    ("molting.dev", "moltingmodels"): {"get", "list", "watch", "patch"},
    ("molting.dev", "moltingmodels/status"): {"get", "patch"},
    ("molting.dev", "moltingmodels/finalizers"): {"update"},
    ("batch", "jobs"): {"create", "get", "list", "watch", "patch", "delete"},
    ("", "configmaps"): {"create", "get", "list", "watch", "patch", "delete"},
    ("", "pods"): {"get", "list", "watch"},
    ("", "pods/log"): {"get"},
    ("", "events"): {"create", "patch"},
    ("events.k8s.io", "events"): {"create", "patch"},
    ("ray.io", "rayservices"): {"create", "get", "list", "watch", "patch"},
}
LEASE_RULES = {("coordination.k8s.io", "leases"): {"get", "create", "update"}}
WITHOUT_KUBERAY = {k: v for k, v in OPERATOR_RULES.items() if k != ("ray.io", "rayservices")}
ESCALATING_VERBS = {"*", "escalate", "bind", "impersonate"}
ROLE_KINDS = ("Role", "ClusterRole")


def granted(role: Obj) -> dict[tuple[str, str], set[str]]:
    """(apiGroup, resource) -> verbs, failing on anything a plain rule list should not contain."""
    out: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        assert set(rule) <= {"apiGroups", "resources", "verbs"}, f"unexpected keys in {rule}"
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                out.setdefault((group, resource), set()).update(rule["verbs"])
    return out


def operator_roles(objects: list[Obj]) -> list[Obj]:
    return [o for o in objects if o["kind"] in ROLE_KINDS and o["metadata"]["name"] == RELEASE]


def test_all_namespaces_mode_binds_exactly_the_operator_rules_cluster_wide(render: Render) -> None:
    objects = render()
    [role] = operator_roles(objects)
    assert role["kind"] == "ClusterRole"
    assert granted(role) == OPERATOR_RULES
    binding = one(objects, "ClusterRoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": RELEASE,
    }
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": RELEASE, "namespace": NAMESPACE}]
    assert not of_kind(objects, "Role") and not of_kind(objects, "RoleBinding")


def test_namespaced_mode_uses_a_role_per_namespace_and_nothing_cluster_wide(render: Render) -> None:
    objects = render(SCENARIOS["namespaced"])
    roles = operator_roles(objects)
    assert sorted((r["kind"], r["metadata"]["namespace"]) for r in roles) == [
        ("Role", "team-a"), ("Role", "team-b"),
    ]
    for role in roles:
        assert granted(role) == OPERATOR_RULES
    bindings = of_kind(objects, "RoleBinding")
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["team-a", "team-b"]
    for binding in bindings:
        assert binding["roleRef"]["kind"] == "Role" and binding["roleRef"]["name"] == RELEASE
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": RELEASE, "namespace": NAMESPACE}
        ]
    assert not of_kind(objects, "ClusterRoleBinding")
    # The only ClusterRoles left are the aggregated user roles, which grant nothing by themselves.
    assert {r["metadata"]["name"] for r in of_kind(objects, "ClusterRole")} == {
        f"{RELEASE}-edit", f"{RELEASE}-view",
    }


def test_namespaced_mode_without_user_roles_renders_no_cluster_scoped_rbac(render: Render) -> None:
    values = {**SCENARIOS["namespaced"], "rbac": {"create": True, "aggregateToDefaultRoles": False}}
    objects = render(values)
    assert not of_kind(objects, "ClusterRole") and not of_kind(objects, "ClusterRoleBinding")


def test_without_kuberay_the_operator_gets_no_rayservice_rights(render: Render) -> None:
    [role] = operator_roles(render(SCENARIOS["kuberay-off"]))
    assert granted(role) == WITHOUT_KUBERAY


def test_leader_election_adds_lease_rights_in_the_release_namespace_only(render: Render) -> None:
    objects = render(SCENARIOS["everything-on"])
    [lease_role] = [r for r in of_kind(objects, "Role") if r["metadata"]["name"].endswith("-leader-election")]
    assert lease_role["metadata"]["namespace"] == NAMESPACE
    assert granted(lease_role) == LEASE_RULES
    [lease_binding] = [
        b for b in of_kind(objects, "RoleBinding") if b["roleRef"]["name"] == lease_role["metadata"]["name"]
    ]
    assert lease_binding["metadata"]["namespace"] == NAMESPACE
    for role in operator_roles(objects):
        assert ("coordination.k8s.io", "leases") not in granted(role)


def test_without_leader_election_there_are_no_lease_rights(render: Render) -> None:
    for role in [o for o in render() if o["kind"] in ROLE_KINDS]:
        assert ("coordination.k8s.io", "leases") not in granted(role)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_no_role_grants_secrets_wildcards_or_escalation(render: Render, scenario: str) -> None:
    roles = [o for o in render(SCENARIOS[scenario]) if o["kind"] in ROLE_KINDS]
    assert roles
    for role in roles:
        for (group, resource), verbs in granted(role).items():
            where = f"{role['kind']}/{role['metadata']['name']}: {group or 'core'}/{resource}"
            assert "*" not in group and "*" not in resource, f"{where}: wildcard"
            assert resource.split("/")[0] not in {"secrets", "serviceaccounts", "nodes"}, where
            assert resource not in {"pods/exec", "pods/attach", "pods/portforward"}, where
            assert not verbs & ESCALATING_VERBS, f"{where}: {verbs}"
            if role["metadata"]["name"] == RELEASE:
                assert "deletecollection" not in verbs, f"{where}: the operator deletes by name"


def test_no_binding_points_at_a_builtin_role(render: Render) -> None:
    for scenario in SCENARIOS.values():
        for binding in [o for o in render(scenario) if o["kind"] in ("RoleBinding", "ClusterRoleBinding")]:
            assert binding["roleRef"]["name"].startswith(RELEASE), binding["roleRef"]
            assert binding["roleRef"]["name"] not in {"cluster-admin", "admin", "edit", "view"}


def test_user_roles_aggregate_moltingmodel_rights_into_admin_edit_and_view(render: Render) -> None:
    objects = render()
    roles = {r["metadata"]["name"]: r for r in of_kind(objects, "ClusterRole")}
    edit, view = roles[f"{RELEASE}-edit"], roles[f"{RELEASE}-view"]
    assert edit["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-edit"] == "true"
    assert edit["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-admin"] == "true"
    assert view["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-view"] == "true"
    assert granted(edit) == {
        ("molting.dev", "moltingmodels"): {
            "create", "delete", "deletecollection", "get", "list", "patch", "update", "watch",
        },
        ("molting.dev", "moltingmodels/status"): {"get"},
    }
    # Users never write the status: only the operator does.
    assert granted(view) == {
        ("molting.dev", "moltingmodels"): {"get", "list", "watch"},
        ("molting.dev", "moltingmodels/status"): {"get", "list", "watch"},
    }
    bound = {b["roleRef"]["name"] for b in of_kind(objects, "ClusterRoleBinding")}
    assert not bound & {f"{RELEASE}-edit", f"{RELEASE}-view"}, "aggregated roles are never bound"


def test_rbac_create_false_renders_no_rbac(render: Render) -> None:
    objects = render({"rbac": {"create": False}, "leaderElection": {"enabled": True}, "replicaCount": 2})
    kinds = {o["kind"] for o in objects}
    assert not kinds & {"Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"}


def test_operator_service_account_is_the_one_bound_and_used(render: Render) -> None:
    values: dict[str, Any] = {"serviceAccount": {"create": True, "name": "molting-op"}}
    objects = render(values)
    [account] = [a for a in of_kind(objects, "ServiceAccount") if a["metadata"]["name"] == "molting-op"]
    assert account["metadata"]["namespace"] == NAMESPACE
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "molting-op"
    assert one(objects, "ClusterRoleBinding")["subjects"][0]["name"] == "molting-op"
