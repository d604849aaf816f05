"""POST /disputes/{dispute_id}/retry (IAM) over moto and the IIMMPACT sandbox: a failed dispute's
message moved from the dead-letter queue back to its queue, once, and filed again by its worker."""

from __future__ import annotations

import json
import threading
from typing import Any

import boto3

from tests.conftest import s3_notification
from tests.integration.conftest import ApiClient, failed_dispute, waiting

REPORT = {"trxid": "T-RETRY", "user_email": ["buyer@example.com"]}
RETRY = "/disputes/{dispute_id}/retry"
CALLER = "arn:aws:iam::123456789012:user/dispute-gateway-caller"


def retry(api: ApiClient, dispute_id: str) -> Any:
    return api.call("POST", RETRY, f"/disputes/{dispute_id}/retry", path_parameters={"dispute_id": dispute_id})


def messages(queue_url: str) -> list[dict[str, Any]]:
    """Every message visible on a dead-letter queue, each made visible again after the look."""
    sqs, seen = boto3.client("sqs"), []
    while found := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=30).get(
        "Messages"
    ):
        seen += found
    for message in seen:
        sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    return seen


def test_a_failed_dispute_goes_back_to_its_queue_and_is_submitted(aws, api, feed, iimmpact_sandbox):
    dispute_id = failed_dispute(aws, feed, iimmpact_sandbox, REPORT)

    answer = retry(api, dispute_id)

    assert answer.status == 202
    assert answer.body["dispute_id"] == dispute_id and answer.body["status"] == "failed"
    assert answer.body["retried_by"] == f"{CALLER} (IAM)"
    assert messages(aws.iimmpact_dlq_url) == []
    assert waiting(aws.iimmpact_queue_url) == 1
    last = aws.record(dispute_id)["history"][-1]
    assert last["status"] == "failed" and last["message"] == f"retried by {CALLER} (IAM)"
    assert last["at"] == answer.body["retried_at"]

    assert feed.deliver() == []
    record = aws.record(dispute_id)
    assert record["status"] == "submitted" and record["attempts"] == 2
    assert iimmpact_sandbox.reports_for("T-RETRY") == 2  # the 503, then the one that filed it
    assert iimmpact_sandbox.cases["T-RETRY"] == REPORT  # the very message that failed


def test_a_dispute_that_is_not_failed_is_409_and_nothing_moves(aws, api, feed, iimmpact_sandbox):
    feed.send(REPORT)
    assert feed.deliver() == []
    (record,) = aws.records()

    answer = retry(api, record["dispute_id"])

    assert answer.status == 409
    assert answer.body["message"] == (
        f"dispute {record['dispute_id']} is submitted: only a failed dispute can be retried"
    )
    assert answer.body["dispute_id"] == record["dispute_id"]
    assert answer.headers["location"] == f"/disputes/{record['dispute_id']}"
    assert len(aws.record(record["dispute_id"])["history"]) == len(record["history"])


def test_a_second_retry_before_the_worker_took_it_is_409(aws, api, feed, iimmpact_sandbox):
    dispute_id = failed_dispute(aws, feed, iimmpact_sandbox, REPORT)
    assert retry(api, dispute_id).status == 202

    again = retry(api, dispute_id)

    assert again.status == 409
    assert "already being retried" in again.body["message"] and CALLER in again.body["message"]
    assert waiting(aws.iimmpact_queue_url) == 1


def test_retries_at_once_move_the_message_once(aws, api, feed, iimmpact_sandbox):
    from dispute_gateway.redrive import NotRetryable

    dispute_id = failed_dispute(aws, feed, iimmpact_sandbox, REPORT)
    service = api.module.retries
    start, outcomes = threading.Barrier(4), []

    def one() -> None:
        start.wait()
        try:
            outcomes.append(service.retry(dispute_id, "someone").status.value)
        except NotRetryable:
            outcomes.append("refused")

    threads = [threading.Thread(target=one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["failed", "refused", "refused", "refused"]
    assert waiting(aws.iimmpact_queue_url) == 1
    assert messages(aws.iimmpact_dlq_url) == []


def test_a_dead_letter_gone_is_410_saying_how_to_file_it_again(aws, api, feed, iimmpact_sandbox):
    dispute_id = failed_dispute(aws, feed, iimmpact_sandbox, REPORT)
    boto3.client("sqs").purge_queue(QueueUrl=aws.iimmpact_dlq_url)  # as its retention would

    answer = retry(api, dispute_id)

    assert answer.status == 410
    assert set(answer.body) == {"message", "errors", "correlation_id"}
    assert "no longer in the iimmpact dead-letter queue" in answer.body["message"]
    assert "File it again: POST /disputes" in answer.body["message"]
    assert aws.record(dispute_id)["history"][-1]["message"] == (
        f"retry by {CALLER} (IAM) moved nothing: no dead letter left"
    )
    assert retry(api, dispute_id).status == 410  # still failed, and may be tried again


def test_other_dead_letters_stay_where_they_were_and_visible(aws, api, feed, iimmpact_sandbox):
    sqs = boto3.client("sqs")
    for n in range(12):
        sqs.send_message(QueueUrl=aws.iimmpact_dlq_url, MessageBody=json.dumps({"trxid": f"T-OTHER-{n}"}))
    sqs.send_message(QueueUrl=aws.iimmpact_dlq_url, MessageBody="not JSON")
    dispute_id = failed_dispute(aws, feed, iimmpact_sandbox, REPORT)

    assert retry(api, dispute_id).status == 202

    left = sorted(message["Body"] for message in messages(aws.iimmpact_dlq_url))
    assert left == sorted([json.dumps({"trxid": f"T-OTHER-{n}"}) for n in range(12)] + ["not JSON"])


def test_unknown_and_malformed_ids(api):
    assert retry(api, "5f0c7a8e-6a43-4c1e-9f55-3f1f0d6b2a11").status == 404
    answer = retry(api, "not-an-id")
    assert answer.status == 422 and answer.body["errors"][0]["field"] == "dispute_id"


def test_a_repay_upload_is_found_in_its_dead_letters_as_its_worker_reads_it(aws, api):
    """An S3 notification names no dispute id: Repay's own reading (the manifest, from S3) finds it."""
    from dispute_gateway.manifests import QueueMessages
    from dispute_gateway.providers import provider_spec

    aws.put_evidence("repay/D-9/case1/receipt.pdf", b"%PDF-1.4 receipt", "application/pdf")
    etag = aws.put_evidence("repay/D-9/case1/dispute.json", b'{"new_amount": "10"}', "application/json")
    body = json.dumps({"Records": [s3_notification(aws.evidence_bucket, "repay/D-9/case1/dispute.json", etag)]})
    [dispute] = QueueMessages.for_provider(provider_spec("repay"), api.module.settings).disputes_from_message(body)
    sqs = boto3.client("sqs")
    sqs.send_message(QueueUrl=aws.repay_dlq_url, MessageBody=json.dumps({"deal_id": "D-OTHER"}))
    sqs.send_message(QueueUrl=aws.repay_dlq_url, MessageBody=body)
    redrive = {"deadLetterTargetArn": _arn(aws.repay_dlq_url), "maxReceiveCount": "1"}
    sqs.set_queue_attributes(QueueUrl=aws.repay_queue_url, Attributes={"RedrivePolicy": json.dumps(redrive)})

    letter = api.module.retries._queues["repay"].find(dispute.dispute_id)

    assert letter is not None and letter.body == body


def _arn(queue_url: str) -> str:
    attributes = boto3.client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    return str(attributes["Attributes"]["QueueArn"])
