"""Repay's queue end to end: a command naming evidence already in S3 is filed once; a message that
names no deal is never retried and never lost, but put in the Repay dead-letter queue with its reason."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest

from local import samples
from local.providers import wiring
from local.stack import LocalStack, wait_for
from tests.e2e.conftest import quick_stack
from tests.e2e.helpers import REPAY_QUEUE, dead_letters, final_record, messages_left, records, upload
from tests.sandboxes.repay import RepaySandbox

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]


@pytest.fixture
def repay_stack(repay_sandbox: RepaySandbox) -> Iterator[LocalStack]:
    with quick_stack([wiring(repay_sandbox)]) as stack:
        yield stack


def test_a_command_on_the_repay_queue_is_filed_once(repay_stack: LocalStack, repay_sandbox: RepaySandbox) -> None:
    receipt = samples.pdf("Receipt D-SQS-1")
    upload(repay_stack, "repay/D-SQS-1/cmd1/receipt.pdf", receipt, "application/pdf")
    command = {
        "deal_id": "D-SQS-1",
        "new_amount": 1000.5,
        "evidence": [{"key": "repay/D-SQS-1/cmd1/receipt.pdf", "content_type": "application/pdf"}],
    }

    repay_stack.send_message(REPAY_QUEUE, json.dumps(command))

    record = final_record(repay_stack, "D-SQS-1", timeout=15)
    assert (record["status"], record["source"], record["attempts"]) == ("submitted", "sqs", 1), record
    (dispute,) = [d for d in repay_sandbox.disputes if d.deal_id == "D-SQS-1"]
    assert record["provider_case_id"] == dispute.dispute_id
    assert dispute.new_amount == "1000.5"
    assert [f.sha256 for f in dispute.files] == [hashlib.sha256(receipt).hexdigest()]
    assert wait_for(lambda: messages_left(repay_stack, REPAY_QUEUE) == 0, 5)


def test_messages_naming_no_deal_go_to_the_repay_dead_letter_queue(repay_stack: LocalStack) -> None:
    poison = {"not JSON": "<xml/>", "no deal": json.dumps({"new_amount": "10", "evidence": []})}
    for body in poison.values():
        repay_stack.send_message(REPAY_QUEUE, body)

    def all_dead() -> list[dict[str, Any]] | None:
        found = dead_letters(repay_stack, REPAY_QUEUE, timeout=1)
        return found if len(found) == len(poison) else None

    dead = wait_for(all_dead, 15) or []

    assert sorted(message["Body"] for message in dead) == sorted(poison.values())
    reasons = {message["Body"]: message["MessageAttributes"]["reason"]["StringValue"] for message in dead}
    assert "not JSON" in reasons[poison["not JSON"]]
    assert "deal_id" in reasons[poison["no deal"]]
    # Put there by the worker, not redriven by SQS: no record, and nothing left to redeliver.
    assert records(repay_stack) == []
    assert wait_for(lambda: messages_left(repay_stack, REPAY_QUEUE) == 0, 5)
