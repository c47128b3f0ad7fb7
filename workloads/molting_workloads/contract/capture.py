"""Conversation capture (opt-in, ``spec.serving.capture``) and answer feedback: the policy, the
redaction patterns and their one check, and the JSONL record format the Ingress appends and a
retraining step reads back (``read_record``).

A capture folder holds ``capture.jsonl`` (being written) and ``capture.jsonl.1`` ..
``capture.jsonl.<maxFiles-1>`` (older first by number: ``.1`` is the newest rotated file). Every
line is one record: a ``conversation`` when an answer is sent, a ``rating`` when feedback for it
arrives, linked by the completion ``id``; nothing is ever rewritten.

Stdlib and pydantic only (the contract imports nothing heavy).
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Literal

from pydantic import Field, TypeAdapter, field_validator

from molting_workloads.contract.base import WireModel
from molting_workloads.contract.patterns import compile_user_regex

CAPTURE_DIR = "capture"  # under <artifacts>/<model>/ unless spec.serving.capture.path says
CAPTURE_FILE = "capture.jsonl"
REDACTED = "[redacted]"
MAX_REDACT_LENGTH = 1000
# E-mail addresses, and numbers of 4 digits or more, maybe with spaces, dots, dashes or brackets
# between them (phone, card, account numbers; years too).
EMAIL_PATTERN = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
NUMBER_PATTERN = r"\+?\d(?:[ ().-]?\d){3,}"
DEFAULT_REDACT = (EMAIL_PATTERN, NUMBER_PATTERN)

Thumb = Literal["up", "down"]


def compile_redaction(source: object, field: str = "redact[0]") -> re.Pattern[str]:
    """The compiled redaction pattern, or ``ValueError`` naming ``field``: a non-string, an
    invalid regular expression, a very long one, or one matching the empty string is refused."""
    return compile_user_regex(source, field, "redaction pattern", max_length=MAX_REDACT_LENGTH)


class CapturePolicy(WireModel):
    """What to capture and how much to keep; the spec adds where, the serve config the folder."""

    enabled: bool = Field(False, description="Append answered conversations to JSONL files.")
    sample_rate: float = Field(
        1.0, ge=0.0, le=1.0,
        description="Fraction of answers captured, decided from the completion id (so a "
        "rating is captured exactly when its conversation is).",
    )
    max_bytes: int = Field(
        64 * 1024 * 1024, ge=1024, le=1024 ** 4,
        description="Size of one capture file; the file is rotated before it would grow past it.",
    )
    max_files: int = Field(
        5, ge=1, le=1000,
        description="Files kept, the one being written included; the oldest is deleted.",
    )
    redact: list[str] = Field(
        default_factory=lambda: list(DEFAULT_REDACT),
        max_length=64,
        description="Regular expressions replaced by [redacted] in questions, answers and "
        "comments before they are written (default: e-mail addresses and numbers of 4 digits "
        "or more). An empty list redacts nothing.",
    )

    @field_validator("redact")
    @classmethod
    def _redact_compiles(cls, patterns: list[str]) -> list[str]:
        for i, source in enumerate(patterns):
            compile_redaction(source, f"redact[{i}]")
        return patterns


class CaptureSettings(CapturePolicy):
    """The Ingress's capture settings: the policy and the folder it writes (absolute)."""

    directory: str | None = Field(None, max_length=1024, description="The capture folder.")


class Message(WireModel):
    role: str
    content: str


class ConversationRecord(WireModel):
    """One answered conversation, redacted."""

    type: Literal["conversation"] = "conversation"
    id: str = Field(..., description="The completion id (the response's id).")
    time: float = Field(..., description="Epoch seconds when the answer was sent.")
    model: str
    revision: str
    kind: Literal["user", "probe"] = "user"
    messages: list[Message] = Field(..., description="The question: the request's messages.")
    raw_answer: str = Field(..., description="The answer as generated, before the filter.")
    answer: str = Field(..., description="The answer as sent, after the filter.")
    filtered: bool = False
    stream: bool = False


class RatingRecord(WireModel):
    """Feedback on one answer, appended when it arrives."""

    type: Literal["rating"] = "rating"
    id: str
    time: float
    revision: str
    rating: int | None = Field(None, ge=1, le=5, description="1 to 5, when the rating was a score.")
    thumb: Thumb | None = Field(None, description="up or down, when the rating was a thumb.")
    comment: str | None = None


CaptureRecord = Annotated[ConversationRecord | RatingRecord, Field(discriminator="type")]
_RECORD = TypeAdapter(CaptureRecord)


def record_line(record: ConversationRecord | RatingRecord) -> str:
    """One JSONL line (with its newline)."""
    return json.dumps(record.to_wire(), ensure_ascii=False, separators=(",", ":")) + "\n"


def read_record(line: str) -> ConversationRecord | RatingRecord:
    """A capture line back as its record (``pydantic.ValidationError`` when it is not one)."""
    return _RECORD.validate_json(line)
