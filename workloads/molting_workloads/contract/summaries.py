"""What Jobs report: the termination-message summaries (at most 4 KB) and the eval metrics.

A Job writes its summary as one line of compact JSON: to ``/dev/termination-log`` in a pod, and
as the last JSON line of its output in every case. ``read_summary`` reads it back, for both
drivers: the cluster driver from a pod's termination message, the local driver from the log.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from molting_workloads.contract.base import WireModel
from molting_workloads.contract.judging import JudgeScores

TERMINATION_LOG = Path("/dev/termination-log")
TERMINATION_LIMIT = 4096


class TrainSummary(WireModel):
    kind: str = "train"
    revision: str
    ok: bool
    adapter: str | None = None
    device: str | None = None
    quantization: str | None = Field(None, description="nf4-4bit, or none (fp32/bf16 LoRA).")
    steps: int | None = None
    final_loss: float | None = None
    val_loss: float | None = None
    tokens_per_second: float | None = None
    duration_s: float | None = None
    examples: int | None = Field(None, description="Training examples after cleaning.")
    production_rows: int | None = Field(
        None, description="Rows from production that cleaning kept (with spec.dataset.production)."
    )
    error: str | None = None


class EvalMetrics(WireModel):
    """Aggregate metrics over the evaluation questions."""

    n: int
    meta_language_rate: float
    mean_length: float
    median_length: float
    in_window_rate: float
    relevance: float
    repetition: float
    empty_rate: float
    judge: JudgeScores | None = Field(None, description="The judge's scores, when one is set.")


GATE_STATES = ("Passed", "Failed", "Error")


class GateVerdict(WireModel):
    name: str
    passed: bool
    value: float | None = None
    threshold: str = ""
    reason: str = ""
    # Passed or Failed (from ``passed``), or Error: the gate could not be decided (a judge that
    # timed out or answered nonsense), which never passes.
    state: str | None = Field(None, pattern="^(Passed|Failed|Error)$")
    # Shown, not counted: an advisory gate (evaluation.judge.advisory) never blocks a revision.
    advisory: bool = False

    @model_validator(mode="after")
    def _state(self) -> GateVerdict:
        if self.state is None:
            self.state = "Passed" if self.passed else "Failed"
        elif self.state == "Error" and self.passed:
            raise ValueError("a gate in Error has not passed")
        return self


class EvalSummary(WireModel):
    kind: str = "eval"
    revision: str
    ok: bool
    passed: bool | None = None
    metrics: EvalMetrics | None = None
    stable_metrics: EvalMetrics | None = None
    gates: list[GateVerdict] = Field(default_factory=list)
    report: str | None = None
    error: str | None = None


def termination_text(summary: WireModel) -> str:
    """Compact JSON that fits the Kubernetes termination message (4 KB)."""
    text = json.dumps(summary.to_wire(), separators=(",", ":"))
    if len(text.encode()) <= TERMINATION_LIMIT:
        return text
    slim = summary.to_wire()
    for key in ("gates", "stableMetrics", "error"):
        if len(json.dumps(slim, separators=(",", ":")).encode()) > TERMINATION_LIMIT:
            slim.pop(key, None)
    return json.dumps(slim, separators=(",", ":"))[:TERMINATION_LIMIT]


def write_termination(summary: WireModel, path: Path = TERMINATION_LOG) -> bool:
    """Write the summary where Kubernetes reads termination messages, when that path exists."""
    if not path.exists():
        return False
    path.write_text(termination_text(summary))
    return True


def read_summary(text: str, *, revision: str, kind: str) -> dict[str, Any] | None:
    """The last summary line in ``text`` (a termination message or a log tail) that is this
    Job's: a JSON object whose ``revision`` is ``revision`` and whose ``kind`` (when it says)
    is ``kind``. Its wire dict, or None when there is none (a crash, a foreign line)."""
    for line in reversed(text.splitlines()):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if not isinstance(data, dict) or data.get("revision") != revision:
            continue
        if data.get("kind", kind) != kind:
            continue
        return data
    return None
