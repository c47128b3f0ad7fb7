"""The local reconcile loop: observe files and the local Serve app → plan → carry out → save.

Editing the resource file is `kubectl apply`; `molting rollback|promote|retrain` set annotations
in the state directory. Nothing in the lifecycle lives here: it is all in `planning.planner`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from molting_operator.api.resource import MoltingModel, load_resource
from molting_operator.api.spec import MoltingModelSpec
from molting_operator.api.status import MoltingModelStatus
from molting_operator.builders import requests, serve_app
from molting_operator.drivers.local.processes import LocalJobs
from molting_operator.drivers.local.serving import LocalServe
from molting_operator.drivers.local.state import StateDir
from molting_operator.planning.actions import (
    ApplyTraffic,
    CancelJobs,
    EmitEvent,
    Plan,
    Probe,
    RunEvaluation,
    RunTraining,
)
from molting_operator.planning.dependencies import needed_sources
from molting_operator.planning.observed import JobKind, JobState, Observed, ServeObservation
from molting_operator.planning.planner import IN_PROGRESS, desired_revision, plan, timestamp
from molting_workloads.contract.errors import MoltingError, SpecError
from molting_workloads.contract.questions import questions_in
from molting_workloads.contract.serve_config import settings_hash

PROBE_QUESTIONS = 8


def _resolve(base: Path, path: str) -> str:
    p = Path(path).expanduser()
    return str(p if p.is_absolute() else (base / p).resolve())


def localize(resource: MoltingModel, base_dir: Path) -> MoltingModelSpec:
    """The spec with relative local paths resolved against the resource file's folder."""
    spec = resource.spec.model_copy(deep=True)
    if spec.dataset.path:
        spec.dataset.path = _resolve(base_dir, spec.dataset.path)
    source = spec.base_model.source
    if source.startswith((".", "/", "~")) or Path(base_dir / source).exists():
        spec.base_model.source = _resolve(base_dir, source)
    questions = spec.evaluation.questions
    if questions and questions.path:
        questions.path = _resolve(base_dir, questions.path)
    return spec


def dependency_problems(spec: MoltingModelSpec, status: MoltingModelStatus,
                        annotations: dict[str, str]) -> list[str]:
    """What a local run cannot use: only local paths exist here. Which sources are looked at
    is the planner's rule (planning.dependencies), as in the cluster driver."""
    problems = []
    for name, source in needed_sources(spec, status, annotations):
        if source.path is None:
            problems.append(f"{name}: only `path` can be used by `molting up`")
        elif not Path(source.path).is_file():
            problems.append(f"{name}.path: {source.path} does not exist")
    src = spec.base_model.source
    if src.startswith("/") and not Path(src).exists():
        problems.append(f"spec.baseModel.source: {src} does not exist")
    return problems


