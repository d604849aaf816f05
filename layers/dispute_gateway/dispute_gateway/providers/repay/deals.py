"""Repay's deals: `GET /api/v1/external/deals/{deal_id}`, which both the worker (the state before a
first POST, the in-doubt rule) and the outcome tracker (what became of a dispute) read."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import requests

from ..base import (
    Call,
    CredentialsRejected,
    ProviderAnswer,
    ProviderEndpoint,
    Rejected,
    Transient,
    transient_from_exception,
)
from .models import RepayCredentials

DEALS_PATH = "/api/v1/external/deals/{deal_id}"


def read_deal(
    endpoint: ProviderEndpoint, deal_id: str, credentials: RepayCredentials, call: Call
) -> tuple[str, ProviderAnswer]:
    """The deal's state and Repay's answer; raises CredentialsRejected, Rejected (no such deal), Transient."""
    url = endpoint.base_url + DEALS_PATH.format(deal_id=quote(deal_id, safe=""))
    try:
        response = endpoint.request(
            "deal", "GET", url, headers=repay_headers(credentials), timeout=endpoint.timeouts(call)
        )
    except requests.RequestException as error:
        raise transient_from_exception(error, sent=False) from None
    answer = ProviderAnswer.from_response(response)
    if response.status_code in (401, 403):
        raise CredentialsRejected(f"Repay refused the credentials (HTTP {response.status_code})", answer)
    if response.status_code == 404:
        raise Rejected(f"Repay does not know deal {deal_id}", with_error_text(answer))
    payload = deal_payload(answer)
    state = payload.get("state")
    if response.status_code != 200 or not isinstance(state, str):
        raise Transient(f"Repay did not tell the deal's state (HTTP {response.status_code})", answer)
    return state, answer


def deal_payload(answer: ProviderAnswer) -> dict[str, Any]:
    payload = answer.body.get("payload") if isinstance(answer.body, dict) else None
    return payload if isinstance(payload, dict) else {}


def repay_headers(credentials: RepayCredentials) -> dict[str, str]:
    headers = {"api-key": credentials.api_key, "Accept": "application/json"}
    if credentials.origin:
        headers["origin"] = credentials.origin
    return headers


def with_error_text(answer: ProviderAnswer) -> ProviderAnswer:
    """Repay puts error details in `error` (its shape is not documented): keep them readable."""
    error = answer.body.get("error") if isinstance(answer.body, dict) else None
    if isinstance(error, dict) and error:
        text = "; ".join(f"{key}: {_flatten(value)}" for key, value in error.items())
    elif isinstance(error, str) and error:
        text = error
    elif isinstance(answer.body, str) and answer.body and (answer.http_status or 0) >= 400:
        text = answer.body[:500]
    else:
        text = None
    return answer.with_message(text)


def _flatten(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)
