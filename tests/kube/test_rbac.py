"""The chart's RBAC on a real API server, seen through the operator's own ServiceAccount token:
`kubectl auth can-i --list` must show exactly the rules docs/security.md lists, no Secrets, and,
in namespaced mode, nothing outside the namespaces it serves.

tests/chart/test_chart_rbac.py asserts the rendered rules; this tier asserts what the server
grants the account once those rules are bound (aggregation, bindings, namespaces)."""

from __future__ import annotations

import re
import subprocess

import pytest
from controlplane import ROOT
from kopfkit import NS
from kubekit import HELM, Installed

SECURITY_DOC = ROOT / "docs" / "security.md"
SCOPED_RELEASE, SCOPED_NS, SERVED, UNSERVED = "scoped", "scoped-system", "team-a", "team-b"


def documented_rules(leases: bool = False) -> dict[str, set[str]]:
    """{resource as can-i prints it: verbs} from the table in docs/security.md."""
    text = SECURITY_DOC.read_text()
    table = text[text.index("## The operator's rules"):text.index("### What the operator does not")]
    rules: dict[str, set[str]] = {}
    for line in table.splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or cells[0] in ("API group", "---"):
            continue
        group, resource, verbs = cells[:3]
        if resource == "leases" and not leases:
            continue
        name, _, sub = resource.partition("/")
        key = name if group == "core" else f"{name}.{group}"
        rules[key + (f"/{sub}" if sub else "")] = {v.strip() for v in verbs.split(",")}
    return rules


def can_i_list(installed: Installed, token: str, namespace: str) -> dict[str, set[str]]:
    """`kubectl auth can-i --list` as ``token``'s account: {resource: verbs}, resource rules only."""
    kubeconfig = installed.plane.write_kubeconfig(f"can-i-{namespace}", token=token)
    out = installed.plane.kubectl("auth", "can-i", "--list", "-n", namespace,
                                  kubeconfig=kubeconfig).stdout
    rules: dict[str, set[str]] = {}
    for line in out.splitlines()[1:]:
        match = re.match(r"^(\S+)\s+\[(.*?)\]\s+\[(.*?)\]\s+\[(.*?)\]", line)
        if not match or match.group(1).startswith("/"):
            continue
        resource, urls, names, verbs = match.groups()
        if urls or names:
            continue
        rules.setdefault(resource, set()).update(verbs.split())
    return rules


def everyone(installed: Installed, namespace: str) -> dict[str, set[str]]:
    """What any authenticated account may do (system:basic-user and friends)."""
    plane = installed.plane
    plane.kubectl("create", "serviceaccount", "nobody", "-n", namespace, check=False)
    return can_i_list(installed, plane.token(namespace, "nobody"), namespace)


def own_rules(installed: Installed, token: str, namespace: str) -> dict[str, set[str]]:
    base = everyone(installed, namespace)
    granted = can_i_list(installed, token, namespace)
    return {r: v - base.get(r, set()) for r, v in granted.items() if v - base.get(r, set())}


def test_the_operator_account_gets_exactly_the_documented_rules(installed: Installed):
    assert own_rules(installed, installed.token, NS) == documented_rules()


def test_the_operator_account_cannot_read_secrets_anywhere(installed: Installed):
    kubeconfig = installed.plane.write_kubeconfig("secrets", token=installed.token)
    for args in (("get", "secrets", "-n", NS), ("list", "secrets", "--all-namespaces"),
                 ("watch", "secrets", "-n", "kube-system"), ("create", "pods/exec", "-n", NS)):
        result = installed.plane.kubectl("auth", "can-i", *args, kubeconfig=kubeconfig, check=False)
        assert result.stdout.strip() == "no", args


@pytest.fixture(scope="module")
def scoped(installed: Installed):
    """A second release in namespaced mode, serving only SERVED."""
    plane = installed.plane
    for namespace in (SERVED, UNSERVED):
        plane.kubectl("create", "namespace", namespace, check=False)
    result = subprocess.run(
        [str(HELM), "--kubeconfig", str(plane.admin_kubeconfig), "install", SCOPED_RELEASE,
         str(ROOT / "charts" / "molting"), "--namespace", SCOPED_NS, "--create-namespace",
         "--skip-crds", "--set", "watch.allNamespaces=false", "--set", f"watch.namespaces={{{SERVED}}}",
         "--set", "rbac.aggregateToDefaultRoles=false"],
        capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    yield plane.token(SCOPED_NS, f"{SCOPED_RELEASE}-molting")
    subprocess.run([str(HELM), "--kubeconfig", str(plane.admin_kubeconfig), "uninstall",
                    SCOPED_RELEASE, "--namespace", SCOPED_NS], capture_output=True, timeout=120)


def test_namespaced_mode_grants_the_rules_only_in_the_served_namespace(installed: Installed, scoped):
    assert own_rules(installed, scoped, SERVED) == documented_rules()
    assert own_rules(installed, scoped, UNSERVED) == {}
    kubeconfig = installed.plane.write_kubeconfig("scoped", token=scoped)
    anywhere = installed.plane.kubectl("auth", "can-i", "list", "moltingmodels.molting.dev",
                                       "--all-namespaces", kubeconfig=kubeconfig, check=False)
    assert anywhere.stdout.strip() == "no"
    bindings = installed.plane.kubectl("get", "clusterrolebindings", "-o", "name").stdout
    assert f"{SCOPED_RELEASE}-molting" not in bindings  # nothing cluster-wide
