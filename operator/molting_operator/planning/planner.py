"""plan(spec, status, observed) -> Plan: the one lifecycle both drivers follow.

Pure: no Kubernetes, Ray, files or clock. A driver observes, calls ``plan``, carries out the
actions (each idempotent) and writes ``plan.status``. Calling it again with the same inputs
gives the same answer, so a restarted driver resumes where it was.

    Pending → Training → Evaluating ─gates fail→ GateFailed (stable keeps serving)
                             └─gates pass→ Canary ─breach→ RolledBack
                                              └─last step healthy→ Serving (stable := candidate)

This module is the phase switch (what each phase waits for and what ends it), the manual
controls and the spec following; canary.py walks a canary, context.py holds one pass's
inputs and the serving helpers both use.
"""

from __future__ import annotations

from pydantic import ValidationError

from molting_operator.api.annotations import (
    PROMOTE_ANNOTATION,
    RETRAIN_ANNOTATION,
    ROLLBACK_ANNOTATION,
)
from molting_operator.api.revision import revision_id
from molting_operator.api.spec import MoltingModelSpec
from molting_operator.api.status import (
    ConditionType,
    EvaluationBrief,
    GateResult,
    MoltingModelStatus,
    Outcome,
    Phase,
    ProductionData,
    Reason,
    RevisionRef,
    TrainingProgress,
    two_decimals,
)
from molting_operator.planning.actions import (
    Action,
    ApplyTraffic,
    CancelJobs,
    EmitEvent,
    Plan,
    RunEvaluation,
    RunTraining,
)
from molting_operator.planning.canary import promote, roll_back_candidate, start_step, step_canary
from molting_operator.planning.context import (
    PlanContext,
    apply_traffic,
    not_running,
    runs_split,
    split,
    stale,
    timestamp,
    wanted_split,
)
from molting_operator.planning.observed import JobKind, JobState, Observed
from molting_operator.planning.production import production_cutoff
from molting_workloads.contract import gates
from molting_workloads.contract.summaries import EvalSummary, TrainSummary

__all__ = [  # what the drivers and tests import from here
    "FINAL_FAILURES", "IN_PROGRESS", "Plan", "desired_revision", "plan", "timestamp",
]

IN_PROGRESS = (Phase.TRAINING, Phase.EVALUATING, Phase.CANARY)
# Outcomes after which a revision is not retried until the spec or the retrain token changes.
FINAL_FAILURES = (Outcome.GATE_FAILED, Outcome.ROLLED_BACK, Outcome.FAILED)


def plan(spec: MoltingModelSpec, status: MoltingModelStatus, observed: Observed) -> Plan:
    ctx = PlanContext(spec, status.model_copy(deep=True), observed)
    ctx.status.observed_generation = observed.generation
    if observed.dependency_problems:
        _dependency_problems(ctx)
    else:
        _manual_controls(ctx)
        if spec.paused:
            ctx.condition(ConditionType.READY, False, Reason.PAUSED, "spec.paused is true")
        else:
            _follow_spec(ctx)
            _step_phase(ctx)
    _ensure_traffic(ctx)
    _summarise(ctx)
    return Plan(actions=_dedupe(ctx.actions), status=ctx.status)


def desired_revision(spec: MoltingModelSpec, annotations: dict[str, str],
                     status: MoltingModelStatus | None = None) -> str:
    """The revision the spec, the retrain annotation and (with spec.dataset.production) the
    status's production cutoff ask for."""
    mark = status.production if status else None
    return revision_id(spec, annotations.get(RETRAIN_ANNOTATION), mark.cutoff if mark else None)


# -- inputs that are not the spec -------------------------------------------------------------


def _dependency_problems(ctx: PlanContext) -> None:
    message = "; ".join(ctx.observed.dependency_problems)
    if ctx.status.message != message:
        ctx.event(Reason.DEPENDENCY_MISSING, message, warning=True)
    ctx.condition(ConditionType.READY, False, Reason.DEPENDENCY_MISSING, message)


def _new_token(ctx: PlanContext, annotation: str, key: str) -> bool:
    token = ctx.observed.annotations.get(annotation)
    if not token or ctx.status.handled_tokens.get(key) == token:
        return False
    ctx.status.handled_tokens[key] = token
    return True


