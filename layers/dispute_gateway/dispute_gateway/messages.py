"""Reading queue messages into dispute requests, shared by every provider's worker."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from .json_depth import TooDeep, check_depth
from .models import Dispute, InvalidDispute, Source, describe_validation_error
from .providers.base import UnreadableMessage

if TYPE_CHECKING:
    from .providers.spec import ProviderSpec

_MAX_REFERENCE_LENGTH = 256


def read_json_object(body: str) -> dict[str, Any]:
    try:
        check_depth(body, "the message body")
        data = json.loads(body)
    except TooDeep as too_deep:
        raise UnreadableMessage(str(too_deep)) from None
    except (ValueError, RecursionError):
        raise UnreadableMessage("the message body is not JSON") from None
    if not isinstance(data, dict):
        raise UnreadableMessage("the message body is not a JSON object")
    return data


def first_reference(data: dict[str, Any], fields: Sequence[str]) -> str | None:
    """The first of `fields` holding a usable transaction reference, even in an otherwise invalid body:
    taken as sent, as a valid request's is (never trimmed), cut to a length the record can index."""
    for name in fields:
        value = data.get(name)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
            return str(value)[:_MAX_REFERENCE_LENGTH]
    return None


def request_or_invalid(
    spec: ProviderSpec, data: dict[str, Any], *, source: Source, identity: dict[str, Any] | None = None
) -> Dispute | InvalidDispute:
    """A valid request becomes a Dispute; an invalid one naming a transaction an InvalidDispute."""
    try:
        request = spec.request.model_validate(data)
    except ValidationError as error:
        reason = f"invalid request: {describe_validation_error(error)}"
        reference = first_reference(data, spec.reference_fields)
        if reference is None:
            raise UnreadableMessage(reason) from None
        key = data.get("idempotency_key")
        return InvalidDispute.from_message(
            spec.name, reference, source, data, reason, key if isinstance(key, str) and key else None, identity
        )
    return Dispute.from_request(request, source, identity)


def commands_from_message(spec: ProviderSpec, body: str) -> list[Dispute | InvalidDispute]:
    """The dispute a queue message holding one of `spec`'s commands (its request as JSON) asks for:
    how a provider's worker reads its queue, unless its spec names a reader of its own
    (`ProviderSpec.messages`), and how the API finds a dead letter's dispute."""
    return [request_or_invalid(spec, read_json_object(body), source=Source.SQS)]
