"""The API-server behaviour apiserver.py adds to kmock 0.8, checked against what a real API
server does (the reference), so the Kopf tests stand on known ground."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from kopfkit import CONFIGMAPS, MODELS, NS, Cluster, model

pytestmark = pytest.mark.timeout(30)


async def request(cluster: Cluster, method: str, url: str, body=None,
                  content_type: str = "application/json") -> tuple[int, dict]:
    data = json.dumps(body) if body is not None else None
    async with cluster.server.request(method, url, data=data,
                                      headers={"Content-Type": content_type}) as response:
        return response.status, await response.json(content_type=None)


async def test_writes_stamp_uid_resource_version_and_generation(cluster):
    created = await cluster.create(MODELS, model())
    meta = created["metadata"]
    assert meta["uid"] and meta["creationTimestamp"] and meta["generation"] == 1
    first = int(meta["resourceVersion"])

    relabelled = await cluster.patch(MODELS, "mm", {"metadata": {"labels": {"a": "b"}}})
    assert relabelled["metadata"]["generation"] == 1  # metadata is not spec
    respecced = await cluster.patch(MODELS, "mm", {"spec": {"paused": True}})
    assert respecced["metadata"]["generation"] == 2
    assert int(respecced["metadata"]["resourceVersion"]) > int(relabelled["metadata"]["resourceVersion"]) > first
    assert respecced["metadata"]["uid"] == meta["uid"]
    assert cluster.get(MODELS, "mm")["metadata"] == respecced["metadata"]  # stored as answered


async def test_status_and_main_resource_patches_each_change_only_their_part(cluster):
    await cluster.create(MODELS, {**model(), "status": {"phase": "Ignored"}})
    assert "status" not in cluster.get(MODELS, "mm")  # a create does not set status

    await cluster.patch(MODELS, "mm", {"status": {"phase": "Training"}, "spec": {"paused": True}},
                        sub="status")
    stored = cluster.get(MODELS, "mm")
    assert stored["status"] == {"phase": "Training"} and "paused" not in stored["spec"]

    await cluster.patch(MODELS, "mm", {"status": {"phase": "Serving"}, "spec": {"paused": True}})
    stored = cluster.get(MODELS, "mm")
    assert stored["status"] == {"phase": "Training"} and stored["spec"]["paused"] is True


async def test_a_failed_json_patch_test_answers_422(cluster):
    await cluster.create(MODELS, model())
    url = Cluster._url(MODELS, "mm")
    ops = [{"op": "test", "path": "/metadata/finalizers", "value": ["x"]},
           {"op": "remove", "path": "/metadata/finalizers"}]
    status, body = await request(cluster, "PATCH", url, ops, "application/json-patch+json")
    assert status == 422 and body["reason"] == "Invalid"


async def test_generate_name_makes_distinct_names(cluster):
    event = {"apiVersion": "v1", "kind": "Event", "metadata": {"generateName": "molting-"}}
    first = await cluster.create("v1/events", event)
    second = await cluster.create("v1/events", json.loads(json.dumps(event)))
    assert first["metadata"]["name"].startswith("molting-")
    assert first["metadata"]["name"] != second["metadata"]["name"]


async def test_lists_honour_label_selectors(cluster):
    for name, labels in (("a", {"app": "x", "tier": "1"}), ("b", {"app": "x"}), ("c", {"app": "y"})):
        await cluster.create(CONFIGMAPS, {"apiVersion": "v1", "kind": "ConfigMap",
                                          "metadata": {"name": name, "labels": labels}})
    url = Cluster._url(CONFIGMAPS)

    async def names(selector: str) -> list[str]:
        async with cluster.server.get(url, params={"labelSelector": selector}) as response:
            return sorted(i["metadata"]["name"] for i in (await response.json())["items"])

    assert await names("app=x") == ["a", "b"]
    assert await names("app=x,tier") == ["a"]
    assert await names("app!=x") == ["c"]
    assert await names("!tier") == ["b", "c"]


async def test_a_watch_from_a_resource_version_replays_only_later_changes(cluster):
    await cluster.create(CONFIGMAPS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "old"}})
    async with cluster.server.get(Cluster._url(CONFIGMAPS)) as response:
        listed = (await response.json())["metadata"]["resourceVersion"]
    await cluster.create(CONFIGMAPS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "new"}})

    url = str(cluster.server.url).rstrip("/") + Cluster._url(CONFIGMAPS)
    async with aiohttp.ClientSession() as session, session.get(
        url, params={"watch": "true", "resourceVersion": listed}
    ) as response:
        line = await asyncio.wait_for(response.content.readline(), timeout=5)
        event = json.loads(line)
    assert (event["type"], event["object"]["metadata"]["name"]) == ("ADDED", "new")


async def test_put_refuses_a_stale_resource_version(cluster):
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l"},
             "spec": {"holderIdentity": "a"}}
    created = await cluster.create("coordination.k8s.io/v1/leases", lease)
    url = Cluster._url("coordination.k8s.io/v1/leases", "l")
    fresh = {**created, "spec": {"holderIdentity": "b"}}
    status, replaced = await request(cluster, "PUT", url, fresh)
    assert status == 200 and replaced["spec"] == {"holderIdentity": "b"}
    status, _ = await request(cluster, "PUT", url, {**created, "spec": {"holderIdentity": "c"}})
    assert status == 409  # `created` carries the resourceVersion from before b's write


async def test_pod_logs_are_served_as_text(cluster):
    cluster.server.logs[(NS, "p")] = "line 1\nline 2\n"
    await cluster.create("v1/pods", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}})
    async with cluster.server.get(Cluster._url("v1/pods", "p", "log")) as response:
        assert await response.text() == "line 1\nline 2\n"
