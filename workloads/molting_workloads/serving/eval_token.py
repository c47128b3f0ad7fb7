"""Sealed tokens for the human evaluation: a shown pair travels to the rater and back as one
opaque string, so the server stores nothing for pairs nobody answers and a rater can neither
read which revision is A nor forge or alter a pair.

Encrypt-then-MAC with the standard library only: the payload (zlib-compressed JSON) is XORed
with an HMAC-SHA256 keystream (HMAC as a PRF in counter mode, a fresh 16-byte nonce per token),
then nonce and ciphertext are authenticated with HMAC-SHA256 under a second key. Both keys come
from one secret, random per replica unless given: tokens die with the replica (the page just
asks for a new pair).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
import zlib

NONCE_BYTES = 16
TAG_BYTES = 32
MAX_TOKEN_CHARS = 200_000
MAX_PAYLOAD_BYTES = 1_000_000


class TokenError(ValueError):
    """A token that is malformed, forged, altered or expired; ``code`` says which."""

    def __init__(self, message: str, code: str = "invalid_token") -> None:
        super().__init__(message)
        self.code = code


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as error:
        raise TokenError("the token is not base64url") from error


class Sealer:
    """Seals and opens pair tokens under one secret."""

    def __init__(self, secret: bytes | None = None, *, clock=time.time) -> None:
        secret = secret if secret is not None else os.urandom(32)
        self._enc = hmac.new(secret, b"molting-eval-encrypt", hashlib.sha256).digest()
        self._mac = hmac.new(secret, b"molting-eval-authenticate", hashlib.sha256).digest()
        self._clock = clock

    def _keystream(self, nonce: bytes, length: int) -> bytes:
        blocks = (length + 31) // 32
        return b"".join(
            hmac.new(self._enc, nonce + i.to_bytes(4, "big"), hashlib.sha256).digest() for i in range(blocks)
        )[:length]

    def seal(self, payload: dict, ttl_s: float) -> str:
        """The token for ``payload``; it opens until ``ttl_s`` seconds from now."""
        body = zlib.compress(json.dumps({"p": payload, "exp": self._clock() + ttl_s}).encode("utf-8"))
        nonce = os.urandom(NONCE_BYTES)
        cipher = bytes(a ^ b for a, b in zip(body, self._keystream(nonce, len(body)), strict=True))
        tag = hmac.new(self._mac, nonce + cipher, hashlib.sha256).digest()
        return _b64(nonce + cipher + tag)

    def open(self, token: object) -> tuple[str, dict, float]:
        """``(token id, payload, expiry)`` of a genuine, unexpired token; ``TokenError`` otherwise.
        The id (the nonce, hex) is what a vote is remembered by, to refuse a second one."""
        if not isinstance(token, str) or not token:
            raise TokenError("no token")
        if len(token) > MAX_TOKEN_CHARS:
            raise TokenError("the token is too long")
        raw = _unb64(token)
        if len(raw) < NONCE_BYTES + TAG_BYTES + 1:
            raise TokenError("the token is too short")
        nonce, cipher, tag = raw[:NONCE_BYTES], raw[NONCE_BYTES:-TAG_BYTES], raw[-TAG_BYTES:]
        expected = hmac.new(self._mac, nonce + cipher, hashlib.sha256).digest()
        if not hmac.compare_digest(tag, expected):
            raise TokenError("the token was not issued by this server (or was altered)")
        body = bytes(a ^ b for a, b in zip(cipher, self._keystream(nonce, len(cipher)), strict=True))
        inflate = zlib.decompressobj()
        try:
            data = json.loads(inflate.decompress(body, MAX_PAYLOAD_BYTES))
        except (zlib.error, ValueError) as error:  # only a bug on our side gets here: it was signed
            raise TokenError("the token does not decode") from error
        if self._clock() > data["exp"]:
            raise TokenError("the pair has expired; load a new one", code="token_expired")
        return nonce.hex(), data["p"], float(data["exp"])
