"""The OpenAI chat-completions wire format: the request model, response and chunk bodies, and
``ApiError``, the one way the ingress refuses a request (an OpenAI-shaped JSON error).

Pure (pydantic only); the ingress parses requests with ``parse_chat_request``.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class ApiError(Exception):
    """A request the server refuses: HTTP ``status`` with an OpenAI-style error body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code
        self.headers = headers or {}
        self.type = type or ("invalid_request_error" if status < 500 else "server_error")

    def body(self) -> dict:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


class TextPart(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "user", "assistant"]
    content: str | list[TextPart]
    name: str | None = None

    @field_validator("content")
    @classmethod
    def _join_parts(cls, value: str | list[TextPart]) -> str:
        return value if isinstance(value, str) else "".join(p.text for p in value)


class ChatCompletionRequest(BaseModel):
    """The fields Molting honours; other OpenAI fields are accepted and ignored."""

    model_config = ConfigDict(extra="ignore")

    model: str | None = None
    messages: list[ChatMessage] = Field(..., min_length=1)
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    seed: int | None = None
    n: int = Field(1, ge=1, le=1)
    stream: bool = False

    def conversation(self) -> list[dict]:
        return [{"role": m.role, "content": m.content} for m in self.messages]

    def prompt_chars(self) -> int:
        return sum(len(m.content) for m in self.messages)

    def requested_tokens(self) -> int | None:
        return self.max_tokens if self.max_tokens is not None else self.max_completion_tokens


def json_object(raw: bytes, shape: str = "") -> dict:
    """A request body that must be one JSON object, or ``ApiError(400)`` ``invalid_json``;
    ``shape`` (e.g. "{id, rating, comment?}") is named in the error."""
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ApiError(400, f"the body is not valid JSON: {error}", code="invalid_json") from error
    if not isinstance(data, dict):
        raise ApiError(400, f"the body must be a JSON object {shape}".rstrip(), code="invalid_json")
    return data


def parse_chat_request(raw: bytes) -> ChatCompletionRequest:
    """The request, or ``ApiError(400)`` naming what is wrong (the JSON, or the field)."""
    data = json_object(raw)
    try:
        return ChatCompletionRequest.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        param = ".".join(str(p) for p in first["loc"]) or None
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()[:5]
        )
        raise ApiError(400, f"invalid request: {problems}", param=param, code="invalid_value") from error


def completion_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex[:24]


def completion_body(model: str, text: str, molting: dict[str, Any], cid: str | None = None) -> dict:
    """A ``chat.completion`` with one choice; ``molting`` carries revision and filter facts."""
    return {
        "id": cid or completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "molting": molting,
    }


def chunk_body(
    cid: str,
    model: str,
    delta: dict[str, Any],
    finish_reason: str | None = None,
    molting: dict[str, Any] | None = None,
) -> dict:
    """One ``chat.completion.chunk`` of a stream."""
    body: dict[str, Any] = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }
    if molting is not None:
        body["molting"] = molting
    return body
