"""The demo's disputes: the ones each provider's sandbox module declares (its `SANDBOX.demo_cases`),
filed without the HTTP API here (messages on the queues, evidence and manifests uploaded to S3, a
message that can only end in its dead-letter queue) and over it in `local.demo.api_cases`.

Every case is filed, then polled until `settled`, then shown as a table `row` and a `detail` (its
record, or what the dead-letter queue holds). Nothing here names a provider: a provider added
with its sandbox shows up in the demo by itself.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from boto3.dynamodb.types import TypeDeserializer

from dispute_gateway.providers import provider_spec, registry
from local import samples
from local.demo.report import Row, outcome, row_from_record
from local.providers import sandbox_plugs
from local.stack import LocalStack
from tests.sandboxes.server import DemoCase, DemoFile

BUCKET = "EvidenceBucket"
TABLE = "DisputesTable"
SETTLED = {"submitted", "rejected", "failed"}
FINAL = {"won", "lost", "untracked"}
WHOLE_RECORD = {"dispute_id", "reference", "provider", "status"}
DEAD_LETTERED = "dead-lettered"
# The folders the demo uploads into, under the transaction's own.
COMMAND_FOLDER = "cmd1/"
UPLOAD_FOLDER = "case1/"
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


def file_bytes(item: DemoFile) -> bytes:
    """What the demo uploads for a declared file: what it claims to be, as the worker checks."""
    if item.content_type == "application/pdf":
        return samples.pdf(item.text)
    if item.content_type == "image/png":
        return samples.png()
    raise ValueError(f"the demo makes PDF and PNG files only, not {item.content_type} ({item.filename})")


def upload(stack: LocalStack, key: str, body: bytes, content_type: str) -> None:
    stack.client("s3").put_object(Bucket=stack.ref(BUCKET), Key=key, Body=body, ContentType=content_type)


@dataclass
class QueuedCase:
    """A dispute filed by `send` (a message, or an upload whose manifest reaches the queue); `decision`
    plays the provider's part once the dispute is submitted."""

    reference: str
    provider: str
    route: str
    expected: str
    send: Callable[[LocalStack], None]
    decision: Callable[[Any], None] | None = None
    decided: bool = False

    def file(self, stack: LocalStack) -> None:
        self.send(stack)

    def decide(self, records: Records, sandboxes: Mapping[str, Any]) -> None:
        record = records.get(self.reference, {})
        if self.decision is not None and not self.decided and record.get("status") == "submitted":
            self.decision(sandboxes[self.provider])
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

    reference: str
    provider: str
    body: str
    route: str = "sqs"
    expected: str = DEAD_LETTERED
    reason: str | None = None
    dead_letter_queue: str = ""

    def decide(self, records: Records, sandboxes: Mapping[str, Any]) -> None:
        pass

    def file(self, stack: LocalStack) -> None:
        queue = stack.provider_queue(self.provider)
        target = stack.model.queues[queue].dead_letter_queue
        self.dead_letter_queue = stack.ref(target) if target else ""
        stack.send_message(queue, self.body)

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


def _message(provider: str, case: DemoCase[Any]) -> Callable[[LocalStack], None]:
    """The case's body on the provider's queue, its evidence uploaded first (the body only names it)."""

    def send(stack: LocalStack) -> None:
        body = dict(case.request)
        if case.evidence:
            folder = _folder(provider, case) + COMMAND_FOLDER
            for item in case.evidence:
                upload(stack, folder + item.filename, file_bytes(item), item.content_type)
            keys = [(folder + item.filename, item) for item in case.evidence]
            body["evidence"] = [{"key": key, "content_type": item.content_type} for key, item in keys]
        stack.send_message(stack.provider_queue(provider), json.dumps(body))

    return send


def _upload(provider: str, case: DemoCase[Any]) -> Callable[[LocalStack], None]:
    """The case's evidence into a new folder of its transaction, then its manifest, written last:
    its event files the dispute with whatever the folder holds by then."""

    def send(stack: LocalStack) -> None:
        folder = _folder(provider, case) + UPLOAD_FOLDER
        for item in case.evidence:
            upload(stack, folder + item.filename, file_bytes(item), item.content_type)
        place = provider_spec(provider).evidence
        assert place is not None
        upload(stack, folder + place.manifest, json.dumps(case.request).encode(), "application/json")

    return send


def _folder(provider: str, case: DemoCase[Any]) -> str:
    place = provider_spec(provider).evidence
    if place is None:
        raise ValueError(f"{provider}'s demo case {case.reference} has evidence, but {provider} takes none")
    return place.folder(case.reference)


def queued_case(provider: str, case: DemoCase[Any]) -> Case:
    """A case filed on the provider's queue (`sqs`) or by upload (`s3`)."""
    if case.raw is not None:
        return PoisonCase(case.reference, provider, case.raw)
    if case.route == "sqs":
        send = _message(provider, case)
    elif case.route == "s3":
        send = _upload(provider, case)
    else:
        raise ValueError(f"{provider}'s demo case {case.reference}: unknown route {case.route!r}")
    return QueuedCase(case.reference, provider, case.route, case.expected, send, case.decide)


def declared_cases() -> list[tuple[str, DemoCase[Any]]]:
    """Every registered provider's demo cases, as its sandbox module declares them, by provider."""
    plugs = sandbox_plugs()
    return [(name, case) for name in registry() if name in plugs for case in plugs[name].demo_cases]