@dataclass
class LocalDriver:
    resource_path: Path
    state: StateDir
    serve: LocalServe
    jobs: LocalJobs = field(default_factory=LocalJobs)
    on_event: Callable[[str, EmitEvent], None] | None = None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    resource: MoltingModel | None = None
    spec: MoltingModelSpec | None = None
    last_error: str | None = None

    @property
    def name(self) -> str:
        assert self.resource is not None
        return self.resource.metadata.name

    def reload(self) -> None:
        """Re-read the resource file; a broken edit keeps the last good spec (nothing is lost)."""
        try:
            resource = load_resource(self.resource_path)
        except (SpecError, OSError) as error:
            if self.resource is None:
                raise
            self.last_error = f"{self.resource_path}: {error} (keeping the last valid spec)"
            return
        self.last_error = None
        self.resource = resource
        self.spec = localize(resource, self.resource_path.resolve().parent)
        self.state.save_meta(self.name, {"creationTimestamp": timestamp(self.clock()),
                                         "resource": str(self.resource_path.resolve())})

    def annotations(self) -> dict[str, str]:
        return {**self.resource.metadata.annotations, **self.state.annotations(self.name)}

    def run_dir(self, revision: str) -> Path:
        return Path(self.state.layout.revision_dir(self.name, revision))

    def observe(self, status) -> Observed:
        notes = self.annotations()
        revisions = {desired_revision(self.spec, notes, status)}
        if status.candidate:
            revisions.add(status.candidate.revision)
        jobs = {}
        for rev in revisions:
            for kind in JobKind:
                obs = self.jobs.observe(rev, kind, self.run_dir(rev))
                if obs.state != JobState.ABSENT:
                    jobs[(rev, kind)] = obs
        return Observed(
            now=self.clock(), generation=self.resource.metadata.generation or 1,
            annotations=notes, jobs=jobs, serve=self.observe_serve(),
            dependency_problems=tuple(dependency_problems(self.spec, status, notes)),
        )

    def observe_serve(self) -> ServeObservation:
        """What the app runs, with the fingerprint of the config last written and of the one
        the spec builds now for its split."""
        serve = self.serve.observe(self.name)
        written = self.serve.written(self.name)
        if written is None:
            return serve
        return replace(serve, fingerprint=settings_hash(written),
                       spec_fingerprint=serve_app.spec_fingerprint(self.name, self.spec,
                                                                   written.revisions,
                                                                   self.state.layout.root))

    def reconcile_once(self) -> Plan:
        self.reload()
        status = self.state.load_status(self.name)
        result = plan(self.spec, status, self.observe(status))
        # Save before acting: a crash mid-way replays idempotent actions, never loses a ref.
        self.state.save_status(self.name, result.status)
        for action in result.actions:
            try:
                self.carry_out(action)
            except MoltingError as error:  # retried on the next pass: the planner re-asks
                self.last_error = f"{type(action).__name__}: {error}"
        return result

    def carry_out(self, action) -> None:
        name, spec, layout = self.name, self.spec, self.state.layout
        if isinstance(action, RunTraining):
            request = requests.train_request(spec, name, action.revision, layout, spec.dataset.path,
                                             action.production_cutoff)
            self.jobs.start(action.revision, JobKind.TRAIN, self.run_dir(action.revision), request)
        elif isinstance(action, RunEvaluation):
            q = spec.evaluation.questions
            request = requests.eval_request(spec, name, action, layout, q.path if q else None)
            self.jobs.start(action.revision, JobKind.EVAL, self.run_dir(action.revision), request)
        elif isinstance(action, CancelJobs):
            self.jobs.cancel(action.revision)
        elif isinstance(action, ApplyTraffic):
            self.serve.apply(serve_app.serve_app_config(name, spec, action, layout.root))
        elif isinstance(action, Probe):
            self._probe(action.revision)
        elif isinstance(action, EmitEvent):
            now = timestamp(self.clock())
            self.state.record_event(name, now, action.reason, action.message, action.warning)
            if self.on_event:
                self.on_event(now, action)

    def _probe(self, revision: str) -> None:
        status = self.state.load_status(self.name)
        q = self.spec.evaluation.questions
        path = Path(q.path) if q else Path(self.state.layout.validation_split(self.name, revision))
        questions = questions_in(path)[:PROBE_QUESTIONS]
        if not questions or status.candidate is None:
            return
        try:
            self.serve.probe(self.name, revision, questions, self.spec.evaluation.max_new_tokens)
        except MoltingError as error:  # a failed probe is counted by the app; analysis sees it
            self.last_error = f"probe of {revision}: {error}"

    def idle(self) -> bool:
        """Nothing in progress, no process running, and the Serve app serves the status's split
        (a failed apply is not idle: the next pass applies it again)."""
        status = self.state.load_status(self.name)
        if status.phase in IN_PROGRESS or self.jobs.running():
            return False
        wanted = {t.revision: t.weight for t in status.traffic}
        return not wanted or self.serve.observe(self.name).applied == wanted

    def run(self, *, interval: float = 1.0, until_idle: bool = False, timeout: float | None = None,
            on_pass: Callable[[Plan], None] | None = None) -> Plan:
        deadline = time.monotonic() + timeout if timeout else None
        while True:
            result = self.reconcile_once()
            if on_pass:
                on_pass(result)
            if until_idle and self.idle() and not any(
                isinstance(a, (RunTraining, RunEvaluation)) for a in result.actions
            ):
                return result
            if deadline and time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} still {result.status.phase.value} after {timeout} s")
            time.sleep(interval)

    def shutdown(self) -> None:
        self.jobs.stop_all()
        self.serve.stop()
