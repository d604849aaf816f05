"""Records are kept RECORD_RETENTION_DAYS after they become final, then DynamoDB's TTL removes them
(CONTRACT section 7): a final record carries `expires_at`, one still followed does not."""

from __future__ import annotations

import time

import boto3
import pytest

from tests.conftest import deliver
from tests.sandboxes.iimmpact import Fault

DAY = 86_400
REPORT = {"trxid": "T-KEEP", "user_email": ["buyer@example.com"]}


def expiry_in_days(record: dict) -> float:
    return (int(record["expires_at"]) - time.time()) / DAY


def test_a_submitted_report_with_nothing_to_follow_expires_after_the_retention(aws, iimmpact_sandbox, iimmpact_app):
    deliver(iimmpact_app(RECORD_RETENTION_DAYS="30"), REPORT)

    record = aws.only_record()
    assert (record["status"], record["resolution"]) == ("submitted", "untracked")
    assert 29.99 < expiry_in_days(record) <= 30


def test_rejected_and_failed_records_expire_and_a_failed_one_retried_does_not(aws, iimmpact_sandbox, iimmpact_app):
    app = iimmpact_app(QUEUE_MAX_RECEIVE_COUNT="2")
    deliver(app, {"trxid": "INVALID-1"})  # IIMMPACT answers 400: rejected
    iimmpact_sandbox.inject(Fault(status=503))
    deliver(app, REPORT, receive_count=2, message_id="m-2")  # the last delivery: failed

    by_reference = {record["reference"]: record for record in aws.records()}
    assert by_reference["INVALID-1"]["status"] == "rejected" and 399 < expiry_in_days(by_reference["INVALID-1"]) <= 400
    assert by_reference["T-KEEP"]["status"] == "failed" and 399 < expiry_in_days(by_reference["T-KEEP"]) <= 400

    deliver(app, REPORT, message_id="m-2-redriven")  # redriven from the dead-letter queue: filed now
    retried = {record["reference"]: record for record in aws.records()}["T-KEEP"]
    assert retried["status"] == "submitted" and retried["resolution"] == "untracked"
    assert 399 < expiry_in_days(retried) <= 400  # final again, counted from now


def test_an_open_dispute_is_kept_until_its_outcome_then_expires(aws, store):
    from dispute_gateway.models import Dispute, Resolution, Source, Status
    from dispute_gateway.providers.repay.models import RepayDisputeRequest
    from dispute_gateway.store import DisputeStore

    store = DisputeStore(aws.table, boto3.client("dynamodb"), retention_days=10)
    request = RepayDisputeRequest(deal_id="D-KEEP", new_amount="5", evidence=[{"key": "repay/D-KEEP/f/a.pdf"}])
    claim = store.claim(Dispute.from_request(request, Source.SQS), lease_seconds=60)
    open_record = store.finish(claim, Status.SUBMITTED, resolution=Resolution.OPEN)
    assert open_record.expires_at is None and "expires_at" not in aws.only_record()

    store.resolve(open_record, Resolution.WON, state="completed", amount="5")
    assert 9.99 < expiry_in_days(aws.only_record()) <= 10


def test_zero_keeps_records_for_ever(aws, iimmpact_sandbox, iimmpact_app):
    deliver(iimmpact_app(RECORD_RETENTION_DAYS="0"), REPORT)
    record = aws.only_record()
    assert record["status"] == "submitted" and "expires_at" not in record


@pytest.mark.parametrize("value", ["-1", "a year", "36501"])
def test_a_malformed_retention_stops_the_cold_start_naming_the_variable(aws, iimmpact_app, value):
    from dispute_gateway.config import ConfigurationError

    with pytest.raises(ConfigurationError, match="RECORD_RETENTION_DAYS"):
        iimmpact_app(RECORD_RETENTION_DAYS=value)