def _manual_controls(ctx: PlanContext) -> None:
    st = ctx.status
    if _new_token(ctx, ROLLBACK_ANNOTATION, "rollback"):
        if st.phase == Phase.CANARY and st.candidate:
            roll_back_candidate(ctx, Reason.MANUAL_ROLLBACK, "manual rollback by annotation")
        elif st.previous and st.stable:
            old = st.stable
            ctx.history(old, Outcome.ROLLED_BACK, "manual rollback by annotation")
            st.stable, st.previous = st.previous, old
            st.traffic = split(st.stable.revision)
            apply_traffic(ctx)
            if st.phase not in IN_PROGRESS:
                st.phase = Phase.ROLLED_BACK
            ctx.event(Reason.MANUAL_ROLLBACK,
                      f"Rolled back from {old.revision} to {st.stable.revision}",
                      outcome=Outcome.ROLLED_BACK)
        else:
            ctx.event(Reason.MANUAL_ROLLBACK, "Rollback requested, but there is no previous "
                      "revision to roll back to", warning=True)
    if _new_token(ctx, PROMOTE_ANNOTATION, "promote"):
        if st.phase == Phase.CANARY and st.candidate:
            promote(ctx, Reason.MANUAL_PROMOTE, "manual promote by annotation")
        else:
            ctx.event(Reason.MANUAL_PROMOTE, "Promote requested, but no canary is running",
                      warning=True)


# -- a new revision ---------------------------------------------------------------------------


def _follow_spec(ctx: PlanContext) -> None:
    st = ctx.status
    cutoff = production_cutoff(ctx)
    desired = desired_revision(ctx.spec, ctx.observed.annotations, st)
    if st.candidate and st.candidate.revision == desired:
        return
    if st.stable and st.stable.revision == desired:
        if st.candidate and st.phase in IN_PROGRESS:
            _supersede(ctx, f"the spec went back to stable {desired}")
            st.phase = Phase.SERVING
        return
    failed = next((h for h in reversed(st.history) if h.revision == desired), None)
    if failed and failed.outcome in FINAL_FAILURES:
        st.message = (f"revision {desired} was {failed.outcome}; change the spec or set the "
                      f"{RETRAIN_ANNOTATION} annotation to try again")
        return
    if st.candidate and st.phase in IN_PROGRESS:
        _supersede(ctx, f"superseded by {desired}")
    st.candidate = RevisionRef(revision=desired, created_at=ctx.now,
                               production=ProductionData(cutoff=cutoff) if cutoff else None)
    st.canary = None
    st.phase = Phase.TRAINING
    st.progress = None
    for type_ in (ConditionType.TRAINED, ConditionType.EVALUATED, ConditionType.GATES_PASSED):
        ctx.condition(type_, None, Reason.TRAINING_STARTED, f"revision {desired} is training")
    ctx.actions.append(RunTraining(desired, cutoff))
    with_production = f" with production data up to {cutoff}" if cutoff else ""
    ctx.event(Reason.TRAINING_STARTED, f"Training revision {desired}{with_production}")


def _supersede(ctx: PlanContext, why: str) -> None:
    st = ctx.status
    old = st.candidate
    assert old is not None
    ctx.history(old, Outcome.SUPERSEDED, why)
    ctx.actions.append(CancelJobs(old.revision))
    if any(t.revision == old.revision for t in st.traffic) and st.stable:
        st.traffic = split(st.stable.revision)
        apply_traffic(ctx)
    st.candidate, st.canary = None, None
    ctx.event(Reason.SUPERSEDED, f"Candidate {old.revision} {why}", outcome=Outcome.SUPERSEDED)


# -- the phases -------------------------------------------------------------------------------


def _step_phase(ctx: PlanContext) -> None:
    phase = ctx.status.phase
    if ctx.status.candidate is None:
        return
    if phase == Phase.TRAINING:
        _training(ctx)
    elif phase == Phase.EVALUATING:
        _evaluating(ctx)
    elif phase == Phase.CANARY:
        step_canary(ctx)


