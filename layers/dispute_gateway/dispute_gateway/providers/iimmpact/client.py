"""IIMMPACT Report Issue: `POST /v2/transactions/check`, signed with the v1 HMAC scheme.

In-doubt rule: IIMMPACT refuses a second report of the same transaction with "a support
request has already been created". After an attempt whose outcome we never learned, that
refusal is the proof our earlier report landed, so it counts as `submitted`.
"""

from __future__ import annotations

from typing import Any

import requests

from ...config import WorkerSettings
from ...messages import commands_from_message
from ...models import Dispute, DisputeRecord, InvalidDispute
from ..base import (
    Accepted,
    Attempt,
    Call,
    CredentialsRejected,
    Prepared,
    ProviderAnswer,
    ProviderEndpoint,
    Rejected,
    Transient,
    json_bytes,
    transient_from_exception,
)
from . import SPEC
from .models import IimmpactReportRequest
from .signing import sign_request

REPORT_PATH = "/v2/transactions/check"
_ALREADY_CREATED = "already been created"


class IimmpactProvider:
    name = SPEC.name

    def __init__(self, endpoint: ProviderEndpoint) -> None:
        self._endpoint = endpoint
        self._url = endpoint.base_url + REPORT_PATH

    @classmethod
    def from_settings(cls, settings: WorkerSettings) -> IimmpactProvider:
        return cls(ProviderEndpoint.for_provider(SPEC, settings))

    def disputes_from_message(self, body: str) -> list[Dispute | InvalidDispute]:
        return commands_from_message(SPEC, body)

    def prepare(self, dispute: Dispute, record: DisputeRecord | None, call: Call) -> Prepared:
        """Nothing to learn first: a second report after a lost answer is refused as a duplicate."""
        return Prepared()

    def submit(self, dispute: Dispute, attempt: Attempt, prepared: Prepared) -> Accepted:
        request = dispute.request
        assert isinstance(request, IimmpactReportRequest)
        credentials = self._endpoint.credentials(attempt)
        timeouts = self._endpoint.timeouts(attempt)
        body = json_bytes(request.provider_body())
        headers = sign_request(credentials.api_key, credentials.signing_key, "POST", body).as_dict()
        headers["Content-Type"] = "application/json"
        headers["Accept"] = "application/json"
        attempt.mark_sending()
        try:
            response = self._endpoint.request("report", "POST", self._url, data=body, headers=headers, timeout=timeouts)
        except requests.RequestException as error:
            raise transient_from_exception(error, sent=True) from None
        return self._outcome(response, attempt)

    def _outcome(self, response: requests.Response, attempt: Attempt) -> Accepted:
        answer = ProviderAnswer.from_response(response)
        status = response.status_code
        if status in (401, 403):
            raise CredentialsRejected(f"IIMMPACT refused the credentials (HTTP {status})", answer)
        if status == 429:
            raise Transient("IIMMPACT is rate limiting (HTTP 429)", answer)
        if status == 408 or status >= 500:
            # A gateway can time out after IIMMPACT acted: the report may exist.
            raise Transient(f"IIMMPACT answered HTTP {status}", answer, in_doubt=True)
        if status != 200:
            detail = _field_errors(answer.body)
            message = _message(answer.body)
            raise Rejected(f"IIMMPACT refused the request (HTTP {status}){detail}", answer.with_message(message))
        data = answer.body.get("data") if isinstance(answer.body, dict) else None
        outcome = data.get("status") if isinstance(data, dict) else None
        message = data.get("message") if isinstance(data, dict) else None
        answer = answer.with_message(message if isinstance(message, str) else None)
        if outcome == "Success":
            return Accepted(answer)
        if outcome == "Failed":
            if attempt.earlier_outcome_unknown and _ALREADY_CREATED in (answer.message or "").lower():
                return Accepted(answer)
            raise Rejected(f"IIMMPACT answered Failed: {answer.message or 'no message'}", answer)
        raise Transient("IIMMPACT answered 200 without a Success/Failed status", answer, in_doubt=True)


def _message(body: Any) -> str | None:
    message = body.get("message") if isinstance(body, dict) else None
    return message if isinstance(message, str) else None


def _field_errors(body: Any) -> str:
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, dict) or not errors:
        message = _message(body)
        return f": {message}" if message else ""
    parts = []
    for field, problems in errors.items():
        text = ", ".join(str(p) for p in problems) if isinstance(problems, list) else str(problems)
        parts.append(f"{field}: {text}")
    return ": " + "; ".join(parts)
