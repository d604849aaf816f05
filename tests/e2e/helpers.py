"""Looking into a running local stack from an end-to-end test: records, queues, dead letters."""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from dispute_gateway.live import LIVE_ITEM_PREFIX
from local.stack import LocalStack, wait_for

TABLE = "DisputesTable"
BUCKET = "EvidenceBucket"
IIMMPACT_QUEUE = "IimmpactQueue"
REPAY_QUEUE = "RepayQueue"
FINAL = {"submitted", "rejected", "failed"}


def records(stack: LocalStack) -> list[dict[str, Any]]:
    deserializer = TypeDeserializer()
    items = stack.client("dynamodb").scan(TableName=stack.ref(TABLE), ConsistentRead=True)["Items"]
    # The dispute records, not the items that say which dispute holds a transaction.
    disputes = [item for item in items if not item["dispute_id"]["S"].startswith(LIVE_ITEM_PREFIX)]
    return [{name: deserializer.deserialize(value) for name, value in item.items()} for item in disputes]


def final_record(stack: LocalStack, reference: str, timeout: float) -> dict[str, Any]:
    """The one record of `reference` once it is final; fails the test after `timeout` seconds."""

    def final() -> dict[str, Any] | None:
        found = [record for record in records(stack) if record["reference"] == reference]
        assert len(found) <= 1, found
        return found[0] if found and found[0]["status"] in FINAL else None

    record = wait_for(final, timeout)
    assert record is not None, f"no final record for {reference}: {records(stack)}"
    return record


def dead_letters(stack: LocalStack, queue: str, timeout: float) -> list[dict[str, Any]]:
    """The messages in `queue`'s dead-letter queue, waited for up to `timeout` seconds; left in view
    (a zero visibility time-out), so that every look sees them all."""
    target = stack.model.queues[queue].dead_letter_queue
    assert target is not None, f"{queue} has no dead-letter queue"

    def receive() -> list[dict[str, Any]]:
        response = stack.client("sqs").receive_message(
            QueueUrl=stack.ref(target),
            MaxNumberOfMessages=10,
            VisibilityTimeout=0,
            WaitTimeSeconds=1,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        )
        messages: list[dict[str, Any]] = response.get("Messages", [])
        return messages

    return wait_for(receive, timeout, interval=0) or []


def messages_left(stack: LocalStack, queue: str) -> int:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = stack.client("sqs").get_queue_attributes(QueueUrl=stack.ref(queue), AttributeNames=names)
    return sum(int(attributes["Attributes"][name]) for name in names)


def upload(stack: LocalStack, key: str, body: bytes, content_type: str = "application/octet-stream") -> None:
    stack.client("s3").put_object(Bucket=stack.ref(BUCKET), Key=key, Body=body, ContentType=content_type)
