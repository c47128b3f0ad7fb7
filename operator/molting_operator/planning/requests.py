"""Pure builders of what the drivers hand to the workloads: Job requests and the serve config.

Both drivers call these, so a local run and a cluster run train, evaluate and serve alike.
"""

from __future__ import annotations

from molting_operator.api.spec import MoltingModelSpec
from molting_operator.planning.actions import ApplyTraffic, RunEvaluation
from molting_workloads.contract.layout import Layout
from molting_workloads.contract.policies import FilterPolicy, TrainingParams
from molting_workloads.contract.requests import EvalRequest, TrainRequest
from molting_workloads.contract.serve_config import RevisionEntry, ServeAppConfig


def train_request(
    spec: MoltingModelSpec, name: str, revision: str, layout: Layout, dataset_path: str
) -> TrainRequest:
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
    )


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
    )


def meta_patterns(spec: MoltingModelSpec) -> list[str]:
    """The user's extra meta-language patterns, cleaning's and the filter's together: the eval
    metric, the live analysis and the filter all count what cleaning was told to remove."""
    return list(dict.fromkeys([*spec.cleaning.extra_patterns, *spec.serving.filter.extra_patterns]))


def serve_app_config(name: str, spec: MoltingModelSpec, action: ApplyTraffic) -> ServeAppConfig:
    """The Serve app config for a traffic split: weighted revisions first (stable, then the
    candidate), then every other known adapter at weight 0. Both drivers use it as it is; the
    Generator's GPUs and CPUs come from spec.serving.resources."""
    weights = action.as_dict()
    adapters = dict(action.adapters)
    order = [rev for rev, _ in action.weights] + sorted(set(adapters) - set(weights))
    serving = spec.serving
    return ServeAppConfig(
        name=name,
        base_model=spec.base_model.source,
        base_model_revision=spec.base_model.revision,
        revisions=[
            RevisionEntry(revision=rev, adapter=adapters[rev], weight=weights.get(rev, 0))
            for rev in order if rev in adapters
        ],
        filter=FilterPolicy(enabled=serving.filter.enabled, extra_patterns=meta_patterns(spec),
                            meta_threshold=serving.filter.meta_threshold,
                            builtin_detector=serving.filter.builtin_detector),
        generation=serving.generation,
        sticky_header=serving.rollout.sticky_header,
        max_adapters_per_replica=serving.max_adapters_per_replica,
        max_queued_requests=serving.max_queued_requests,
        replicas=serving.replicas,
        num_gpus=float(serving.resources.gpus),
        num_cpus=serving.resources.num_cpus,
    )
