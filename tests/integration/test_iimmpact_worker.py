"""The iimmpact_report worker against the IIMMPACT sandbox over HTTP and DynamoDB/SQS in moto."""

from __future__ import annotations

import base64
import json

import pytest

from tests.conftest import AwsResources, FakeLambdaContext, deliver, put_secret, sqs_event, sqs_record
from tests.sandboxes.iimmpact import Fault, IimmpactSandbox

REPORT = {"trxid": "T-1001", "user_email": ["buyer@example.com"]}


def test_report_is_signed_posted_once_and_recorded_submitted(aws, iimmpact_sandbox: IimmpactSandbox, iimmpact_app):
    app = iimmpact_app()

    assert deliver(app, REPORT) == []

    record = aws.only_record()
    assert record["status"] == "submitted"
    assert record["provider"] == "iimmpact" and record["reference"] == "T-1001" and record["source"] == "sqs"
    assert record["attempts"] == 1
    assert record["provider_http_status"] == 200
    assert record["provider_response"]["data"]["status"] == "Success"
    assert "received your request" in record["provider_message"]
    assert iimmpact_sandbox.reports_for("T-1001") == 1
    assert json.loads(iimmpact_sandbox.requests[0].body) == REPORT


def test_redelivered_message_is_not_reported_again(aws, iimmpact_sandbox, iimmpact_app):
    app = iimmpact_app()
    deliver(app, REPORT)

    assert deliver(app, REPORT, receive_count=2) == []
    assert deliver(app, {"user_email": ["buyer@example.com"], "trxid": "T-1001"}, message_id="m-2") == []

    assert iimmpact_sandbox.reports_for("T-1001") == 1
    assert aws.only_record()["attempts"] == 1


def test_refid_is_reported_when_no_trxid(aws, iimmpact_sandbox, iimmpact_app):
    deliver(iimmpact_app(), {"refid": "R-2002"})
    assert aws.only_record()["reference"] == "R-2002"
    assert json.loads(iimmpact_sandbox.requests[0].body) == {"refid": "R-2002"}


def test_refunded_transaction_is_rejected_with_iimmpacts_message(aws, iimmpact_sandbox, iimmpact_app):
    app = iimmpact_app()
    assert deliver(app, {"trxid": "REFUNDED-7"}) == []

    record = aws.only_record()
    assert record["status"] == "rejected"
    assert "automatically refunded" in record["provider_message"]
    assert "automatically refunded" in record["error"]
    assert deliver(app, {"trxid": "REFUNDED-7"}, receive_count=2) == []
    assert iimmpact_sandbox.reports_for("REFUNDED-7") == 1


def test_invalid_transaction_id_is_rejected_with_field_errors(aws, iimmpact_sandbox, iimmpact_app):
    assert deliver(iimmpact_app(), {"trxid": "INVALID-1"}) == []
    record = aws.only_record()
    assert record["status"] == "rejected"
    assert record["provider_http_status"] == 400
    assert "trxid: Invalid transaction ID or reference ID" in record["error"]


def test_someone_elses_earlier_report_is_a_rejection(aws, iimmpact_sandbox, iimmpact_app):
    iimmpact_sandbox.cases["T-1001"] = {"trxid": "T-1001"}
    deliver(iimmpact_app(), REPORT)
    record = aws.only_record()
    assert record["status"] == "rejected"
    assert "already been created" in record["provider_message"]


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(Fault(status=503, act=True), id="5xx-after-acting"),
        pytest.param(Fault(delay=1.5, act=True), id="timeout-after-acting"),
        pytest.param(Fault(drop=True, act=True), id="connection-dropped-after-reading"),
    ],
)
def test_in_doubt_attempt_is_resolved_by_iimmpacts_duplicate_answer(aws, iimmpact_sandbox, iimmpact_app, fault):
    app = iimmpact_app()
    iimmpact_sandbox.inject(fault)

    assert deliver(app, REPORT) == ["m-1"]
    record = aws.only_record()
    assert record["status"] == "submitting"
    assert record["in_doubt"] is True

    assert deliver(app, REPORT, receive_count=2) == []
    record = aws.only_record()
    assert record["status"] == "submitted"
    assert "already been created" in record["provider_message"]
    assert record["attempts"] == 2
    assert len(iimmpact_sandbox.cases) == 1


