"""The Serve app config of a traffic split (the contract's ServeAppConfig), and its fingerprint.

Pure. Everything in the config comes from the spec and the planner's ApplyTraffic: the
Generator's GPUs and CPUs from spec.serving.resources, nothing from a driver. Both drivers build
it here, so a local run and a cluster run apply the same config for the same spec and action.
The fingerprint is the contract's ``settings_hash``: the one the app reports on /stats, the one
the RayService's annotation carries, and the one a driver compares with what the spec builds now.
"""

from __future__ import annotations

from collections.abc import Sequence

from molting_operator.api.spec import MoltingModelSpec
from molting_operator.builders.jobs import ARTIFACTS_MOUNT
from molting_operator.builders.requests import capture_folder, meta_patterns
from molting_operator.planning.actions import ApplyTraffic
from molting_workloads.contract.capture import CapturePolicy, CaptureSettings
from molting_workloads.contract.human_eval import HumanEvalSettings
from molting_workloads.contract.layout import Layout
from molting_workloads.contract.policies import FilterPolicy
from molting_workloads.contract.serve_config import RevisionEntry, ServeAppConfig, settings_hash


def serve_app_config(name: str, spec: MoltingModelSpec, action: ApplyTraffic,
                     artifacts_root: str = ARTIFACTS_MOUNT) -> ServeAppConfig:
    """Weighted revisions first (stable, then the candidate), then every other known adapter at
    weight 0. ``artifacts_root`` is where the Ingress sees the artifacts (the capture folder is
    under it): /artifacts on a cluster, the local driver's artifacts folder."""
    weights = action.as_dict()
    adapters, filters = dict(action.adapters), dict(action.filters)
    order = [rev for rev, _ in action.weights] + sorted(set(adapters) - set(weights))
    serving = spec.serving
    return ServeAppConfig(
        name=name,
        base_model=spec.base_model.source,
        base_model_revision=spec.base_model.revision,
        revisions=[
            RevisionEntry(revision=rev, adapter=adapters[rev], weight=weights.get(rev, 0),
                          filter=filters.get(rev))
            for rev in order if rev in adapters
        ],
        filter=FilterPolicy(enabled=serving.filter.enabled, extra_patterns=meta_patterns(spec),
                            meta_threshold=serving.filter.meta_threshold,
                            builtin_detector=serving.filter.builtin_detector),
        generation=serving.generation,
        capture=capture_settings(name, spec, artifacts_root),
        human_eval=human_eval_settings(name, spec, action, artifacts_root),
        sticky_header=serving.rollout.sticky_header,
        max_adapters_per_replica=serving.max_adapters_per_replica,
        max_queued_requests=serving.max_queued_requests,
        replicas=serving.replicas,
        num_gpus=float(serving.resources.gpus),
        num_cpus=serving.resources.num_cpus,
    )


def capture_settings(name: str, spec: MoltingModelSpec, artifacts_root: str) -> CaptureSettings:
    """spec.serving.capture with its folder resolved under the artifacts root (none when off)."""
    capture = spec.serving.capture
    policy = CapturePolicy.model_validate(capture.model_dump(exclude={"path"}))
    return CaptureSettings(**policy.model_dump(),
                           directory=capture_folder(name, spec, artifacts_root))


def human_eval_settings(name: str, spec: MoltingModelSpec, action: ApplyTraffic,
                        artifacts_root: str) -> HumanEvalSettings | None:
    """spec.serving.humanEval for this split: the two weighted revisions during a canary, else
    the app's default pair (stable and the newest other adapter); None when off."""
    human = spec.serving.human_eval
    if not human.enabled:
        return None
    weighted = [rev for rev, _ in action.weights]
    return HumanEvalSettings(
        revisions=weighted[:2] if len(weighted) >= 2 else None,
        questions=human.questions, typed_questions=human.typed_questions,
        max_new_tokens=human.max_new_tokens, token_ttl_s=human.token_ttl_seconds,
        votes_file=Layout(artifacts_root).human_eval_votes(name),
    )


def traffic_of(revisions: Sequence[RevisionEntry]) -> ApplyTraffic:
    """The ApplyTraffic a written config's revisions came from (weighted ones in their order)."""
    return ApplyTraffic(weights=tuple((r.revision, r.weight) for r in revisions if r.weight),
                        adapters=tuple(sorted((r.revision, r.adapter) for r in revisions)),
                        filters=tuple((r.revision, r.filter) for r in revisions
                                      if r.filter is not None))


def spec_fingerprint(name: str, spec: MoltingModelSpec, revisions: Sequence[RevisionEntry],
                     artifacts_root: str = ARTIFACTS_MOUNT) -> str:
    """The fingerprint of the config ``spec`` builds now for the split and adapters of a config
    that was written: it differs from that config's own when a serving edit (filter, replicas,
    generation, resources, base model) has not been applied yet."""
    return settings_hash(serve_app_config(name, spec, traffic_of(revisions), artifacts_root))
