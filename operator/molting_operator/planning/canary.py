"""The canary walk: a step's split, the live analysis at each step, and the two ways a
candidate leaves a canary (promoted to stable, or rolled back). Pure."""

from __future__ import annotations

from datetime import datetime

from molting_operator.api.status import AbVerdict, CanaryState, Outcome, Phase, Reason
from molting_operator.planning import analysis as analysis_mod
from molting_operator.planning.actions import Probe
from molting_operator.planning.context import (
    PlanContext,
    apply_traffic,
    not_running,
    runs_split,
    split,
)
from molting_workloads.contract.ab_stats import NotWorseResult
from molting_workloads.contract.base import parse_duration


def start_step(ctx: PlanContext, index: int) -> None:
    st, cand = ctx.status, ctx.status.candidate
    weight = ctx.spec.serving.rollout.steps[index].weight
    st.phase = Phase.CANARY
    st.canary = CanaryState(step=index, weight=weight, step_started_at=ctx.now)
    st.traffic = split(st.stable.revision, cand.revision, weight)
    apply_traffic(ctx)


def step_canary(ctx: PlanContext) -> None:
    st, cand, rollout = ctx.status, ctx.status.candidate, ctx.spec.serving.rollout
    if st.canary is None or st.stable is None:  # a status written by hand; start over
        start_step(ctx, 0)
        return
    steps = rollout.steps
    index = min(st.canary.step, len(steps) - 1)
    serve = ctx.observed.serve
    if not runs_split(ctx):
        # A step's clock starts once the app runs its split (a new Ray cluster can take
        # minutes), and a probe before that would ask for a revision the app does not know.
        st.canary.step_started_at = ctx.now
        st.canary.analysis = f"{analysis_mod.Verdict.INCONCLUSIVE.value}: {not_running(ctx)}"
        return
    result = analysis_mod.analyse(serve.stats if serve else None, cand.revision,
                                  st.stable.revision, rollout.analysis)
    st.canary.analysis = f"{result.verdict.value}: {result.reason}"
    if result.not_worse is not None:
        record_verdict(ctx, result.not_worse)
    if result.verdict == analysis_mod.Verdict.FAILED:
        if rollout.auto_rollback:
            roll_back_candidate(ctx, Reason.ANALYSIS_FAILED, f"analysis failed: {result.reason}")
        elif ctx.status.message != (held := f"analysis failed ({result.reason}); autoRollback is "
                                    "off: waiting for a manual promote or rollback"):
            ctx.event(Reason.ANALYSIS_FAILED, held, warning=True)
        return
    if result.verdict == analysis_mod.Verdict.INCONCLUSIVE and rollout.analysis.probe:
        ctx.actions.append(Probe(cand.revision))
    started = datetime.fromisoformat(st.canary.step_started_at)
    elapsed = (ctx.observed.now - started).total_seconds()
    if elapsed < parse_duration(steps[index].duration):
        return
    if result.verdict == analysis_mod.Verdict.INCONCLUSIVE:
        return
    if index + 1 < len(steps):
        start_step(ctx, index + 1)
        ctx.event(Reason.CANARY_STEP,
                  f"Canary of {cand.revision} advanced to {st.canary.weight}% ({result.reason})")
    else:
        promote(ctx, Reason.PROMOTED, f"canary healthy at every step ({result.reason})")


def record_verdict(ctx: PlanContext, test: NotWorseResult) -> None:
    """Keep the not-worse verdict in the status; its time moves only when its figures do (a
    quiet canary writes no status)."""
    st = ctx.status
    verdict = AbVerdict(**test.model_dump(), candidate_revision=st.candidate.revision,
                        stable_revision=st.stable.revision, at=ctx.now)
    if st.verdict is None or (st.verdict.model_dump(exclude={"at"})
                              != verdict.model_dump(exclude={"at"})):
        st.verdict = verdict


def promote(ctx: PlanContext, reason: Reason, why: str) -> None:
    st, cand = ctx.status, ctx.status.candidate
    assert cand is not None
    old = st.stable
    cand.promoted_at = ctx.now
    ctx.history(cand, Outcome.PROMOTED, why)
    st.previous = old if old else st.previous
    st.stable, st.candidate, st.canary = cand, None, None
    st.traffic = split(cand.revision)
    st.phase = Phase.SERVING
    apply_traffic(ctx)
    ctx.event(reason, f"Promoted {cand.revision} to stable"
              + (f" (previous: {old.revision})" if old else "") + f": {why}",
              outcome=Outcome.PROMOTED)


def roll_back_candidate(ctx: PlanContext, reason: Reason, why: str) -> None:
    st, cand = ctx.status, ctx.status.candidate
    assert cand is not None and st.stable is not None
    ctx.history(cand, Outcome.ROLLED_BACK, why)
    st.traffic = split(st.stable.revision)
    st.canary = None
    st.phase = Phase.ROLLED_BACK
    apply_traffic(ctx)
    ctx.event(reason, f"Rolled back {cand.revision}; {st.stable.revision} serves 100%: {why}",
              warning=True, outcome=Outcome.ROLLED_BACK)
