"""Policies defined once and used by both sides: cleaning, training, gates, filter, generation.

The operator's spec composes these; the Jobs receive them in their requests; the serving app
reads the filter and generation settings from its config.
"""

from __future__ import annotations

from enum import Enum

from pydantic import Field, field_validator, model_validator

from molting_workloads.contract.base import WireModel, cel_rules
from molting_workloads.contract.patterns import (
    CLEANING_META_THRESHOLD,
    FILTER_META_THRESHOLD,
    compile_patterns,
)


def _compiles(patterns: list[str]) -> list[str]:
    """Refuse a pattern the detector would refuse (``contract.patterns.compile_patterns``: the very
    check cleaning and the serving filter run), naming it."""
    compile_patterns(patterns)
    return patterns


def _threshold_field(default: float, leaning: str) -> float:
    return Field(
        default,
        gt=0.0,
        lt=1.0,
        description=(
            "Decision threshold of the built-in meta-language classifier, in (0, 1): a "
            "sentence whose probability of being meta-language is at least this counts as "
            f"meta-language. Lower removes more (recall), higher removes less (precision); "
            f"the default {default} leans to {leaning}."
        ),
    )


def _builtin_field() -> bool:
    return Field(
        True,
        description="Use the built-in meta-language classifier; false leaves only extraPatterns.",
    )


class MetaLanguagePolicy(str, Enum):
    DROP_SENTENCES = "drop-sentences"
    DROP_EXAMPLES = "drop-examples"
    KEEP = "keep"


class CleaningPolicy(WireModel):
    """How the training data is cleaned before training."""

    model_config = WireModel.model_config | {
        "json_schema_extra": cel_rules(
            (
                "!has(self.validationSplit) || "
                "(self.validationSplit > 0.0 && self.validationSplit < 0.5)",
                "validationSplit must be in (0, 0.5)",
            )
        )
    }

    meta_language: MetaLanguagePolicy = Field(
        MetaLanguagePolicy.DROP_SENTENCES,
        description=(
            "What to do with agent-like meta-language in assistant turns: drop-sentences removes "
            "the offending sentences, drop-examples removes the whole example, keep leaves it."
        ),
    )
    extra_patterns: list[str] = Field(
        default_factory=list,
        max_length=64,
        description="Extra regular expressions (case-insensitive) that count as meta-language.",
    )
    meta_threshold: float = _threshold_field(CLEANING_META_THRESHOLD, "recall")
    builtin_detector: bool = _builtin_field()
    dedupe: bool = Field(True, description="Remove exact and normalised duplicate examples.")

    _patterns_compile = field_validator("extra_patterns")(_compiles)
    validation_split: float = Field(
        0.1,
        gt=0.0,
        lt=0.5,
        description="Fraction of the cleaned examples held out for validation, in (0, 0.5).",
    )
    seed: int = Field(42, ge=0, description="Seed of the deterministic train/validation split.")
    max_bad_fraction: float = Field(
        0.05,
        ge=0.0,
        le=1.0,
        description="Fail the run when more than this fraction of dataset lines is malformed.",
    )


class TrainingMethod(str, Enum):
    QLORA = "qlora"
    LORA = "lora"


class Quantization(str, Enum):
    """The base weights while training: ``auto`` is 4-bit NF4 for qlora on CUDA and full
    precision on a CPU; ``nf4`` is 4-bit NF4 on either (bitsandbytes has CPU kernels);
    ``none`` is full precision everywhere (plain LoRA)."""

    AUTO = "auto"
    NF4 = "nf4"
    NONE = "none"


class LoraParams(WireModel):
    """The LoRA adapter's shape."""

    r: int = Field(16, ge=1, le=1024, description="LoRA rank.")
    alpha: int = Field(32, ge=1, le=4096, description="LoRA alpha (scaling numerator).")
    dropout: float = Field(0.05, ge=0.0, lt=1.0, description="Dropout on the LoRA inputs.")
    target_modules: list[str] = Field(
        default_factory=lambda: ["all-linear"],
        min_length=1,
        max_length=64,
        description='Module names to adapt, or ["all-linear"] for every linear layer.',
    )


