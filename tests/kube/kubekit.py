"""The real-API-server counterpart of kopfkit.Cluster: the same methods, over HTTPS to the test
control plane, so the Kopf driver's lifecycle tests run unchanged on both tiers.

Reads are synchronous (the API server is another process, so a blocking read cannot starve it);
writes are coroutines, as in kopfkit. What kmock counted in-process comes from the real server
here: request counts and every version of a RayService from its audit log,
and pod logs from ``FakeKubelet`` through the API server's ``pods/log`` proxy.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from controlplane import ROOT, ControlPlane, FakeKubelet, requests
from kopfkit import NS

MERGE = {"Content-Type": "application/merge-patch+json"}
HELM = ROOT / ".tools" / "bin" / "helm"
OPERATOR_USER = "system:serviceaccount:molting-system:molting"


def url(resource: str, name: str | None = None, sub: str | None = None,
        namespace: str | None = NS) -> str:
    """``resource`` is kopfkit's "group/version/plural" (or "v1/plural" for the core group)."""
    *group_version, plural = resource.split("/")
    root = "/api/v1" if group_version == ["v1"] else f"/apis/{'/'.join(group_version)}"
    parts = [root, "namespaces" if namespace else None, namespace, plural, name, sub]
    return "/".join(p for p in parts if p)


@dataclass
class Installed:
    """The control plane with the chart installed and the operator's credentials."""

    plane: ControlPlane
    kubelet: FakeKubelet
    token: str
    kubeconfig: Path

    def helm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([str(HELM), "--kubeconfig", str(self.plane.admin_kubeconfig), *args],
                                capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)}: {result.stderr.strip()}")
        return result


