"""Training progress, as the training Job reports it and both drivers read it.

One format: the training process prints lines

    molting-progress {"step":120,"total":900,"loss":1.42,"etaSeconds":610}

on stderr. The cluster driver reads them from the pod's log tail (no token, no volume), the
local driver from the process's log file; both pass ``parse_progress``'s answer to the planner.
"""

from __future__ import annotations

import json

from pydantic import Field, ValidationError

from molting_workloads.contract.base import WireModel

PROGRESS_PREFIX = "molting-progress "


class TrainingProgress(WireModel):
    """Progress of the running training Job."""

    step: int = Field(0, ge=0, description="Optimiser steps done.")
    total: int = Field(0, ge=0, description="Optimiser steps planned.")
    loss: float | None = Field(None, description="Latest training loss.")
    eta_seconds: float | None = Field(None, description="Estimated seconds left.")


def progress_line(step: int, total: int, loss: float | None, eta: float | None) -> str:
    """``molting-progress {"step":…,"total":…,"loss":…,"etaSeconds":…}`` (TrainingProgress)."""
    fields = {"step": step, "total": total, "loss": loss, "etaSeconds": eta}
    return PROGRESS_PREFIX + json.dumps(fields, separators=(",", ":"))


def parse_progress(log: str) -> TrainingProgress | None:
    """The last valid progress line of a log (tail)."""
    for line in reversed(log.splitlines()):
        line = line.strip()
        if not line.startswith(PROGRESS_PREFIX):
            continue
        try:
            return TrainingProgress.model_validate_json(line[len(PROGRESS_PREFIX):])
        except ValidationError:
            continue
    return None
