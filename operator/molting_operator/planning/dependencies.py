"""Which data sources the spec names that the next step needs: the one rule both drivers follow
before they plan. A driver only says whether each is there (a ConfigMap and its key, a file);
when one is not, the planner freezes the model where it is (observed.dependency_problems).

Pure, as the whole planner is.
"""

from __future__ import annotations

from molting_operator.api.spec import DataSource, MoltingModelSpec
from molting_operator.api.status import MoltingModelStatus, Phase
from molting_operator.planning.planner import FINAL_FAILURES, desired_revision


def needed_sources(spec: MoltingModelSpec, status: MoltingModelStatus,
                   annotations: dict[str, str]) -> list[tuple[str, DataSource]]:
    """(field, source) for each source the next step reads: the dataset while a revision is to
    be trained, the questions while one is to be trained or evaluated, or probed in a canary."""
    desired = desired_revision(spec, annotations, status)
    settled = {r.revision for r in (status.stable, status.candidate) if r}
    given_up = any(h.revision == desired and h.outcome in FINAL_FAILURES for h in status.history)
    training = (desired not in settled and not given_up) or status.phase == Phase.TRAINING
    probing = status.phase == Phase.CANARY and spec.serving.rollout.analysis.probe
    needed: list[tuple[str, DataSource]] = []
    if training:
        needed.append(("spec.dataset", spec.dataset))
    questions = spec.evaluation.questions
    if questions is not None and (training or probing or status.phase == Phase.EVALUATING):
        needed.append(("spec.evaluation.questions", questions))
    return needed
