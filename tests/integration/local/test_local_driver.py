"""The local driver's wiring, with a fast stand-in for the train/eval processes and the Serve
app: the lifecycle comes from the real planner, the state from real files and processes."""

from __future__ import annotations

import io
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from molting_operator.api.annotations import ROLLBACK_ANNOTATION
from molting_operator.api.status import Phase
from molting_operator.drivers.local.loop import LocalDriver
from molting_operator.drivers.local.processes import LocalJobs
from molting_operator.drivers.local.state import StateDir
from molting_operator.planning.observed import JobKind, JobState, ServeObservation
from molting_workloads.contract.capture import (
    ConversationRecord,
    Message,
    RatingRecord,
    record_line,
)
from molting_workloads.contract.live_stats import AppStats, Counters, Ratings, RevisionStats

FAKE = [sys.executable, str(Path(__file__).with_name("fake_molting.py"))]


class FakeServe:
    """Applies weights instantly; healthy counters for revisions that have traffic."""

    def __init__(self) -> None:
        self.applied: dict[str, dict[str, int]] = {}
        self.history: list[dict[str, int]] = []
        self.configs: list = []
        self.probes: list[str] = []
        self.started_here = False

    def apply(self, cfg) -> None:
        self.applied[cfg.name] = {r.revision: r.weight for r in cfg.revisions if r.weight}
        self.history.append(self.applied[cfg.name])
        self.configs.append(cfg)

    def written(self, name: str):
        return next((c for c in reversed(self.configs) if c.name == name), None)

    def observe(self, name: str) -> ServeObservation:
        """A revision has traffic to analyse once it was probed or carries most of the users."""
        weights = self.applied.get(name)
        stats = AppStats(revisions=[RevisionStats(revision=r, weight=w, user=Counters(
            requests=50 if r in self.probes or w >= 50 else 0)) for r, w in (weights or {}).items()])
        return ServeObservation(True, weights, stats, running=weights)

    def probe(self, name: str, revision: str, questions: list[str], max_tokens: int) -> list[str]:
        self.probes.append(revision)
        return ["an answer"] * len(questions)

    def stop(self) -> None:
        pass


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 29, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=20)  # every pass moves past a 10s canary step
        return self.now


def write_resource(path: Path, data: Path, lr: float = 0.0002, **annotations: str) -> None:
    path.write_text(yaml.safe_dump({
        "apiVersion": "molting.dev/v1alpha1", "kind": "MoltingModel",
        "metadata": {"name": "demo", "annotations": annotations},
        "spec": {
            "baseModel": {"source": "tiny-base"},
            "dataset": {"path": str(data)},
            "training": {"learningRate": lr},
            "serving": {"rollout": {"steps": [{"weight": 10, "duration": "10s"},
                                              {"weight": 100, "duration": "10s"}],
                                    "analysis": {"minRequests": 1}}},
        },
    }))


@pytest.fixture()
def setup(tmp_path: Path):
    data = tmp_path / "data.jsonl"
    data.write_text('{"prompt": "hi", "completion": "hello there"}\n')
    resource = tmp_path / "demo.yaml"
    write_resource(resource, data)
    state = StateDir(tmp_path / "state")
    serve = FakeServe()

    def driver() -> LocalDriver:
        return LocalDriver(resource, state, serve, jobs=LocalJobs(command=FAKE), clock=Clock())

    return resource, data, state, serve, driver


def weights(state: StateDir) -> dict[str, int]:
    return {t.revision: t.weight for t in state.load_status("demo").traffic}


