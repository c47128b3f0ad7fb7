"""What the planner asks a driver to do. Every action is idempotent when carried out twice."""

from __future__ import annotations

from dataclasses import dataclass

from molting_operator.api.status import MoltingModelStatus


@dataclass(frozen=True)
class RunTraining:
    """Create the training Job (or local process) of ``revision`` unless it exists; with
    ``production_cutoff`` it trains on the captured conversations answered by then too."""

    revision: str
    production_cutoff: str | None = None


@dataclass(frozen=True)
class RunEvaluation:
    """Create the evaluation Job of ``revision``, comparing with ``stable`` when given."""

    revision: str
    adapter: str
    stable_revision: str | None = None
    stable_adapter: str | None = None


@dataclass(frozen=True)
class CancelJobs:
    """Stop and remove the Jobs of a superseded revision (404 is done)."""

    revision: str


@dataclass(frozen=True)
class ApplyTraffic:
    """Make the Serve app serve these weights (they sum to 100). ``adapters`` maps every known
    revision (the weighted ones, and the previous at weight 0) to its adapter location. The
    driver builds the Serve config from it and the spec (builders.serve_app)."""

    weights: tuple[tuple[str, int], ...]
    adapters: tuple[tuple[str, str], ...]
    # Revisions whose filter differs from spec.serving.filter.enabled (a canary's
    # rollout.revisionFilter): revision -> whether the filter runs on its answers.
    filters: tuple[tuple[str, bool], ...] = ()

    def as_dict(self) -> dict[str, int]:
        return dict(self.weights)


@dataclass(frozen=True)
class Probe:
    """Send the evaluation questions to ``revision`` through the live path (labelled probe)."""

    revision: str


@dataclass(frozen=True)
class EmitEvent:
    reason: str
    message: str
    warning: bool = False
    # The history outcome this Event records (an api.status.Outcome value), when it records one:
    # what metrics count, instead of reading the message.
    outcome: str | None = None


Action = RunTraining | RunEvaluation | CancelJobs | ApplyTraffic | Probe | EmitEvent


@dataclass
class Plan:
    """The planner's answer: what to do, and the status to write afterwards."""

    actions: list[Action]
    status: MoltingModelStatus
