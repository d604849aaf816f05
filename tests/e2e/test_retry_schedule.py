"""The retry schedule on the local stack: the worker's visibility changes go to moto's SQS, whose
redelivery the poller follows, so the gaps between the sandbox's requests are the delays."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator

import pytest

from local.providers import wiring
from local.stack import LocalStack
from tests.e2e.conftest import quick_stack
from tests.e2e.helpers import IIMMPACT_QUEUE, final_record
from tests.sandboxes.iimmpact import Fault, IimmpactSandbox

# Delays of 1, 2 and 4 s before the second, third and fourth (last) delivery. With jitter the last,
# at the cap, may be drawn as short as 3 s (75 %); 1 and 2 s are too short for a whole second of it.
SCHEDULE = {"RetryBaseDelaySeconds": 1, "RetryMaxDelaySeconds": 4, "MaxReceiveCount": 4}
SHORTEST = [1, 2, 3]
# The poller's long poll and the batching window add to a delay, never take from it.
EARLY = 0.2


@pytest.fixture
def retrying_stack(sandbox: IimmpactSandbox) -> Iterator[LocalStack]:
    # The queue's own visibility time-out stays the template's (360 s): only the worker's delays
    # can bring a message back within this test.
    with quick_stack([wiring(sandbox)], parameter_overrides=SCHEDULE, visibility_timeout_override=None) as stack:
        yield stack


def gaps(sandbox: IimmpactSandbox) -> list[float]:
    times = [request.received_at for request in sandbox.requests]
    return [later - earlier for earlier, later in itertools.pairwise(times)]


def test_a_provider_back_within_the_window_gets_the_dispute_after_growing_delays(
    retrying_stack: LocalStack, sandbox: IimmpactSandbox
) -> None:
    sandbox.inject(Fault(status=503), Fault(status=502), Fault(status=503))
    retrying_stack.send_message(IIMMPACT_QUEUE, json.dumps({"trxid": "T-E2E-OUTAGE"}))

    record = final_record(retrying_stack, "T-E2E-OUTAGE", timeout=30)

    assert record["status"] == "submitted" and record["attempts"] == 4
    assert list(sandbox.cases) == ["T-E2E-OUTAGE"]
    waited = gaps(sandbox)
    assert len(waited) == 3
    assert all(gap >= delay - EARLY for gap, delay in zip(waited, SHORTEST, strict=True)), waited


def test_retry_after_holds_the_next_delivery_back(retrying_stack: LocalStack, sandbox: IimmpactSandbox) -> None:
    sandbox.inject(Fault(status=429, retry_after="3"))
    retrying_stack.send_message(IIMMPACT_QUEUE, json.dumps({"trxid": "T-E2E-429"}))

    assert final_record(retrying_stack, "T-E2E-429", timeout=20)["status"] == "submitted"

    [waited] = gaps(sandbox)
    assert waited >= 3 - EARLY, waited  # not the schedule's 1 s
