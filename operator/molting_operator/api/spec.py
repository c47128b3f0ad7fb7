"""MoltingModelSpec: what a user writes. Composes the contract's policies.

Cross-field rules live twice on purpose: as pydantic validators (the operator and `molting
validate`) and as CEL ``x-kubernetes-validations`` (the API server). ``crd.py`` copies the CEL rules
from each model's ``json_schema_extra``; tests check both refuse the same resources.
"""

from __future__ import annotations

from enum import Enum

from pydantic import Field, field_validator, model_validator

from molting_operator.api.serving_resources import ServingResources
from molting_workloads.contract.base import DURATION_PATTERN, WireModel, cel_rules
from molting_workloads.contract.capture import CapturePolicy
from molting_workloads.contract.judging import JudgePolicy
from molting_workloads.contract.policies import (
    CleaningPolicy,
    FilterPolicy,
    GatePolicy,
    GenerationDefaults,
    TrainingParams,
)
from molting_workloads.contract.production import ProductionPolicy
from molting_workloads.contract.serve_config import STICKY_HEADER

GROUP = "molting.dev"
VERSION = "v1alpha1"
KIND = "MoltingModel"
PLURAL = "moltingmodels"
SINGULAR = "moltingmodel"
SHORT_NAMES = ["molt"]

class BaseModelSource(WireModel):
    """The base language model the adapters are trained on."""

    source: str = Field(
        ...,
        min_length=1,
        max_length=512,
        description="A Hugging Face hub id (org/name) or a folder. On a cluster a folder on the "
        "artifacts volume is written /artifacts/<folder> (the claim is mounted at /artifacts); "
        "with molting up, a local folder (relative: to the resource file).",
    )
    revision: str | None = Field(
        None, max_length=128, description="Hub revision (branch, tag or commit) when source is an id."
    )


class ConfigMapRef(WireModel):
    """A key of a ConfigMap in the resource's namespace."""

    name: str = Field(..., min_length=1, max_length=253, description="ConfigMap name.")
    key: str = Field(..., min_length=1, max_length=253, description="Key holding the JSONL text.")


class PvcRef(WireModel):
    """A file on a PersistentVolumeClaim."""

    claim_name: str = Field(..., min_length=1, max_length=253, description="PVC name.")
    path: str = Field(
        ..., min_length=1, max_length=1024,
        description="Path of the file inside the claim, from its root (on the artifacts claim, "
        "datasets/a.jsonl is /artifacts/datasets/a.jsonl in the pods).",
    )


