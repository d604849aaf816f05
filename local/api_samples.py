"""events/api/: one sample event per HTTP API route, as API Gateway sends it to ApiFunction.

    python -m local.api_samples          # rewrites events/api/*.json

The samples are built by `local.runtime.http_api.api_gateway_event` with fixed request ids and times, so
a test can check that the committed files are still what the helper builds.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from dispute_gateway.models import dispute_id_for
from local.runtime.http_api import api_gateway_event

EVENTS = Path(__file__).resolve().parent.parent / "events" / "api"
# The time of the other sample events (2024-11-21T06:00:00Z), a second apart.
_EPOCH_MS = 1_732_168_800_000
_JSON = {"content-type": "application/json"}
# The dispute the IIMMPACT sample files: its id follows from its Idempotency-Key alone.
_SAMPLE_DISPUTE_ID = dispute_id_for("upstream-42", "")


def _compact(body: dict[str, Any]) -> str:
    return json.dumps(body, separators=(",", ":"))


# file name -> (method, route path, request path, keyword arguments of api_gateway_event)
SAMPLES: dict[str, tuple[str, str, str, dict[str, Any]]] = {
    "post-disputes-iimmpact.json": (
        "POST",
        "/disputes",
        "/disputes",
        {
            "body": _compact({"provider": "iimmpact", "trxid": "T-1001", "user_email": ["buyer@example.com"]}),
            "headers": {**_JSON, "idempotency-key": "upstream-42"},
        },
    ),
    "post-disputes-repay.json": (
        "POST",
        "/disputes",
        "/disputes",
        {
            "body": _compact(
                {
                    "provider": "repay",
                    "deal_id": "D-77",
                    "new_amount": "1000",
                    "evidence": [{"key": "repay/D-77/case1/receipt.pdf", "content_type": "application/pdf"}],
                }
            ),
            "headers": _JSON,
        },
    ),
    "get-dispute.json": ("GET", "/disputes/{dispute_id}", f"/disputes/{_SAMPLE_DISPUTE_ID}", {}),
    "list-disputes.json": ("GET", "/disputes", "/disputes", {"query": {"reference": "T-1001", "provider": "iimmpact"}}),
    "post-evidence-uploads.json": (
        "POST",
        "/evidence-uploads",
        "/evidence-uploads",
        {
            "body": _compact(
                {
                    "deal_id": "D-77",
                    "files": [{"filename": "receipt.pdf", "content_type": "application/pdf", "size": 48213}],
                }
            ),
            "headers": _JSON,
        },
    ),
}


# What API Gateway's JWT authorizer passes on for an access token of the console's user pool: every
# claim a string, a list written "[a b]". The token itself (the Authorization header) is a stand-in.
_POOL = "https://cognito-idp.ap-southeast-1.amazonaws.com/ap-southeast-1_Sample123"


def _signed_in(username: str, group: str) -> dict[str, Any]:
    claims = {
        "auth_time": str(_EPOCH_MS // 1000),
        "client_id": "1example23456789example0abc",
        "cognito:groups": f"[{group}]",
        "exp": str(_EPOCH_MS // 1000 + 3600),
        "iat": str(_EPOCH_MS // 1000),
        "iss": _POOL,
        "jti": "7d1e2f3a-0000-4000-8000-sample000jti",
        "origin_jti": "0a1b2c3d-0000-4000-8000-sample00orig",
        "scope": "openid",
        "sub": "0b6c3e8a-0000-4000-8000-sample000sub",
        "token_use": "access",
        "username": username,
    }
    return {
        "authorization": "ConsoleAuthorizer",
        "headers": {"authorization": "Bearer sample.access.token"},
        "jwt": {"claims": claims, "scopes": ["openid"]},
    }


SAMPLES.update(
    {
        "retry-dispute.json": (
            "POST",
            "/disputes/{dispute_id}/retry",
            f"/disputes/{_SAMPLE_DISPUTE_ID}/retry",
            {},
        ),
        "get-console.json": ("GET", "/console", "/console", {"authorization": "NONE"}),
        "ops-list-disputes.json": (
            "GET",
            "/ops/disputes",
            "/ops/disputes",
            {"query": {"status": "failed", "limit": "20"}, **_signed_in("vera", "dispute-viewers")},
        ),
        "ops-retry-dispute.json": (
            "POST",
            "/ops/disputes/{dispute_id}/retry",
            f"/ops/disputes/{_SAMPLE_DISPUTE_ID}/retry",
            _signed_in("otto", "dispute-operators"),
        ),
    }
)


def build(name: str) -> dict[str, Any]:
    """The sample event `name` (a file name of SAMPLES)."""
    index = list(SAMPLES).index(name)
    method, route_path, path, arguments = SAMPLES[name]
    return api_gateway_event(
        method,
        route_path,
        path,
        request_id=f"Sample{index:08d}A=",
        time_epoch_ms=_EPOCH_MS + 1000 * index,
        **arguments,
    )


def render(event: dict[str, Any]) -> str:
    return json.dumps(event, indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    EVENTS.mkdir(parents=True, exist_ok=True)
    for name in SAMPLES:
        (EVENTS / name).write_text(render(build(name)), encoding="utf-8")
        print(f"wrote {EVENTS / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
