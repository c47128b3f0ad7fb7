"""The traffic split on the live path: weights hold over 400 requests, sticky users never flip,
and reweighting (50/50, then 0/100) under load fails no request and restarts no replica."""

from __future__ import annotations

from servekit import BackgroundLoad, ServedApp, load

from molting_workloads.serving.routing import Split


def _replica_ids(app: ServedApp) -> dict[str, list[str]]:
    with app.admin() as admin:
        deployments = admin.status()["applications"][app.base.name]["deployments"]
    return {name: sorted(r["replica_id"] for r in d.get("replicas", [])) for name, d in deployments.items()}


def test_400_requests_at_90_10_land_within_bounds_and_the_counters_agree(app: ServedApp):
    before = app.stats()
    results = load(app.url, [{} for _ in range(400)], concurrency=4)
    after = app.stats()

    assert [r.status if r else None for r in results] == [200] * 400
    canary = sum(r.revision == "canary" for r in results)
    stable = sum(r.revision == "stable" for r in results)
    assert canary + stable == 400
    # Binomial(400, 0.1): mean 40, standard deviation 6; four deviations either side.
    assert 16 <= canary <= 64
    for revision, seen in (("stable", stable), ("canary", canary)):
        counted = after.of(revision).user.requests - before.of(revision).user.requests
        assert counted == seen
        assert after.of(revision).user.errors == before.of(revision).user.errors


def test_sticky_users_never_flip_and_match_the_pure_assignment(app: ServedApp):
    split = Split.of([("stable", 90), ("canary", 10)])
    users = [f"user-{i}" for i in range(400)]
    chosen = [u for u in users if split.pick(u) == "stable"][:30] + [
        u for u in users if split.pick(u) == "canary"
    ][:10]
    headers = [{"x-user-id": u} for _ in range(4) for u in chosen]  # four rounds, 160 requests
    results = load(app.url, headers, concurrency=4)

    served: dict[str, set[str | None]] = {}
    for h, r in zip(headers, results, strict=True):
        assert r is not None and r.status == 200
        served.setdefault(h["x-user-id"], set()).add(r.revision)
    assert served == {u: {split.pick(u)} for u in chosen}


def test_reweight_under_load_fails_no_request_and_restarts_no_replica(app: ServedApp, client):
    replicas_before = _replica_ids(app)
    started_before = app.stats().started_at
    with BackgroundLoad(app.url, concurrency=3) as background:
        background.wait_for(15)
        app.reweight(stable=50, canary=50)
        background.wait_for(15)
        app.reweight(stable=0, canary=100)
        background.wait_for(15)
        results = background.stop()

    assert len(results) >= 45
    failed = [r for r in results if r.status != 200]
    assert failed == []
    assert {r.revision for r in results} <= {"stable", "canary"}

    after = load(app.url, [{"x-user-id": f"after-{i}"} for i in range(30)], concurrency=3)
    assert {r.revision for r in after} == {"canary"}
    assert _replica_ids(app) == replicas_before
    assert app.stats().started_at == started_before
    weights = {r.revision: r.weight for r in app.stats().revisions}
    assert weights == {"stable": 0, "canary": 100, "broken": 0}
    assert client.get(app.url + "/healthz").status_code == 200
