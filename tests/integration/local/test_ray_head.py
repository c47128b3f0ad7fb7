"""Stopping the local Ray head stops only its own processes: another Ray on the machine (here a
process named like a raylet, which `ray stop --force` would kill) keeps running."""

from __future__ import annotations

import subprocess
import time

import pytest

from molting_operator.drivers.local import ray_head
from molting_operator.drivers.local.serving import LocalServe

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def test_stopping_the_head_leaves_another_ray_alone(tmp_path):
    foreign = subprocess.Popen(["bash", "-c", "exec -a raylet sleep 300"])
    serve = LocalServe(http_port=8431, dashboard_port=8432, num_cpus=1)
    try:
        serve.ensure_started()
        marks = [str(serve._temp_dir), f"127.0.0.1:{serve._gcs_port}"]
        ours = ray_head.processes_of(marks)
        commands = " ".join(open(f"/proc/{p}/cmdline").read() for p in ours
                            if ray_head._alive(p))
        assert "gcs_server" in commands and "raylet" in commands and "dashboard" in commands
        assert foreign.pid not in ours
    finally:
        serve.stop()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(ray_head._alive(p) for p in ours):
        time.sleep(0.2)
    assert not [p for p in ours if ray_head._alive(p)]
    assert foreign.poll() is None  # the other "Ray" still runs
    foreign.kill()
    foreign.wait()
