"""MoltingModelStatus, the phase vocabulary and the condition/event reasons (one vocabulary)."""

from __future__ import annotations

from enum import Enum

from pydantic import Field

from molting_workloads.contract.ab_stats import NotWorseResult
from molting_workloads.contract.base import WireModel
from molting_workloads.contract.progress import TrainingProgress


class Phase(str, Enum):
    PENDING = "Pending"
    TRAINING = "Training"
    EVALUATING = "Evaluating"
    GATE_FAILED = "GateFailed"
    CANARY = "Canary"
    SERVING = "Serving"
    ROLLED_BACK = "RolledBack"
    FAILED = "Failed"


class ConditionType(str, Enum):
    TRAINED = "Trained"
    EVALUATED = "Evaluated"
    GATES_PASSED = "GatesPassed"
    SERVING = "Serving"
    READY = "Ready"


class Reason(str, Enum):
    """Condition and Event reasons, in success/failure pairs where there is a pair."""

    INVALID_SPEC = "InvalidSpec"
    PAUSED = "Paused"
    TRAINING_STARTED = "TrainingStarted"
    TRAINING_SUCCEEDED = "TrainingSucceeded"
    TRAINING_FAILED = "TrainingFailed"
    EVALUATION_STARTED = "EvaluationStarted"
    EVALUATION_SUCCEEDED = "EvaluationSucceeded"
    EVALUATION_FAILED = "EvaluationFailed"
    GATES_PASSED = "GatesPassed"
    GATES_FAILED = "GatesFailed"
    CANARY_STARTED = "CanaryStarted"
    CANARY_STEP = "CanaryStepAdvanced"
    ANALYSIS_PASSED = "AnalysisPassed"
    ANALYSIS_FAILED = "AnalysisFailed"
    ANALYSIS_INCONCLUSIVE = "AnalysisInconclusive"
    PROMOTED = "Promoted"
    ROLLED_BACK = "RolledBack"
    MANUAL_ROLLBACK = "ManualRollback"
    MANUAL_PROMOTE = "ManualPromote"
    SUPERSEDED = "Superseded"
    SERVING = "Serving"
    NOT_SERVING = "NotServing"
    SERVE_PENDING = "ServePending"  # the config is written; the app does not run it yet
    REQUEST_REJECTED = "RequestRejected"  # the API server refused what the operator sent (400/422)
    DEPENDENCY_MISSING = "DependencyMissing"
    PRODUCTION_DATA = "ProductionData"  # enough new ratings: a revision trains on production


class Outcome(str, Enum):
    """What became of a revision, as status.history records it."""

    PROMOTED = "Promoted"
    ROLLED_BACK = "RolledBack"
    GATE_FAILED = "GateFailed"
    FAILED = "Failed"
    SUPERSEDED = "Superseded"


class Condition(WireModel):
    """A Kubernetes-style condition."""

    type: str = Field(..., description="Trained, Evaluated, GatesPassed, Serving or Ready.")
    status: str = Field(..., pattern="^(True|False|Unknown)$", description="True, False or Unknown.")
    reason: str = Field(..., description="CamelCase reason.")
    message: str = Field("", description="Human-readable detail.")
    last_transition_time: str = Field(..., description="When status last changed (RFC 3339).")
    observed_generation: int | None = Field(None, description="The spec generation it describes.")


class GateResult(WireModel):
    """One gate's verdict."""

    name: str = Field(..., description="The gate.")
    passed: bool = Field(..., description="Whether it passed.")
    value: float | None = Field(None, description="The measured value.")
    threshold: str = Field("", description="What it was compared against.")
    reason: str = Field("", description="Why it passed or failed.")
    state: str | None = Field(
        None, pattern="^(Passed|Failed|Error)$",
        description="Passed, Failed, or Error: the gate could not be decided (a judge that "
        "timed out or answered nonsense); an Error never passes.",
    )
    advisory: bool = Field(
        False, description="Shown, not counted: an advisory judge gate never blocks a revision."
    )


class EvaluationBrief(WireModel):
    """The headline of an evaluation report."""

    meta_language_rate: float | None = Field(None, description="Fraction of answers with meta-language.")
    mean_length: float | None = Field(None, description="Mean answer length in characters.")
    relevance: float | None = Field(None, description="Mean question/answer cosine similarity.")
    repetition: float | None = Field(None, description="Mean repeated-n-gram score.")
    empty_rate: float | None = Field(None, description="Fraction of empty answers.")
    passed: bool | None = Field(None, description="Whether every gate passed.")
    gates: list[GateResult] = Field(default_factory=list, description="Per-gate verdicts.")
    report: str | None = Field(None, description="Where the evaluation report is.")


