"""What a training or evaluation Job receives (as a JSON/YAML file, mounted from a ConfigMap)."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import Field, field_validator

from molting_workloads.contract.base import WireModel
from molting_workloads.contract.judging import JudgePolicy
from molting_workloads.contract.policies import (
    CLEANING_META_THRESHOLD,
    CleaningPolicy,
    GatePolicy,
    TrainingParams,
    _compiles,
)
from molting_workloads.contract.production import ProductionRequest


class TrainRequest(WireModel):
    """Clean the dataset and train one adapter revision."""

    revision: str = Field(..., description="The revision id being trained.")
    base_model: str = Field(..., description="Hub id or local path of the base model.")
    base_model_revision: str | None = None
    dataset: str = Field(..., description="Local path of the raw JSONL dataset.")
    dataset_format: str = "auto"
    output_dir: str = Field(..., description="Where the adapter and reports are written.")
    cleaning: CleaningPolicy = Field(default_factory=CleaningPolicy)
    training: TrainingParams = Field(default_factory=TrainingParams)
    require_gpu: bool = Field(False, alias="requireGPU")
    production: ProductionRequest | None = Field(
        None, description="Add rated captured conversations to the dataset (spec.dataset.production)."
    )


class EvalRequest(WireModel):
    """Evaluate a candidate adapter (and optionally the stable one) and decide the gates."""

    revision: str
    base_model: str
    base_model_revision: str | None = None
    adapter: str = Field(..., description="Path of the candidate adapter.")
    questions: str = Field(..., description="JSONL of {\"question\": ...} lines.")
    output_dir: str
    stable_revision: str | None = None
    stable_adapter: str | None = Field(None, description="Path of the stable adapter, if any.")
    gates: GatePolicy = Field(default_factory=GatePolicy)
    max_new_tokens: int = 160
    train_report: str | None = Field(None, description="train-report.json, for the loss plot.")
    extra_patterns: list[str] = Field(
        default_factory=list,
        description="Meta-language patterns beyond the built-in ones (the spec's cleaning and "
        "filter patterns), so the metric counts what cleaning removes and the filter strips.",
    )
    meta_threshold: float = Field(
        CLEANING_META_THRESHOLD, gt=0.0, lt=1.0,
        description="The meta-language metric's decision threshold (the spec's cleaning one).",
    )
    builtin_detector: bool = Field(
        True, description="Count with the built-in classifier (the spec's cleaning setting)."
    )

    judge: JudgePolicy | None = Field(
        None, description="A judge model that scores each candidate answer (off when absent)."
    )
    judge_cache_dir: str | None = Field(
        None, description="Where judge replies are kept per (model, rubric, question, answer) "
        "(default: <outputDir>/judge-cache)."
    )

    _patterns_compile = field_validator("extra_patterns")(_compiles)


def read_request(path: str | Path, model: type[WireModel]) -> WireModel:
    """Load a request file (JSON or YAML)."""
    return model.model_validate(yaml.safe_load(Path(path).read_text()))
