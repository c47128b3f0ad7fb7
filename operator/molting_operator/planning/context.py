"""One planning pass: its inputs, the status being built, the actions, and the serving helpers
every phase uses (the traffic split, the ApplyTraffic action, whether the app runs the split).

Pure, as the whole planner is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from molting_operator.api.spec import MoltingModelSpec
from molting_operator.api.status import (
    ConditionType,
    HistoryEntry,
    MoltingModelStatus,
    Outcome,
    Reason,
    RevisionRef,
    TrafficEntry,
)
from molting_operator.planning.actions import Action, ApplyTraffic, EmitEvent
from molting_operator.planning.conditions import set_condition
from molting_operator.planning.observed import Observed


def timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class PlanContext:
    """One planning pass: the inputs and what is being built."""

    spec: MoltingModelSpec
    status: MoltingModelStatus  # a deep copy, edited in place
    observed: Observed
    actions: list[Action] = field(default_factory=list)

    @property
    def now(self) -> str:
        return timestamp(self.observed.now)

    def event(self, reason: Reason, message: str, warning: bool = False,
              outcome: Outcome | None = None) -> None:
        self.actions.append(EmitEvent(reason.value, message, warning,
                                      outcome.value if outcome else None))
        self.status.message = message

    def condition(self, type_: ConditionType, ok: bool | None, reason: Reason, msg: str) -> None:
        set_condition(self.status, type_, ok, reason.value, msg, self.now, self.observed.generation)

    def history(self, ref: RevisionRef, outcome: Outcome, reason: str) -> None:
        self.status.history.append(
            HistoryEntry(revision=ref.revision, outcome=outcome.value, reason=reason, at=self.now,
                         adapter=ref.adapter, production=ref.production)
        )


# -- serving ----------------------------------------------------------------------------------


def split(stable: str, candidate: str | None = None, weight: int = 0) -> list[TrafficEntry]:
    """``weight`` percent to ``candidate``, the rest to ``stable``; a revision at 0 is left out
    (so ``split(stable)`` is everything to stable)."""
    entries = [TrafficEntry(revision=stable, weight=100 - weight)]
    if candidate is not None:
        entries.append(TrafficEntry(revision=candidate, weight=weight))
    return [t for t in entries if t.weight > 0] or [TrafficEntry(revision=stable, weight=100)]


def adapters(st: MoltingModelStatus) -> dict[str, str]:
    """Adapters the Serve app may load: stable, previous, and the candidate only once its gates
    passed (a request pinned by header must never reach an ungated revision)."""
    refs = [st.stable, st.previous]
    if st.candidate and st.candidate.evaluation and st.candidate.evaluation.passed:
        refs.append(st.candidate)
    return {r.revision: r.adapter for r in refs if r and r.adapter}


def apply_traffic(ctx: PlanContext) -> None:
    st = ctx.status
    weights = tuple((t.revision, t.weight) for t in st.traffic)
    st.canary_weight = st.canary.weight if st.canary else None
    # Every known adapter travels along (previous at weight 0): a rollback is then a weight
    # change only, and a request pinned to any of them is served.
    ctx.actions.append(ApplyTraffic(weights=weights, adapters=tuple(sorted(adapters(st).items())),
                                    filters=revision_filters(ctx)))


def revision_filters(ctx: PlanContext) -> tuple[tuple[str, bool], ...]:
    """During a canary, the filter of stable and of the candidate as rollout.revisionFilter
    sets them (outside a canary every revision is filtered as serving.filter says)."""
    st, chosen = ctx.status, ctx.spec.serving.rollout.revision_filter
    if st.canary is None or st.candidate is None or st.stable is None:
        return ()
    pairs = ((st.stable.revision, chosen.stable), (st.candidate.revision, chosen.candidate))
    return tuple((rev, on) for rev, on in pairs if on is not None)


def wanted_split(ctx: PlanContext) -> dict[str, int]:
    return {t.revision: t.weight for t in ctx.status.traffic}


def runs_split(ctx: PlanContext) -> bool:
    """Whether the app itself reports that it runs the status's traffic, with the settings of
    the config last written when both are known (its /stats settings hash)."""
    serve = ctx.observed.serve
    wanted = wanted_split(ctx)
    return bool(wanted) and serve is not None and serve.running == wanted and serve.runs_written


def stale(ctx: PlanContext) -> bool:
    """Whether the config last written is not what the spec builds now for its split (a serving
    edit); False when the driver cannot tell."""
    serve = ctx.observed.serve
    return (serve is not None and serve.fingerprint is not None
            and serve.spec_fingerprint is not None and serve.fingerprint != serve.spec_fingerprint)


def not_running(ctx: PlanContext) -> str:
    serve = ctx.observed.serve
    if serve is None or serve.running is None:
        why = (serve.not_running or serve.error) if serve else None
        return f"the Serve app does not answer yet ({why})" if why else "the Serve app does not answer yet"
    if serve.running == wanted_split(ctx) and not serve.runs_written:
        return (f"the Serve app runs settings {serve.stats.settings_hash}, not yet the written "
                f"{serve.fingerprint}")
    now = ", ".join(f"{r} {w}%" for r, w in sorted(serve.running.items())) or "nothing"
    return f"the Serve app still runs {now}" + (f" ({serve.not_running})" if serve.not_running else "")
