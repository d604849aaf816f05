"""The demo's dispute filed over the HTTP API: POST /disputes, then GET it back and list it by reference.

Kept apart from `local.demo` because the API has more to check than a queued dispute: the
answer's status and Location, the record as the API shows it, the listing of the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from local.stack import LocalStack, wait_for

REFERENCE = "T-API-1"
REQUEST = {"provider": "iimmpact", "trxid": REFERENCE, "user_email": ["buyer@example.com"]}
IDEMPOTENCY_KEY = "demo-api-1"
SETTLED = {"submitted", "rejected", "failed"}


@dataclass
class ApiFiling:
    """One IIMMPACT dispute filed through `POST /disputes`; `ready` is False while the API function
    answers nothing at all (a placeholder handler), which the demo reports without failing."""

    reference: str = REFERENCE
    expected: str = "submitted"
    ready: bool = True
    dispute_id: str | None = None
    record: dict[str, Any] | None = None  # GET /disputes/{dispute_id}, once settled
    problems: list[str] = field(default_factory=list)

    @property
    def filed(self) -> bool:
        return self.ready and self.dispute_id is not None

    def file(self, stack: LocalStack) -> None:
        status, headers, body = stack.call_api("POST", "/disputes", REQUEST, {"Idempotency-Key": IDEMPOTENCY_KEY})
        # A handler that returns nothing: API Gateway answers 200 with a JSON null.
        if status == 200 and body is None:
            self.ready = False
            return
        if status != 202 or not isinstance(body, dict) or "dispute_id" not in body:
            self.problems.append(f"POST /disputes answered {status}: {body}")
            return
        self.dispute_id = str(body["dispute_id"])
        if headers.get("location") != f"/disputes/{self.dispute_id}":
            self.problems.append(f"POST /disputes gave Location {headers.get('location')!r}")

    def follow(self, stack: LocalStack, timeout: float) -> None:
        """Wait until the API shows the dispute settled, then check that its transaction lists it."""
        if not self.filed:
            return

        def settled() -> dict[str, Any] | None:
            status, _, body = stack.call_api("GET", f"/disputes/{self.dispute_id}")
            return body if status == 200 and isinstance(body, dict) and body.get("status") in SETTLED else None

        self.record = wait_for(settled, timeout)
        if self.record is None:
            status, _, body = stack.call_api("GET", f"/disputes/{self.dispute_id}")
            self.problems.append(f"GET /disputes/{{id}} never showed a settled dispute; last {status}: {body}")
        status, _, body = stack.call_api("GET", "/disputes", query={"reference": self.reference})
        items = body.get("items") if isinstance(body, dict) else None
        if status != 200 or not isinstance(items, list) or self.dispute_id not in {i.get("dispute_id") for i in items}:
            self.problems.append(f"GET /disputes?reference={self.reference} answered {status}: {body}")

    @property
    def outcome(self) -> str:
        """The last cell of its row in the demo's table."""
        if not self.ready:
            return "api not ready"
        return "; ".join(self.problems) if self.problems else ""

    @property
    def ok(self) -> bool:
        status = (self.record or {}).get("status")
        return not self.ready or (not self.problems and status == self.expected)