def test_whole_lifecycle_on_files_and_processes(setup) -> None:
    resource, data, state, serve, driver = setup
    d = driver()
    d.run(interval=0.05, until_idle=True, timeout=60)
    first = state.load_status("demo")
    assert first.phase == Phase.SERVING and weights(state) == {first.stable.revision: 100}
    rev1 = first.stable.revision

    write_resource(resource, data, lr=0.0003)  # `kubectl apply` of a new training spec
    d.run(interval=0.05, until_idle=True, timeout=60)
    second = state.load_status("demo")
    rev2 = second.stable.revision
    assert second.phase == Phase.SERVING and rev2 != rev1 and second.previous.revision == rev1
    assert {rev1: 90, rev2: 10} in serve.history and serve.probes.count(rev2) >= 1

    write_resource(resource, data, lr=0.0009)  # a bad revision
    d.run(interval=0.05, until_idle=True, timeout=60)
    third = state.load_status("demo")
    assert third.phase == Phase.GATE_FAILED and weights(state) == {rev2: 100}
    assert serve.applied["demo"] == {rev2: 100}

    state.annotate("demo", ROLLBACK_ANNOTATION)  # `molting rollback demo`
    d.run(interval=0.05, until_idle=True, timeout=60)
    assert weights(state) == {rev1: 100} and serve.applied["demo"] == {rev1: 100}
    kinds = [e["reason"] for e in state.events("demo", last=100)]
    assert "Promoted" in kinds and "GatesFailed" in kinds and "ManualRollback" in kinds


def test_failed_training_is_reported_with_the_log(setup) -> None:
    resource, data, state, serve, driver = setup
    write_resource(resource, data, lr=0.0004)
    driver().run(interval=0.05, until_idle=True, timeout=60)
    status = state.load_status("demo")
    assert status.phase == Phase.FAILED
    trained = next(c for c in status.conditions if c.type == "Trained")
    assert trained.status == "False" and "loss is NaN" in trained.message


def test_a_restarted_driver_resumes_without_retraining(setup, tmp_path: Path) -> None:
    resource, data, state, serve, driver = setup
    d = driver()
    d.reconcile_once()  # starts training
    rev = state.load_status("demo").candidate.revision
    run_dir = d.run_dir(rev)
    deadline = datetime.now() + timedelta(seconds=30)
    while d.jobs.observe(rev, JobKind.TRAIN, run_dir).state == JobState.RUNNING:
        assert datetime.now() < deadline
        time.sleep(0.05)
    log = (run_dir / "train.log").stat().st_mtime_ns
    d2 = driver()  # a new process: no memory but the files
    d2.run(interval=0.05, until_idle=True, timeout=60)
    assert (run_dir / "train.log").stat().st_mtime_ns == log
    assert state.load_status("demo").phase == Phase.SERVING


def test_a_process_killed_with_its_driver_is_started_again(setup, tmp_path: Path) -> None:
    resource, data, state, serve, driver = setup
    hold = tmp_path / "hold"
    hold.write_text("")
    jobs = LocalJobs(command=FAKE, env={**os.environ, "FAKE_HOLD": str(hold)})
    d = LocalDriver(resource, state, serve, jobs=jobs, clock=Clock())
    d.reconcile_once()
    rev = state.load_status("demo").candidate.revision
    assert jobs.observe(rev, JobKind.TRAIN, d.run_dir(rev)).state == JobState.RUNNING
    jobs.stop_all()  # what Ctrl-C does
    hold.unlink()
    assert LocalJobs(command=FAKE).observe(rev, JobKind.TRAIN, d.run_dir(rev)).state == JobState.ABSENT
    driver().run(interval=0.05, until_idle=True, timeout=60)
    assert state.load_status("demo").stable.revision == rev


def test_a_broken_edit_keeps_the_last_valid_spec(setup) -> None:
    resource, data, state, serve, driver = setup
    d = driver()
    d.run(interval=0.05, until_idle=True, timeout=60)
    resource.write_text(resource.read_text().replace("learningRate: 0.0002", "learningRate: -1"))
    d.reconcile_once()
    assert d.last_error and "spec.training.learningRate" in d.last_error
    assert state.load_status("demo").phase == Phase.SERVING


