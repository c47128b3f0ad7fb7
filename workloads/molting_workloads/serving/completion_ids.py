"""Completion ids that carry their revision: ``chatcmpl-<revision>-<issued, hex s>-<random>-<mac>``.

The MAC is an HMAC-SHA256 over the rest, keyed from the app's API key, so every ingress replica
(and a restarted one) accepts the ids any of them issued, the revision a rating counts under is
the one that answered (even after it is retired), and an id cannot be made up or altered to rate
a revision. Without an API key the key is random per replica: ids are then accepted only by the
replica that issued them, until it restarts. An id is accepted ``window_s`` seconds after issue.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

PREFIX = "chatcmpl-"
MAC_HEX = 20  # 80 bits of the HMAC
MAX_ID_LENGTH = 200
DEFAULT_WINDOW_S = 24 * 3600


class UnknownId(ValueError):
    """Not an id this app issued (malformed, forged, or signed with another key)."""


class ExpiredId(ValueError):
    """An id this app issued, older than the feedback window."""


@dataclass(frozen=True)
class Issued:
    id: str
    revision: str
    issued_at: float


def key_from(api_key: str | None) -> bytes:
    """The signing key: derived from the API key (shared by the replicas), else random."""
    if api_key:
        return hashlib.sha256(b"molting-completion-id\0" + api_key.encode()).digest()
    return secrets.token_bytes(32)


class CompletionIds:
    def __init__(self, key: bytes, *, window_s: float = DEFAULT_WINDOW_S,
                 clock: Callable[[], float] = time.time) -> None:
        self._key, self.window_s, self._clock = key, window_s, clock

    def _mac(self, body: str) -> str:
        return hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()[:MAC_HEX]

    def issue(self, revision: str) -> str:
        body = f"{revision}-{int(self._clock()):x}-{secrets.token_hex(6)}"
        return f"{PREFIX}{body}-{self._mac(body)}"

    def parse(self, cid: object) -> Issued:
        """The revision and issue time of an id, or ``UnknownId`` / ``ExpiredId``."""
        if not isinstance(cid, str) or len(cid) > MAX_ID_LENGTH or not cid.startswith(PREFIX):
            raise UnknownId(f"unknown completion id {str(cid)[:80]!r}: not an id this app issued")
        body, _, mac = cid[len(PREFIX):].rpartition("-")
        revision, _, rest = body.rpartition("-")
        revision, _, stamp = revision.rpartition("-")
        if not revision or not hmac.compare_digest(mac.encode(), self._mac(body).encode()):
            raise UnknownId(f"unknown completion id {cid[:80]!r}: not an id this app issued "
                            "(or issued before the API key changed)")
        issued_at = float(int(stamp, 16))
        age = self._clock() - issued_at
        if age > self.window_s:
            raise ExpiredId(f"completion id {cid[:80]!r} is {int(age)} s old; feedback is "
                            f"accepted for {int(self.window_s)} s after the answer")
        return Issued(id=cid, revision=revision, issued_at=issued_at)
