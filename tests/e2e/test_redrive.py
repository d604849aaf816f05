"""scripts/redrive.py against the local stack, as an operator runs it with AWS_ENDPOINT_URL: a failed
dispute's dead letter goes back to its queue, and the dispute is filed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from local.stack import FAKE_CREDENTIALS, LocalStack, wait_for
from tests.conftest import ROOT
from tests.e2e.helpers import IIMMPACT_QUEUE, dead_letters, final_record, messages_left, records
from tests.sandboxes.iimmpact import Fault, IimmpactSandbox

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

REFERENCE = "T-E2E-REDRIVE"


def test_a_failed_disputes_dead_letter_is_redriven_and_filed(stack: LocalStack, sandbox: IimmpactSandbox) -> None:
    queue = stack.model.queues[IIMMPACT_QUEUE]
    assert queue.max_receive_count is not None and queue.dead_letter_queue is not None
    sandbox.inject(*[Fault(status=503) for _ in range(queue.max_receive_count)])
    stack.send_message(IIMMPACT_QUEUE, json.dumps({"trxid": REFERENCE}))
    assert final_record(stack, REFERENCE, timeout=25)["status"] == "failed"
    assert len(dead_letters(stack, IIMMPACT_QUEUE, timeout=10)) == 1

    dead_letter_queue = stack.ref(queue.dead_letter_queue)
    environment = {
        **{name: value for name, value in os.environ.items() if not name.startswith("AWS_")},
        **FAKE_CREDENTIALS,
        "AWS_ENDPOINT_URL": stack.endpoint_url,
        "AWS_DEFAULT_REGION": stack.model.region,
    }
    moved = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "redrive.py"), dead_letter_queue],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # Without --to: the queue that dead-lettered it, found by its redrive policy.
    assert moved.returncode == 0, moved.stderr
    assert moved.stdout.strip() == f"moved 1 message from {dead_letter_queue} to {stack.ref(IIMMPACT_QUEUE)}"

    def filed() -> dict[str, Any] | None:
        (record,) = [record for record in records(stack) if record["reference"] == REFERENCE]
        return record if record["status"] == "submitted" else None

    record = wait_for(filed, 15)
    assert record is not None, records(stack)
    assert record["attempts"] == queue.max_receive_count + 1
    assert sandbox.reports_for(REFERENCE) == queue.max_receive_count + 1
    assert wait_for(lambda: messages_left(stack, IIMMPACT_QUEUE) == 0, 10)
    assert dead_letters(stack, IIMMPACT_QUEUE, timeout=0) == []
