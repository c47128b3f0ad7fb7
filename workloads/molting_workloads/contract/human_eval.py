"""The human evaluation's settings: which two revisions raters compare, the questions they are
shown, and where votes are appended. Part of the serving app's config (``humanEval``) and of the
Ingress's ``user_config``; the page and its routes live in ``serving.human_eval``."""

from __future__ import annotations

from pydantic import Field

from molting_workloads.contract.base import WireModel

MAX_QUESTIONS = 1000
MAX_QUESTION_CHARS = 4000


class HumanEvalSettings(WireModel):
    """The side-by-side page at ``/eval`` and its API under ``/v1/eval``."""

    revisions: list[str] | None = Field(
        None, min_length=2, max_length=2,
        description="The two revisions compared; default: the first (stable) and the last "
        "(candidate) of the app's revisions.",
    )
    questions: list[str] = Field(
        default_factory=list, max_length=MAX_QUESTIONS,
        description="Questions shown to raters (one at random per pair).",
    )
    questions_file: str | None = Field(
        None, max_length=1024,
        description="A JSONL file of questions (contract.questions rows), e.g. the evaluation "
        "questions on the artifacts volume; added to ``questions``.",
    )
    typed_questions: bool = Field(True, description="Raters may type their own question.")
    votes_file: str | None = Field(
        None, max_length=1024,
        description="A JSONL file votes are appended to (and read back from on a restart); "
        "None: votes live in the replica's memory only.",
    )
    max_new_tokens: int | None = Field(
        None, ge=1, le=4096, description="Answer length; default: the app's generation default."
    )
    token_ttl_s: int = Field(
        3600, ge=10, le=7 * 86400, description="How long a shown pair can be voted on."
    )

    def pair_of(self, revisions: list[str]) -> tuple[str, str] | None:
        """The two revisions compared, out of the app's (in rollout order); None if fewer than two."""
        if self.revisions is not None:
            return self.revisions[0], self.revisions[1]
        return (revisions[0], revisions[-1]) if len(revisions) >= 2 else None

    def problems(self, revisions: list[str]) -> list[str]:
        """What is wrong with these settings for an app with these revisions."""
        out = []
        if self.revisions is not None:
            unknown = [r for r in self.revisions if r not in revisions]
            if unknown:
                out.append(f"humanEval.revisions: unknown revisions {unknown}")
            if self.revisions[0] == self.revisions[1]:
                out.append("humanEval.revisions: the two revisions must differ")
        long = [i for i, q in enumerate(self.questions) if len(q) > MAX_QUESTION_CHARS or not q.strip()]
        if long:
            out.append(f"humanEval.questions: empty or over {MAX_QUESTION_CHARS} characters at {long[:5]}")
        return out
