"""The demo's disputes filed without the HTTP API: messages on the queues, evidence uploaded to S3,
and one poison message that can only end in its dead-letter queue.

Every case of the demo (these and `local.demo.api_cases`'s) is filed, then polled until `settled`,
then shown as a table `row` and a `detail` (its record, or what the dead-letter queue holds).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from boto3.dynamodb.types import TypeDeserializer

from local import samples
from local.demo.report import Row, row_from_record
from local.stack import LocalStack

IIMMPACT_QUEUE = "IimmpactQueue"
REPAY_QUEUE = "RepayQueue"
BUCKET = "EvidenceBucket"
TABLE = "DisputesTable"
SETTLED = {"submitted", "rejected", "failed"}
WHOLE_RECORD = {"dispute_id", "reference", "provider", "status"}
Records = dict[str, dict[str, Any]]  # by reference


class Case(Protocol):
    @property
    def reference(self) -> str: ...

    def file(self, stack: LocalStack) -> None: ...

    def settled(self, stack: LocalStack, records: Records) -> bool: ...

    def row(self, records: Records) -> Row: ...

    def detail(self, records: Records) -> dict[str, Any] | None: ...


def stored_records(stack: LocalStack) -> Records:
    items = stack.client("dynamodb").scan(TableName=stack.ref(TABLE), ConsistentRead=True)["Items"]
    return records_by_reference(items)


def records_by_reference(items: list[dict[str, Any]]) -> Records:
    """The table's records by reference, leaving out any not yet whole.

    moto's UpdateItem stores a new item with only its key before it applies the update (DynamoDB
    itself is atomic), so a scan can catch a claim's record half made: it counts as not there yet.
    """
    deserializer = TypeDeserializer()
    records = [{name: deserializer.deserialize(value) for name, value in item.items()} for item in items]
    return {str(record["reference"]): record for record in records if record.keys() >= WHOLE_RECORD}


@dataclass(frozen=True)
class QueuedCase:
    """A dispute filed by `send` (a message, or an upload that notifies the queue)."""

    reference: str
    provider: str
    route: str
    expected: str
    send: Callable[[LocalStack], None]

    def file(self, stack: LocalStack) -> None:
        self.send(stack)

    def settled(self, stack: LocalStack, records: Records) -> bool:
        return records.get(self.reference, {}).get("status") in SETTLED

    def row(self, records: Records) -> Row:
        record = records.get(self.reference)
        return row_from_record(self.reference, self.provider, self.route, self.expected, record, [])

    def detail(self, records: Records) -> dict[str, Any] | None:
        return records.get(self.reference)


@dataclass
class PoisonCase:
    """A message that names no transaction: the worker puts it in its dead-letter queue with a reason."""

    reference: str = "(not JSON)"
    provider: str = "iimmpact"
    queue: str = IIMMPACT_QUEUE
    body: str = "this is not JSON {"
    route: str = "sqs"
    expected: str = "dead-lettered"
    reason: str | None = None
    dead_letter_queue: str = ""

    def file(self, stack: LocalStack) -> None:
        target = stack.model.queues[self.queue].dead_letter_queue
        self.dead_letter_queue = stack.ref(target) if target else ""
        stack.send_message(self.queue, self.body)

    def settled(self, stack: LocalStack, records: Records) -> bool:
        if self.reason is None and self.dead_letter_queue:
            # A zero visibility time-out leaves the message in view for anyone looking after the demo.
            messages = stack.client("sqs").receive_message(
                QueueUrl=self.dead_letter_queue,
                MaxNumberOfMessages=10,
                VisibilityTimeout=0,
                MessageAttributeNames=["All"],
            )
            for message in messages.get("Messages", []):
                if message["Body"] == self.body:
                    self.reason = message.get("MessageAttributes", {}).get("reason", {}).get("StringValue", "")
        return self.reason is not None

    def row(self, records: Records) -> Row:
        problems = ("dead-lettered without a reason attribute",) if self.reason == "" else ()
        status = self.expected if self.reason is not None else "(not dead-lettered)"
        return Row(self.reference, self.provider, self.route, status, self.expected, "", self.reason or "", problems)

    def detail(self, records: Records) -> dict[str, Any] | None:
        return {"body": self.body, "dead_letter_queue": self.dead_letter_queue, "reason": self.reason}


def _message(queue: str, body: dict[str, Any]) -> Callable[[LocalStack], None]:
    def send(stack: LocalStack) -> None:
        stack.send_message(queue, json.dumps(body))

    return send


def _upload(stack: LocalStack, key: str, body: bytes, content_type: str) -> None:
    stack.client("s3").put_object(Bucket=stack.ref(BUCKET), Key=key, Body=body, ContentType=content_type)


def _repay_command(stack: LocalStack) -> None:
    # Evidence first: the command only names it.
    _upload(stack, "repay/D-77/cmd1/receipt.pdf", samples.pdf("Receipt for deal D-77: 1000 paid"), "application/pdf")
    evidence = [{"key": "repay/D-77/cmd1/receipt.pdf", "content_type": "application/pdf"}]
    _message(REPAY_QUEUE, {"deal_id": "D-77", "new_amount": "1000", "evidence": evidence})(stack)


def _repay_upload(stack: LocalStack) -> None:
    folder = "repay/D-78/case1"
    _upload(stack, f"{folder}/receipt.png", samples.png(), "image/png")
    # A Cyrillic name: Repay takes Latin names only, so the worker transliterates it.
    _upload(stack, f"{folder}/Квитанция №1.pdf", samples.pdf("Bank statement, deal D-78"), "application/pdf")
    # Written last: its notification files the dispute with whatever the folder holds by then.
    _upload(stack, f"{folder}/dispute.json", json.dumps({"new_amount": "250.5"}).encode(), "application/json")


def queued_cases() -> list[Case]:
    return [
        QueuedCase(
            "T-1001",
            "iimmpact",
            "sqs",
            "submitted",
            _message(IIMMPACT_QUEUE, {"trxid": "T-1001", "user_email": ["buyer@example.com"]}),
        ),
        # The sandbox answers Failed: refunded automatically.
        QueuedCase("REFUNDED-1", "iimmpact", "sqs", "rejected", _message(IIMMPACT_QUEUE, {"trxid": "REFUNDED-1"})),
        QueuedCase("D-77", "repay", "sqs", "submitted", _repay_command),
        QueuedCase("D-78", "repay", "s3", "submitted", _repay_upload),
        PoisonCase(),
    ]
