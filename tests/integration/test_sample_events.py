"""Every sample in events/ drives its handler to the documented outcome, so the samples cannot rot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from local import samples
from tests.conftest import ROOT, FakeLambdaContext

EVENTS = ROOT / "events"


def sample(path: str) -> dict[str, Any]:
    return json.loads((EVENTS / path).read_text())


def test_every_trigger_of_every_function_has_samples() -> None:
    folders = {folder.name for folder in EVENTS.iterdir() if folder.is_dir()}
    assert folders == {folder.name for folder in (ROOT / "functions").iterdir() if folder.is_dir()}


def test_iimmpact_samples(aws, iimmpact_sandbox, iimmpact_app) -> None:
    app = iimmpact_app()
    assert app.lambda_handler(sample("iimmpact_report/sqs-report.json"), FakeLambdaContext())["batchItemFailures"] == []
    assert sorted(r["status"] for r in aws.records()) == ["submitted", "submitted"]
    assert (
        app.lambda_handler(sample("iimmpact_report/sqs-invalid.json"), FakeLambdaContext())["batchItemFailures"] == []
    )
    assert len(aws.dead_letters(aws.iimmpact_dlq_url)) == 1


def test_repay_samples(aws, repay_sandbox, repay_app) -> None:
    notification = sample("repay_dispute/sqs-s3-notification.json")
    bucket = json.loads(notification["Records"][0]["body"])["Records"][0]["s3"]["bucket"]["name"]
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "ap-southeast-1"})
    for folder in ("repay/D-78/case1/", "repay/D-78/case 2/"):
        s3.put_object(
            Bucket=bucket, Key=f"{folder}receipt.pdf", Body=samples.pdf("receipt"), ContentType="application/pdf"
        )
        s3.put_object(Bucket=bucket, Key=f"{folder}dispute.json", Body=b'{"new_amount": "250.5"}')
    s3.put_object(
        Bucket=bucket, Key="repay/D-77/cmd1/receipt.pdf", Body=samples.pdf("receipt"), ContentType="application/pdf"
    )
    s3.put_object(
        Bucket=bucket, Key="repay/D-79/case 1/receipt.pdf", Body=samples.pdf("receipt"), ContentType="application/pdf"
    )
    s3.put_object(Bucket=bucket, Key="repay/D-79/case 1/dispute.json", Body=b'{"new_amount": "99"}')
    app = repay_app(EVIDENCE_BUCKET=bucket)
    # moto cannot create an object under a chosen version id: read the latest version instead.
    for record in notification["Records"]:
        body = json.loads(record["body"])
        for item in body["Records"]:
            item["s3"]["object"].pop("versionId", None)
        record["body"] = json.dumps(body)

    for event in (
        sample("repay_dispute/sqs-command.json"),
        notification,
        sample("repay_dispute/sqs-eventbridge-object-created.json"),
        sample("repay_dispute/sqs-s3-test-event.json"),
    ):
        assert app.lambda_handler(event, FakeLambdaContext())["batchItemFailures"] == []

    records = aws.records()
    assert sorted((r["reference"], r["source"], r["status"]) for r in records) == [
        ("D-77", "sqs", "submitted"),
        ("D-78", "s3", "rejected"),
        ("D-78", "s3", "submitted"),
        ("D-79", "s3", "submitted"),
    ]
    # The sample uploads two cases for one deal: the second waits for no one, it is refused,
    # naming the live dispute (one live dispute per transaction).
    (live,) = [r for r in records if r["reference"] == "D-78" and r["status"] == "submitted"]
    (refused,) = [r for r in records if r["reference"] == "D-78" and r["status"] == "rejected"]
    assert live["dispute_id"] in refused["error"]


def test_outcome_tracker_sample(aws, repay_sandbox, repay_app, tracker_app) -> None:
    from tests.conftest import deliver

    s3 = boto3.client("s3")
    s3.put_object(Bucket=aws.evidence_bucket, Key="repay/D-80/c/receipt.pdf", Body=samples.pdf("receipt"))
    evidence = [{"key": "repay/D-80/c/receipt.pdf", "content_type": "application/pdf"}]
    deliver(repay_app(), {"deal_id": "D-80", "new_amount": "5", "evidence": evidence})
    repay_sandbox.settle("D-80", "completed")
    summary = tracker_app().lambda_handler(sample("outcome_tracker/scheduled.json"), FakeLambdaContext())
    assert summary["resolved"] == 1
    assert aws.only_record()["resolution"] == "won"


def test_event_publisher_sample(aws, subscriber, publisher) -> None:
    answer = publisher.lambda_handler(sample("event_publisher/dynamodb-stream.json"), FakeLambdaContext())
    assert answer["batchItemFailures"] == []
    details = sorted((event["detail"] for event in subscriber.received()), key=lambda detail: detail["updated_at"])
    assert [(d["status"], d["resolution"]) for d in details] == [("received", None), ("submitted", "untracked")]
    assert details[1]["previous_status"] == "submitting"


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("post-disputes-iimmpact.json", 202),
        ("post-disputes-repay.json", 202),
        ("post-evidence-uploads.json", 201),
        ("list-disputes.json", 200),
        ("get-dispute.json", 404),
        ("retry-dispute.json", 404),
        ("get-console.json", 200),
        ("ops-list-disputes.json", 200),
        ("ops-retry-dispute.json", 404),
    ],
)
def test_api_samples(aws, api, name: str, status: int) -> None:
    assert api.send(sample(f"api/{name}")).status == status


def test_api_get_sample_finds_the_dispute_its_post_sample_files(aws, api) -> None:
    filed = api.send(sample("api/post-disputes-iimmpact.json")).body["dispute_id"]
    event = sample("api/get-dispute.json")
    event["pathParameters"]["dispute_id"] = filed
    event["rawPath"] = f"/disputes/{filed}"
    assert api.send(event).body["dispute_id"] == filed


def test_samples_are_valid_json_files() -> None:
    for path in EVENTS.rglob("*"):
        if path.is_file():
            assert path.suffix == ".json", path
            json.loads(Path(path).read_text())


def test_a_worker_invoked_with_an_s3_event_by_hand_names_what_is_missing(aws, repay_sandbox, repay_app) -> None:
    # `sam local generate-event s3 put` handed to the worker, which S3 only reaches through its queue.
    s3_event = {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": aws.evidence_bucket}, "object": {"key": "repay/D-1/c/dispute.json"}},
            }
        ]
    }
    with pytest.raises(ValueError, match=r"not an SQS batch: Records\[0\] has no messageId, receiptHandle, body"):
        repay_app().lambda_handler(s3_event, FakeLambdaContext())
    with pytest.raises(ValueError, match="'Records' is missing"):
        repay_app().lambda_handler({}, FakeLambdaContext())
    assert aws.records() == []
    assert repay_sandbox.requests == []