def test_crash_mid_call_is_resolved_on_the_next_delivery(aws, iimmpact_sandbox, iimmpact_app):
    """A worker killed after its POST left: the record says `submitting`, the claim has lapsed."""
    from dispute_gateway.models import Dispute, Source
    from dispute_gateway.providers.iimmpact.models import IimmpactReportRequest
    from dispute_gateway.store import dispute_store

    app = iimmpact_app()
    dispute = Dispute.from_request(IimmpactReportRequest.model_validate(REPORT), Source.SQS)
    store = dispute_store(aws.table)
    store.claim(dispute, lease_seconds=0)  # the claim counts the POST about to leave
    iimmpact_sandbox.cases["T-1001"] = dict(REPORT)  # the lost call did reach IIMMPACT

    assert deliver(app, REPORT, receive_count=2) == []
    record = aws.only_record()
    assert record["status"] == "submitted"
    assert record["attempts"] == 2


def test_delivery_while_another_holds_the_claim_comes_back_later(aws, iimmpact_sandbox, iimmpact_app):
    from dispute_gateway.models import Dispute, Source
    from dispute_gateway.providers.iimmpact.models import IimmpactReportRequest
    from dispute_gateway.store import dispute_store

    app = iimmpact_app()
    dispute = Dispute.from_request(IimmpactReportRequest.model_validate(REPORT), Source.SQS)
    store = dispute_store(aws.table)
    store.claim(dispute, lease_seconds=300)

    assert deliver(app, REPORT, receive_count=2) == ["m-1"]
    assert iimmpact_sandbox.requests == []


@pytest.mark.parametrize("status", [429, 500])
def test_transient_answer_returns_the_message_then_succeeds(aws, iimmpact_sandbox, iimmpact_app, status):
    app = iimmpact_app()
    iimmpact_sandbox.inject(Fault(status=status))

    assert deliver(app, REPORT) == ["m-1"]
    record = aws.only_record()
    assert record["status"] in ("received", "submitting")
    assert record["provider_http_status"] == status
    assert record["in_doubt"] is (status >= 500)

    assert deliver(app, REPORT, receive_count=2) == []
    assert aws.only_record()["status"] == "submitted"
    assert aws.only_record()["provider_message"].startswith("We've received")


def test_unreachable_provider_is_not_in_doubt(aws, iimmpact_app):
    app = iimmpact_app(IIMMPACT_BASE_URL="http://127.0.0.1:9")
    assert deliver(app, REPORT) == ["m-1"]
    record = aws.only_record()
    assert record["status"] == "received"
    assert record["in_doubt"] is False


def test_last_delivery_records_failed_and_a_redrive_retries_it(aws, iimmpact_sandbox, iimmpact_app):
    app = iimmpact_app(QUEUE_MAX_RECEIVE_COUNT="2")
    iimmpact_sandbox.inject(Fault(status=503), Fault(status=503))

    assert deliver(app, REPORT, receive_count=1) == ["m-1"]
    assert aws.only_record()["status"] == "submitting"
    assert deliver(app, REPORT, receive_count=2) == ["m-1"]
    record = aws.only_record()
    assert record["status"] == "failed"
    assert "503" in record["error"]

    # Moved back from the dead-letter queue, the message starts counting again.
    assert deliver(app, REPORT, receive_count=1) == []
    record = aws.only_record()
    assert record["status"] == "submitted"
    assert "error" not in record
    assert record["attempts"] == 3


def test_rotated_secret_is_fetched_again_for_the_next_delivery(aws, iimmpact_sandbox, iimmpact_app):
    app = iimmpact_app()
    assert deliver(app, {"trxid": "T-1"}, message_id="warm") == []  # the old secret is now cached

    new_secret = base64.b64encode(b"n" * 32).decode()
    iimmpact_sandbox.rotate_credentials("iimm_rotated_key", new_secret)
    put_secret(aws.iimmpact_secret_id, {"api_key": "iimm_rotated_key", "hmac_secret": new_secret})

    # Refused with the old key: one request, and the secret is read afresh for the next delivery.
    assert deliver(app, REPORT) == ["m-1"]
    assert deliver(app, REPORT, receive_count=2) == []
    assert aws.record(only_submitted(aws, "T-1001"))["status"] == "submitted"
    assert [request.authenticated for request in iimmpact_sandbox.requests[1:]] == [False, True]


