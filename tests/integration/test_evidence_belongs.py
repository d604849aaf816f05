"""Evidence belongs to its deal (contract section 5): a dispute for D-ATTACK that names a file of
D-VICTIM is refused by every entry point, and not one of the victim's bytes leaves S3."""

from __future__ import annotations

import json
from typing import Any

import boto3

from tests.conftest import AwsResources, deliver
from tests.integration.s3_watch import S3Watch

PDF = b"%PDF-1.4\n" + b"private statement " * 40 + b"\n%%EOF\n"
VICTIMS_FILE = "repay/D-VICTIM/x/private_statement.pdf"
REFUSAL = f"{VICTIMS_FILE} is not under repay/D-ATTACK/: a dispute's evidence must be in its own deal's folder"


def attack(**extra: Any) -> dict[str, Any]:
    return {"deal_id": "D-ATTACK", "new_amount": "1", "evidence": [{"key": VICTIMS_FILE}], **extra}


def queued(queue_url: str) -> list[dict[str, Any]]:
    messages = boto3.client("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(message["Body"]) for message in messages]


def test_a_queue_command_naming_another_deals_file_is_rejected_and_reads_nothing(
    aws: AwsResources, repay_sandbox, repay_app
):
    aws.put_evidence(VICTIMS_FILE, PDF, "application/pdf")
    app = repay_app()
    s3 = S3Watch(app)

    assert deliver(app, attack()) == []

    record = aws.only_record()
    assert (record["status"], record["reference"]) == ("rejected", "D-ATTACK")
    assert REFUSAL in record["error"]
    assert s3.calls == []
    assert repay_sandbox.requests == [] and repay_sandbox.disputes == []


def test_the_api_refuses_another_deals_file_naming_the_field_and_queues_nothing(aws: AwsResources, api):
    answer = api.call("POST", "/disputes", body={"provider": "repay", **attack()}, headers={"idempotency-key": "k-1"})

    assert answer.status == 422
    assert answer.body["errors"] == [{"field": "evidence.0.key", "message": REFUSAL}]
    assert aws.records() == []
    assert queued(aws.repay_queue_url) == []
