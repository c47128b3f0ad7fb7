"""Helpers of the Kopf-against-kmock tests: resources to apply, a Job's life played by hand (kmock
has no Job controller or kubelet), a scripted Serve seam, and polling with a deadline."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import kmock
import yaml

from molting_operator.api.revision import revision_id
from molting_operator.api.spec import MoltingModelSpec
from molting_operator.builders import names
from molting_operator.drivers.cluster.config import Context
from molting_operator.drivers.cluster.serving import ServeTarget
from molting_workloads.contract.live_stats import AppStats, Counters, Ratings, RevisionStats
from molting_workloads.contract.serve_config import weights_of
from molting_workloads.contract.summaries import EvalMetrics, EvalSummary, TrainSummary

NS = "ml"
T = TypeVar("T")

MODELS = "molting.dev/v1alpha1/moltingmodels"
JOBS = "batch/v1/jobs"
PODS = "v1/pods"
CONFIGMAPS = "v1/configmaps"
EVENTS = "v1/events"
RAYSERVICES = "ray.io/v1/rayservices"

GOOD = EvalMetrics(n=8, meta_language_rate=0.0, mean_length=300.0, median_length=290.0,
                   in_window_rate=1.0, relevance=0.6, repetition=0.1, empty_rate=0.0)
META_HEAVY = GOOD.model_copy(update={"meta_language_rate": 0.6})


# Short enough that a canary of "1s" steps finishes in seconds, long enough not to spin.
INTERVAL = 0.3


@dataclass
class RunningOperator:
    """An operator a test started in its own loop (both tiers' ``operator_factory``)."""

    context: Context
    task: asyncio.Task
    stop_flag: asyncio.Event

    async def stop(self) -> None:
        self.stop_flag.set()
        try:
            await asyncio.wait_for(self.task, timeout=15)
        finally:
            self.context.kube.close()


def declare_resources(server: kmock.KubernetesEmulator) -> None:
    """What discovery reports, as on a cluster with the CRD and KubeRay installed."""
    verbs = {"get", "list", "watch", "create", "patch", "update", "delete"}
    for key, kind, subresources in (
        (MODELS, "MoltingModel", {"status"}),
        (JOBS, "Job", {"status"}),
        (PODS, "Pod", {"status", "log"}),
        (CONFIGMAPS, "ConfigMap", set()),
        (EVENTS, "Event", set()),
        (RAYSERVICES, "RayService", {"status"}),
        ("coordination.k8s.io/v1/leases", "Lease", set()),
    ):
        server.resources[key] = kmock.ResourceInfo(
            kind=kind, singular=kind.lower(), namespaced=True, verbs=verbs,
            subresources=subresources,
        )
    server.resources["v1/namespaces"] = kmock.ResourceInfo(
        kind="Namespace", singular="namespace", namespaced=False, verbs={"get", "list", "watch"})


def model(name: str = "mm", *, steps: list[tuple[int, str]] | None = None, **spec: Any) -> dict:
    body: dict[str, Any] = {
        "apiVersion": "molting.dev/v1alpha1",
        "kind": "MoltingModel",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "baseModel": {"source": "TinyLlama/TinyLlama-1.1B-Chat-v1.0"},
            "dataset": {"configMap": {"name": f"{name}-data", "key": "conversations.jsonl"}},
            "training": {"gpus": 1, "nodeSelector": {"gpu": "h100"}},
            "serving": {"rollout": {
                "steps": [{"weight": w, "duration": d}
                          for w, d in (steps or [(10, "1s"), (50, "1s"), (100, "0s")])],
                "analysis": {"minRequests": 5, "probe": True},
            }},
        },
    }
    body["spec"].update(spec)
    return body


def dataset(name: str = "mm") -> dict:
    return {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": f"{name}-data", "namespace": NS},
        "data": {"conversations.jsonl": '{"prompt": "hi", "completion": "hello"}\n'},
    }


