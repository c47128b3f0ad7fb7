"""One scenario, both drivers: the same lifecycle through the local driver (real files and
processes, a stand-in for `molting train|eval`, a fake Serve app) and through the Kopf driver
against kmock (the test plays the Job controller and the kubelet). Both must go through the same
phases, traffic splits and conditions: train, gates pass, promote; a new revision walks the
canary steps and is promoted; a revision fails its gates; a manual rollback. A second scenario
names, mid-canary, questions that do not exist (a ConfigMap, a file): both freeze the canary
where it is, and go on once the questions appear.

Revisions are compared by their order of appearance (r1, r2, ...): the two specs differ in what
only one driver reads (a ConfigMap against a file), so their ids differ.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest
import yaml
from kopfkit import (
    CONFIGMAPS,
    GOOD,
    JOBS,
    META_HEAVY,
    MODELS,
    NS,
    RAYSERVICES,
    dataset,
    eval_summary,
    eventually,
    model,
    revision_of,
    train_summary,
)

from molting_operator.api.annotations import ROLLBACK_ANNOTATION
from molting_operator.api.status import MoltingModelStatus
from molting_operator.builders import names
from molting_operator.drivers.local.loop import LocalDriver
from molting_operator.drivers.local.processes import LocalJobs
from molting_operator.drivers.local.state import StateDir
from molting_workloads.contract.serve_config import weights_of

sys.path.insert(0, str(Path(__file__).parents[1] / "local"))
from test_local_driver import FAKE, Clock, FakeServe  # noqa: E402

pytestmark = pytest.mark.timeout(120)

STEPS = [(10, "1s"), (50, "1s"), (100, "0s")]
# The stand-in decides by the learning rate (fake_molting.py); the Kopf side plays the same.
GOOD_LR, NEXT_LR, GATE_FAIL_LR = 0.0002, 0.0003, 0.0009
# (what changes, the phase it settles in)
SCENARIO = [({"lr": GOOD_LR}, "Serving"), ({"lr": NEXT_LR}, "Serving"),
            ({"lr": GATE_FAIL_LR}, "GateFailed"), ({"rollback": "t1"}, "RolledBack")]


def _dedupe(items: list) -> list:
    return [x for i, x in enumerate(items) if i == 0 or items[i - 1] != x]


class Record:
    """What a driver went through, with revisions renamed by first appearance."""

    def __init__(self) -> None:
        self.phases: list[str] = []
        self.splits: list[dict[str, int]] = []
        self.conditions: list[dict[str, tuple[str, str]]] = []
        self._names: dict[str, str] = {}

    def name(self, revision: str) -> str:
        return self._names.setdefault(revision, f"r{len(self._names) + 1}")

    def split(self, weights: dict[str, int]) -> dict[str, int]:
        return {self.name(r): w for r, w in weights.items()}

    def settled(self, status: MoltingModelStatus) -> None:
        self.conditions.append({c.type: (c.status, c.reason) for c in status.conditions})

    def result(self) -> tuple:
        return _dedupe(self.phases), _dedupe(self.splits), self.conditions


def local_spec(data: Path, lr: float, questions: Path | None = None,
               steps: list[tuple[int, str]] = STEPS, **annotations: str) -> dict:
    spec = {
        "apiVersion": "molting.dev/v1alpha1", "kind": "MoltingModel",
        "metadata": {"name": "demo", "annotations": annotations},
        "spec": {
            "baseModel": {"source": "tiny-base"},
            "dataset": {"path": str(data)},
            "training": {"learningRate": lr},
            "serving": {"rollout": {"steps": [{"weight": w, "duration": d} for w, d in steps],
                                    "analysis": {"minRequests": 5, "probe": True}}},
        },
    }
    if questions is not None:
        spec["spec"]["evaluation"] = {"questions": {"path": str(questions)}}
    return spec


def on_pass_status(record: Record, status: MoltingModelStatus) -> None:
    record.phases.append(status.phase.value)
    for revision in (t.revision for t in status.traffic):
        record.name(revision)


def settle_local(driver: LocalDriver, record: Record, phase: str) -> None:
    """Run until idle, then one pass more: the status then says what the app runs after the
    last apply (as the Kopf side's next tick does)."""
    driver.run(interval=0.05, until_idle=True, timeout=60,
               on_pass=lambda plan: on_pass_status(record, plan.status))
    status = driver.reconcile_once().status
    on_pass_status(record, status)
    assert status.phase.value == phase, status.message
    record.settled(status)


def run_local(tmp_path: Path) -> tuple:
    data = tmp_path / "data.jsonl"
    data.write_text('{"prompt": "hi", "completion": "hello there"}\n')
    resource, state, serve = tmp_path / "demo.yaml", StateDir(tmp_path / "state"), FakeServe()
    record = Record()
    driver = LocalDriver(resource, state, serve, jobs=LocalJobs(command=FAKE), clock=Clock())
    lr = GOOD_LR
    try:
        for change, settles in SCENARIO:
            if "lr" in change:
                lr = change["lr"]
                resource.write_text(yaml.safe_dump(local_spec(data, lr)))
            else:
                state.annotate("demo", ROLLBACK_ANNOTATION)
            settle_local(driver, record, settles)
    finally:
        driver.shutdown()
    record.splits = [record.split(w) for w in serve.history]
    return record.result()


async def play_jobs(cluster, learning_rates: dict[str, float]) -> None:
    """The Job controller and the kubelet: every Job ends as the stand-in's would."""
    done: set[str] = set()
    while True:
        for job in cluster.all(JOBS):
            name, labels = job["metadata"]["name"], job["metadata"].get("labels", {})
            if name in done:
                continue
            revision, kind = labels[names.LABEL_REVISION], labels[names.LABEL_KIND]
            done.add(name)
            if kind == "train":
                await cluster.finish_job(name, train_summary("mm", revision))
            else:
                bad = learning_rates.get(revision) == GATE_FAIL_LR
                await cluster.finish_job(name, eval_summary(revision, META_HEAVY if bad else GOOD))
        await asyncio.sleep(0.05)


async def run_kopf(cluster, operator_factory, serve) -> tuple:
    await cluster.create(CONFIGMAPS, dataset())
    await operator_factory()
    record = Record()
    learning_rates: dict[str, float] = {}
    player = asyncio.create_task(play_jobs(cluster, learning_rates))
    try:
        for step, (change, settles) in enumerate(SCENARIO):
            before = len(cluster.history(MODELS, "mm"))
            if "lr" in change:
                body = model(steps=STEPS, training={"gpus": 1, "learningRate": change["lr"]})
                learning_rates[revision_of(body)] = change["lr"]
                serve.healthy(*learning_rates)
                if step == 0:
                    await cluster.create(MODELS, body)
                else:
                    await cluster.patch(MODELS, "mm", {"spec": {"training": body["spec"]["training"]}})
            else:
                await cluster.patch(MODELS, "mm", {"metadata": {"annotations": {
                    ROLLBACK_ANNOTATION: change["rollback"]}}})

            def settled(before=before, settles=settles):
                versions = cluster.history(MODELS, "mm")[before:]
                status = MoltingModelStatus.model_validate(cluster.status())
                changed = any((v.get("status") or {}).get("phase") != settles for v in versions)
                # Settled once a tick has seen the app run the split (as the local side's
                # last pass has).
                serving = ({t.revision: t.weight for t in status.traffic} == serve_weights(cluster)
                           and any(c.type == "Serving" and c.status == "True"
                                   for c in status.conditions))
                return changed and status.phase.value == settles and serving and status

            record.settled(await eventually(settled, timeout=30, what=f"step {step}: {settles}"))
    finally:
        player.cancel()
    from_history(cluster, record)
    return record.result()


def from_history(cluster, record: Record) -> None:
    """The phases and the splits the model and its RayService went through, every version."""
    for version in cluster.history(MODELS, "mm"):
        status = version.get("status") or {}
        if status.get("phase"):
            record.phases.append(status["phase"])
            for entry in status.get("traffic") or []:
                record.name(entry["revision"])
    record.splits = [record.split(weights_of(yaml.safe_load(v["spec"]["serveConfigV2"]), "mm") or {})
                     for v in cluster.history(RAYSERVICES, "mm")]


def serve_weights(cluster) -> dict[str, int]:
    body = cluster.get(RAYSERVICES, "mm")
    return weights_of(yaml.safe_load(body["spec"]["serveConfigV2"]), "mm") or {} if body else {}


async def test_both_drivers_walk_the_same_lifecycle(tmp_path, cluster, operator_factory, serve):
    local = await asyncio.to_thread(run_local, tmp_path)
    kopf = await run_kopf(cluster, operator_factory, serve)
    phases, splits, conditions = local
    assert splits == [{"r1": 100}, {"r1": 90, "r2": 10}, {"r1": 50, "r2": 50}, {"r2": 100},
                      {"r1": 100}]
    assert phases == ["Training", "Evaluating", "Serving", "Training", "Evaluating", "Canary",
                      "Serving", "Training", "Evaluating", "GateFailed", "RolledBack"]
    assert kopf[0] == phases
    assert kopf[1] == splits
    assert kopf[2] == conditions


# -- a missing dependency mid-canary -----------------------------------------------------------

# The first step lasts long enough for the test to edit the spec before the canary moves on.
FREEZE_STEPS = [(10, "2s"), (50, "1s"), (100, "0s")]
QUESTIONS = '{"question": "What is the capital of France?"}\n'


def frozen_state(record: Record, status: MoltingModelStatus) -> tuple:
    return (status.phase.value, record.split({t.revision: t.weight for t in status.traffic}),
            {c.type: (c.status, c.reason) for c in status.conditions})


def run_local_freeze(tmp_path: Path) -> tuple:
    data, questions = tmp_path / "data.jsonl", tmp_path / "questions.jsonl"
    data.write_text('{"prompt": "hi", "completion": "hello there"}\n')
    resource, state, serve = tmp_path / "demo.yaml", StateDir(tmp_path / "state"), FakeServe()
    record, frozen = Record(), []
    driver = LocalDriver(resource, state, serve, jobs=LocalJobs(command=FAKE), clock=Clock())

    def write(lr: float, with_questions: bool = False) -> None:
        spec = local_spec(data, lr, questions if with_questions else None, FREEZE_STEPS)
        resource.write_text(yaml.safe_dump(spec))

    try:
        write(GOOD_LR)
        settle_local(driver, record, "Serving")
        write(NEXT_LR)
        status = None
        for _ in range(200):  # to the pass that starts the canary
            status = driver.reconcile_once().status
            on_pass_status(record, status)
            if status.phase.value == "Canary":
                break
            time.sleep(0.05)
        assert status.phase.value == "Canary", status.message
        write(NEXT_LR, with_questions=True)  # names questions that are not there
        for _ in range(3):  # a minute on the stand-in clock: far past the step's 2 s
            status = driver.reconcile_once().status
            on_pass_status(record, status)
            frozen.append(frozen_state(record, status))
        questions.write_text(QUESTIONS)
        settle_local(driver, record, "Serving")
    finally:
        driver.shutdown()
    record.splits = [record.split(w) for w in serve.history]
    return (*record.result(), _dedupe(frozen))


async def run_kopf_freeze(cluster, operator_factory, serve) -> tuple:
    await cluster.create(CONFIGMAPS, dataset())
    await operator_factory()
    record, frozen = Record(), []
    learning_rates: dict[str, float] = {}
    player = asyncio.create_task(play_jobs(cluster, learning_rates))

    def status_now() -> MoltingModelStatus:
        return MoltingModelStatus.model_validate(cluster.status())

    def serving(status: MoltingModelStatus) -> bool:
        return ({t.revision: t.weight for t in status.traffic} == serve_weights(cluster)
                and any(c.type == "Serving" and c.status == "True" for c in status.conditions))

    async def settle(phase: str, before: int) -> None:
        def settled():
            versions = cluster.history(MODELS, "mm")[before:]
            status = status_now()
            changed = any((v.get("status") or {}).get("phase") != phase for v in versions)
            return changed and status.phase.value == phase and serving(status) and status

        record.settled(await eventually(settled, timeout=30, what=f"settling in {phase}"))

    try:
        for step, lr in enumerate((GOOD_LR, NEXT_LR)):
            before = len(cluster.history(MODELS, "mm"))
            body = model(steps=FREEZE_STEPS, training={"gpus": 1, "learningRate": lr})
            learning_rates[revision_of(body)] = lr
            serve.healthy(*learning_rates)
            if step == 0:
                await cluster.create(MODELS, body)
                await settle("Serving", before)
            else:
                await cluster.patch(MODELS, "mm", {"spec": {"training": body["spec"]["training"]}})
        await eventually(lambda: status_now().phase.value == "Canary", timeout=30, what="the canary")
        await cluster.patch(MODELS, "mm", {"spec": {"evaluation": {"questions": {
            "configMap": {"name": "questions", "key": "questions.jsonl"}}}}})

        def is_frozen():
            status = status_now()
            ready = next((c for c in status.conditions if c.type == "Ready"), None)
            return (ready is not None and ready.reason == "DependencyMissing" and serving(status)
                    and status)

        frozen.append(frozen_state(record, await eventually(is_frozen, what="the frozen canary")))
        await asyncio.sleep(3)  # past the step's 2 s: a canary that is not frozen moves on
        frozen.append(frozen_state(record, status_now()))
        before = len(cluster.history(MODELS, "mm"))
        await cluster.create(CONFIGMAPS, {"apiVersion": "v1", "kind": "ConfigMap",
                                          "metadata": {"name": "questions", "namespace": NS},
                                          "data": {"questions.jsonl": QUESTIONS}})
        await settle("Serving", before)
    finally:
        player.cancel()
    from_history(cluster, record)
    return (*record.result(), _dedupe(frozen))


async def test_both_drivers_freeze_a_canary_on_a_missing_dependency(
    tmp_path, cluster, operator_factory, serve
):
    local = await asyncio.to_thread(run_local_freeze, tmp_path)
    kopf = await run_kopf_freeze(cluster, operator_factory, serve)
    phases, splits, conditions, frozen = local
    assert phases == ["Training", "Evaluating", "Serving", "Training", "Evaluating", "Canary",
                      "Serving"]
    # the canary stays at its first step while the questions are missing, then walks on
    assert splits == [{"r1": 100}, {"r1": 90, "r2": 10}, {"r1": 50, "r2": 50}, {"r2": 100}]
    [(phase, split, frozen_conditions)] = frozen
    assert (phase, split) == ("Canary", {"r1": 90, "r2": 10})
    assert frozen_conditions["Ready"] == ("False", "DependencyMissing")
    assert frozen_conditions["Serving"] == ("True", "Serving")
    assert kopf == local