class KubeCluster:
    """kopfkit.Cluster's interface on the real server (admin credentials, namespace NS)."""

    def __init__(self, plane: ControlPlane, kubelet: FakeKubelet) -> None:
        self.plane = plane
        self.kubelet = kubelet
        self._client = plane.client()
        self._audit_start = len(plane.audit_events())

    def close(self) -> None:
        self._client.close()

    # -- writes (coroutines, as in kopfkit) ---------------------------------------------------

    def _check(self, response: httpx.Response, what: str) -> dict:
        payload = response.json() if response.content else {}
        assert response.status_code < 400, f"{what}: {response.status_code} {payload}"
        return payload

    async def create(self, resource: str, body: dict) -> dict:
        return await asyncio.to_thread(lambda: self._check(
            self._client.post(url(resource), json=body), f"POST {resource}"))

    async def patch(self, resource: str, name: str, body: dict, sub: str | None = None) -> dict:
        return await asyncio.to_thread(lambda: self._check(
            self._client.patch(url(resource, name, sub), json=body, headers=MERGE),
            f"PATCH {resource}/{name}"))

    async def delete(self, resource: str, name: str) -> None:
        await asyncio.to_thread(lambda: self._check(
            self._client.request("DELETE", url(resource, name),
                                 json={"propagationPolicy": "Background"}), f"DELETE {name}"))

    # -- reads --------------------------------------------------------------------------------

    def get(self, resource: str, name: str) -> dict | None:
        response = self._client.get(url(resource, name))
        if response.status_code == 404:
            return None
        return self._check(response, f"GET {resource}/{name}")

    def all(self, resource: str) -> list[dict]:
        return self._check(self._client.get(url(resource)), f"LIST {resource}").get("items") or []

    def history(self, resource: str, name: str) -> list[dict]:
        """Every version of one object that a write since this test began produced, oldest
        first (the audit policy keeps the response bodies of RayService writes)."""
        plural = resource.split("/")[-1]
        out = []
        for event in self.plane.audit_events()[self._audit_start:]:
            ref, body = event.get("objectRef") or {}, event.get("responseObject") or {}
            if (ref.get("resource") == plural and ref.get("name", (body.get("metadata") or {}).get(
                    "name")) in (name, None) and event.get("verb") in ("create", "patch", "update")
                    and (event.get("responseStatus") or {}).get("code", 500) < 300
                    and (body.get("metadata") or {}).get("name") == name):
                out.append(body)
        return out

    def _operator_events(self) -> list[dict]:
        """The operator account's requests since this test began."""
        return [e for e in self.plane.audit_events()[self._audit_start:]
                if (e.get("user") or {}).get("username") == OPERATOR_USER]

    def creates(self, resource: str) -> int:
        """Create requests the operator's account sent for ``resource`` (409s included)."""
        return len(requests(self._operator_events(), "create", resource.split("/")[-1]))

    @property
    def reads(self) -> dict[str, int]:
        """The operator's get/list requests so far, per resource (watches excluded)."""
        counts: dict[str, int] = {}
        for event in self._operator_events():
            ref = event.get("objectRef") or {}
            if event.get("verb") in ("get", "list") and ref.get("resource"):
                key = "/".join(filter(None, (ref["resource"], ref.get("subresource"))))
                counts[key] = counts.get(key, 0) + 1
        return counts

    def status(self, model_name: str = "mm") -> dict:
        return (self.get("molting.dev/v1alpha1/moltingmodels", model_name) or {}).get("status") or {}

    def events(self, reason: str | None = None) -> list[dict]:
        return [e for e in self.all("v1/events") if reason is None or e.get("reason") == reason]

    # -- a Job's life, as the Job controller and the kubelet would play it --------------------

    async def create_pod(self, job_name: str, pod: str) -> tuple[dict, str]:
        """A pod of the Job, bound to the fake kubelet's node and Pending; (Job, container)."""
        job = self.get("batch/v1/jobs", job_name)
        assert job is not None, f"no Job {job_name}"
        template = job["spec"]["template"]
        container = template["spec"]["containers"][0]
        await self.create("v1/pods", {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": pod, "namespace": NS,
                         "labels": {**template["metadata"].get("labels", {}), "job-name": job_name},
                         "ownerReferences": [{
                             "apiVersion": "batch/v1", "kind": "Job", "name": job_name,
                             "uid": job["metadata"]["uid"], "controller": True,
                             "blockOwnerDeletion": True}]},
            "spec": {**template["spec"], "nodeName": self.kubelet.node},
        })
        return job, container["name"]

    async def _job_status(self, job_name: str, status: dict) -> None:
        await self.patch("batch/v1/jobs", job_name, {"status": status}, sub="status")

    async def finish_job(self, job_name: str, summary: Any, *, ok: bool = True) -> None:
        """The Job's pod terminates with ``summary`` as its termination message."""
        pod = f"{job_name}-x1"
        job, container = await self.create_pod(job_name, pod)
        message = summary if isinstance(summary, str) else json.dumps(summary.to_wire())
        now = _now()
        started = job.get("status", {}).get("startTime") or now
        await self.patch("v1/pods", pod, {"status": {
            "phase": "Succeeded" if ok else "Failed",
            "containerStatuses": [{
                "name": container, "image": "i", "imageID": "", "ready": False, "restartCount": 0,
                "state": {"terminated": {"exitCode": 0 if ok else 1, "message": message,
                                         "reason": "Completed" if ok else "Error",
                                         "startedAt": started, "finishedAt": now}}}],
        }}, sub="status")
        if ok:
            status = {"startTime": started, "completionTime": now, "succeeded": 1, "active": 0,
                      "ready": 0, "conditions": [
                _condition("SuccessCriteriaMet", now), _condition("Complete", now)]}
        else:
            status = {"startTime": started, "failed": 1, "active": 0, "ready": 0, "conditions": [
                _condition("FailureTarget", now, "BackoffLimitExceeded"),
                _condition("Failed", now, "BackoffLimitExceeded")]}
        await self._job_status(job_name, status)

    async def run_pod(self, job_name: str, log: str, *, created: bool = False) -> None:
        """The Job's pod is running and has printed ``log`` (served by the fake kubelet);
        ``created``: the pod exists already (create_pod), Pending until now."""
        pod = f"{job_name}-r1"
        if created:
            container = self.get("batch/v1/jobs", job_name)["spec"]["template"]["spec"][
                "containers"][0]["name"]
        else:
            _, container = await self.create_pod(job_name, pod)
        self.kubelet.logs[(NS, pod, container)] = log
        await self.patch("v1/pods", pod, {"status": {"phase": "Running", "containerStatuses": [{
            "name": container, "image": "i", "imageID": "", "ready": True, "restartCount": 0,
            "started": True, "state": {"running": {"startedAt": _now()}}}]}}, sub="status")
        await self._job_status(job_name, {"startTime": _now(), "active": 1, "ready": 1})


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _condition(type_: str, now: str, reason: str = "Played") -> dict:
    return {"type": type_, "status": "True", "reason": reason, "message": "played by the test",
            "lastProbeTime": now, "lastTransitionTime": now}
