"""HTTP API (API Gateway HTTP API, payload 2.0): file, look up and upload evidence for disputes."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.utilities.typing import LambdaContext

from dispute_gateway.api_models import (
    DisputeAccepted,
    DisputeBody,
    DisputePage,
    DisputeView,
    ErrorAnswer,
    EvidenceUploadRequest,
    EvidenceUploads,
    InvalidPageToken,
    InvalidRequestError,
    Problem,
    problems_from_errors,
    with_idempotency_key,
)
from dispute_gateway.config import ApiSettings, load_settings
from dispute_gateway.disputes import DisputeService, QueueUnavailable, UploadService
from dispute_gateway.models import Provider
from dispute_gateway.observability import logger, metrics
from dispute_gateway.store import IdempotencyConflict, StoreError

settings = load_settings(ApiSettings)
disputes = DisputeService.from_settings(settings)
uploads = UploadService.from_settings(settings)
app = APIGatewayHttpResolver(enable_validation=True)


def _errors(**described: str) -> dict[int, OpenAPIResponse]:
    """OpenAPI entries for error answers, e.g. _errors(e422="Invalid fields, each named")."""
    return {
        int(status[1:]): {"description": text, "content": {"application/json": {"model": ErrorAnswer}}}
        for status, text in described.items()
    }


INVALID = _errors(e400="Malformed request", e422="Invalid fields, each named", e503="Retry later")


@app.post("/disputes", responses={**INVALID, **_errors(e409="Idempotency-Key used for another request")})
def create_dispute(
    body: Annotated[DisputeBody, Body()],
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=256, pattern=r"^[\x21-\x7e]+$")] = None,
) -> Response[DisputeAccepted]:
    filed = disputes.file(with_idempotency_key(body, idempotency_key))
    return Response(
        status_code=202 if filed.queued_now else 200,
        content_type=content_types.APPLICATION_JSON,
        body=DisputeAccepted.from_record(filed.record).model_dump(mode="json"),
        headers={"Location": f"/disputes/{filed.record.dispute_id}"},
    )


@app.get("/disputes/<dispute_id>", responses=_errors(e404="Unknown dispute"))
def get_dispute(dispute_id: Annotated[str, Path(max_length=64)]) -> Response[DisputeView | ErrorAnswer]:
    view = disputes.get(dispute_id)
    if view is None:
        return _error(404, "dispute not found")
    return Response(200, content_types.APPLICATION_JSON, view.model_dump(mode="json", exclude_none=True))


@app.get("/disputes", responses=INVALID)
def list_disputes(
    reference: Annotated[str, Query(min_length=1, max_length=256)],
    provider: Annotated[Provider | None, Query()] = None,
    next_token: Annotated[str | None, Query(max_length=2048)] = None,
) -> Response[DisputePage]:
    page = disputes.by_reference(reference, provider, next_token)
    return Response(200, content_types.APPLICATION_JSON, page.model_dump(mode="json", exclude_none=True))


@app.post("/evidence-uploads", responses=INVALID)
def create_evidence_upload(body: Annotated[EvidenceUploadRequest, Body()]) -> Response[EvidenceUploads]:
    return Response(201, content_types.APPLICATION_JSON, uploads.presign(body).model_dump(mode="json"))


@app.exception_handler(RequestValidationError)
def invalid_request(error: RequestValidationError) -> Response[ErrorAnswer]:
    problems = problems_from_errors(error.errors())
    status = 400 if any(p.field == "body" and "JSON" in p.message for p in problems) else 422
    return _error(status, "invalid request", problems)


@app.exception_handler(InvalidRequestError)
def invalid_input(error: InvalidRequestError) -> Response[ErrorAnswer]:
    return _error(422, "invalid request", error.problems)


@app.exception_handler(InvalidPageToken)
def invalid_token(error: InvalidPageToken) -> Response[ErrorAnswer]:
    return _error(422, "invalid request", [Problem(field="next_token", message=str(error))])


@app.exception_handler(IdempotencyConflict)
def conflict(error: IdempotencyConflict) -> Response[ErrorAnswer]:
    return _error(409, "Idempotency-Key already used for another request; nothing was filed")


@app.exception_handler([QueueUnavailable, StoreError])
def unavailable(error: Exception) -> Response[ErrorAnswer]:
    logger.exception("Dependency unavailable")
    return _error(503, "temporarily unavailable; retry with the same Idempotency-Key")


@app.not_found
def no_route(error: Exception) -> Response[ErrorAnswer]:
    return _error(404, "no such route")


@app.exception_handler(Exception)
def unexpected(error: Exception) -> Response[ErrorAnswer]:
    logger.exception("Unexpected error")
    return _error(500, "internal error")


def _error(status: int, message: str, problems: list[Problem] | None = None) -> Response[Any]:
    answer = ErrorAnswer(message=message, errors=problems or [], correlation_id=app.lambda_context.aws_request_id)
    return Response(status, content_types.APPLICATION_JSON, answer.model_dump(mode="json", exclude_none=True))


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
