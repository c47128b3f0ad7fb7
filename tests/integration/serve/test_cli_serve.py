"""`molting serve CONFIG.yaml` starts the app on a local loopback Ray, prints the endpoint, serves,
and stops Ray on Ctrl-C. Runs in its own process with Ray token auth on (the REST calls must carry
the token); it runs before the session Ray of the other tests starts (file order)."""

from __future__ import annotations

import os
import secrets
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml
from servekit import QUESTION

from molting_workloads.serving.local import free_port

MOLTING = str(Path(sys.executable).parent / "molting")


def _read_until(proc: subprocess.Popen, marker: str, timeout_s: float) -> list[str]:
    lines: list[str] = []
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        if selector.select(timeout=1.0):
            line = proc.stdout.readline()
            lines.append(line)
            if marker in line:
                return lines
    raise AssertionError(f"no {marker!r} within {timeout_s}s; output so far:\n{''.join(lines)}")


def test_molting_serve_prints_the_endpoint_serves_and_stops_on_ctrl_c(tiny_model_dir, tiny_adapters, tmp_path):
    port = free_port()
    config = tmp_path / "serve.yaml"
    config.write_text(yaml.safe_dump({
        "name": "cli-test",
        "baseModel": str(tiny_model_dir),
        "revisions": [{"revision": "only", "adapter": str(tiny_adapters["clean"]), "weight": 100}],
        "generation": {"maxNewTokens": 8},
        "device": "cpu",
    }))
    env = os.environ | {
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": secrets.token_hex(16),  # never the home folder's token file
        "MOLTING_API_KEY": "",
        "PYTHONUNBUFFERED": "1",
        "COLUMNS": "200",
    }
    proc = subprocess.Popen(
        [MOLTING, "serve", str(config), "--port", str(port), "--num-cpus", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True,
    )
    try:
        lines = _read_until(proc, "serving", timeout_s=240)
        endpoint = f"http://127.0.0.1:{port}/v1/chat/completions"
        assert endpoint in lines[-1]
        r = httpx.post(endpoint, json={"messages": QUESTION, "max_tokens": 4}, timeout=60)
        assert r.status_code == 200, r.text
        assert r.headers["x-molting-revision"] == "only"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
    assert proc.returncode == 0, out
    assert "stopped" in out