def _training(ctx: PlanContext) -> None:
    st, cand = ctx.status, ctx.status.candidate
    job = ctx.observed.job(cand.revision, JobKind.TRAIN)
    if job.state == JobState.ABSENT:
        ctx.actions.append(RunTraining(cand.revision,
                                       cand.production.cutoff if cand.production else None))
    elif job.state == JobState.RUNNING:
        if job.progress:
            st.progress = _progress(job.progress) or st.progress
    elif job.state == JobState.FAILED or not (job.summary and job.summary.get("ok")):
        error = (job.summary or {}).get("error") or job.message or "the training Job failed"
        _fail(ctx, ConditionType.TRAINED, Reason.TRAINING_FAILED, f"training failed: {error}")
    else:
        summary = TrainSummary.model_validate(job.summary)
        if not summary.adapter:
            _fail(ctx, ConditionType.TRAINED, Reason.TRAINING_FAILED,
                  "training reported no adapter location")
            return
        cand.adapter, cand.trained_at = summary.adapter, ctx.now
        st.progress = None
        quant = summary.quantization if summary.quantization not in (None, "none") else "no"
        message = (f"revision {cand.revision} trained: {summary.steps} steps, loss "
                   f"{summary.final_loss}, {quant} quantization on {summary.device}")
        if cand.production:
            cand.production.rows = summary.production_rows
            message += (f", {summary.production_rows or 0} production rows up to "
                        f"{cand.production.cutoff}")
        ctx.condition(ConditionType.TRAINED, True, Reason.TRAINING_SUCCEEDED, message)
        ctx.event(Reason.TRAINING_SUCCEEDED, message)
        st.phase = Phase.EVALUATING
        ctx.actions.append(_evaluation_action(ctx))
        ctx.event(Reason.EVALUATION_STARTED, f"Evaluating revision {cand.revision}")


def _progress(raw: dict) -> TrainingProgress | None:
    """Progress as reported; a partial or malformed report is ignored, never fatal."""
    try:
        return TrainingProgress.model_validate({k: v for k, v in raw.items() if v is not None})
    except ValidationError:
        return None


def _evaluation_action(ctx: PlanContext) -> RunEvaluation:
    cand, stable = ctx.status.candidate, ctx.status.stable
    assert cand is not None and cand.adapter is not None
    return RunEvaluation(
        revision=cand.revision, adapter=cand.adapter,
        stable_revision=stable.revision if stable else None,
        stable_adapter=stable.adapter if stable else None,
    )


def _evaluating(ctx: PlanContext) -> None:
    st, cand = ctx.status, ctx.status.candidate
    job = ctx.observed.job(cand.revision, JobKind.EVAL)
    if job.state == JobState.ABSENT:
        ctx.actions.append(_evaluation_action(ctx))
        return
    if job.state == JobState.RUNNING:
        return
    summary = EvalSummary.model_validate(job.summary) if job.summary else None
    if job.state == JobState.FAILED or summary is None or not summary.ok or not summary.metrics:
        error = (summary.error if summary else None) or job.message or "the evaluation Job failed"
        _fail(ctx, ConditionType.EVALUATED, Reason.EVALUATION_FAILED, f"evaluation failed: {error}")
        return
    verdicts = gates.decide(summary.metrics, summary.stable_metrics, ctx.spec.evaluation.gates,
                            ctx.spec.evaluation.judge)
    m = summary.metrics
    cand.evaluated_at = ctx.now
    cand.evaluation = EvaluationBrief(
        meta_language_rate=m.meta_language_rate, mean_length=m.mean_length,
        relevance=m.relevance, repetition=m.repetition, empty_rate=m.empty_rate,
        passed=gates.passed(verdicts), report=summary.report,
        gates=[GateResult.model_validate(v.model_dump()) for v in verdicts],
    )
    ctx.condition(ConditionType.EVALUATED, True, Reason.EVALUATION_SUCCEEDED,
                  f"meta-language {m.meta_language_rate:.2f}, mean length {m.mean_length:.0f}, "
                  f"relevance {m.relevance:.2f}")
    if not gates.passed(verdicts):
        reasons = "; ".join(
            f"{v.name}: {'Error: ' if v.state == 'Error' else ''}{v.reason}"
            for v in verdicts if not (v.passed or v.advisory)  # advisory gates do not count
        )
        ctx.condition(ConditionType.GATES_PASSED, False, Reason.GATES_FAILED, reasons)
        st.phase = Phase.GATE_FAILED
        ctx.history(cand, Outcome.GATE_FAILED, reasons)
        kept = f"; {st.stable.revision} keeps serving" if st.stable else ""
        ctx.event(Reason.GATES_FAILED, f"Revision {cand.revision} failed its gates: {reasons}{kept}",
                  warning=True, outcome=Outcome.GATE_FAILED)
        return
    ctx.condition(ConditionType.GATES_PASSED, True, Reason.GATES_PASSED,
                  ", ".join(f"{v.name} ✓" for v in verdicts))
    ctx.event(Reason.GATES_PASSED, f"Revision {cand.revision} passed its gates")
    if st.stable is None:
        promote(ctx, Reason.PROMOTED, "first revision: promoted directly")
    else:
        start_step(ctx, 0)
        ctx.event(Reason.CANARY_STARTED,
                  f"Canary of {cand.revision} at {st.canary.weight}% against {st.stable.revision}")


