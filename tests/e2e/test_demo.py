"""`molting demo` end to end, as `make demo` runs it (the tiny model, CPU, a local Ray on
127.0.0.1), with its turn of the loop (captured, rated traffic; a revision trained on it; a
not-worse verdict on ratings), then a restart of `molting up` that must resume without
retraining.

Every step the demo shows is checked from the state it leaves, not from its output alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> dict:
    work = tmp_path_factory.mktemp("demo")
    doc = yaml.safe_load((ROOT / "examples" / "demo" / "moltingmodel.yaml").read_text())
    doc["spec"]["training"]["maxSteps"] = 60  # fewer steps than the demo
    doc["spec"]["dataset"]["path"] = str(ROOT / "examples" / "data" / "conversations.jsonl")
    doc["spec"]["evaluation"]["questions"]["path"] = str(ROOT / "examples" / "data" / "questions.jsonl")
    resource = work / "pip.yaml"
    resource.write_text(yaml.safe_dump(doc, sort_keys=False))
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-m", "molting_operator", "demo", "--resource", str(resource),
         "--workdir", str(work / "run"), "--base-model", str(tiny_model_dir),
         "--http-port", "8123", "--dashboard-port", "8366"],
        capture_output=True, text=True, timeout=1500, env=env, cwd=ROOT,
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    state = work / "run" / "state" / "pip"
    return {"stdout": out.stdout, "status": json.loads((state / "status.json").read_text()),
            "events": [json.loads(x) for x in (state / "events.jsonl").read_text().splitlines()],
            "work": work, "env": env}


def test_demo_walks_the_seeds_story(demo_run: dict) -> None:
    status, events = demo_run["status"], demo_run["events"]
    history = [(h["revision"], h["outcome"]) for h in status["history"]]
    promoted = [rev for rev, outcome in history if outcome == "Promoted"]
    # revision 1 directly, revision 2 after its canary, revision 4 (production) after its own
    assert len(promoted) == 3, history
    rev1, rev2, rev4 = promoted
    gate_failed = [rev for rev, outcome in history if outcome == "GateFailed"]
    assert len(gate_failed) == 1 and gate_failed[0] not in (rev1, rev2, rev4)
    reasons = [e["reason"] for e in events]
    assert reasons.count("CanaryStepAdvanced") >= 2 and reasons.count("CanaryStarted") == 2
    # the manual rollback returned revision 1, which the production revision then replaced
    rollback = next(e for e in events if e["reason"] == "ManualRollback")
    assert rollback["message"] == f"Rolled back from {rev2} to {rev1}"
    assert status["stable"]["revision"] == rev4 and status["previous"]["revision"] == rev1
    assert status["traffic"] == [{"revision": rev4, "weight": 100}]


def test_the_loop_trains_on_rated_captured_conversations(demo_run: dict) -> None:
    status, work = demo_run["status"], demo_run["work"]
    stable = status["stable"]
    rows, cutoff = stable["production"]["rows"], stable["production"]["cutoff"]
    assert rows > 0 and cutoff == status["production"]["cutoff"]
    artifacts = work / "run" / "state" / "artifacts" / "pip"
    records = [json.loads(x) for x in (artifacts / "capture" / "capture.jsonl").read_text().splitlines()]
    conversations = {r["id"]: r for r in records if r["type"] == "conversation" and r["kind"] == "user"}
    ratings = [r for r in records if r["type"] == "rating"]
    assert len(ratings) >= 24 and all(r["id"] in conversations for r in ratings)
    # every row it trained on is a captured answer rated 4 or 5, from before the cutoff
    good = {r["id"] for r in ratings if r["rating"] >= 4}
    trained = [json.loads(x) for x in
               (artifacts / stable["revision"] / "data" / "production.jsonl").read_text().splitlines()]
    assert trained and {r["id"] for r in trained} <= good
    assert all(r["messages"][-1]["content"] == conversations[r["id"]]["answer"] for r in trained)
    report = json.loads((artifacts / stable["revision"] / "data" / "cleaning-report.json").read_text())
    assert report["production"]["kept"] == rows and report["production"]["offered"] == len(trained)
    # the held-out evaluation questions were never asked by the demo's users
    held_out = {json.loads(x)["question"] for x in
                (ROOT / "examples" / "data" / "questions.jsonl").read_text().splitlines()}
    assert not held_out & {c["messages"][-1]["content"] for c in conversations.values()}


def test_the_production_canary_was_judged_not_worse_on_ratings(demo_run: dict) -> None:
    status, out = demo_run["status"], demo_run["stdout"]
    verdict = status["verdict"]
    assert (verdict["metric"], verdict["decision"]) == ("rating", "Pass")
    assert verdict["candidateRevision"] == status["stable"]["revision"]
    assert verdict["stableRevision"] == status["previous"]["revision"]
    assert verdict["candidate"]["n"] >= 8 and verdict["stable"]["n"] >= 24
    assert verdict["differenceLow"] > -0.5
    assert "Not-worse verdict" in out and "production rows" in out


def test_the_production_revision_was_scored_by_an_advisory_judge_molting_served(demo_run: dict) -> None:
    status, work = demo_run["status"], demo_run["work"]
    evaluation = status["stable"]["evaluation"]
    judged = [g for g in evaluation["gates"] if g["name"].startswith("judge.")]
    assert [g["name"] for g in judged] == ["judge.quality", "judge.personality",
                                           "judge.factualAccuracy", "judge.coherence"]
    assert all(g["advisory"] for g in judged) and evaluation["passed"]
    report = json.loads(Path(evaluation["report"]).read_text())
    replies = [q["candidate"]["judge"]["reply"] for q in report["questions"]]
    assert len(replies) == len(report["questions"]) and all(isinstance(r, str) for r in replies)
    # The judge's calls went to the demo's own endpoint: the app answered (and captured) them.
    capture = work / "run" / "state" / "artifacts" / "pip" / "capture" / "capture.jsonl"
    prompts = [json.loads(x)["messages"] for x in capture.read_text().splitlines()
               if '"type":"conversation"' in x]
    graded = [m for m in prompts if m[0]["role"] == "system" and "grader" in m[0]["content"]]
    assert len(graded) >= len(replies)


def test_demo_shows_answers_headers_endpoint_and_reports(demo_run: dict) -> None:
    out, status = demo_run["stdout"], demo_run["status"]
    assert "x-molting-revision: " + status["stable"]["revision"] in out
    assert "x-molting-revision: " + status["previous"]["revision"] in out
    assert "x-molting-filtered:" in out and "curl -s http://127.0.0.1:8123/v1/chat/completions" in out
    # The endpoint stops with the demo: it says so and how to bring it back, not a dead curl alone.
    assert "stopped with the demo" in out and "--state-dir" in out and "molting up " in out
    for ref in (status["stable"], status["previous"]):
        assert Path(ref["evaluation"]["report"]).with_suffix(".html").exists()


def test_cleaning_lowered_meta_language(demo_run: dict) -> None:
    status = demo_run["status"]
    cleaned = status["stable"]["evaluation"]["metaLanguageRate"]  # revision 4: cleaned + production
    raw = status["previous"]["evaluation"]["metaLanguageRate"]    # revision 1
    assert cleaned <= 0.2 < raw


def test_a_second_up_resumes_without_retraining(demo_run: dict) -> None:
    work, env = demo_run["work"], demo_run["env"]
    run = work / "run"
    logs = sorted((run / "state" / "artifacts" / "pip").glob("*/train.log"))
    stamps = {p: p.stat().st_mtime_ns for p in logs}
    out = subprocess.run(
        [sys.executable, "-m", "molting_operator", "up", str(run / "moltingmodel.yaml"),
         "--state-dir", str(run / "state"), "--until-idle", "--no-live", "--timeout", "600",
         "--http-port", "8123", "--dashboard-port", "8366"],
        capture_output=True, text=True, timeout=900, env=env, cwd=ROOT,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert {p: p.stat().st_mtime_ns for p in logs} == stamps  # nothing trained again
    status = json.loads((run / "state" / "pip" / "status.json").read_text())
    assert status["stable"]["revision"] == demo_run["status"]["stable"]["revision"]
    assert status["phase"] == "Serving"