def test_a_missing_dataset_is_a_condition_not_a_crash(setup) -> None:
    resource, data, state, serve, driver = setup
    data.unlink()
    d = driver()
    d.reconcile_once()
    ready = next(c for c in state.load_status("demo").conditions if c.type == "Ready")
    assert ready.reason == "DependencyMissing" and "does not exist" in ready.message
    assert not d.jobs.running()


def test_get_describe_and_controls_from_the_cli(setup) -> None:
    import subprocess

    resource, data, state, serve, driver = setup
    driver().run(interval=0.05, until_idle=True, timeout=60)
    rev = state.load_status("demo").stable.revision

    def molting(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "molting_operator", *args, "--state-dir",
                               str(state.root)], capture_output=True, text=True, timeout=120,
                              env={**os.environ, "COLUMNS": "200"})

    got = molting("get")
    assert got.returncode == 0
    header, line = got.stdout.splitlines()[:2]
    assert header.split() == ["NAME", "PHASE", "STABLE", "CANDIDATE", "CANARY", "META-LANG", "AGE"]
    assert line.split()[:5] == ["demo", "Serving", rev, "<none>", "-"]
    described = molting("describe", "demo")
    assert described.returncode == 0
    for text in ("Conditions", "GatesPassed", "History", "Promoted", rev, "REPORT"):
        assert text in described.stdout
    assert molting("rollback", "demo").returncode == 0
    assert "molting.dev/rollback" in state.annotations("demo")
    missing = molting("promote", "nope")
    assert missing.returncode == 2 and "no local MoltingModel 'nope'" in missing.stderr


def test_a_restarted_driver_can_stop_the_processes_it_adopted(setup, tmp_path: Path) -> None:
    resource, data, state, serve, driver = setup
    hold = tmp_path / "hold"
    hold.write_text("")
    held = {**os.environ, "FAKE_HOLD": str(hold)}
    first = LocalDriver(resource, state, serve, jobs=LocalJobs(command=FAKE, env=held), clock=Clock())
    first.reconcile_once()
    rev = state.load_status("demo").candidate.revision
    pid = int((first.run_dir(rev) / "train.pid").read_text())
    second = LocalJobs(command=FAKE)  # a new driver: it knows the process only by its pid file
    assert second.observe(rev, JobKind.TRAIN, first.run_dir(rev)).state == JobState.RUNNING
    assert second.running() == [(rev, JobKind.TRAIN)]
    second.stop_all()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        first.jobs.observe(rev, JobKind.TRAIN, first.run_dir(rev))  # reap our zombie
        time.sleep(0.05)
    else:
        raise AssertionError("the adopted process is still running")
    assert second.observe(rev, JobKind.TRAIN, first.run_dir(rev)).state != JobState.RUNNING


def test_a_serving_only_edit_is_applied_without_retraining(setup) -> None:
    resource, data, state, serve, driver = setup
    d = driver()
    d.run(interval=0.05, until_idle=True, timeout=60)
    rev = state.load_status("demo").stable.revision
    assert serve.configs[-1].filter.enabled is True
    doc = yaml.safe_load(resource.read_text())
    doc["spec"]["serving"]["filter"] = {"enabled": False}
    resource.write_text(yaml.safe_dump(doc))
    d.run(interval=0.05, until_idle=True, timeout=60)
    assert serve.configs[-1].filter.enabled is False
    assert state.load_status("demo").stable.revision == rev
    assert [p.name for p in (state.root / "artifacts" / "demo").iterdir()] == [rev]  # no retraining


class RatedServe(FakeServe):
    """FakeServe whose stable revision reports ``self.by_score`` ratings on /stats."""

    by_score: dict[str, int] = {}

    def observe(self, name: str) -> ServeObservation:
        serve = super().observe(name)
        for rev in serve.stats.revisions:
            if rev.weight >= 50:
                rev.ratings = Ratings(count=sum(self.by_score.values()), by_score=self.by_score)
        return serve


