"""HTTP API (API Gateway HTTP API, payload 2.0): file, look up and upload evidence for disputes; retry a
failed one; the operator console (its page, and its `/ops` routes behind the user pool's JWT authorizer)."""

import pathlib
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path, Query
from aws_lambda_powertools.utilities.typing import LambdaContext

from dispute_gateway.api_http import (
    DISPUTE_CREATED,
    DISPUTE_FOUND,
    DISPUTE_PAGE,
    DISPUTE_REPEATED,
    UPLOADS_CREATED,
    allowed_methods,
    conflict_response,
    error_responses,
    json_bodies_only,
)
from dispute_gateway.api_models import (
    ConflictAnswer,
    DisputeAccepted,
    DisputeBody,
    ErrorAnswer,
    EvidenceUploadRequest,
    InvalidPageToken,
    InvalidRequestError,
    Problem,
    RegisteredProvider,
    problems_from_errors,
    with_idempotency_key,
)
from dispute_gateway.api_settings import ApiSettings
from dispute_gateway.config import load_settings
from dispute_gateway.console import ConsoleService, RetryAccepted
from dispute_gateway.console_files import ConsoleFiles
from dispute_gateway.console_http import (
    DETAIL,
    ME,
    OPS_PAGE,
    OVERVIEW,
    RETRIED,
    RETRY_REFUSED,
    SECURITY_SCHEMES,
    SIGN_IN_NEEDED,
    SIGNED_IN,
)
from dispute_gateway.disputes import DisputeService, NoList, QueueUnavailable, UploadService
from dispute_gateway.live import LiveDisputeExists
from dispute_gateway.models import DISPUTE_ID_PATTERN, IdempotencyKey, Resolution, Status
from dispute_gateway.observability import invocation_logging, logger, metrics
from dispute_gateway.operators import NotAllowed, Operator
from dispute_gateway.redrive import DeadLetterGone, DeadLettersUnavailable, NotRetryable, RetryService, UnknownDispute
from dispute_gateway.store import IdempotencyConflict, StoreError

settings = load_settings(ApiSettings)
disputes = DisputeService.from_settings(settings)
uploads = UploadService.from_settings(settings)
retries = RetryService.from_settings(settings)
console = ConsoleService.from_settings(settings, disputes, retries)
console_files = ConsoleFiles(pathlib.Path(__file__).with_name("console"), settings)
app = APIGatewayHttpResolver(enable_validation=True)
app.configure_openapi(security_schemes=SECURITY_SCHEMES)

INVALID = error_responses(e400="Malformed request", e415="The body is not JSON", e422="Invalid fields, each named")
UNAVAILABLE = error_responses(e503="Retry later (with the same Idempotency-Key)")
FORBIDDEN = error_responses(e403="Signed in, but not in a group allowed to do this")


@app.post(
    "/disputes",
    operation_id="createDispute",
    responses={
        202: DISPUTE_CREATED,
        200: DISPUTE_REPEATED,
        **INVALID,
        **UNAVAILABLE,
        **conflict_response(
            "Nothing filed: the Idempotency-Key names another request's dispute, or the transaction already "
            "has a live dispute (not rejected or failed); the body and Location name that dispute"
        ),
    },
)
def create_dispute(
    body: Annotated[DisputeBody, Body()],
    idempotency_key: Annotated[
        IdempotencyKey | None,
        Header(description="Names the request: a retry with the same key files nothing new. Wins over the body's."),
    ] = None,
) -> Response[Any]:
    filed = disputes.file(with_idempotency_key(body, idempotency_key))
    return Response(
        status_code=202 if filed.queued_now else 200,
        content_type=content_types.APPLICATION_JSON,
        body=DisputeAccepted.from_record(filed.record).model_dump(mode="json"),
        headers={"Location": f"/disputes/{filed.record.dispute_id}"},
    )


@app.get(
    "/disputes/<dispute_id>",
    operation_id="getDispute",
    responses={200: DISPUTE_FOUND, **INVALID, **UNAVAILABLE, **error_responses(e404="Unknown dispute")},
)
def get_dispute(dispute_id: Annotated[str, Path(pattern=DISPUTE_ID_PATTERN)]) -> Response[Any]:
    view = disputes.get(dispute_id)
    if view is None:
        return _error(404, "dispute not found")
    return Response(200, content_types.APPLICATION_JSON, view.model_dump(mode="json", exclude_none=True))


