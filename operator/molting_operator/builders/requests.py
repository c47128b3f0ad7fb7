"""The requests a training or evaluation Job reads (the contract's TrainRequest, EvalRequest),
built from the spec. Pure.

Both drivers call these (the cluster one through jobs.py's ConfigMaps, the local one as files),
so a local run and a cluster run train and evaluate alike.
"""

from __future__ import annotations

from molting_operator.api.spec import MoltingModelSpec
from molting_operator.planning.actions import RunEvaluation
from molting_workloads.contract.judging import JudgePolicy
from molting_workloads.contract.layout import Layout
from molting_workloads.contract.policies import TrainingParams
from molting_workloads.contract.production import ProductionRequest, ProductionSelection
from molting_workloads.contract.requests import EvalRequest, TrainRequest


def train_request(
    spec: MoltingModelSpec, name: str, revision: str, layout: Layout, dataset_path: str,
    production_cutoff: str | None = None,
) -> TrainRequest:
    """``production_cutoff`` (a RunTraining's) adds the captured conversations answered by then,
    read from the capture folder the Serve app writes under ``layout.root``."""
    return TrainRequest(
        revision=revision,
        base_model=spec.base_model.source,
        base_model_revision=spec.base_model.revision,
        dataset=dataset_path,
        dataset_format=spec.dataset.format,
        output_dir=layout.revision_dir(name, revision),
        cleaning=spec.cleaning,
        training=TrainingParams.model_validate(
            spec.training.model_dump(include=set(TrainingParams.model_fields))
        ),
        require_gpu=spec.training.require_gpu,
        production=production_request(spec, name, layout, production_cutoff),
    )


def capture_folder(name: str, spec: MoltingModelSpec, artifacts_root: str) -> str | None:
    """Where the Serve app appends the capture files and a training Job reads them (None with
    capture off): spec.serving.capture.path, or <model>/capture, under the artifacts root."""
    capture = spec.serving.capture
    if not capture.enabled:
        return None
    return Layout(artifacts_root).capture_dir(name, capture.path)


def production_request(spec: MoltingModelSpec, name: str, layout: Layout,
                       cutoff: str | None) -> ProductionRequest | None:
    policy = spec.dataset.production
    folder = capture_folder(name, spec, layout.root)
    if not (policy.enabled and cutoff and folder):
        return None
    chosen = ProductionSelection.model_validate(
        policy.model_dump(include=set(ProductionSelection.model_fields)))
    votes = layout.human_eval_votes(name) if policy.preferred else None
    return ProductionRequest(**chosen.model_dump(), capture_dir=folder, votes_file=votes,
                             cutoff=cutoff)


def eval_request(
    spec: MoltingModelSpec,
    name: str,
    action: RunEvaluation,
    layout: Layout,
    questions_path: str | None,
) -> EvalRequest:
    """``questions_path`` None means the candidate's own cleaned validation split."""
    return EvalRequest(
        revision=action.revision,
        base_model=spec.base_model.source,
        base_model_revision=spec.base_model.revision,
        adapter=action.adapter,
        questions=questions_path or layout.validation_split(name, action.revision),
        output_dir=layout.eval_dir(name, action.revision),
        stable_revision=action.stable_revision,
        stable_adapter=action.stable_adapter,
        gates=spec.evaluation.gates,
        max_new_tokens=spec.evaluation.max_new_tokens,
        train_report=layout.train_report(name, action.revision),
        extra_patterns=meta_patterns(spec),
        meta_threshold=spec.cleaning.meta_threshold,
        builtin_detector=spec.cleaning.builtin_detector,
        judge=judge_policy(spec),
        judge_cache_dir=layout.judge_cache(name) if spec.evaluation.judge else None,
    )


def judge_policy(spec: MoltingModelSpec) -> JudgePolicy | None:
    """The spec's judge without its Secret reference (the key reaches the Job as a variable)."""
    judge = spec.evaluation.judge
    if judge is None:
        return None
    return JudgePolicy.model_validate(judge.model_dump(include=set(JudgePolicy.model_fields)))


def meta_patterns(spec: MoltingModelSpec) -> list[str]:
    """The user's extra meta-language patterns, cleaning's and the filter's together: the eval
    metric, the live analysis and the filter all count what cleaning was told to remove."""
    return list(dict.fromkeys([*spec.cleaning.extra_patterns, *spec.serving.filter.extra_patterns]))