class TrainingParams(WireModel):
    """Training hyper-parameters. Every field here changes the revision id (``quantization``
    only when it is not ``auto``, so ids from before the field existed stay the same)."""

    model_config = WireModel.model_config | {
        "json_schema_extra": cel_rules(
            (
                "!has(self.quantization) || self.quantization != 'nf4' || "
                "!has(self.method) || self.method == 'qlora'",
                "quantization nf4 trains on a 4-bit base, which is method qlora, not lora",
            )
        )
    }

    method: TrainingMethod = Field(
        TrainingMethod.QLORA,
        description="qlora (4-bit NF4 base; on a CPU only with quantization nf4, else it falls "
        "back to lora) or lora.",
    )
    quantization: Quantization = Field(
        Quantization.AUTO,
        description="Base weights while training: auto (4-bit NF4 for qlora on CUDA, full "
        "precision on a CPU), nf4 (4-bit NF4 on CUDA or CPU; needs method qlora) or none (full "
        "precision everywhere).",
    )
    lora: LoraParams = Field(default_factory=LoraParams, description="The LoRA adapter's shape.")
    epochs: float = Field(1.0, gt=0, le=100, description="Passes over the training set.")
    max_steps: int | None = Field(
        None, ge=1, description="Stop after this many optimiser steps (overrides epochs)."
    )
    learning_rate: float = Field(2e-4, gt=0, lt=1, description="Peak learning rate.")
    batch_size: int = Field(16, ge=1, le=1024, description="Per-device batch size.")
    gradient_accumulation_steps: int = Field(
        1, ge=1, le=1024, description="Micro-batches accumulated per optimiser step."
    )
    max_seq_length: int = Field(
        1024, ge=16, le=131072, description="Longest tokenised example, in tokens."
    )
    packing: bool = Field(
        True, description="Padding-free packing of examples (the fast default on a GPU)."
    )
    gradient_checkpointing: bool = Field(
        False, description="Trade compute for memory; only needed when memory is short."
    )
    seed: int = Field(42, ge=0, description="Training seed.")

    @model_validator(mode="after")
    def _nf4_is_qlora(self) -> TrainingParams:
        if self.quantization == Quantization.NF4 and self.method == TrainingMethod.LORA:
            raise ValueError(
                "quantization nf4 trains on a 4-bit base, which is method qlora, not lora"
            )
        return self


class LengthWindow(WireModel):
    """A window of answer lengths, in characters."""

    model_config = WireModel.model_config | {
        "json_schema_extra": cel_rules(
            ("!has(self.min) || !has(self.max) || self.min <= self.max", "min must be <= max")
        )
    }

    min: int = Field(200, ge=0, description="Shortest acceptable mean answer length.")
    max: int = Field(400, ge=1, description="Longest acceptable mean answer length.")

    @model_validator(mode="after")
    def _min_le_max(self) -> LengthWindow:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) must be <= max ({self.max})")
        return self


class GatePolicy(WireModel):
    """Thresholds a candidate adapter must meet before it serves any traffic."""

    max_meta_language_rate: float = Field(
        0.20, ge=0.0, le=1.0, description="Highest fraction of answers with meta-language."
    )
    answer_length: LengthWindow = Field(
        default_factory=LengthWindow,
        description="The mean answer length must fall inside this window (characters).",
    )
    min_relevance: float = Field(
        0.30, ge=-1.0, le=1.0, description="Lowest mean question/answer cosine similarity."
    )
    max_empty_rate: float = Field(
        0.0, ge=0.0, le=1.0, description="Highest fraction of empty answers."
    )
    max_repetition: float = Field(
        0.5, ge=0.0, le=1.0, description="Highest mean repeated-n-gram score."
    )
    no_regression: bool = Field(
        True, description="Refuse a candidate that is worse than the stable adapter."
    )
    regression_tolerance: float = Field(
        0.05,
        ge=0.0,
        le=1.0,
        description="How much worse than stable (absolute) a metric may be before it regresses.",
    )


class FilterPolicy(WireModel):
    """The serving filter that strips meta-language sentences from answers."""

    enabled: bool = Field(True, description="Strip meta-language sentences from answers.")
    extra_patterns: list[str] = Field(
        default_factory=list,
        max_length=64,
        description="Extra regular expressions (case-insensitive) that the filter removes.",
    )
    meta_threshold: float = _threshold_field(FILTER_META_THRESHOLD, "precision")
    builtin_detector: bool = _builtin_field()

    _patterns_compile = field_validator("extra_patterns")(_compiles)


class GenerationDefaults(WireModel):
    """Defaults for answers when a request does not say."""

    max_new_tokens: int = Field(128, ge=1, le=8192, description="Default answer length (tokens).")
    temperature: float = Field(0.0, ge=0.0, le=2.0, description="0 means greedy decoding.")
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="Nucleus sampling mass.")
