"""IIMMPACT's "v1" request signature (API key + HMAC-SHA256), as its authentication guide defines it."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass


class InvalidSigningKey(ValueError):
    """The HMAC secret is not valid Base64 (IIMMPACT issues it Base64-encoded)."""


def decode_signing_key(hmac_secret_b64: str) -> bytes:
    try:
        key = base64.b64decode(hmac_secret_b64, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidSigningKey("hmac_secret is not valid Base64") from None
    if not key:
        raise InvalidSigningKey("hmac_secret is empty")
    return key


def body_hash(body: bytes) -> str:
    return base64.b64encode(hashlib.sha256(body).digest()).decode()


def canonical_string(timestamp: str, nonce: str, method: str, query: str, body: bytes) -> str:
    # The request path is deliberately not part of IIMMPACT's canonical string.
    return f"v1:{timestamp}:{nonce}:{method.upper()}:{query}:{body_hash(body)}"


def signature(key: bytes, canonical: str) -> str:
    return base64.b64encode(hmac.new(key, canonical.encode(), hashlib.sha256).digest()).decode()


@dataclass(frozen=True)
class SignedHeaders:
    api_key: str
    timestamp: str
    nonce: str
    signature: str

    def as_dict(self) -> dict[str, str]:
        return {
            "X-Api-Key": self.api_key,
            "X-Timestamp": self.timestamp,
            "X-Nonce": self.nonce,
            "X-Signature": f"v1={self.signature}",
        }


def sign_request(
    api_key: str,
    key: bytes,
    method: str,
    body: bytes,
    *,
    query: str = "",
    timestamp: int | None = None,
    nonce: str | None = None,
) -> SignedHeaders:
    """Sign the exact bytes that will be sent; a fresh nonce per request (IIMMPACT refuses reuse)."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    # 32 hex characters: inside IIMMPACT's 16..128 range, unguessable and never repeated.
    fresh_nonce = nonce if nonce is not None else secrets.token_hex(16)
    canonical = canonical_string(stamp, fresh_nonce, method, query, body)
    return SignedHeaders(api_key, stamp, fresh_nonce, signature(key, canonical))
