"""Faults only an emulator can produce on demand (kmock's job in this suite; the real API server
tier runs the same lifecycle without faults): an API server that refuses what the operator
sends with 400/422 is a bug in the operator, reported once and not hammered."""

from __future__ import annotations

import asyncio

import pytest
from kopfkit import CONFIGMAPS, JOBS, MODELS, dataset, eventually, model

pytestmark = pytest.mark.timeout(60)


def condition(cluster, type_: str) -> dict:
    return next((c for c in cluster.status().get("conditions", []) if c["type"] == type_), {})


@pytest.mark.parametrize("code", [422, 400])
async def test_a_refused_write_is_reported_and_backed_off_hard(operator_factory, cluster, apiserver,
                                                               code):
    apiserver.refuse["jobs"] = (code, "Job.batch \"mm-x-train\" is invalid: spec.template.spec."
                                      "containers[0].resources.limits: Invalid value")
    await cluster.create(CONFIGMAPS, dataset())
    await operator_factory()  # interval 0.3 s, max backoff 2 s
    await cluster.create(MODELS, model())

    ready = await eventually(lambda: condition(cluster, "Ready").get("reason") == "RequestRejected"
                             and condition(cluster, "Ready"), what="RequestRejected")
    assert ready["status"] == "False"
    assert f"HTTP {code}" in ready["message"] and "resources.limits" in ready["message"]
    warnings = await eventually(lambda: cluster.events("RequestRejected"), what="a Warning")
    assert warnings[0]["type"] == "Warning"
    before = cluster.creates(JOBS)
    await asyncio.sleep(3.0)
    # At the reconcile interval (0.3 s) that would be ten tries; the hard backoff is 2 s.
    assert cluster.creates(JOBS) - before <= 3
    assert len(cluster.events("RequestRejected")) == 1  # one Event, not one per retry
