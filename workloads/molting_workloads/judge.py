"""The judge: an OpenAI-compatible chat model that scores each answer on the rubric (the
contract's ``JudgePolicy``), out of 10 per criterion with a reason.

One call per (question, answer): the prompt lists the criteria and asks for a JSON object. The
reply is parsed leniently in form (a JSON object anywhere in the text, or ``Quality: 8/10 -
reason`` lines) and strictly in content: a criterion that is missing, not a number, or outside
0-10 is a ``JudgeParseError`` that names it and quotes the reply; nothing is clamped or guessed.

A call that times out, cannot connect, or gets a 429/5xx is retried ``retries`` times with
backoff (1 s, 2 s, 4 s ...); then it is a ``JudgeCallError``. Replies are kept on disk, keyed by
sha256 of (model, rubric, question, answer): a re-evaluation re-reads them instead of calling the
judge again (a reply that did not parse is kept too: asking again at temperature 0 gives the
same reply; only failed calls are not kept).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from molting_workloads.contract.judging import (
    ERROR_LIMIT,
    JUDGE_API_KEY_ENV,
    SCORE_MAX,
    JudgeCriterion,
    JudgePolicy,
    JudgeScores,
)

log = logging.getLogger(__name__)

QUOTE_LIMIT = 300
_BACKOFF_S = 1.0
_RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
SYSTEM_PROMPT = (
    "You are a strict, fair grader of answers written by an assistant. Score each criterion "
    "from 0 (worst) to 10 (best); decimals are allowed. Reply with one JSON object and nothing "
    "else."
)


class JudgeError(Exception):
    """The judge gave no usable scores."""


class JudgeCallError(JudgeError):
    """The call failed: a timeout, no connection, an HTTP error or a body that is not a chat
    completion (after the retries)."""


class JudgeParseError(JudgeError):
    """The reply came, but does not hold a 0-10 score for every criterion."""

    def __init__(self, message: str, reply: str) -> None:
        super().__init__(f"{message}; the judge replied: {quote(reply)}")
        self.reply = reply


def quote(text: str, limit: int = QUOTE_LIMIT) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[:limit] + "…")


@dataclass(frozen=True)
class Score:
    value: float
    reason: str


# ---------------------------------------------------------------- the prompt


def build_messages(question: str, answer: str, criteria: Sequence[JudgeCriterion]) -> list[dict]:
    """The chat messages of one judge call."""
    listed = "\n".join(f"- {c.name}: {c.description}" for c in criteria)
    example = json.dumps({c.name: {"score": 7.5, "reason": "..."} for c in criteria[:2]})
    user = (
        f"Question:\n{question}\n\nAnswer:\n{answer}\n\n"
        f"Score the answer on each criterion, from 0 to 10:\n{listed}\n\n"
        f"Reply with only a JSON object with one key per criterion "
        f"({', '.join(c.name for c in criteria)}), each holding a score and a one-sentence "
        f"reason, like {example}"
    )
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


# ---------------------------------------------------------------- parsing


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _json_objects(text: str) -> list[dict]:
    """Every JSON object in ``text``, outermost first (a reply may wrap it in prose or ```)."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while (start := text.find("{", at)) != -1:
        try:
            value, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            at = start + 1
            continue
        if isinstance(value, dict):
            found.append(value)
        at = end
    return found


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(-?\d+(?:\.\d+)?)\s*(?:/\s*(\d+(?:\.\d+)?))?\s*", value)
        if match and (match.group(2) is None or float(match.group(2)) == SCORE_MAX):
            return float(match.group(1))
    return None


_LINE = re.compile(
    r"^[\s*#>\-•]*([A-Za-z][A-Za-z _-]*?)[\s*_]*[:=]\s*\**\s*(-?\d+(?:\.\d+)?)\s*"
    r"(?:(?:/|out of)\s*(\d+(?:\.\d+)?))?\**\s*[.,;:)\-–—]*\s*(.*)$"
)


def _from_json(obj: dict, wanted: dict[str, str]) -> dict[str, tuple[Any, str]]:
    """criterion -> (raw score, reason) from one JSON object; nested ``scores`` too."""
    inner = obj.get("scores") if isinstance(obj.get("scores"), dict) else obj
    shared = obj.get("reason") if isinstance(obj.get("reason"), str) else ""
    reasons = obj.get("reasons") if isinstance(obj.get("reasons"), dict) else {}
    out = {}
    for key, value in inner.items():
        name = wanted.get(_norm(str(key)))
        if name is None:
            continue
        if isinstance(value, dict):
            raw = value.get("score", value.get("value"))
            reason = value.get("reason") or value.get("explanation") or ""
        else:
            raw, reason = value, ""
        reason = reason or next((v for k, v in reasons.items() if _norm(str(k)) == _norm(name)), "")
        out[name] = (raw, str(reason or shared))
    return out


def _from_lines(text: str, wanted: dict[str, str]) -> dict[str, tuple[Any, str]]:
    out = {}
    for line in text.splitlines():
        match = _LINE.match(line.strip())
        if not match:
            continue
        name = wanted.get(_norm(match.group(1)))
        if name is None or name in out:
            continue
        denominator = match.group(3)
        raw: Any = match.group(2) + (f"/{denominator}" if denominator else "")
        out[name] = (raw, match.group(4).strip())
    return out


def parse_reply(reply: str, criteria: Sequence[JudgeCriterion]) -> dict[str, Score]:
    """A Score per criterion, or ``JudgeParseError`` naming what is missing or wrong."""
    if not reply.strip():
        raise JudgeParseError("the reply is empty", reply)
    wanted = {_norm(c.name): c.name for c in criteria}
    found: dict[str, tuple[Any, str]] = {}
    for obj in _json_objects(reply):
        found = _from_json(obj, wanted)
        if found:
            break
    if not found:
        found = _from_lines(reply, wanted)
    if not found:
        raise JudgeParseError(
            "no scores in the reply (expected a JSON object or 'name: score/10' lines for "
            + ", ".join(c.name for c in criteria) + ")", reply)
    scores = {}
    for c in criteria:
        if c.name not in found:
            raise JudgeParseError(f"no {c.name} score", reply)
        raw, reason = found[c.name]
        value = _number(raw)
        if value is None:
            raise JudgeParseError(f"{c.name}: {raw!r} is not a score out of 10", reply)
        if not 0.0 <= value <= SCORE_MAX:
            raise JudgeParseError(f"{c.name}: {value:g} is outside 0-10", reply)
        scores[c.name] = Score(value, " ".join(reason.split())[:QUOTE_LIMIT])
    return scores


# ---------------------------------------------------------------- the cache


def cache_key(policy: JudgePolicy, question: str, answer: str) -> str:
    blob = json.dumps([policy.model, policy.rubric(), question, answer], ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


class ReplyCache:
    """One JSON file per key; unreadable entries count as absent."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def get(self, key: str) -> str | None:
        try:
            data = json.loads((self.folder / f"{key}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data.get("reply") if isinstance(data, dict) and isinstance(data.get("reply"), str) else None

    def put(self, key: str, reply: str, **facts: Any) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{key}.tmp"
        tmp.write_text(json.dumps({"reply": reply, **facts}, ensure_ascii=False), encoding="utf-8")
        tmp.replace(self.folder / f"{key}.json")


# ---------------------------------------------------------------- the client


class JudgeClient:
    """Calls the judge (``policy.url`` + /chat/completions) and keeps its replies."""

    def __init__(
        self,
        policy: JudgePolicy,
        cache_dir: str | Path,
        *,
        api_key: str | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.policy = policy
        self.cache = ReplyCache(Path(cache_dir))
        self.api_key = api_key if api_key is not None else os.environ.get(JUDGE_API_KEY_ENV)
        self.url = policy.url.rstrip("/") + "/chat/completions"
        self._client = httpx.Client(timeout=policy.timeout_seconds, transport=transport)
        self._sleep = sleep
        self.calls = 0  # HTTP requests made, retries included

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> JudgeClient:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

    def reply(self, question: str, answer: str) -> tuple[str, bool]:
        """The judge's reply for this answer, and whether it came from the cache."""
        key = cache_key(self.policy, question, answer)
        cached = self.cache.get(key)
        if cached is not None:
            return cached, True
        text = self._call(build_messages(question, answer, self.policy.criteria))
        self.cache.put(key, text, model=self.policy.model, question=question, answer=answer)
        return text, False

    def _call(self, messages: list[dict]) -> str:
        body = {"model": self.policy.model, "messages": messages, "temperature": 0.0,
                "max_tokens": self.policy.max_tokens}
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        attempts = self.policy.retries + 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            self.calls += 1
            try:
                response = self._client.post(self.url, json=body, headers=headers)
            except httpx.TimeoutException as error:
                why = f"timed out after {self.policy.timeout_seconds:g}s ({type(error).__name__})"
            except httpx.HTTPError as error:
                why = f"{type(error).__name__}: {error}"
            else:
                if response.status_code < 400:
                    return _content(self.url, response)
                why = f"HTTP {response.status_code}: {response.text[:200]}"
                if response.status_code not in _RETRY_STATUS:
                    raise JudgeCallError(f"POST {self.url}: {why}")
            if last:
                raise JudgeCallError(f"POST {self.url}: {why} (after {attempts} attempts)")
            delay = _BACKOFF_S * 2**attempt
            log.warning("judge call failed (%s); retrying in %.0fs", why, delay)
            self._sleep(delay)
        raise AssertionError("unreachable")


def _content(url: str, response: httpx.Response) -> str:
    try:
        content = response.json()["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise JudgeCallError(f"POST {url}: not a chat completion: {response.text[:200]!r}") from None
    if not isinstance(content, str):
        raise JudgeCallError(f"POST {url}: the reply's content is {type(content).__name__}, not text")
    return content


# ---------------------------------------------------------------- judging an evaluation


@dataclass
class JudgeRun:
    """Every answer's row for the report and the means for the gates."""

    scores: JudgeScores
    rows: list[dict] = field(default_factory=list)  # per answer: scores+reasons, or error+reply


def judge_answers(
    policy: JudgePolicy,
    questions: Sequence[str],
    answers: Sequence[str],
    cache_dir: str | Path,
    *,
    client: JudgeClient | None = None,
) -> JudgeRun:
    """Score every answer. A failed call stops the run (the next would fail alike); a reply
    that does not parse is refused and the others are still judged. Any failure leaves the
    scores without means, with the first error: the judge gates are then in Error."""
    own = client is None
    client = client or JudgeClient(policy, cache_dir)
    rows: list[dict] = []
    first_error: str | None = None
    cached = 0
    try:
        for i, (question, answer) in enumerate(zip(questions, answers, strict=True), start=1):
            try:
                reply, hit = client.reply(question, answer)
            except JudgeCallError as error:
                first_error = first_error or f"answer {i}: {error}"
                rows.append({"error": str(error)})
                rows += [{"error": "not judged (an earlier call failed)"}] * (len(answers) - i)
                break
            cached += hit
            try:
                parsed = parse_reply(reply, policy.criteria)
            except JudgeParseError as error:
                first_error = first_error or f"answer {i}: {error}"
                rows.append({"error": str(error), "reply": reply, "cached": hit})
                continue
            rows.append({"scores": {k: {"score": s.value, "reason": s.reason}
                                    for k, s in parsed.items()},
                         "reply": reply, "cached": hit})
    finally:
        if own:
            client.close()
    if first_error is not None:
        error = first_error if len(first_error) <= ERROR_LIMIT else first_error[:ERROR_LIMIT] + "…"
        return JudgeRun(JudgeScores(model=policy.model, n=0, error=error, cached=cached), rows)
    means = {c.name: round(sum(r["scores"][c.name]["score"] for r in rows) / len(rows), 4)
             for c in policy.criteria}
    return JudgeRun(JudgeScores(model=policy.model, n=len(rows), means=means, cached=cached), rows)
