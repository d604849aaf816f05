"""JSON nested far deeper than any request (100,000 levels) is refused in plain words wherever it
comes in: an API body (400 naming `body`), a queue message (dead-lettered with its reason) and an
S3 manifest (a `rejected` record of its deal). Never a 5xx, a crashed batch or a traceback."""

from __future__ import annotations

import base64

import pytest

from tests.conftest import deliver, s3_notification
from tests.integration.conftest import ApiClient

LEVELS = 100_000
DEEP = "[" * LEVELS + "]" * LEVELS
UNCLOSED = '{"provider": "iimmpact", "trxid": "T-1", "x": ' + "[" * LEVELS


# -- the API ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/disputes", "/evidence-uploads"])
@pytest.mark.parametrize("raw", [DEEP, UNCLOSED], ids=["arrays", "unclosed-in-an-object"])
def test_an_api_body_nested_too_deep_is_400_naming_the_body(aws, api: ApiClient, path, raw):
    answer = api.call("POST", path, raw_body=raw)

    assert answer.status == 400, answer.body
    said = "the body is nested more than 64 levels deep"
    assert answer.body["message"] == said
    assert answer.body["errors"] == [{"field": "body", "message": said}]
    assert answer.body["correlation_id"]
    assert aws.records() == []


def test_an_api_body_sent_base64_encoded_is_checked_as_decoded(aws, api: ApiClient):
    from local.runtime.http_api import api_gateway_event

    event = api_gateway_event("POST", "/disputes", "/disputes", headers={"content-type": "application/json"})
    answer = api.send({**event, "body": base64.b64encode(DEEP.encode()).decode(), "isBase64Encoded": True})

    assert answer.status == 400
    assert answer.body["errors"] == [{"field": "body", "message": "the body is nested more than 64 levels deep"}]


def test_a_deep_body_on_a_route_that_reads_none_is_ignored_as_any_body_is(aws, api: ApiClient):
    assert api.call("GET", "/disputes", query={"reference": "T-1"}, raw_body=DEEP).status == 200


# -- queue messages ---------------------------------------------------------------------------------
@pytest.mark.parametrize("body", [DEEP, UNCLOSED.replace('"provider": "iimmpact", ', "")], ids=["arrays", "unclosed"])
def test_a_queue_message_nested_too_deep_is_dead_lettered_with_its_reason(aws, iimmpact_sandbox, iimmpact_app, body):
    assert deliver(iimmpact_app(), body) == []  # handled: not a crashed batch, not retried

    [dead] = aws.dead_letters(aws.iimmpact_dlq_url)
    assert dead["Body"] == body  # kept as it came
    reason = dead["MessageAttributes"]["reason"]["StringValue"]
    assert reason == "the message body is nested more than 64 levels deep"
    assert aws.records() == []
    assert iimmpact_sandbox.requests == []


def test_a_repay_queue_message_nested_too_deep_is_dead_lettered_too(aws, repay_sandbox, repay_app):
    assert deliver(repay_app(), '{"Records": ' + DEEP + "}") == []

    [dead] = aws.dead_letters(aws.repay_dlq_url)
    assert "nested more than 64 levels deep" in dead["MessageAttributes"]["reason"]["StringValue"]
    assert repay_sandbox.requests == []


# -- S3 manifests ---------------------------------------------------------------------------------
def test_a_manifest_nested_too_deep_is_a_rejected_record_of_its_deal(aws, repay_sandbox, repay_app):
    key = "repay/D-90/c/dispute.json"
    etag = aws.put_evidence(key, ('{"new_amount": "10", "files": ' + DEEP + "}").encode(), "application/json")

    assert deliver(repay_app(), {"Records": [s3_notification(aws.evidence_bucket, key, etag)]}) == []

    record = aws.only_record()
    assert (record["status"], record["reference"], record["source"]) == ("rejected", "D-90", "s3")
    assert record["error"] == "dispute.json is nested more than 64 levels deep"
    assert repay_sandbox.requests == []
    assert aws.dead_letters(aws.repay_dlq_url) == []
