"""Server-sent events for streamed answers, with the filter applied at sentence boundaries.

``filtered_sse`` turns the Generator's text deltas into OpenAI ``chat.completion.chunk`` events.
A ``StreamFilter`` holds back only the sentence still being written, so the first sentence goes
out as soon as it is complete, not at the end of the answer. Pure: the ingress drives it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from molting_workloads.serving.openai_types import chunk_body

DONE = b"data: [DONE]\n\n"


class TextFilter(Protocol):
    """What the language module's ``StreamFilter`` offers."""

    removed: list[str]

    def feed(self, delta: str) -> str: ...

    def flush(self) -> str: ...


class GenerationFailed(Exception):
    """The Generator reported an error in the middle of a stream."""


def sse(data: dict) -> bytes:
    return b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"


@dataclass
class StreamOutcome:
    """What a finished (or broken) stream did, for the counters."""

    raw: str = ""  # the answer as generated
    sent: str = ""  # the answer as the client received it
    removed: list[str] = field(default_factory=list)
    error: str | None = None
    completed: bool = False


async def filtered_sse(
    deltas: AsyncIterator[str],
    *,
    cid: str,
    model: str,
    molting: dict[str, Any],
    make_filter: Callable[[], TextFilter] | None,
    outcome: StreamOutcome,
) -> AsyncIterator[bytes]:
    """SSE events for one answer; fills ``outcome`` as it goes.

    The final chunk carries ``molting`` plus ``filtered`` and ``removed``; an error mid-stream
    becomes an ``error`` event followed by ``[DONE]``.
    """
    text_filter = make_filter() if make_filter else None
    yield sse(chunk_body(cid, model, {"role": "assistant", "content": ""}))
    try:
        async for delta in deltas:
            outcome.raw += delta
            safe = text_filter.feed(delta) if text_filter else delta
            if safe:
                outcome.sent += safe
                yield sse(chunk_body(cid, model, {"content": safe}))
        rest = text_filter.flush() if text_filter else ""
        if rest:
            outcome.sent += rest
            yield sse(chunk_body(cid, model, {"content": rest}))
    except GenerationFailed as error:
        outcome.error = str(error)
        yield sse({"error": {"message": f"generation failed: {error}", "type": "server_error",
                             "param": None, "code": "generation_failed"}})
        yield DONE
        return
    outcome.removed = list(text_filter.removed) if text_filter else []
    outcome.completed = True
    facts = molting | {
        "filtered": bool(outcome.removed),
        "removed": len(outcome.removed),
        "fallback": bool(getattr(text_filter, "fallback", False)),
    }
    yield sse(chunk_body(cid, model, {}, finish_reason="stop", molting=facts))
    yield DONE
