"""set_condition: the only writer of status.conditions (Kubernetes API conventions)."""

from __future__ import annotations

from molting_operator.api.status import Condition, ConditionType, MoltingModelStatus


def set_condition(
    status: MoltingModelStatus,
    type_: ConditionType,
    ok: bool | None,
    reason: str,
    message: str,
    now: str,
    generation: int | None,
) -> None:
    """Set one condition; lastTransitionTime moves only when the status value changes."""
    value = "Unknown" if ok is None else ("True" if ok else "False")
    for i, cond in enumerate(status.conditions):
        if cond.type == type_.value:
            since = cond.last_transition_time if cond.status == value else now
            status.conditions[i] = Condition(
                type=type_.value, status=value, reason=reason, message=message,
                last_transition_time=since, observed_generation=generation,
            )
            return
    status.conditions.append(
        Condition(type=type_.value, status=value, reason=reason, message=message,
                  last_transition_time=now, observed_generation=generation)
    )


def get_condition(status: MoltingModelStatus, type_: ConditionType) -> Condition | None:
    return next((c for c in status.conditions if c.type == type_.value), None)