class ProductionData(WireModel):
    """The production data a revision trains on (spec.dataset.production)."""

    cutoff: str = Field(..., description="Captured conversations answered by then (RFC 3339).")
    rows: int | None = Field(None, description="Production rows cleaning kept (once trained).")


class ProductionMark(WireModel):
    """Where the production trigger stands: the cutoff of the last production revision, the
    qualifying ratings the app counted then, and the retrain annotation it answered."""

    cutoff: str = Field(..., description="The production cutoff revisions train on now.")
    rated: int | None = Field(None, ge=0, description="Qualifying ratings on /stats at the cutoff (the "
                       "app's counters restart with it: a lower count re-bases this mark).")
    retrain: str | None = Field(None, description="The retrain annotation value it answered.")


class RevisionRef(WireModel):
    """One revision: its adapter, its evaluation and its times."""

    revision: str = Field(..., description="The revision id.")
    adapter: str | None = Field(None, description="Where the adapter lives (path on the artifacts volume).")
    evaluation: EvaluationBrief | None = Field(None, description="The evaluation summary.")
    created_at: str | None = Field(None, description="When the revision was first seen.")
    trained_at: str | None = Field(None, description="When training finished.")
    evaluated_at: str | None = Field(None, description="When evaluation finished.")
    promoted_at: str | None = Field(None, description="When it became stable.")
    production: ProductionData | None = Field(
        None, description="The production data it trains on (spec.dataset.production)."
    )


class TrafficEntry(WireModel):
    """The share of traffic a revision receives."""

    revision: str = Field(..., description="The revision id.")
    weight: int = Field(..., ge=0, le=100, description="Percent of traffic.")


class CanaryState(WireModel):
    """Where the canary is."""

    step: int = Field(0, ge=0, description="Index of the current step in spec.serving.rollout.steps.")
    weight: int = Field(0, ge=0, le=100, description="Current candidate weight.")
    step_started_at: str | None = Field(None, description="When the current step started.")
    analysis: str | None = Field(None, description="Last analysis verdict and why.")


class AbVerdict(NotWorseResult):
    """The canary's last not-worse verdict (spec.serving.rollout.analysis.notWorse), kept after
    the canary ends."""

    candidate_revision: str = Field(..., description="The candidate it judged.")
    stable_revision: str = Field(..., description="The stable it was compared with.")
    at: str = Field(..., description="When (RFC 3339).")


class HistoryEntry(WireModel):
    """What happened to one revision."""

    revision: str = Field(..., description="The revision id.")
    # An Outcome value (kept a plain string on the wire, as before).
    outcome: str = Field(..., description="Promoted, GateFailed, RolledBack, Superseded or Failed.")
    reason: str = Field("", description="Why.")
    at: str = Field(..., description="When (RFC 3339).")
    adapter: str | None = Field(None, description="Where its adapter lives.")
    production: ProductionData | None = Field(
        None, description="The production data it trained on (spec.dataset.production)."
    )


def two_decimals(rate: float | None) -> str | None:
    """A rate as the META-LANG column shows it (a number column would print 1 and 0.2)."""
    return None if rate is None else f"{rate:.2f}"


class MoltingModelStatus(WireModel):
    """What the operator observed and decided."""

    phase: Phase = Field(Phase.PENDING, description="Where the lifecycle is.")
    observed_generation: int | None = Field(None, description="The spec generation last acted on.")
    conditions: list[Condition] = Field(default_factory=list, description="Standard conditions.")
    stable: RevisionRef | None = Field(None, description="The revision serving most traffic.")
    previous: RevisionRef | None = Field(None, description="The revision to roll back to.")
    candidate: RevisionRef | None = Field(None, description="The revision being trained, gated or canaried.")
    traffic: list[TrafficEntry] = Field(default_factory=list, description="Weight per revision.")
    canary: CanaryState | None = Field(None, description="Canary progress.")
    canary_weight: int | None = Field(None, description="The candidate's current weight (printer column).")
    meta_language_rate: float | None = Field(None, description="Stable's evaluated meta-language rate.")
    meta_language_rate_text: str | None = Field(
        None, description="metaLanguageRate with two decimals, e.g. 0.20 (the META-LANG column)."
    )
    verdict: AbVerdict | None = Field(
        None, description="The last not-worse verdict of a canary, with the figures and their "
        "intervals (only with analysis.notWorse).",
    )
    progress: TrainingProgress | None = Field(None, description="Training progress.")
    history: list[HistoryEntry] = Field(default_factory=list, description="Past revisions.")
    handled_tokens: dict[str, str] = Field(
        default_factory=dict,
        description="Manual-control annotation values already acted on (rollback, promote).",
    )
    production: ProductionMark | None = Field(
        None, description="The production trigger (with spec.dataset.production on)."
    )
    message: str | None = Field(None, description="A one-line summary of the last transition.")
