"""The v1 signature, checked against an independent computation by the real `openssl` binary."""

from __future__ import annotations

import base64
import shutil
import subprocess

import pytest

from dispute_gateway.providers.iimmpact.signing import InvalidSigningKey, decode_signing_key, sign_request

OPENSSL_RECIPE = r"""
set -euo pipefail
body_hash=$(printf '%s' "$BODY" | openssl dgst -sha256 -binary | base64)
canonical="v1:${TS}:${NONCE}:POST::${body_hash}"
hexkey=$(printf '%s' "$HMAC_SECRET_B64" | base64 -d | xxd -p -c 256)
sig=$(printf '%s' "$canonical" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:${hexkey}" -binary | base64)
echo "v1=${sig}"
"""

pytestmark = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("openssl", "xxd", "base64", "bash")),
    reason="the OpenSSL cross-check needs openssl, xxd, base64 and bash",
)


def openssl_signature(body: str, timestamp: str, nonce: str, secret_b64: str) -> str:
    result = subprocess.run(
        ["bash", "-c", OPENSSL_RECIPE],
        env={"BODY": body, "TS": timestamp, "NONCE": nonce, "HMAC_SECRET_B64": secret_b64, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


@pytest.mark.parametrize(
    "body",
    [
        '{"trxid":"T-1001","user_email":["buyer@example.com"]}',
        '{"refid":"R-2002"}',
        '{"trxid":"Ünïcødé-1","user_email":[]}',
        "",
    ],
)
def test_signature_matches_openssl_recipe(body: str) -> None:
    secret_b64 = base64.b64encode(bytes(range(7, 39))).decode()
    headers = sign_request("iimm_test_key", decode_signing_key(secret_b64), "POST", body.encode(), timestamp=1700000000)

    expected = openssl_signature(body, headers.timestamp, headers.nonce, secret_b64)

    assert headers.as_dict()["X-Signature"] == expected
    assert headers.as_dict()["X-Api-Key"] == "iimm_test_key"


def test_every_request_gets_a_fresh_nonce_of_allowed_length() -> None:
    key = decode_signing_key(base64.b64encode(b"k" * 32).decode())
    nonces = {sign_request("k", key, "POST", b"{}").nonce for _ in range(200)}
    assert len(nonces) == 200
    assert all(16 <= len(nonce) <= 128 for nonce in nonces)


@pytest.mark.parametrize("secret", ["not base64!", "", "===="])
def test_secret_that_is_not_base64_is_refused(secret: str) -> None:
    with pytest.raises(InvalidSigningKey):
        decode_signing_key(secret)
