"""The OpenAPI side of the operator routes (`/ops/...`, behind the user pool's JWT authorizer) and of
`POST /disputes/{dispute_id}/retry`: their answers, and the bearer token they need."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel

from .api_http import JSON, conflict_response, error_responses
from .api_models import DisputePage
from .console import DisputeDetail, Me, Overview, RetryAccepted

CONSOLE_SECURITY = "consoleUser"
SECURITY_SCHEMES: dict[str, Any] = {
    CONSOLE_SECURITY: HTTPBearer(
        bearerFormat="JWT",
        description="An access token of the console's user pool (Cognito), from its managed login: "
        "API Gateway's JWT authorizer checks it before the function runs",
    )
}
SIGNED_IN: list[dict[str, list[str]]] = [{CONSOLE_SECURITY: []}]


class GatewayAnswer(BaseModel):
    """API Gateway's own answer, given before the function runs."""

    message: str


def _answer(description: str, model: type) -> OpenAPIResponse:
    return {"description": description, "content": {JSON: {"model": model}}}


ME = _answer("Who is signed in, their groups and what they may do", Me)
OVERVIEW = _answer("Counts by status and resolution, and the disputes filed each day by outcome", Overview)
OPS_PAGE = _answer("A page of disputes, most recent first; `next_token` asks for the next one", DisputePage)
DETAIL = _answer("The record, and links to its transaction's evidence", DisputeDetail)
RETRIED = _answer("Its message is back on its provider's queue; its history names who retried it", RetryAccepted)

SIGN_IN_NEEDED: dict[int, OpenAPIResponse] = {
    401: _answer("API Gateway: no token, or one that is not valid (signature, issuer, audience, expiry)", GatewayAnswer)
}
RETRY_REFUSED: dict[int, OpenAPIResponse] = {
    **conflict_response("Not retried: the dispute is not failed, or a retry of it is under way"),
    **error_responses(
        e404="Unknown dispute",
        e410="Its message is no longer in the dead-letter queue (retention passed): file the dispute again",
        e503="The dead-letter queue could not be searched now: retry later",
    ),
}