def _fail(ctx: PlanContext, type_: ConditionType, reason: Reason, message: str) -> None:
    st = ctx.status
    ctx.condition(type_, False, reason, message)
    st.phase = Phase.FAILED
    st.progress = None
    ctx.history(st.candidate, Outcome.FAILED, message)
    ctx.event(reason, message, warning=True, outcome=Outcome.FAILED)


def _ensure_traffic(ctx: PlanContext) -> None:
    """Re-apply the traffic when the Serve app lost it (a restart, a recreated RayService) or
    runs an older serving spec (the filter, replicas or generation settings were edited)."""
    serve = ctx.observed.serve
    if not ctx.status.traffic or serve is None:
        return
    if (serve.applied != wanted_split(ctx) or stale(ctx)) and not any(
            isinstance(a, ApplyTraffic) for a in ctx.actions):
        apply_traffic(ctx)


def _summarise(ctx: PlanContext) -> None:
    st = ctx.status
    st.canary_weight = st.canary.weight if st.canary else None
    ev = st.stable.evaluation if st.stable else None
    st.meta_language_rate = ev.meta_language_rate if ev else None
    st.meta_language_rate_text = two_decimals(st.meta_language_rate)
    if st.phase != Phase.TRAINING:
        st.progress = None
    if len(st.history) > ctx.spec.history_limit:
        st.history = st.history[-ctx.spec.history_limit:]
    serving = runs_split(ctx)
    if st.traffic:
        split = ", ".join(f"{t.revision} {t.weight}%" for t in st.traffic)
        if serving:
            ctx.condition(ConditionType.SERVING, True, Reason.SERVING, f"serving {split}")
        else:
            ctx.condition(ConditionType.SERVING, False, Reason.SERVE_PENDING,
                          f"{split} is configured; {not_running(ctx)}")
    else:
        ctx.condition(ConditionType.SERVING, False, Reason.NOT_SERVING,
                      "no revision has passed its gates yet")
    if ctx.observed.dependency_problems or ctx.spec.paused:
        return
    if st.stable and st.phase not in IN_PROGRESS and serving:
        ctx.condition(ConditionType.READY, True, Reason.SERVING,
                      f"stable {st.stable.revision} serves; phase {st.phase.value}")
    elif st.stable and st.phase not in IN_PROGRESS:
        ctx.condition(ConditionType.READY, False, Reason.SERVE_PENDING, not_running(ctx))
    else:
        ctx.condition(ConditionType.READY, False, Reason.NOT_SERVING if not st.stable
                      else Reason.SERVING, st.message or f"phase {st.phase.value}")


def _dedupe(actions: list[Action]) -> list[Action]:
    """Keep the order, drop repeats; only the last ApplyTraffic matters."""
    last_apply = max((i for i, a in enumerate(actions) if isinstance(a, ApplyTraffic)), default=-1)
    out: list[Action] = []
    for i, action in enumerate(actions):
        if isinstance(action, ApplyTraffic) and i != last_apply:
            continue
        if action not in out or isinstance(action, EmitEvent):
            out.append(action)
    return out
