"""The local stack end to end: template.yaml's resources on moto's server, the IIMMPACT worker fed
by its queue's poller, the IIMMPACT sandbox answering over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer

from local.providers import iimmpact
from local.stack import LocalStack, wait_for
from tests.conftest import ROOT
from tests.sandboxes.iimmpact import Fault, IimmpactSandbox

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

QUEUE = "IimmpactQueue"
DEAD_LETTER_QUEUE = "IimmpactDeadLetterQueue"
FUNCTION = "IimmpactReportFunction"
TABLE = "DisputesTable"


@pytest.fixture
def sandbox() -> Iterator[IimmpactSandbox]:
    with IimmpactSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def stack(sandbox: IimmpactSandbox) -> Iterator[LocalStack]:
    # A 1 s visibility time-out brings a failed message back quickly; no batching window to wait for.
    with LocalStack(providers=[iimmpact(sandbox)], visibility_timeout_override=1, batching_window_override=0) as stack:
        yield stack


def _records(stack: LocalStack) -> list[dict[str, Any]]:
    deserializer = TypeDeserializer()
    items = stack.client("dynamodb").scan(TableName=stack.ref(TABLE), ConsistentRead=True)["Items"]
    return [{name: deserializer.deserialize(value) for name, value in item.items()} for item in items]


def _record_once(stack: LocalStack, reference: str, statuses: set[str], timeout: float) -> dict[str, Any]:
    def settled() -> dict[str, Any] | None:
        found = [r for r in _records(stack) if r["reference"] == reference]
        return found[0] if found and found[0]["status"] in statuses else None

    record = wait_for(settled, timeout)
    assert record is not None, f"no {statuses} record for {reference}: {_records(stack)}"
    return record


def _dead_letters(stack: LocalStack, timeout: float) -> list[dict[str, Any]]:
    def receive() -> list[dict[str, Any]]:
        response = stack.client("sqs").receive_message(
            QueueUrl=stack.ref(DEAD_LETTER_QUEUE),
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        )
        messages: list[dict[str, Any]] = response.get("Messages", [])
        return messages

    return wait_for(receive, timeout, interval=0) or []


def _messages_left(stack: LocalStack, queue: str) -> int:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = stack.client("sqs").get_queue_attributes(QueueUrl=stack.ref(queue), AttributeNames=names)
    return sum(int(attributes["Attributes"][name]) for name in names)


def test_a_queued_dispute_is_submitted_and_its_message_deleted(stack: LocalStack, sandbox: IimmpactSandbox) -> None:
    function = stack.functions[FUNCTION]
    events: list[dict[str, Any]] = []
    handler = function.handler

    def recording(event: dict[str, Any], context: Any) -> Any:
        events.append(event)
        return handler(event, context)

    function.handler = recording

    stack.send_message(QUEUE, json.dumps({"trxid": "T-E2E-1", "user_email": ["buyer@example.com"]}))

    record = _record_once(stack, "T-E2E-1", {"submitted", "rejected", "failed"}, timeout=10)
    assert record["status"] == "submitted"
    assert record["attempts"] == 1
    assert sandbox.reports_for("T-E2E-1") == 1
    assert wait_for(lambda: _messages_left(stack, QUEUE) == 0, 5)
    # Lambda's SQS record shape, as in the sample event of the function.
    sample = json.loads((ROOT / "events/iimmpact_report/sqs-report.json").read_text())["Records"][0]
    delivered = events[0]["Records"][0]
    assert set(delivered) == set(sample)
    assert set(sample["attributes"]) <= set(delivered["attributes"])
    assert delivered["attributes"]["ApproximateReceiveCount"] == "1"
    assert delivered["eventSourceARN"] == stack.arn(QUEUE)


def test_a_message_that_is_not_json_is_dead_lettered_with_its_reason(stack: LocalStack) -> None:
    stack.send_message(QUEUE, "this is not JSON")

    dead = _dead_letters(stack, timeout=10)

    assert [message["Body"] for message in dead] == ["this is not JSON"]
    reason = dead[0]["MessageAttributes"]["reason"]["StringValue"]
    assert "not JSON" in reason
    assert _records(stack) == []
    # Handled (dead-lettered by the worker), so deleted from its queue rather than redelivered.
    assert wait_for(lambda: _messages_left(stack, QUEUE) == 0, 5)


def test_a_persisting_transient_failure_ends_failed_and_in_the_dead_letter_queue(
    stack: LocalStack, sandbox: IimmpactSandbox
) -> None:
    max_receive_count = stack.model.queues[QUEUE].max_receive_count
    assert max_receive_count is not None
    sandbox.inject(*[Fault(status=503) for _ in range(max_receive_count)])

    stack.send_message(QUEUE, json.dumps({"trxid": "T-E2E-503"}))

    record = _record_once(stack, "T-E2E-503", {"failed", "submitted", "rejected"}, timeout=25)
    assert record["status"] == "failed"
    assert record["attempts"] == max_receive_count
    assert record["provider_http_status"] == 503
    assert sandbox.reports_for("T-E2E-503") == max_receive_count
    # SQS's redrive, not the worker, moves it: on the receive after the last delivery.
    dead = _dead_letters(stack, timeout=10)
    assert [json.loads(message["Body"]) for message in dead] == [{"trxid": "T-E2E-503"}]
    assert "reason" not in dead[0].get("MessageAttributes", {})
    assert _messages_left(stack, QUEUE) == 0
