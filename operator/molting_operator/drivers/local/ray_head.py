"""Finding and stopping the processes of one local Ray head, and only those.

`ray stop --force` stops every Ray of the user on the machine, including ones Molting did not
start. A head that LocalServe starts gets its own temp dir and GCS port instead; its root
processes carry one of them on their command line (gcs_server, raylet, dashboard, monitors, the
client server), and the rest (dashboard heads, agents, workers) descend from those roots.
Linux only: it reads /proc.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterable
from pathlib import Path

PROC = Path("/proc")


def _table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every process that can be read."""
    out: dict[int, tuple[int, str]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # gone meanwhile
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        out[int(entry.name)] = (ppid, cmdline)
    return out


def processes_of(marks: Iterable[str]) -> set[int]:
    """The processes whose command line holds one of ``marks``, and all their descendants."""
    marks = [m for m in marks if m]
    table = _table()
    found = {pid for pid, (_, cmd) in table.items() if any(m in cmd for m in marks)}
    found.discard(os.getpid())
    grew = True
    while grew:
        children = {pid for pid, (ppid, _) in table.items() if ppid in found} - found
        grew = bool(children)
        found |= children
    return found


def stop(marks: Iterable[str], grace_s: float = 10.0) -> int:
    """SIGTERM the head's processes, SIGKILL what is left after ``grace_s``; how many there were."""
    pids = processes_of(marks)
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.2)
    for pid in pids:
        _signal(pid, signal.SIGKILL)
    return len(pids)


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _alive(pid: int) -> bool:
    try:
        state = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; its parent (init) reaps it