def test_production_conversations_train_the_next_revision(tmp_path: Path) -> None:
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps({"prompt": f"Base question {i}?", "completion":
                                        f"Granite {i} forms when magma cools slowly underground."}) + "\n"
                            for i in range(3)))
    resource = tmp_path / "demo.yaml"
    write_resource(resource, data)
    doc = yaml.safe_load(resource.read_text())
    doc["spec"]["dataset"]["production"] = {"enabled": True, "retrainAfter": 2, "maxShare": 0.5}
    doc["spec"]["serving"]["capture"] = {"enabled": True}
    resource.write_text(yaml.safe_dump(doc))
    state, serve = StateDir(tmp_path / "state"), RatedServe()
    capture = Path(state.layout.root) / "demo" / "capture"
    capture.mkdir(parents=True)
    before = datetime(2026, 11, 28, tzinfo=UTC).timestamp()
    lines = []
    for cid, question, kind, rating in [("a", "Good question one?", "user", 5),
                                        ("b", "Weak question two?", "user", 2),
                                        ("p", "A probe question?", "probe", 5)]:
        lines.append(record_line(ConversationRecord(
            id=cid, time=before, model="demo", revision="r0", kind=kind,
            messages=[Message(role="user", content=question)],
            raw_answer="Bees fan nectar until the water evaporates.",
            answer="Bees fan nectar until the water evaporates.")))
        lines.append(record_line(RatingRecord(id=cid, time=before + 1, revision="r0",
                                              rating=rating)))
    (capture / "capture.jsonl.1").write_text("".join(lines) + "not json\n")
    d = LocalDriver(resource, state, serve, jobs=LocalJobs(command=FAKE), clock=Clock())
    d.run(interval=0.05, until_idle=True, timeout=60)
    first = state.load_status("demo")
    assert first.phase == Phase.SERVING, first.message
    assert first.stable.production.rows == 1
    report = json.loads((d.run_dir(first.stable.revision) / "data" / "cleaning-report.json")
                        .read_text())
    assert report["production"]["kept"] == 1 and report["production"]["corrupt_lines"] == 1
    assert report["production"]["probes"] == 1 and report["production"]["not_qualifying"] == 1

    (capture / "capture.jsonl").write_text(
        record_line(ConversationRecord(
            id="c", time=datetime(2026, 11, 29, tzinfo=UTC).timestamp() + 30, model="demo",
            revision=first.stable.revision, messages=[Message(role="user", content="New one?")],
            raw_answer="Tides follow the pull of the moon.",
            answer="Tides follow the pull of the moon."))
        + record_line(RatingRecord(id="c", time=datetime(2026, 11, 29, tzinfo=UTC).timestamp() + 31,
                                   revision=first.stable.revision, rating=4)))
    serve.by_score = {"5": 1, "4": 1}  # two new qualifying ratings on /stats
    d.run(interval=0.05, until_idle=True, timeout=60)
    second = state.load_status("demo")
    assert second.phase == Phase.SERVING and second.stable.revision != first.stable.revision
    assert second.stable.production.rows == 2
    assert second.stable.production.cutoff > first.stable.production.cutoff
    reasons = [e["reason"] for e in state.events("demo", last=100)]
    assert "ProductionData" in reasons
    # What `molting up` and `molting describe` show of it: the cutoff, and each revision's rows.
    from rich.console import Console

    from molting_operator.drivers.local import view

    console = Console(width=250, record=True, file=io.StringIO())
    console.print(view.live(state, "demo", [], None))
    console.print(view.describe(state, "demo"))
    shown = console.export_text()
    cutoff = second.production.cutoff
    assert f"production: new revisions train on conversations captured up to {cutoff}" in shown
    assert f"2 rows to {cutoff}" in shown and f"1 row to {first.stable.production.cutoff}" in shown
