"""The HTTP API on the local stack: requests routed as API Gateway routes them, payload 2.0 events
into ApiFunction, disputes queued for the worker and filed with the IIMMPACT sandbox."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser.models import APIGatewayProxyEventV2Model

from local.runtime.http_api import api_gateway_event
from local.runtime.routes import HttpRoute, match_path, select_route
from local.stack import LocalStack, wait_for
from tests.conftest import ROOT
from tests.sandboxes.iimmpact import IimmpactSandbox

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

FUNCTION = "ApiFunction"
REQUEST = {"provider": "iimmpact", "trxid": "T-E2E-API-1", "user_email": ["buyer@example.com"]}


def _recorded_events(stack: LocalStack) -> list[dict[str, Any]]:
    function, events = stack.functions[FUNCTION], []
    handler = function.handler

    def recording(event: dict[str, Any], context: Any) -> Any:
        events.append(event)
        return handler(event, context)

    function.handler = recording
    return events


def test_a_dispute_filed_over_the_api_is_submitted_once(stack: LocalStack, sandbox: IimmpactSandbox) -> None:
    events = _recorded_events(stack)

    status, headers, body = stack.call_api("POST", "/disputes", REQUEST, {"Idempotency-Key": "e2e-api-1"})

    assert status == 202, body
    dispute_id = body["dispute_id"]
    assert (body["provider"], headers["location"]) == ("iimmpact", f"/disputes/{dispute_id}")

    def submitted() -> dict[str, Any] | None:
        answer = stack.call_api("GET", f"/disputes/{dispute_id}")
        return answer.body if answer.status == 200 and answer.body["status"] == "submitted" else None

    record = wait_for(submitted, 15)
    assert record is not None, stack.call_api("GET", f"/disputes/{dispute_id}")
    assert (record["reference"], record["source"], record["attempts"]) == ("T-E2E-API-1", "api", 1)
    assert sandbox.reports_for("T-E2E-API-1") == 1

    # The same request again: the existing dispute, nothing queued.
    again = stack.call_api("POST", "/disputes", REQUEST, {"Idempotency-Key": "e2e-api-1"})
    assert (again.status, again.body["dispute_id"]) == (200, dispute_id)
    listing = stack.call_api("GET", "/disputes", query={"reference": "T-E2E-API-1"})
    assert listing.status == 200
    assert [item["dispute_id"] for item in listing.body["items"]] == [dispute_id]
    time.sleep(1)
    assert sandbox.reports_for("T-E2E-API-1") == 1

    # The event is API Gateway's payload 2.0 with an IAM caller, shaped as the committed sample.
    filed = events[0]
    APIGatewayProxyEventV2Model.model_validate(filed)
    sample = json.loads((ROOT / "events/api/post-disputes-iimmpact.json").read_text(encoding="utf-8"))
    assert set(filed) == set(sample)
    assert set(filed["requestContext"]) == set(sample["requestContext"])
    assert filed["routeKey"] == "POST /disputes"
    assert filed["headers"]["idempotency-key"] == "e2e-api-1"
    assert filed["requestContext"]["authorizer"]["iam"]["accountId"] == stack.model.account
    assert json.loads(filed["body"]) == REQUEST
    get_event = events[1]
    assert get_event["routeKey"] == "GET /disputes/{dispute_id}"
    assert get_event["pathParameters"] == {"dispute_id": dispute_id}


def test_a_request_no_route_takes_is_answered_by_api_gateway(stack: LocalStack) -> None:
    events = _recorded_events(stack)

    for method, path in (("GET", "/disputes/a/b"), ("POST", "/nowhere")):
        status, _, body = stack.call_api(method, path)
        assert (status, body) == (404, {"message": "Not Found"}), (method, path)
    assert events == []


# -- the pieces, without a stack -------------------------------------------------------------------
ROUTES = [
    HttpRoute("HttpApi", "GET", "/disputes/{dispute_id}", "ApiFunction"),
    HttpRoute("HttpApi", "GET", "/disputes/latest", "Other"),
    HttpRoute("HttpApi", "ANY", "/files/{key+}", "Files"),
]


@pytest.mark.parametrize(
    ("method", "path", "function", "parameters"),
    [
        ("GET", "/disputes/d-1", "ApiFunction", {"dispute_id": "d-1"}),
        ("GET", "/disputes/latest", "Other", {}),  # a literal segment wins over a parameter
        ("GET", "/disputes/a b", "ApiFunction", {"dispute_id": "a b"}),  # the path arrives decoded
        ("PUT", "/files/repay/D-1/x.pdf", "Files", {"key": "repay/D-1/x.pdf"}),
    ],
)
def test_routes_are_chosen_as_api_gateway_chooses(method, path, function, parameters):
    selected = select_route(ROUTES, method, path)
    assert selected is not None
    assert (selected[0].function, selected[1]) == (function, parameters)


def test_no_route_for_other_methods_or_depths():
    assert select_route(ROUTES, "POST", "/disputes/d-1") is None
    assert select_route(ROUTES, "GET", "/disputes") is None
    assert match_path("/files/{key+}", "/files/") is None


def test_event_carries_query_headers_and_cookies_as_api_gateway_does():
    event = api_gateway_event(
        "get",
        "/disputes",
        "/disputes",
        headers={"X-Trace": "a", "x-trace": "b", "Cookie": "s=1; t=2"},
        query={"reference": "T 1", "provider": ["iimmpact", "repay"]},
    )
    APIGatewayProxyEventV2Model.model_validate(event)
    assert event["rawQueryString"] == "reference=T%201&provider=iimmpact&provider=repay"
    assert event["queryStringParameters"] == {"reference": "T 1", "provider": "iimmpact,repay"}
    assert event["headers"]["x-trace"] == "a,b"
    assert event["cookies"] == ["s=1", "t=2"]
    assert "cookie" not in event["headers"]
    assert "body" not in event and "pathParameters" not in event
    assert event["requestContext"]["http"]["method"] == "GET"