def only_submitted(aws: AwsResources, reference: str) -> str:
    matches = [r for r in aws.records() if r["reference"] == reference]
    assert len(matches) == 1
    return str(matches[0]["dispute_id"])


def test_credentials_refused_for_good_fail_on_the_last_delivery(aws, iimmpact_sandbox, iimmpact_app):
    put_secret(aws.iimmpact_secret_id, {"api_key": "iimm_wrong", "hmac_secret": iimmpact_sandbox.hmac_secret_b64})
    app = iimmpact_app(QUEUE_MAX_RECEIVE_COUNT="1")

    assert deliver(app, REPORT) == ["m-1"]
    record = aws.only_record()
    assert record["status"] == "failed"
    assert record["provider_http_status"] == 401
    assert len(iimmpact_sandbox.requests) == 1  # one request per delivery, 401 or not


def test_message_that_is_not_json_goes_to_the_dead_letter_queue(aws, iimmpact_sandbox, iimmpact_app):
    assert deliver(iimmpact_app(), "this is {not json") == []

    [dead] = aws.dead_letters(aws.iimmpact_dlq_url)
    assert dead["Body"] == "this is {not json"
    assert "not JSON" in dead["MessageAttributes"]["reason"]["StringValue"]
    assert aws.records() == []
    assert iimmpact_sandbox.requests == []


def test_message_naming_no_transaction_goes_to_the_dead_letter_queue(aws, iimmpact_sandbox, iimmpact_app):
    assert deliver(iimmpact_app(), {"user_email": ["buyer@example.com"]}) == []
    [dead] = aws.dead_letters(aws.iimmpact_dlq_url)
    reason = dead["MessageAttributes"]["reason"]["StringValue"]
    assert "refid or trxid" in reason
    assert "buyer@example.com" not in reason


def test_invalid_message_naming_a_transaction_is_rejected_without_calling_iimmpact(aws, iimmpact_sandbox, iimmpact_app):
    assert deliver(iimmpact_app(), {"trxid": "T-5", "user_email": ["not-an-email"]}) == []
    record = aws.only_record()
    assert record["status"] == "rejected"
    assert record["reference"] == "T-5"
    assert "user_email.0" in record["error"]
    assert iimmpact_sandbox.requests == []
    assert aws.dead_letters(aws.iimmpact_dlq_url) == []


def test_reused_idempotency_key_for_another_request_is_dead_lettered(aws, iimmpact_sandbox, iimmpact_app):
    app = iimmpact_app()
    deliver(app, {"trxid": "T-1", "idempotency_key": "k-1"})
    assert deliver(app, {"trxid": "T-2", "idempotency_key": "k-1"}, message_id="m-2") == []

    assert iimmpact_sandbox.reports_for("T-2") == 0
    [dead] = aws.dead_letters(aws.iimmpact_dlq_url)
    assert "idempotency key" in dead["MessageAttributes"]["reason"]["StringValue"]


def test_batch_reports_only_the_failed_records(aws, iimmpact_sandbox, iimmpact_app):
    # Ten reports at once on a busy machine: the fixture's 1 s read time-out would fail some.
    app = iimmpact_app(PROVIDER_READ_TIMEOUT_SECONDS="20")
    event = sqs_event(*(sqs_record(json.dumps({"trxid": f"T-{n}"}), message_id=f"m-{n}") for n in range(10)))
    iimmpact_sandbox.inject(Fault(status=429))

    response = app.lambda_handler(event, FakeLambdaContext())

    assert len(response["batchItemFailures"]) == 1
    statuses = sorted(record["status"] for record in aws.records())
    assert statuses == ["received"] + ["submitted"] * 9


def test_an_invalid_reference_is_recorded_as_sent_never_trimmed(aws, iimmpact_sandbox, iimmpact_app):
    """One rule everywhere: values are taken as sent. The API refuses " BAD-2" naming the rule; a
    queue body with it becomes a rejected record of " BAD-2", not of "BAD-2"."""
    assert deliver(iimmpact_app(), {"trxid": " BAD-2"}) == []

    record = aws.only_record()
    assert (record["reference"], record["status"]) == (" BAD-2", "rejected")
    assert "must not start or end with a space" in record["error"]
    assert iimmpact_sandbox.requests == []
