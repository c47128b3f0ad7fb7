"""`molting demo` end to end, as `make demo` runs it (the tiny model, CPU, a local Ray on
127.0.0.1), then a restart of `molting up` that must resume without retraining.

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
    assert len(promoted) == 2, history  # revision 1 directly, revision 2 after its canary
    rev1, rev2 = promoted
    gate_failed = [rev for rev, outcome in history if outcome == "GateFailed"]
    assert len(gate_failed) == 1 and gate_failed[0] not in (rev1, rev2)
    reasons = [e["reason"] for e in events]
    assert reasons.count("CanaryStepAdvanced") >= 1 and "CanaryStarted" in reasons
    # the manual rollback: revision 1 serves everything again, revision 2 is kept as previous
    assert status["stable"]["revision"] == rev1 and status["previous"]["revision"] == rev2
    assert status["traffic"] == [{"revision": rev1, "weight": 100}]
    assert "ManualRollback" in reasons


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
    raw = status["stable"]["evaluation"]["metaLanguageRate"]       # revision 1 after rollback
    cleaned = status["previous"]["evaluation"]["metaLanguageRate"]  # revision 2
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
    assert "GateFailed" in out.stdout or status["phase"] in ("GateFailed", "RolledBack")
