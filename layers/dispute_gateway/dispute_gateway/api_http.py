"""The HTTP side of the API that Powertools' resolver leaves to us.

- Bodies are JSON in UTF-8, checked before any route sees them: Powertools would otherwise
  parse a form or multipart body field by field (curl's default `-d` sends a form), fail on
  `text/plain` and crash on bytes that are not UTF-8, or on JSON nested thousands of levels
  deep (its parser recurses once per level).
- A known path asked with another method answers 405 with `Allow` (API Gateway sends every
  method of the path to the function through the template's ANY routes).
- The OpenAPI entry of each answer, so the document lists every success body with its schema.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from .api_models import ConflictAnswer, DisputeAccepted, DisputePage, ErrorAnswer, EvidenceUploads, Problem
from .json_depth import TooDeep, check_depth
from .models import DisputeView

JSON = "application/json"
_BODY_METHODS = {"POST", "PUT", "PATCH"}
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


class UnreadableBody(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def json_bodies_only(handler: Handler) -> Handler:
    """Answer 415 for a body that is not JSON and 400 for one that is not UTF-8 or nests too deep, as
    the resolver would answer any other invalid request."""

    @functools.wraps(handler)
    def gate(event: dict[str, Any], context: Any) -> dict[str, Any]:
        try:
            event = readable(event)
        except UnreadableBody as refused:
            return refusal(event, refused)
        return handler(event, context)

    return gate


def readable(event: dict[str, Any]) -> dict[str, Any]:
    """The event with its content type spelled as Powertools expects; UnreadableBody if it cannot be read."""
    method = str((event.get("requestContext") or {}).get("http", {}).get("method", "")).upper()
    if method not in _BODY_METHODS or not event.get("body"):
        return event
    headers = event.get("headers") or {}
    declared = headers.get("content-type")
    if declared is not None:
        media_type, _, parameters = declared.partition(";")
        charset = _charset(parameters)
        if media_type.strip().lower() != JSON or charset not in (None, "utf-8"):
            raise UnreadableBody(415, f"the body must be JSON in UTF-8: send content-type: {JSON}")
    text = event["body"]
    if event.get("isBase64Encoded"):
        try:
            text = base64.b64decode(text, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise UnreadableBody(400, "the body is not UTF-8 text") from None
    try:
        check_depth(text, "the body")
    except TooDeep as too_deep:
        raise UnreadableBody(400, str(too_deep)) from None
    return {**event, "headers": {**headers, "content-type": JSON}}


def _charset(parameters: str) -> str | None:
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"').lower()
    return None


def refusal(event: dict[str, Any], refused: UnreadableBody) -> dict[str, Any]:
    answer = ErrorAnswer(
        message=str(refused),
        errors=[Problem(field="body", message=str(refused))],
        correlation_id=str((event.get("requestContext") or {}).get("requestId", "")),
    )
    return {"statusCode": refused.status, "headers": {"Content-Type": JSON}, "body": answer.model_dump_json()}


@functools.cache
def _paths(app: APIGatewayHttpResolver) -> tuple[tuple[re.Pattern[str], tuple[str, ...]], ...]:
    # The routes as the OpenAPI document has them: the resolver's public view of its routes.
    paths = app.get_openapi_schema().paths or {}
    found = []
    for path, item in paths.items():
        pattern = re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path)) + "$")
        methods = tuple(sorted(m.upper() for m in ("get", "put", "post", "delete", "patch") if getattr(item, m)))
        found.append((pattern, methods))
    return tuple(found)


def allowed_methods(app: APIGatewayHttpResolver, path: str) -> list[str]:
    """The methods a path has routes for; empty when no route has the path."""
    return sorted({method for pattern, methods in _paths(app) if pattern.match(path) for method in methods})


# -- OpenAPI entries of the answers ---------------------------------------------------------------
_LOCATION = {"Location": {"description": "The dispute's own URL", "schema": {"type": "string"}}}


def _answer(description: str, model: type, **extra: Any) -> OpenAPIResponse:
    return {"description": description, "content": {JSON: {"model": model}}, **extra}  # type: ignore[typeddict-item]


_FILED = {"dispute_id": "$response.body#/dispute_id"}
_DISPUTE_LINKS = {
    "GetFiledDispute": {"operationId": "getDispute", "parameters": _FILED},
    # The operator console's view of it, and a retry once it has failed (by IAM, or an operator).
    "RetryFiledDispute": {"operationId": "retryDispute", "parameters": _FILED},
    "ShowFiledDisputeToOperators": {"operationId": "operatorGetDispute", "parameters": _FILED},
    "RetryFiledDisputeAsAnOperator": {"operationId": "operatorRetryDispute", "parameters": _FILED},
}
DISPUTE_CREATED = _answer("Recorded and queued", DisputeAccepted, headers=_LOCATION, links=_DISPUTE_LINKS)
DISPUTE_REPEATED = _answer(
    "A repeat of a request already filed: the existing dispute, nothing queued",
    DisputeAccepted,
    headers=_LOCATION,
    links=_DISPUTE_LINKS,
)
DISPUTE_FOUND = _answer("The dispute's record", DisputeView)
DISPUTE_PAGE = _answer("A page of disputes; `next_token` asks for the next one", DisputePage)
UPLOADS_CREATED = _answer("One presigned S3 POST per file, and one for the folder's dispute.json", EvidenceUploads)


def conflict_response(description: str) -> dict[int, OpenAPIResponse]:
    """The OpenAPI entry of a 409 that names the dispute standing in the way, in its body and `Location`."""
    return {409: _answer(description, ConflictAnswer, headers=_LOCATION, links=_DISPUTE_LINKS)}


def error_responses(**described: str) -> dict[int, OpenAPIResponse]:
    """OpenAPI entries for error answers, e.g. error_responses(e422="Invalid fields, each named")."""
    return {int(status[1:]): _answer(text, ErrorAnswer) for status, text in described.items()}
