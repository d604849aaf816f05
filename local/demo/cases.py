"""The demo's disputes filed without the HTTP API: messages on the queues, evidence uploaded to S3,
and one poison message that can only end in its dead-letter queue.

Every case of the demo (these and `local.demo.api_cases`'s) is filed, then polled until `settled`,
then shown as a table `row` and a `detail` (its record, or what the dead-letter queue holds).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from boto3.dynamodb.types import TypeDeserializer

from local import samples
from local.demo.report import Row, outcome, row_from_record
from local.stack import LocalStack

IIMMPACT_QUEUE = "IimmpactQueue"
REPAY_QUEUE = "RepayQueue"
BUCKET = "EvidenceBucket"
TABLE = "DisputesTable"
SETTLED = {"submitted", "rejected", "failed"}
FINAL = {"won", "lost", "untracked"}
WHOLE_RECORD = {"dispute_id", "reference", "provider", "status"}
Records = dict[str, dict[str, Any]]  # by reference


class Case(Protocol):
    @property
    def reference(self) -> str: ...

    def file(self, stack: LocalStack) -> None: ...

    def decide(self, records: Records, sandboxes: Mapping[str, Any]) -> None:
        """Play the provider's part once the dispute is filed (e.g. settle its deal)."""

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


def ended(record: dict[str, Any] | None, expected: str) -> bool:
    """Whether the dispute is done moving: where the case expects it ("submitted/won", "rejected"),
    or somewhere it will not leave (a final status or resolution) even if that is unexpected.
    An open dispute is where it is expected once the tracker has checked it (it shows the state)."""
    if record is None or record.get("status") not in SETTLED:
        return False
    if outcome(record) == expected:
        return record.get("resolution") != "open" or bool(record.get("provider_state"))
    return record.get("status") != "submitted" or record.get("resolution") in FINAL


@dataclass
class QueuedCase:
    """A dispute filed by `send` (a message, or an upload that notifies the queue); a `decision`
    (the deal's state, and its amount) is what the provider decides once the dispute is filed."""

    reference: str
    provider: str
    route: str
    expected: str
    send: Callable[[LocalStack], None]
    decision: tuple[str, str | None] | None = None
    decided: bool = False

    def file(self, stack: LocalStack) -> None:
        self.send(stack)

    def decide(self, records: Records, sandboxes: Mapping[str, Any]) -> None:
        record = records.get(self.reference, {})
        if self.decision is not None and not self.decided and record.get("status") == "submitted":
            state, amount = self.decision
            sandboxes[self.provider].settle(self.reference, state, amount=amount)
            self.decided = True

    def settled(self, stack: LocalStack, records: Records) -> bool:
        return ended(records.get(self.reference), self.expected)

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

    def decide(self, records: Records, sandboxes: Mapping[str, Any]) -> None:
        pass

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
        # IIMMPACT answers the end user by e-mail: no API tells the outcome.
        QueuedCase(
            "T-1001",
            "iimmpact",
            "sqs",
            "submitted/untracked",
            _message(IIMMPACT_QUEUE, {"trxid": "T-1001", "user_email": ["buyer@example.com"]}),
        ),
        # The sandbox answers Failed: refunded automatically.
        QueuedCase("REFUNDED-1", "iimmpact", "sqs", "rejected", _message(IIMMPACT_QUEUE, {"trxid": "REFUNDED-1"})),
        # Repay's office recognises the payment, at another amount than the dispute's: won.
        QueuedCase("D-77", "repay", "sqs", "submitted/won", _repay_command, decision=("completed", "990.50")),
        # ...or cancels the deal in dispute: lost.
        QueuedCase("D-78", "repay", "s3", "submitted/lost", _repay_upload, decision=("reject_by_office", None)),
        PoisonCase(),
    ]