class Cluster:
    """The test's own API client: writes go through HTTP, so the watches see them."""

    def __init__(self, server: kmock.KubernetesEmulator) -> None:
        self.server = server

    @staticmethod
    def _url(resource: str, name: str | None = None, sub: str | None = None) -> str:
        res = kmock.resource(resource)
        root = f"/apis/{res.group}/{res.version}" if res.group else f"/api/{res.version}"
        return "/".join(p for p in (root, "namespaces", NS, res.plural, name, sub) if p)

    async def _send(self, method: str, url: str, body: Any = None,
                    content_type: str = "application/json") -> dict:
        data = json.dumps(body) if body is not None else None
        async with self.server.request(method, url, data=data,
                                       headers={"Content-Type": content_type}) as response:
            payload = await response.json(content_type=None)
            assert response.status < 400, f"{method} {url}: {response.status} {payload}"
            return payload

    async def create(self, resource: str, body: dict) -> dict:
        return await self._send("POST", self._url(resource), body)

    async def patch(self, resource: str, name: str, body: dict, sub: str | None = None) -> dict:
        return await self._send("PATCH", self._url(resource, name, sub), body,
                                "application/merge-patch+json")

    async def delete(self, resource: str, name: str) -> None:
        await self._send("DELETE", self._url(resource, name))

    def get(self, resource: str, name: str) -> dict | None:
        """The stored object, read in-process (no request)."""
        for (res, namespace, obj_name), obj in self.server.objects.items():
            if res == kmock.resource(resource) and namespace == NS and obj_name == name:
                return None if obj.deleted else obj.raw
        return None

    def all(self, resource: str) -> list[dict]:
        return [obj.raw for (res, namespace, _), obj in self.server.objects.items()
                if res == kmock.resource(resource) and namespace == NS and not obj.deleted]

    def history(self, resource: str, name: str) -> list[dict]:
        """Every stored version of one object, oldest first."""
        for (res, namespace, obj_name), obj in self.server.objects.items():
            if res == kmock.resource(resource) and namespace == NS and obj_name == name:
                return [v.raw for v in obj.history if v is not None]
        return []

    def creates(self, resource: str) -> int:
        """How many create requests the server got for ``resource`` (409s included)."""
        return self.server.creates[kmock.resource(resource).plural]

    def status(self, model_name: str = "mm") -> dict:
        return (self.get(MODELS, model_name) or {}).get("status") or {}

    def events(self, reason: str | None = None) -> list[dict]:
        return [e for e in self.all(EVENTS) if reason is None or e.get("reason") == reason]

    # -- a Job's life, as the Job controller and the kubelet would play it -------------------

    async def finish_job(self, job_name: str, summary: Any, *, ok: bool = True) -> None:
        """The Job's pod terminates with ``summary`` as its termination message."""
        job = self.get(JOBS, job_name)
        assert job is not None, f"no Job {job_name}"
        labels = job["spec"]["template"]["metadata"]["labels"]
        container = job["spec"]["template"]["spec"]["containers"][0]["name"]
        message = summary if isinstance(summary, str) else json.dumps(summary.to_wire())
        await self.create(PODS, {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"{job_name}-x1", "namespace": NS,
                         "labels": {**labels, "job-name": job_name}},
            "spec": {"containers": [{"name": container, "image": "i"}]},
        })
        await self.patch(PODS, f"{job_name}-x1", {"status": {
            "phase": "Succeeded" if ok else "Failed",
            "containerStatuses": [{"name": container, "state": {"terminated": {
                "exitCode": 0 if ok else 1, "message": message,
                "reason": "Completed" if ok else "Error"}}}],
        }}, sub="status")
        condition = {"type": "Complete" if ok else "Failed", "status": "True"}
        await self.patch(JOBS, job_name, {"status": {
            "succeeded" if ok else "failed": 1, "conditions": [condition]}}, sub="status")

    async def run_pod(self, job_name: str, log: str) -> None:
        """The Job's pod is running and has printed ``log``."""
        job = self.get(JOBS, job_name)
        assert job is not None
        labels = job["spec"]["template"]["metadata"]["labels"]
        pod = f"{job_name}-r1"
        await self.create(PODS, {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": pod, "namespace": NS, "labels": {**labels, "job-name": job_name}},
            "spec": {"containers": [{"name": labels[names.LABEL_KIND], "image": "i"}]},
        })
        await self.patch(PODS, pod, {"status": {"phase": "Running"}}, sub="status")
        self.server.logs[(NS, pod)] = log


