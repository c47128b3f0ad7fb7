"""Every pod the chart renders meets Pod Security "restricted", as the admission controller checks it
(https://kubernetes.io/docs/concepts/security/pod-security-standards/, policy version 1.30)."""

from __future__ import annotations

from typing import Any

import pytest
from chartkit import SCENARIOS, Obj, Render, of_kind, one

RESTRICTED_VOLUMES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
    "projected", "secret",
}
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}
SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}


def restricted_violations(pod: Obj) -> list[str]:
    """What keeps a pod spec from the "restricted" level (baseline checks included)."""
    problems: list[str] = []
    pod_sc = pod.get("securityContext", {})
    for host in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(host):
            problems.append(f"pod: {host}")
    for volume in pod.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUMES:
            problems.append(f"volume {volume['name']}: type {sorted(kinds)}")
    for sysctl in pod_sc.get("sysctls", []):
        if sysctl["name"] not in SAFE_SYSCTLS:
            problems.append(f"pod: sysctl {sysctl['name']}")
    if pod_sc.get("runAsUser") == 0:
        problems.append("pod: runAsUser 0")
    problems += _selinux_and_profiles("pod", pod_sc)
    containers = [*pod.get("initContainers", []), *pod["containers"], *pod.get("ephemeralContainers", [])]
    for c in containers:
        where = f"container {c['name']}"
        sc = c.get("securityContext", {})
        if sc.get("privileged"):
            problems.append(f"{where}: privileged")
        if sc.get("windowsOptions", {}).get("hostProcess"):
            problems.append(f"{where}: hostProcess")
        if sc.get("procMount", "Default") != "Default":
            problems.append(f"{where}: procMount")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{where}: allowPrivilegeEscalation must be false")
        caps = sc.get("capabilities", {})
        if "ALL" not in caps.get("drop", []):
            problems.append(f"{where}: capabilities must drop ALL")
        if set(caps.get("add", [])) - {"NET_BIND_SERVICE"}:
            problems.append(f"{where}: adds {caps['add']}")
        if any(p.get("hostPort") for p in c.get("ports", [])):
            problems.append(f"{where}: hostPort")
        non_root = sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot"))
        if non_root is not True:
            problems.append(f"{where}: runAsNonRoot must be true (pod or container)")
        if sc.get("runAsUser") == 0:
            problems.append(f"{where}: runAsUser 0")
        seccomp = sc.get("seccompProfile", pod_sc.get("seccompProfile", {})).get("type")
        if seccomp not in {"RuntimeDefault", "Localhost"}:
            problems.append(f"{where}: seccompProfile must be RuntimeDefault or Localhost, is {seccomp}")
        problems += _selinux_and_profiles(where, sc)
    return problems


def _selinux_and_profiles(where: str, sc: Obj) -> list[str]:
    problems = []
    selinux = sc.get("seLinuxOptions", {})
    if selinux.get("type", "") not in SELINUX_TYPES or selinux.get("user") or selinux.get("role"):
        problems.append(f"{where}: seLinuxOptions {selinux}")
    if sc.get("appArmorProfile", {}).get("type") == "Unconfined":
        problems.append(f"{where}: appArmor Unconfined")
    if sc.get("seccompProfile", {}).get("type") == "Unconfined":
        problems.append(f"{where}: seccomp Unconfined")
    return problems


def pod_specs(objects: list[Obj]) -> dict[str, Obj]:
    specs = {f"Deployment/{d['metadata']['name']}": d["spec"]["template"]["spec"] for d in of_kind(objects, "Deployment")}
    specs.update({f"Pod/{p['metadata']['name']}": p["spec"] for p in of_kind(objects, "Pod")})
    return specs


def test_the_checker_catches_what_restricted_refuses() -> None:
    # A pod that baseline already refuses, and one that only restricted refuses.
    privileged: dict[str, Any] = {
        "hostNetwork": True,
        "volumes": [{"name": "root", "hostPath": {"path": "/"}}],
        "containers": [{"name": "c", "securityContext": {"privileged": True, "capabilities": {"add": ["SYS_ADMIN"]}},
                        "ports": [{"containerPort": 80, "hostPort": 80}]}],
    }
    assert len(restricted_violations(privileged)) >= 7
    almost = {"securityContext": {"runAsNonRoot": True},
              "containers": [{"name": "c", "securityContext": {"allowPrivilegeEscalation": False,
                                                             "capabilities": {"drop": ["ALL"]}}}]}
    assert restricted_violations(almost) == [
        "container c: seccompProfile must be RuntimeDefault or Localhost, is None"
    ]


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_pod_meets_pod_security_restricted(render: Render, scenario: str) -> None:
    specs = pod_specs(render(SCENARIOS[scenario]))
    assert set(specs) == {"Deployment/molting", "Pod/molting-test"}
    for name, spec in specs.items():
        assert restricted_violations(spec) == [], name


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_container_has_a_read_only_root_and_a_numeric_non_root_user(
    render: Render, scenario: str
) -> None:
    for name, spec in pod_specs(render(SCENARIOS[scenario])).items():
        assert spec["securityContext"]["runAsUser"] == 10001, name
        assert spec["securityContext"]["runAsGroup"] == 10001, name
        for container in spec["containers"]:
            assert container["securityContext"]["readOnlyRootFilesystem"] is True, name


def test_operator_writes_only_to_a_bounded_scratch_volume(render: Render) -> None:
    spec = one(render(), "Deployment")["spec"]["template"]["spec"]
    assert spec["volumes"] == [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}]
    assert spec["containers"][0]["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]


def test_only_pods_that_call_the_api_mount_a_token(render: Render) -> None:
    objects = render()
    for account in of_kind(objects, "ServiceAccount"):
        if "helm.sh/hook" not in account["metadata"].get("annotations", {}):
            assert account["automountServiceAccountToken"] is False
    # The operator and the test hook call the API, so each asks for its token explicitly.
    for name, spec in pod_specs(objects).items():
        assert spec["automountServiceAccountToken"] is True, name
