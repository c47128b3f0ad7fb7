"""Jobs as local processes: `molting train|eval --request FILE`, observed through their files.

A process's state is read from its revision folder, so a restarted driver finds it again:
the last summary line of ``<kind>.log`` is the Job's summary (what a pod writes as its termination
message) and its last progress line the training's progress, both read with the contract's readers
as the cluster driver reads a pod's; ``<kind>.exit`` holds an exit code the driver saw; ``<kind>.pid`` a running process.
A process that died with its driver (no summary, no exit code) counts as never started, and the
planner runs it again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from molting_operator.planning.observed import JobKind, JobObservation, JobState
from molting_workloads.contract.base import WireModel
from molting_workloads.contract.progress import parse_progress
from molting_workloads.contract.summaries import read_summary


def _log_tail(path: Path, size: int = 16384) -> str:
    """The last ``size`` bytes of a log, as text."""
    if not path.exists():
        return ""
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        handle.seek(max(0, handle.tell() - size))
        return handle.read().decode(errors="replace")


def _progress(log: str) -> dict[str, Any] | None:
    progress = parse_progress(log)
    return progress.to_wire() if progress else None


def _tail(path: Path, lines: int = 5) -> str:
    if not path.exists():
        return ""
    return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])[-800:]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:  # a zombie of ours is not alive
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


class LocalJobs:
    """Start, observe and stop the train/eval processes of revisions."""

    def __init__(self, env: dict[str, str] | None = None, command: list[str] | None = None) -> None:
        self._procs: dict[tuple[str, JobKind], subprocess.Popen] = {}
        # Processes a previous driver started, found alive through their pid files.
        self._adopted: dict[tuple[str, JobKind], int] = {}
        self._env = env
        # `molting` as this interpreter runs it; tests put a stand-in here.
        self._command = command or [sys.executable, "-m", "molting_operator"]

    @staticmethod
    def _files(run_dir: Path, kind: JobKind) -> tuple[Path, Path, Path, Path]:
        return (run_dir / f"{kind.value}-request.yaml", run_dir / f"{kind.value}.log",
                run_dir / f"{kind.value}.exit", run_dir / f"{kind.value}.pid")

    def start(self, revision: str, kind: JobKind, run_dir: Path, request: WireModel) -> bool:
        """Start the process unless it runs or ran; True when it was started now."""
        if self.observe(revision, kind, run_dir).state != JobState.ABSENT:
            return False
        req, log, exit_file, pid_file = self._files(run_dir, kind)
        run_dir.mkdir(parents=True, exist_ok=True)
        for stale in (log, exit_file, pid_file):
            stale.unlink(missing_ok=True)
        req.write_text(yaml.safe_dump(request.to_wire(), sort_keys=False))
        with log.open("w") as out:
            proc = subprocess.Popen(
                [*self._command, kind.value, "--request", str(req)],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=self._env, start_new_session=True,
            )
        pid_file.write_text(str(proc.pid))
        self._procs[(revision, kind)] = proc
        return True

    def observe(self, revision: str, kind: JobKind, run_dir: Path) -> JobObservation:
        _, log, exit_file, pid_file = self._files(run_dir, kind)
        proc = self._procs.get((revision, kind))
        if proc is not None and proc.poll() is not None:
            exit_file.write_text(str(proc.returncode))
            del self._procs[(revision, kind)]
        tail = _log_tail(log)
        summary = read_summary(tail, revision=revision, kind=kind.value)
        if summary is not None and (exit_file.exists() or not self._running(revision, kind, pid_file)):
            ok = bool(summary.get("ok"))
            state = JobState.SUCCEEDED if ok else JobState.FAILED
            return JobObservation(revision, kind, state, summary=summary,
                                  message="" if ok else _tail(log))
        if exit_file.exists():
            return JobObservation(revision, kind, JobState.FAILED,
                                  message=f"exit code {exit_file.read_text().strip()}: {_tail(log)}")
        if self._running(revision, kind, pid_file):
            return JobObservation(revision, kind, JobState.RUNNING,
                                  progress=_progress(tail) if kind == JobKind.TRAIN else None)
        return JobObservation(revision, kind, JobState.ABSENT)

    def _running(self, revision: str, kind: JobKind, pid_file: Path) -> bool:
        if (revision, kind) in self._procs:
            return True
        pid = int(pid_file.read_text() or 0) if pid_file.exists() else 0
        if pid and _alive(pid):
            self._adopted[(revision, kind)] = pid
            return True
        self._adopted.pop((revision, kind), None)
        return False

    def cancel(self, revision: str) -> None:
        for kind in JobKind:
            proc = self._procs.pop((revision, kind), None)
            if proc is not None:
                _terminate(proc)
            pid = self._adopted.pop((revision, kind), None)
            if pid is not None:
                _terminate_group(pid)

    def stop_all(self) -> None:
        for key in list(self._procs):
            _terminate(self._procs.pop(key))
        for key in list(self._adopted):
            _terminate_group(self._adopted.pop(key))

    def running(self) -> list[tuple[str, JobKind]]:
        return [k for k, p in self._procs.items() if p.poll() is None] + [
            k for k, pid in self._adopted.items() if _alive(pid)]


def _terminate_group(pid: int, grace_s: float = 5.0) -> None:
    """End an adopted process: it leads its own session (start_new_session), so its pid is its
    process group."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _terminate(proc: subprocess.Popen, grace_s: float = 5.0) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=grace_s)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
