"""What a driver saw before calling the planner: Jobs, the Serve app, annotations and the time."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from molting_workloads.contract.live_stats import AppStats


class JobKind(str, Enum):
    TRAIN = "train"
    EVAL = "eval"


class JobState(str, Enum):
    ABSENT = "Absent"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


@dataclass(frozen=True)
class JobObservation:
    """One Job (or local subprocess) of one revision.

    ``summary`` is the parsed termination message (a TrainSummary/EvalSummary wire dict) once the
    Job ended; ``progress`` is the latest training progress while it runs ({step, total, loss,
    etaSeconds}); ``message`` is whatever the driver learned about a failure.
    """

    revision: str
    kind: JobKind
    state: JobState
    summary: dict[str, Any] | None = None
    progress: dict[str, Any] | None = None
    message: str = ""


@dataclass(frozen=True)
class ServeObservation:
    """The Serve app as seen by the driver. ``applied`` is the traffic its written config
    says ({revision: weight}), or None when unknown/absent; ``stats`` the live per-revision
    counters. ``fingerprint`` is the settings hash of the config last written and
    ``spec_fingerprint`` the one the spec builds now for the same split (builders.serve_app),
    both None when the driver cannot tell: they differ after a serving edit. A model is only
    serving when ``running`` equals its traffic and the app reports the written settings hash:
    a written config is not an app that runs it."""

    reachable: bool
    applied: dict[str, int] | None = None
    stats: AppStats | None = None
    error: str | None = None
    fingerprint: str | None = None
    spec_fingerprint: str | None = None
    # The split the app itself reports it runs (its /stats), None when it did not answer; and
    # why it does not run the wanted one, when the driver can tell (KubeRay's status).
    running: dict[str, int] | None = None
    not_running: str | None = None

    @property
    def runs_written(self) -> bool:
        """The app's /stats settings hash is the written config's (True when either is unknown)."""
        running = self.stats.settings_hash if self.stats else None
        return running is None or self.fingerprint is None or running == self.fingerprint


@dataclass(frozen=True)
class Observed:
    now: datetime
    generation: int | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    jobs: dict[tuple[str, JobKind], JobObservation] = field(default_factory=dict)
    serve: ServeObservation | None = None
    # Problems the driver found with the spec's dependencies (a missing ConfigMap, an unknown
    # RayService): the planner turns them into a condition and does nothing else.
    dependency_problems: tuple[str, ...] = ()

    def job(self, revision: str, kind: JobKind) -> JobObservation:
        return self.jobs.get((revision, kind), JobObservation(revision, kind, JobState.ABSENT))
