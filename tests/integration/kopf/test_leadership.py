"""Leader election on a Lease (``molting operator --leader-election``), against the kmock API
server's PUT-with-resourceVersion semantics and a clock the test moves. The Elector's calls are
blocking, so they run in a thread while the API server serves on the test's loop."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from molting_operator.drivers.cluster import kube
from molting_operator.drivers.cluster.leadership import Elector

pytestmark = pytest.mark.timeout(30)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture()
def client(apiserver):
    client = kube.Kube(kube.configuration_for(str(apiserver.url)))
    yield client
    client.close()


async def lease(client: kube.Kube) -> dict:
    return (await asyncio.to_thread(client.get, kube.LEASES.path("ml", "molting-operator")))["spec"]


async def acquire(elector: Elector) -> bool:
    return await asyncio.to_thread(elector.try_acquire)


async def test_one_replica_leads_until_its_term_runs_out(client):
    clock = Clock()
    a = Elector(client, "ml", "pod-a", lease_seconds=15, now=clock)
    b = Elector(client, "ml", "pod-b", lease_seconds=15, now=clock)

    assert await acquire(a) is True
    assert await acquire(b) is False
    clock.now += timedelta(seconds=10)
    assert await acquire(a) is True  # a renewal
    clock.now += timedelta(seconds=10)
    assert await acquire(b) is False  # a renewed 10 s ago
    assert (await lease(client))["holderIdentity"] == "pod-a"

    clock.now += timedelta(seconds=16)  # a missed its renewals for a whole term
    assert await acquire(b) is True
    spec = await lease(client)
    assert spec["holderIdentity"] == "pod-b" and spec["leaseTransitions"] == 1
    assert await acquire(a) is False


async def test_a_released_lease_is_taken_at_once(client):
    clock = Clock()
    a = Elector(client, "ml", "pod-a", now=clock)
    b = Elector(client, "ml", "pod-b", now=clock)
    assert await acquire(a) is True

    await asyncio.to_thread(a.release)

    assert await acquire(b) is True
    assert (await lease(client))["holderIdentity"] == "pod-b"


async def test_a_write_based_on_a_stale_read_loses(client, monkeypatch):
    clock = Clock()
    a = Elector(client, "ml", "pod-a", now=clock)
    assert await acquire(a) is True
    stale = await asyncio.to_thread(client.get, kube.LEASES.path("ml", "molting-operator"))
    clock.now += timedelta(seconds=60)
    b = Elector(client, "ml", "pod-b", now=clock)
    assert await acquire(b) is True  # expired: b takes it, the resourceVersion moves on

    monkeypatch.setattr(client, "get", lambda path, query=None: stale)
    c = Elector(client, "ml", "pod-c", now=clock)
    assert await acquire(c) is False  # c decided on an old read: the API server says 409