@app.get(
    "/disputes",
    operation_id="listDisputes",
    responses={
        200: DISPUTE_PAGE,
        **INVALID,
        **UNAVAILABLE,
        **error_responses(
            e404="No such list: none of reference, status, resolution given; "
            "or no such page: next_token is not one this API gave for this list"
        ),
    },
)
def list_disputes(
    reference: Annotated[
        str | None, Query(min_length=1, max_length=256, description="A transaction's disputes, oldest first")
    ] = None,
    status: Annotated[
        Status | None, Query(description="The disputes in this status, most recently updated first")
    ] = None,
    resolution: Annotated[
        Resolution | None, Query(description="The submitted disputes with this resolution, most recently updated first")
    ] = None,
    provider: Annotated[RegisteredProvider | None, Query()] = None,
    next_token: Annotated[str | None, Query(max_length=2048)] = None,
) -> Response[Any]:
    filters = {"reference": reference, "status": status, "resolution": resolution, "provider": provider}
    page = disputes.listed(filters, next_token)
    return Response(200, content_types.APPLICATION_JSON, page.model_dump(mode="json", exclude_none=True))


@app.post(
    "/evidence-uploads",
    operation_id="createEvidenceUploads",
    responses={201: UPLOADS_CREATED, **INVALID, **UNAVAILABLE},
)
def create_evidence_upload(body: Annotated[EvidenceUploadRequest, Body()]) -> Response[Any]:
    return Response(201, content_types.APPLICATION_JSON, uploads.presign(body).model_dump(mode="json"))


@app.post(
    "/disputes/<dispute_id>/retry",
    operation_id="retryDispute",
    responses={202: RETRIED, **INVALID, **RETRY_REFUSED},
)
def retry_dispute(dispute_id: Annotated[str, Path(pattern=DISPUTE_ID_PATTERN)]) -> Response[Any]:
    caller = app.current_event.request_context.authorizer.iam.user_arn or "an IAM caller"
    retried = RetryAccepted.from_record(retries.retry(dispute_id, f"{caller} (IAM)"))
    return Response(202, content_types.APPLICATION_JSON, retried.model_dump(mode="json"))


# -- the operator console: its page (public, holding no data) and its /ops routes (JWT) ------------
@app.get("/console", include_in_schema=False)
def console_page() -> Response[Any]:
    return _console_file("index.html")


@app.get("/console/<name>", include_in_schema=False)
def console_asset(name: str) -> Response[Any]:
    if name == "config.json":
        headers = console_files.headers(content_types.APPLICATION_JSON)
        return Response(200, content_types.APPLICATION_JSON, console_files.sign_in(), headers=headers)
    return _console_file(name)


@app.get("/ops/me", operation_id="whoAmI", security=SIGNED_IN, responses={200: ME, **INVALID, **SIGN_IN_NEEDED})
def ops_me() -> Response[Any]:
    return _json(200, console.me(_operator()))


@app.get(
    "/ops/overview",
    operation_id="overview",
    security=SIGNED_IN,
    responses={200: OVERVIEW, **INVALID, **UNAVAILABLE, **SIGN_IN_NEEDED, **FORBIDDEN},
)
def ops_overview(provider: Annotated[RegisteredProvider | None, Query()] = None) -> Response[Any]:
    return _json(200, console.overview(_operator(), provider))


@app.get(
    "/ops/disputes",
    operation_id="operatorListDisputes",
    security=SIGNED_IN,
    responses={
        200: OPS_PAGE,
        **INVALID,
        **UNAVAILABLE,
        **SIGN_IN_NEEDED,
        **FORBIDDEN,
        **error_responses(e404="No such list (none of reference, status, resolution given), or no such page"),
    },
)
def ops_list_disputes(
    reference: Annotated[str | None, Query(min_length=1, max_length=256)] = None,
    status: Annotated[Status | None, Query()] = None,
    resolution: Annotated[Resolution | None, Query()] = None,
    provider: Annotated[RegisteredProvider | None, Query()] = None,
    next_token: Annotated[str | None, Query(max_length=2048)] = None,
    limit: Annotated[int, Query(ge=1, le=50, description="Disputes read at most for this page")] = 20,
) -> Response[Any]:
    filters = {"reference": reference, "status": status, "resolution": resolution, "provider": provider}
    return _json(200, console.page(_operator(), filters, next_token, limit))


@app.get(
    "/ops/disputes/<dispute_id>",
    operation_id="operatorGetDispute",
    security=SIGNED_IN,
    responses={
        200: DETAIL,
        **INVALID,
        **UNAVAILABLE,
        **SIGN_IN_NEEDED,
        **FORBIDDEN,
        **error_responses(e404="Unknown dispute"),
    },
)
def ops_get_dispute(dispute_id: Annotated[str, Path(pattern=DISPUTE_ID_PATTERN)]) -> Response[Any]:
    detail = console.dispute(_operator(), dispute_id)
    if detail is None:
        return _error(404, "dispute not found")
    return _json(200, detail)


@app.post(
    "/ops/disputes/<dispute_id>/retry",
    operation_id="operatorRetryDispute",
    security=SIGNED_IN,
    responses={202: RETRIED, **INVALID, **SIGN_IN_NEEDED, **FORBIDDEN, **RETRY_REFUSED},
)
def ops_retry_dispute(dispute_id: Annotated[str, Path(pattern=DISPUTE_ID_PATTERN)]) -> Response[Any]:
    return _json(202, console.retry(_operator(), dispute_id))


