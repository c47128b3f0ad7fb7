"""The judge's rubric, shared by both sides: which OpenAI-compatible model scores the answers,
on which criteria (0-10 each), the lowest mean score each criterion's gate accepts, and the
scores an evaluation reports back.

The spec's ``evaluation.judge`` composes ``JudgePolicy``; the evaluation Job receives it in its
request (``molting_workloads.judge`` calls the endpoint); the gates (``contract.gates``) read
``JudgeScores`` from the summary's metrics. The API key never travels in a request: the Job reads
it from ``JUDGE_API_KEY_ENV`` (a Secret's key in a cluster, the environment locally).
"""

from __future__ import annotations

from pydantic import Field, field_validator

from molting_workloads.contract.base import WireModel, cel_rules

JUDGE_API_KEY_ENV = "MOLTING_JUDGE_API_KEY"
SCORE_MAX = 10.0
# A judge error quoted in the summary is cut here: the summary must fit 4 KB with every gate.
ERROR_LIMIT = 400


class JudgeCriterion(WireModel):
    """One thing the judge scores out of 10, and the lowest mean score its gate accepts."""

    name: str = Field(
        ..., min_length=1, max_length=40, pattern=r"^[a-z][A-Za-z0-9]*$",
        description="camelCase name; the gate is judge.<name> and the judge replies with it.",
    )
    description: str = Field(
        ..., min_length=1, max_length=300, description="What the judge is told to score."
    )
    min_score: float = Field(
        ..., ge=0.0, le=SCORE_MAX, description="Lowest mean score (0-10) that passes the gate."
    )


DEFAULT_CRITERIA = (
    JudgeCriterion(name="quality", min_score=8.5,
                   description="Overall quality: a helpful, complete, well-written answer."),
    JudgeCriterion(name="personality", min_score=8.0,
                   description="Personality: a warm, natural voice of its own, with no "
                   "agent-like talk about what it will do."),
    JudgeCriterion(name="factualAccuracy", min_score=8.0,
                   description="Factual accuracy: every claim is true."),
    JudgeCriterion(name="coherence", min_score=8.0,
                   description="Coherence: the answer stays on the question and reads as one "
                   "clear line of thought."),
)


class JudgePolicy(WireModel):
    """A model behind an OpenAI-compatible chat-completions API that scores every answer."""

    model_config = WireModel.model_config | {
        "json_schema_extra": cel_rules(
            (
                "!has(self.criteria) || self.criteria.all(c, "
                "self.criteria.filter(d, d.name == c.name).size() == 1)",
                "judge criteria names must be unique",
            )
        )
    }

    url: str = Field(
        ..., min_length=1, max_length=512, pattern=r"^https?://",
        description="Base URL of the OpenAI-compatible API, e.g. http://host:8000/v1 "
        "(/chat/completions is added).",
    )
    model: str = Field(..., min_length=1, max_length=256, description="The judge's model name.")
    timeout_seconds: float = Field(
        60.0, gt=0.0, le=600.0, description="Timeout of one judge call."
    )
    retries: int = Field(
        2, ge=0, le=5,
        description="Retries of a call that timed out or got a 5xx/429, with backoff (1 s, 2 s, ...).",
    )
    max_tokens: int = Field(256, ge=16, le=4096, description="Longest judge reply (tokens).")
    advisory: bool = Field(
        False, description="Score and report, but do not gate: the judge's gates are shown "
        "(Passed, Failed or Error) and never block a revision; for trying a judge before "
        "trusting it.",
    )
    criteria: list[JudgeCriterion] = Field(
        default_factory=lambda: [c.model_copy() for c in DEFAULT_CRITERIA],
        min_length=1, max_length=16,
        description="What the judge scores, each out of 10 with its gate's lowest mean score "
        "(default: quality 8.5, personality 8, factualAccuracy 8, coherence 8).",
    )

    @field_validator("criteria")
    @classmethod
    def _unique(cls, criteria: list[JudgeCriterion]) -> list[JudgeCriterion]:
        seen: set[str] = set()
        for i, c in enumerate(criteria):
            if c.name.lower() in seen:
                raise ValueError(f"criteria[{i}].name: {c.name!r} is listed twice (judge criteria names "
                                 "must be unique)")
            seen.add(c.name.lower())
        return criteria

    def rubric(self) -> list[dict]:
        """What the judge is asked (names and descriptions; the thresholds do not change a
        score, so they are not part of the cache key)."""
        return [{"name": c.name, "description": c.description} for c in self.criteria]


class JudgeScores(WireModel):
    """The judge's mean score per criterion over the candidate's answers, or why there is none."""

    model: str = Field(..., description="The judge's model name.")
    n: int = Field(0, description="Answers scored.")
    means: dict[str, float] = Field(default_factory=dict, description="Criterion -> mean score.")
    error: str | None = Field(None, description="Why the judge gave no scores (then no means).")
    cached: int = Field(0, description="Answers whose judge reply came from the cache.")


def gate_name(criterion: str) -> str:
    return f"judge.{criterion}"