class DataSource(WireModel):
    """Where a JSONL file comes from: exactly one of configMap, pvc or path."""

    model_config = WireModel.model_config | {
        "json_schema_extra": cel_rules(
            (
                "(has(self.configMap) ? 1 : 0) + (has(self.pvc) ? 1 : 0)"
                " + (has(self.path) ? 1 : 0) == 1",
                "exactly one of configMap, pvc or path must be set",
            )
        )
    }

    config_map: ConfigMapRef | None = Field(None, description="Read the file from a ConfigMap key.")
    pvc: PvcRef | None = Field(None, description="Read the file from a PersistentVolumeClaim.")
    path: str | None = Field(
        None, min_length=1, max_length=1024,
        description="A file path as the pod reads it: on a cluster a file on the artifacts volume "
        "is written /artifacts/<file>; with molting up, a local path (relative: to the resource "
        "file).",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> DataSource:
        chosen = [n for n in ("config_map", "pvc", "path") if getattr(self, n) is not None]
        if len(chosen) != 1:
            raise ValueError(
                "exactly one of configMap, pvc or path must be set"
                + (f" (got {', '.join(chosen)})" if chosen else " (got none)")
            )
        return self


class DatasetSpec(DataSource):
    """The training data: JSONL of chat `messages` or `prompt`/`completion` lines."""

    model_config = DataSource.model_config
    format: str = Field(
        "auto",
        pattern="^(auto|messages|prompt-completion)$",
        description="Line format: auto (detect per line), messages or prompt-completion.",
    )
    production: ProductionPolicy = Field(
        default_factory=ProductionPolicy,
        description="Add rated captured conversations (spec.serving.capture) to the training "
        "data of new revisions (off by default).",
    )


class Resources(WireModel):
    """Kubernetes resource requests and limits for the training and evaluation pods."""

    requests: dict[str, str] = Field(default_factory=dict, description="Resource requests.")
    limits: dict[str, str] = Field(default_factory=dict, description="Resource limits.")


class Toleration(WireModel):
    """A pod toleration (as in core/v1)."""

    key: str | None = Field(None, description="Taint key.")
    operator: str | None = Field(
        None, pattern="^(Exists|Equal)$", description="Exists or Equal."
    )
    value: str | None = Field(None, description="Taint value.")
    effect: str | None = Field(
        None,
        pattern="^(NoSchedule|PreferNoSchedule|NoExecute)$",
        description="Taint effect to tolerate.",
    )
    toleration_seconds: int | None = Field(None, description="For NoExecute: how long to stay.")


class TrainingSpec(TrainingParams):
    """Training: the hyper-parameters (which define the revision) and where the Job runs."""

    require_gpu: bool = Field(
        False,
        alias="requireGPU",
        description="Fail instead of falling back to CPU LoRA when CUDA is absent.",
    )
    image: str | None = Field(
        None, max_length=512, description="Training image (default: the operator's setting)."
    )
    gpus: int = Field(1, ge=0, le=16, description="GPUs requested per training pod.")
    resources: Resources = Field(default_factory=Resources, description="Pod resources.")
    node_selector: dict[str, str] = Field(
        default_factory=dict, description="Node selector for training and evaluation pods."
    )
    tolerations: list[Toleration] = Field(
        default_factory=list, max_length=32, description="Tolerations for training pods."
    )
    active_deadline_seconds: int = Field(
        6 * 3600, ge=60, description="Kill a training Job that runs longer than this."
    )
    backoff_limit: int = Field(1, ge=0, le=10, description="Retries of a failed training pod.")


class SecretKeyRef(WireModel):
    """A key of a Secret in the resource's namespace."""

    name: str = Field(..., min_length=1, max_length=253, description="Secret name.")
    key: str = Field(..., min_length=1, max_length=253, description="Key holding the value.")


class JudgeSpec(JudgePolicy):
    """A judge model (any OpenAI-compatible endpoint) that scores every candidate answer on a
    rubric; each criterion's mean score is a gate (judge.<name>), in state Error when the judge
    times out, errors or answers nonsense."""

    model_config = JudgePolicy.model_config
    api_key_secret: SecretKeyRef | None = Field(
        None,
        description="The judge's API key (a Bearer token), given to the evaluation Job as "
        "MOLTING_JUDGE_API_KEY; molting up reads that variable from its own environment.",
    )


class EvaluationSpec(WireModel):
    """Evaluation: the questions and the gates a candidate must pass."""

    questions: DataSource | None = Field(
        None, description="JSONL of {\"question\": ...} lines (default: the dataset's validation split)."
    )
    max_new_tokens: int = Field(160, ge=1, le=4096, description="Answer length cap (tokens).")
    gates: GatePolicy = Field(default_factory=GatePolicy, description="The promotion gates.")
    judge: JudgeSpec | None = Field(
        None, description="A judge model whose rubric scores are gates too (off when absent)."
    )


class CanaryStep(WireModel):
    """One canary step: a traffic weight held for a duration while live analysis runs."""

    weight: int = Field(..., ge=0, le=100, description="Percent of traffic to the candidate.")
    duration: str = Field(
        "1m", pattern=DURATION_PATTERN, description="How long to hold this weight (e.g. 30s, 5m)."
    )


class NotWorseMetric(str, Enum):
    META_LANGUAGE = "metaLanguage"
    ERROR_RATE = "errorRate"
    RATING = "rating"


class NotWorseRule(WireModel):
    """Require the candidate to be not worse than stable with a stated confidence (the rule in
    contract/ab_stats.py), on user traffic of both revisions; probes are left out because they
    reach the candidate alone."""

    model_config = WireModel.model_config | {
        "json_schema_extra": cel_rules(
            ("!has(self.maxSamples) || !has(self.minSamples) || self.maxSamples >= self.minSamples",
             "notWorse.maxSamples must be at least minSamples"),
            ("!has(self.metric) || self.metric == 'rating' || !has(self.margin) || self.margin <= 1.0",
             "notWorse.margin of a rate must be at most 1"),
        )
    }

    metric: NotWorseMetric = Field(
        ..., description="metaLanguage (raw meta-language rate), errorRate, or rating (mean "
        "user rating, higher is better; with no ratings the rule stays Inconclusive).",
    )
    margin: float = Field(
        0.05, ge=0.0, le=4.0,
        description="How much worse the candidate may be: a rate difference for rates (at most "
        "1), rating points for rating.",
    )
    confidence: float = Field(
        0.95, ge=0.5, lt=1.0, description="One-sided confidence of the test, in [0.5, 1)."
    )
    min_samples: int = Field(
        30, ge=2, le=1_000_000,
        description="Fewer observations on either side make the rule Inconclusive (the step waits).",
    )
    max_samples: int = Field(
        2000, ge=2, le=10_000_000,
        description="With this many on both sides and still no Pass, the rule Fails.",
    )

    @model_validator(mode="after")
    def _ranges(self) -> NotWorseRule:
        if self.max_samples < self.min_samples:
            raise ValueError(f"maxSamples: must be at least minSamples ({self.min_samples}), "
                             f"got {self.max_samples}")
        if self.metric != NotWorseMetric.RATING and self.margin > 1.0:
            raise ValueError(f"margin: a rate margin must be at most 1, got {self.margin}")
        return self


class AnalysisThresholds(WireModel):
    """Live analysis at each canary step; a breach rolls back when autoRollback is on."""

    max_error_rate: float = Field(0.05, ge=0.0, le=1.0, description="Highest error fraction.")
    max_latency_p99_ms: float = Field(
        5000.0, gt=0.0, description="Highest p99 latency in milliseconds."
    )
    max_meta_language_rate: float = Field(
        0.2, ge=0.0, le=1.0, description="Highest raw (pre-filter) meta-language rate."
    )
    max_regression: float = Field(
        0.1, ge=0.0, le=1.0, description="How much worse than stable any rate may be."
    )
    min_requests: int = Field(
        5, ge=0, description="Fewer requests than this make a step inconclusive (probes count)."
    )
    probe: bool = Field(
        True, description="Send the evaluation questions to the candidate through the live path."
    )
    not_worse: NotWorseRule | None = Field(
        None, description="Also require the candidate to be not worse than stable with a stated "
        "confidence (off when absent): Fail rolls back like a breach, Inconclusive holds the step.",
    )


class RevisionFilter(WireModel):
    """During a canary, whether the serving filter runs on stable's and on the candidate's
    answers; unset: as spec.serving.filter.enabled. ``candidate: false`` with the filter on is the
    A/B 'a cleaned model against the original with the filter'. An edit applies at the next
    canary step; after the canary every revision is filtered as spec.serving.filter says."""

    stable: bool | None = Field(None, description="The filter on stable's answers.")
    candidate: bool | None = Field(None, description="The filter on the candidate's answers.")


class RolloutSpec(WireModel):
    """The progressive rollout of a candidate that passed its gates."""

    model_config = WireModel.model_config | {
        "json_schema_extra": cel_rules(
            (
                "!has(self.steps) || self.steps.all(s, s.weight >= 0 && s.weight <= 100)",
                "canary step weights must be between 0 and 100",
            ),
            (
                "!has(self.steps) || (self.steps.map(s, s.weight).isSorted() && "
                "self.steps.all(s, self.steps.filter(t, t.weight == s.weight).size() == 1))",
                "canary step weights must be strictly increasing",
            ),
        )
    }

    steps: list[CanaryStep] = Field(
        default_factory=lambda: [
            CanaryStep(weight=10, duration="1m"),
            CanaryStep(weight=50, duration="1m"),
            CanaryStep(weight=100, duration="0s"),
        ],
        min_length=1,
        max_length=20,  # keeps the CEL rules cheap
        description="Canary steps with strictly increasing weights; the last must be 100.",
        json_schema_extra=cel_rules(
            ("self[size(self) - 1].weight == 100",
             "spec.serving.rollout.steps: the last step's weight must be 100"),
        ),
    )
    analysis: AnalysisThresholds = Field(
        default_factory=AnalysisThresholds, description="Live analysis thresholds."
    )
    sticky_header: str = Field(
        STICKY_HEADER,
        max_length=128,
        pattern="^[A-Za-z0-9-]+$",
        description="Request header that keeps a user on one revision (A/B assignment).",
    )
    auto_rollback: bool = Field(True, description="Roll back automatically on a failed analysis.")
    revision_filter: RevisionFilter = Field(
        default_factory=RevisionFilter,
        description="During a canary, the filter per revision (stable, candidate).",
    )

    @field_validator("steps")
    @classmethod
    def _ends_at_100(cls, steps: list[CanaryStep]) -> list[CanaryStep]:
        if steps and steps[-1].weight != 100:
            raise ValueError(f"the last step's weight must be 100, got {steps[-1].weight}")
        return steps

    @model_validator(mode="after")
    def _increasing(self) -> RolloutSpec:
        weights = [s.weight for s in self.steps]
        for i in range(1, len(weights)):
            if weights[i] <= weights[i - 1]:
                raise ValueError(
                    f"steps[{i}].weight: canary step weights must be strictly increasing "
                    f"({weights[i - 1]} then {weights[i]})"
                )
        return self


class RayServiceRef(WireModel):
    """The KubeRay RayService that serves this model."""

    name: str | None = Field(
        None, max_length=63, description="RayService name (default: the resource's name)."
    )
    create: bool = Field(True, description="Create and own the RayService (else patch an existing one).")


class CaptureSpec(CapturePolicy):
    """Conversation capture: answered conversations and their ratings, appended to JSONL on the
    artifacts volume (off by default; bounded; never delays an answer)."""

    path: str | None = Field(
        None,
        min_length=1,
        max_length=512,
        pattern=r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*/?$",
        description="Folder for the capture files, relative to the artifacts root (on a "
        "cluster /artifacts; with molting up, the state folder's artifacts/). Default: "
        "<model>/capture.",
    )

    @field_validator("path")
    @classmethod
    def _inside(cls, path: str | None) -> str | None:
        if path is not None and ".." in path.split("/"):
            raise ValueError(f"path: {path!r} must stay inside the artifacts root (no '..')")
        return path


class HumanEvalSpec(WireModel):
    """The human evaluation page (/eval on the serving endpoint): raters see one question with
    two anonymised answers, stable's and the candidate's (or the previous stable's), and pick
    one or a tie. Votes are appended to <artifacts>/<model>/human-eval/votes.jsonl."""

    enabled: bool = Field(False, description="Serve /eval and the /v1/eval routes.")
    questions: list[str] = Field(
        default_factory=list, max_length=1000,
        description="Questions shown to raters (one at random per pair).",
    )
    typed_questions: bool = Field(True, description="Raters may type their own question.")
    max_new_tokens: int | None = Field(
        None, ge=1, le=4096, description="Answer length; default: serving.generation's."
    )
    token_ttl_seconds: int = Field(
        3600, ge=10, le=7 * 86400, description="How long a shown pair can be voted on."
    )

    @field_validator("questions")
    @classmethod
    def _questions(cls, questions: list[str]) -> list[str]:
        bad = [i for i, q in enumerate(questions) if not q.strip() or len(q) > 4000]
        if bad:
            raise ValueError(f"questions{bad[:5]}: empty or over 4000 characters")
        return questions


class ServingSpec(WireModel):
    """Serving: the Ray Serve app, its filter and the rollout."""

    ray_service: RayServiceRef = Field(
        default_factory=RayServiceRef, description="The RayService to manage."
    )
    ray_address: str | None = Field(
        None,
        max_length=512,
        description="Apply configs through this Ray dashboard's Serve REST API instead of a RayService.",
    )
    replicas: int = Field(
        1, ge=1, le=64, description="Generator replicas (one Ray worker pod each)."
    )
    resources: ServingResources = Field(
        default_factory=ServingResources,
        description="Per Generator replica: gpus (default 1), cpu (default 4), memory (default "
        "16Gi). Not taken from spec.training.",
    )
    max_adapters_per_replica: int = Field(
        4, ge=1, le=64, description="LoRA adapters kept loaded per replica (LRU)."
    )
    max_queued_requests: int = Field(
        64, ge=1, le=10_000,
        description="Requests waiting for a batch per Generator replica; past it the endpoint "
        "answers 503 with Retry-After rather than letting latency grow.",
    )
    filter: FilterPolicy = Field(default_factory=FilterPolicy, description="The answer filter.")
    generation: GenerationDefaults = Field(
        default_factory=GenerationDefaults, description="Generation defaults."
    )
    rollout: RolloutSpec = Field(default_factory=RolloutSpec, description="The canary rollout.")
    capture: CaptureSpec = Field(
        default_factory=CaptureSpec, description="Conversation capture (opt-in)."
    )
    human_eval: HumanEvalSpec = Field(
        default_factory=HumanEvalSpec, description="The human evaluation page (opt-in)."
    )


_PRODUCTION_NEEDS_CAPTURE = ("spec.dataset.production.enabled needs "
                             "spec.serving.capture.enabled (production rows are captured ones)")


class MoltingModelSpec(WireModel):
    """A fine-tuned model that Molting keeps training, gating and rolling out."""

    model_config = WireModel.model_config | {
        "json_schema_extra": cel_rules(
            ("!has(self.dataset.production) || !has(self.dataset.production.enabled)"
             " || !self.dataset.production.enabled || (has(self.serving)"
             " && has(self.serving.capture) && has(self.serving.capture.enabled)"
             " && self.serving.capture.enabled)", _PRODUCTION_NEEDS_CAPTURE),
        )
    }

    base_model: BaseModelSource = Field(..., description="The base model.")
    dataset: DatasetSpec = Field(..., description="The training data.")
    cleaning: CleaningPolicy = Field(
        default_factory=CleaningPolicy, description="Data cleaning before training."
    )
    training: TrainingSpec = Field(default_factory=TrainingSpec, description="Training.")
    evaluation: EvaluationSpec = Field(
        default_factory=EvaluationSpec, description="Evaluation and gates."
    )
    serving: ServingSpec = Field(default_factory=ServingSpec, description="Serving and rollout.")
    history_limit: int = Field(
        10, ge=1, le=100, description="Entries kept in status.history (adapters stay on the artifacts volume)."
    )
    paused: bool = Field(
        False, description="Stop starting Jobs and moving traffic; the current traffic stays."
    )

    @model_validator(mode="after")
    def _production_needs_capture(self) -> MoltingModelSpec:
        if self.dataset.production.enabled and not self.serving.capture.enabled:
            raise ValueError(_PRODUCTION_NEEDS_CAPTURE)
        return self
