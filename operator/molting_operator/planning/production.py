"""The production trigger (``spec.dataset.production``): up to which time the desired revision
trains on captured conversations, and when that time moves on.

The cutoff is set when production is switched on, when the retrain annotation changes, when
``retrainAfter`` new qualifying ratings arrived since the last production revision (counted on
the app's /stats, summed over its revisions), and when ``retrainEvery`` has passed since the
cutoff with at least one new qualifying rating (a schedule never retrains on the same data). The
two rules move it only while nothing is in progress, so a busy app never supersedes its own
candidate. The cutoff is part of the revision id
(api/revision.py), so the history says which production data made which adapter; it has
millisecond resolution and only moves forward, so each new cutoff is a new revision. The app's
counters live in its memory: a count lower than the mark (a restart, a revision no longer
served) re-bases the mark there, and the ratings lost with the restart are not counted.

Pure, as the whole planner is.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from molting_operator.api.annotations import RETRAIN_ANNOTATION
from molting_operator.api.status import Phase, ProductionMark, Reason
from molting_operator.planning.context import PlanContext
from molting_workloads.contract.base import parse_duration

_BUSY = (Phase.TRAINING, Phase.EVALUATING, Phase.CANARY)


def production_cutoff(ctx: PlanContext) -> str | None:
    """Update ``status.production`` and return the cutoff the desired revision trains on
    (None with production off)."""
    policy, st = ctx.spec.dataset.production, ctx.status
    if not policy.enabled:
        st.production = None
        return None
    retrain = ctx.observed.annotations.get(RETRAIN_ANNOTATION)
    rated = qualifying(ctx)
    mark = st.production
    if mark is None or mark.retrain != retrain:
        st.production = ProductionMark(cutoff=cutoff_at(ctx.observed.now, mark and mark.cutoff),
                                       rated=rated, retrain=retrain)
    elif rated is None:
        pass
    elif mark.rated is None or rated < mark.rated:
        mark.rated = rated  # the first count seen, or the app's counters started again
    elif st.phase not in _BUSY and (why := _due(ctx, mark.cutoff, rated - mark.rated)):
        st.production = ProductionMark(cutoff=cutoff_at(ctx.observed.now, mark.cutoff),
                                       rated=rated, retrain=retrain)
        ctx.event(Reason.PRODUCTION_DATA,
                  f"{rated - mark.rated} new qualifying ratings ({why}): a new revision trains "
                  f"on production data up to {st.production.cutoff}")
    return st.production.cutoff


def cutoff_at(moment: datetime, after: str | None = None) -> str:
    """The cutoff for ``moment``: RFC 3339 in milliseconds, and always later than ``after`` (the
    cutoff names its revision, so two in one second, or a clock that stepped back, must still
    differ)."""
    if after:
        moment = max(moment, datetime.fromisoformat(after) + timedelta(milliseconds=1))
    return f"{moment.strftime('%Y-%m-%dT%H:%M:%S')}.{moment.microsecond // 1000:03d}Z"


def _due(ctx: PlanContext, cutoff: str, new: int) -> str | None:
    """Which rule asks for a new production revision now (None: neither)."""
    policy = ctx.spec.dataset.production
    if policy.retrain_after and new >= policy.retrain_after:
        return f"retrainAfter {policy.retrain_after}"
    if policy.retrain_every and new > 0:
        since = (ctx.observed.now - datetime.fromisoformat(cutoff)).total_seconds()
        if since >= parse_duration(policy.retrain_every):
            return f"retrainEvery {policy.retrain_every}, {since / 3600:.1f} h since the cutoff"
    return None


def qualifying(ctx: PlanContext) -> int | None:
    """Qualifying ratings the app reports now, None when it did not answer."""
    serve = ctx.observed.serve
    if serve is None or serve.stats is None:
        return None
    return ctx.spec.dataset.production.qualifying(serve.stats)
