"""The local stack follows template.yaml, not a copy of its values: change a queue's batch size, the
redrive's maxReceiveCount and the function's time-out in a copy of the template, and the pollers,
queues and functions follow."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.aws.template import TEMPLATE, read_template
from local.stack import LocalStack, wait_for
from tests.e2e.helpers import IIMMPACT_QUEUE, REPAY_QUEUE, dead_letters, messages_left

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

FUNCTION = "IimmpactReportFunction"
EVENT = "IimmpactQueueEvent"
BATCH_SIZE = 3
MAX_RECEIVE_COUNT = 2
# A short batching window lets each batch fill up to its size before it is delivered. A message must
# stay hidden from its receive until its batch has been held for the window, handled and deleted, so
# the visibility time-out covers the window and the function's time-out together: AWS requires of an
# SQS event source at least the function's time-out, and recommends adding the window. (A 1 s one, as
# long as the window, let the poller's last receive of a window hand a message out again, into its
# own batch: delivered twice.)
WINDOW = 1
FUNCTION_TIMEOUT = 4
VISIBILITY_TIMEOUT = 5
FAILING = "always fails"


def _event_properties(template: dict[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = template["Resources"][FUNCTION]["Properties"]["Events"][EVENT]["Properties"]
    return properties


@pytest.fixture
def changed_template(tmp_path: Path) -> Path:
    """A copy of template.yaml with the IIMMPACT batch size, MaxReceiveCount and function time-out changed.

    Written as JSON (a template may be either), which keeps the intrinsics that YAML's short
    tags would need a custom dumper for. CodeUri is relative to the template's folder, so the
    copy gets the code folders beside it, as links."""
    template = read_template(TEMPLATE)
    assert _event_properties(template)["BatchSize"] != BATCH_SIZE
    assert template["Parameters"]["MaxReceiveCount"]["Default"] != MAX_RECEIVE_COUNT
    assert "Timeout" not in template["Resources"][FUNCTION]["Properties"]  # the Globals' 60 s
    _event_properties(template)["BatchSize"] = BATCH_SIZE
    template["Parameters"]["MaxReceiveCount"]["Default"] = MAX_RECEIVE_COUNT
    template["Resources"][FUNCTION]["Properties"]["Timeout"] = FUNCTION_TIMEOUT
    for folder in ("functions", "layers"):
        (tmp_path / folder).symlink_to(TEMPLATE.parent / folder, target_is_directory=True)
    copy = tmp_path / "template.json"
    copy.write_text(json.dumps(template, indent=2), encoding="utf-8")
    return copy


@pytest.fixture
def drifted_stack(changed_template: Path) -> Iterator[LocalStack]:
    with LocalStack(
        template=changed_template, visibility_timeout_override=VISIBILITY_TIMEOUT, batching_window_override=WINDOW
    ) as stack:
        yield stack


def test_pollers_and_queues_follow_the_template(drifted_stack: LocalStack) -> None:
    stack = drifted_stack
    batches: list[list[tuple[str, str]]] = []

    def recording(event: dict[str, Any], context: Any) -> dict[str, Any]:
        records = event["Records"]
        batches.append([(record["body"], record["attributes"]["ApproximateReceiveCount"]) for record in records])
        failed = [{"itemIdentifier": r["messageId"]} for r in records if r["body"] == FAILING]
        return {"batchItemFailures": failed}

    stack.functions[FUNCTION].handler = recording
    bodies = [json.dumps({"trxid": f"T-DRIFT-{n}"}) for n in range(7)] + [FAILING]
    entries = [{"Id": str(n), "MessageBody": body} for n, body in enumerate(bodies)]
    stack.client("sqs").send_message_batch(QueueUrl=stack.ref(IIMMPACT_QUEUE), Entries=entries)

    # The failing message is received MaxReceiveCount times, then SQS's redrive moves it: about two
    # visibility time-outs (and the windows) after it was sent.
    dead = dead_letters(stack, IIMMPACT_QUEUE, timeout=30)
    assert [message["Body"] for message in dead] == [FAILING]
    assert wait_for(lambda: messages_left(stack, IIMMPACT_QUEUE) == 0, 5)

    # What SQS promises: each message delivered at least once, in batches of at most BatchSize.
    sizes = [len(batch) for batch in batches]
    assert all(size <= BATCH_SIZE for size in sizes) and max(sizes) == BATCH_SIZE, sizes
    delivered = [delivery for batch in batches for delivery in batch]
    assert {body for body, _ in delivered if body != FAILING} == set(bodies[:-1])
    # Each receive counts: the failing message was delivered on its first and its last receive.
    assert [count for body, count in delivered if body == FAILING] == ["1", "2"]

    # The configuration behind that behaviour, as created.
    (poller,) = [p for p in stack.pollers if p.source.queue == IIMMPACT_QUEUE]
    assert poller.source.batch_size == BATCH_SIZE
    assert stack.functions[FUNCTION].timeout_seconds == FUNCTION_TIMEOUT
    assert poller.visibility_timeout_seconds >= poller.batching_window_seconds + FUNCTION_TIMEOUT
    redrive = stack.client("sqs").get_queue_attributes(QueueUrl=stack.ref(IIMMPACT_QUEUE), AttributeNames=["All"])
    assert json.loads(redrive["Attributes"]["RedrivePolicy"])["maxReceiveCount"] == MAX_RECEIVE_COUNT
    # The workers learn the same count from the same parameter.
    assert stack.function_environments[FUNCTION]["QUEUE_MAX_RECEIVE_COUNT"] == str(MAX_RECEIVE_COUNT)
    # What the copy did not change stays as template.yaml has it.
    original = read_template(TEMPLATE)["Resources"]["RepayDisputeFunction"]["Properties"]["Events"]
    (repay_poller,) = [p for p in stack.pollers if p.source.queue == REPAY_QUEUE]
    assert [event["Properties"]["BatchSize"] for event in original.values()] == [repay_poller.source.batch_size]
