"""What filing one dispute costs, counted on the happy path over moto and the sandboxes: two table
writes (the claim, which counts the POST and keeps what the provider needs before it, and the
outcome), one deal lookup and one POST for Repay; and `attempts` stays the POSTs actually sent
when the POST never leaves."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from tests.conftest import AwsResources, FakeLambdaContext, deliver, sqs_event, sqs_record
from tests.sandboxes.iimmpact import Fault

WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
PDF = b"%PDF-1.4\n" + b"receipt body " * 50 + b"\n%%EOF\n"


def table_calls(app: Any) -> Counter[str]:
    """The DynamoDB operations the function's own client makes from now on."""
    calls: Counter[str] = Counter()
    client = app.worker._store._client  # the client its cold start made
    client.meta.events.register("before-call.dynamodb.*", lambda model, **_: calls.update([model.name]))
    return calls


def writes(calls: Counter[str]) -> int:
    return sum(count for operation, count in calls.items() if operation in WRITES)


def test_an_iimmpact_dispute_is_two_writes(aws, iimmpact_sandbox, iimmpact_app):
    app = iimmpact_app()
    calls = table_calls(app)

    assert deliver(app, {"trxid": "T-1001"}) == []

    assert writes(calls) == 2
    record = aws.only_record()
    assert record["status"] == "submitted" and record["attempts"] == 1 and not record["in_doubt"]


def test_a_repay_dispute_is_two_writes_one_lookup_and_one_post(aws, repay_sandbox, repay_app):
    aws.put_evidence("repay/D-77/c/receipt.pdf", PDF, "application/pdf")
    app = repay_app()
    calls = table_calls(app)

    command = {"deal_id": "D-77", "new_amount": "1000", "evidence": [{"key": "repay/D-77/c/receipt.pdf"}]}
    assert deliver(app, command) == []

    assert writes(calls) == 2
    assert Counter(request.method for request in repay_sandbox.requests) == {"GET": 1, "POST": 1}
    record = aws.only_record()
    assert record["status"] == "submitted" and record["attempts"] == 1
    assert record["provider_state_before"]  # kept by the claim, before the POST


@pytest.mark.parametrize("secret", ["not json", '{"api_key": ""}'])
def test_a_post_that_never_left_is_not_counted(aws, iimmpact_sandbox, iimmpact_app, secret):
    """The claim counted the POST it expected; the secret could not be used, so none left."""
    import boto3

    boto3.client("secretsmanager").put_secret_value(SecretId=aws.iimmpact_secret_id, SecretString=secret)
    app = iimmpact_app()
    calls = table_calls(app)

    assert deliver(app, {"trxid": "T-1001"}) == ["m-1"]

    record = aws.only_record()
    assert record["attempts"] == 0 and not record["in_doubt"]
    assert record["status"] == "received"  # nothing reached IIMMPACT: simply waiting again
    assert writes(calls) == 2
    assert iimmpact_sandbox.requests == []


def test_a_lost_answer_then_a_post_that_never_left_keeps_the_doubt(aws, iimmpact_sandbox, iimmpact_app):
    app = iimmpact_app()
    iimmpact_sandbox.inject(Fault(act=True, drop=True))  # IIMMPACT files it; the answer is lost
    assert deliver(app, {"trxid": "T-1001"}) == ["m-1"]
    assert aws.only_record()["in_doubt"] is True

    # Delivered again with too little of the invocation left to call IIMMPACT: no POST leaves.
    event = sqs_event(sqs_record('{"trxid": "T-1001"}', receive_count=2, message_id="m-1"))
    answer = app.lambda_handler(event, FakeLambdaContext(remaining_ms=5_500))

    assert [failure["itemIdentifier"] for failure in answer["batchItemFailures"]] == ["m-1"]
    record = aws.only_record()
    assert record["attempts"] == 1 and record["in_doubt"] is True and record["status"] == "submitting"
    assert len(iimmpact_sandbox.requests) == 1


def test_evidence_refused_counts_no_attempt_and_calls_no_one(aws: AwsResources, repay_sandbox, repay_app):
    aws.put_evidence("repay/D-77/c/fake.pdf", b"\x89PNG\r\n\x1a\n" + b"x" * 64, "application/pdf")
    app = repay_app()
    calls = table_calls(app)

    command = {"deal_id": "D-77", "new_amount": "1000", "evidence": [{"key": "repay/D-77/c/fake.pdf"}]}
    assert deliver(app, command) == []

    record = aws.only_record()
    assert record["status"] == "rejected" and record["attempts"] == 0
    # Never sent, never claimed: one write, and its story (and its subscribers' events) is only `rejected`.
    assert writes(calls) == 1
    assert [entry["status"] for entry in record["history"]] == ["rejected"]
    assert repay_sandbox.requests == []
