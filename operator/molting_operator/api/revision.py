"""Revision identity: the training-relevant spec (+ an optional retrain token and, with
spec.dataset.production, the production cutoff: the data it trains on) -> a short id."""

from __future__ import annotations

import hashlib
import json

from molting_operator.api.spec import MoltingModelSpec
from molting_workloads.contract.policies import Quantization, TrainingParams

ID_LENGTH = 8


def training_inputs(spec: MoltingModelSpec) -> dict:
    """The part of the spec that changes what training produces (nothing about scheduling)."""
    training = TrainingParams.model_validate(
        spec.training.model_dump(include=set(TrainingParams.model_fields))
    )
    wire = training.to_wire()
    if training.quantization == Quantization.AUTO:
        # The default leaves the id as it was before the field existed (no needless retrain).
        del wire["quantization"]
    dataset = spec.dataset.to_wire()
    if spec.dataset.production.enabled:
        # When a production revision is trained does not change what it trains on.
        dataset["production"].pop("retrainAfter", None)
        dataset["production"].pop("retrainEvery", None)
    else:
        del dataset["production"]  # off: the id is as before the field existed
    return {
        "baseModel": spec.base_model.to_wire(),
        "dataset": dataset,
        "cleaning": spec.cleaning.to_wire(),
        "training": wire,
    }


def revision_id(spec: MoltingModelSpec, retrain_token: str | None = None,
                production_cutoff: str | None = None) -> str:
    """A short id that is equal on every machine for equal training inputs, token and
    production cutoff (the cutoff counts only with spec.dataset.production on)."""
    payload = {"inputs": training_inputs(spec), "retrain": retrain_token or ""}
    if production_cutoff and spec.dataset.production.enabled:
        payload["productionCutoff"] = production_cutoff
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:ID_LENGTH]