@app.exception_handler(RequestValidationError)
def invalid_request(error: RequestValidationError) -> Response[Any]:
    problems = problems_from_errors(error.errors())
    if app.current_event.path == "/evidence-uploads":
        # The configured rules are checked too, so the answer names every offending field.
        named = {problem.field for problem in problems}
        problems += [p for p in uploads.problems(_json_body()) if p.field not in named]
    status = 400 if any(p.field == "body" and "JSON" in p.message for p in problems) else 422
    return _error(status, "invalid request", problems)


@app.exception_handler(InvalidRequestError)
def invalid_input(error: InvalidRequestError) -> Response[Any]:
    return _error(422, "invalid request", error.problems)


@app.exception_handler(NoList)
def no_list(error: NoList) -> Response[Any]:
    # A 404, not a 422: each parameter is valid alone; what the request names is no list there is.
    return _error(404, "no such list", error.problems)


@app.exception_handler(InvalidPageToken)
def unknown_page(error: InvalidPageToken) -> Response[Any]:
    return _error(404, "no such page", [Problem(field="next_token", message=str(error))])


@app.exception_handler(IdempotencyConflict)
def key_taken(error: IdempotencyConflict) -> Response[Any]:
    holder = error.record.dispute_id
    return _conflict(holder, f"Idempotency-Key already used for another request, dispute {holder}; nothing was filed")


@app.exception_handler(LiveDisputeExists)
def transaction_taken(error: LiveDisputeExists) -> Response[Any]:
    return _conflict(error.live.dispute_id, f"{error}; nothing was filed")


@app.exception_handler(NotAllowed)
def not_allowed(error: NotAllowed) -> Response[Any]:
    return _error(403, str(error))


@app.exception_handler(UnknownDispute)
def unknown_dispute(error: UnknownDispute) -> Response[Any]:
    return _error(404, "dispute not found")


@app.exception_handler(NotRetryable)
def not_retryable(error: NotRetryable) -> Response[Any]:
    return _conflict(error.record.dispute_id, str(error))


@app.exception_handler(DeadLetterGone)
def dead_letter_gone(error: DeadLetterGone) -> Response[Any]:
    return _error(410, str(error))


@app.exception_handler(DeadLettersUnavailable)
def dead_letters_unavailable(error: DeadLettersUnavailable) -> Response[Any]:
    logger.warning("Dead-letter queue unavailable", extra={"reason": str(error)})
    return _error(503, "the dead-letter queue could not be searched just now; nothing was moved: retry later")


@app.exception_handler([QueueUnavailable, StoreError])
def unavailable(error: Exception) -> Response[Any]:
    logger.exception("Dependency unavailable")
    return _error(503, "temporarily unavailable; retry with the same Idempotency-Key")


@app.not_found
def no_route(error: Exception) -> Response[Any]:
    allowed = allowed_methods(app, app.current_event.path)
    if allowed and app.current_event.http_method not in allowed:
        return _error(405, "method not allowed", headers={"Allow": ", ".join(allowed)})
    # Also a path whose parameter has characters no route takes: no such resource.
    return _error(404, "no such route")


@app.exception_handler(Exception)
def unexpected(error: Exception) -> Response[Any]:
    logger.exception("Unexpected error")
    return _error(500, "internal error")


def _json_body() -> Any:
    try:
        return app.current_event.json_body
    except (ValueError, TypeError, RecursionError):
        return None


def _operator() -> Operator:
    return Operator.from_claims(app.current_event.request_context.authorizer.jwt_claim)


def _json(status: int, answer: Any) -> Response[Any]:
    return Response(status, content_types.APPLICATION_JSON, answer.model_dump(mode="json", exclude_none=True))


def _console_file(name: str) -> Response[Any]:
    found = console_files.get(name)
    if found is None:
        return _error(404, "no such file")
    return Response(200, found.content_type, found.body, headers=console_files.headers(found.content_type))


def _conflict(dispute_id: str, message: str) -> Response[Any]:
    answer = ConflictAnswer(
        message=message, dispute_id=dispute_id, correlation_id=app.current_event.request_context.request_id
    )
    headers = {"Location": f"/disputes/{dispute_id}"}
    return Response(409, content_types.APPLICATION_JSON, answer.model_dump(mode="json"), headers=headers)


def _error(
    status: int, message: str, problems: list[Problem] | None = None, headers: dict[str, str] | None = None
) -> Response[Any]:
    answer = ErrorAnswer(
        message=message, errors=problems or [], correlation_id=app.current_event.request_context.request_id
    )
    return Response(status, content_types.APPLICATION_JSON, answer.model_dump(mode="json"), headers=headers)


@invocation_logging(correlation_id_path="requestContext.requestId")
@metrics.log_metrics
@json_bodies_only
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