def train_summary(model_name: str, revision: str) -> TrainSummary:
    return TrainSummary(revision=revision, ok=True, adapter=f"/artifacts/{model_name}/{revision}/adapter",
                        device="cuda", quantization="nf4-4bit", steps=30, final_loss=1.25)


def eval_summary(revision: str, metrics: EvalMetrics = GOOD,
                 stable: EvalMetrics | None = None) -> EvalSummary:
    return EvalSummary(revision=revision, ok=True, metrics=metrics, stable_metrics=stable,
                       report=f"/artifacts/mm/{revision}/eval/report.html")


class FakeServe:
    """The Serve seam with scripted live stats; records probes and REST applies.

    It plays a Serve app that runs whatever config it was last given: the latest REST apply,
    else the model's RayService as ``cluster`` stores it (KubeRay applying it at once). With
    ``up`` False the app does not answer, as while KubeRay is still bringing a cluster up."""

    def __init__(self, cluster: Any = None) -> None:
        self.cluster = cluster
        self.up = True
        self.counters: dict[str, Counters] = {}
        self.ratings: dict[str, Ratings] = {}
        self.probes: list[tuple[str, str]] = []
        self.applied: list[dict] = []

    def _running(self, target: ServeTarget) -> dict[str, int]:
        if self.applied:
            return weights_of(self.applied[-1], target.app) or {}
        body = self.cluster.get(RAYSERVICES, target.app) if self.cluster is not None else None
        if not body:
            return {}
        return weights_of(yaml.safe_load(body["spec"]["serveConfigV2"]), target.app) or {}

    def healthy(self, *revisions: str) -> None:
        for revision in revisions:
            self.counters[revision] = Counters(requests=50, errors=0, latency_p99_ms=120.0)

    def meta_heavy(self, revision: str) -> None:
        self.counters[revision] = Counters(requests=50, errors=0, latency_p99_ms=120.0, meta_hits=40)

    def rated(self, revision: str, by_score: dict[int, int]) -> None:
        """The app has counted these feedback scores for ``revision`` (score -> how many)."""
        count = sum(by_score.values())
        self.ratings[revision] = Ratings(
            count=count, mean=sum(s * n for s, n in by_score.items()) / count if count else None,
            by_score={str(s): n for s, n in by_score.items()})

    def stats(self, target: ServeTarget) -> AppStats | None:
        if not self.up:
            return None
        weights = self._running(target)
        known = list(self.counters) + [r for r in self.ratings if r not in self.counters]
        revisions = list(weights) + [r for r in known if r not in weights]
        return AppStats(app=target.app, revisions=[
            RevisionStats(revision=r, weight=weights.get(r, 0), user=self.counters.get(r, Counters()),
                          ratings=self.ratings.get(r, Ratings()))
            for r in revisions])

    def deployed_weights(self, target: ServeTarget) -> dict[str, int] | None:
        return None

    def apply(self, target: ServeTarget, config: dict) -> None:
        self.applied.append(config)

    def probe(self, target: ServeTarget, revision: str, questions: list[str]) -> None:
        self.probes.append((target.app, revision))


async def eventually(check: Callable[[], T | None] | Callable[[], Awaitable[T | None]],
                     timeout: float = 15.0, what: str | Callable[[], str] = "") -> T:
    """Poll ``check`` until it returns something truthy, or fail when the deadline passes."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {timeout}s: {what() if callable(what) else what or check}")


def revision_of(body: dict, token: str | None = None) -> str:
    """The revision a model body trains (what the operator names its Jobs after)."""
    return revision_id(MoltingModelSpec.model_validate(body["spec"]), token)


async def start_training(cluster: Cluster, operator_factory, body: dict | None = None,
                         **operator_kwargs: Any) -> tuple[dict, str, Any]:
    """The dataset ConfigMap, an operator, and ``body`` (default: ``model()``) applied; returns
    the body, its revision and the operator once the training Job exists."""
    await cluster.create(CONFIGMAPS, dataset())
    operator = await operator_factory(**operator_kwargs)
    body = body if body is not None else model()
    await cluster.create(MODELS, body)
    rev = revision_of(body)
    await eventually(lambda: cluster.get(JOBS, f"mm-{rev}-train"), what=f"training Job of {rev}")
    return body, rev, operator
