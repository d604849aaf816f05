"""The local SQS poller warns of a queue whose visibility time-out is not longer than the batching
window: a message received as the window opens is visible again before it closes, and the next
receive hands it out again, into the same batch (the template-drift test's T-DRIFT-6, delivered twice)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from local.aws.template import SqsEventSource
from local.runtime.functions import LocalFunction
from local.runtime.poller import SqsPoller

REGION = "eu-west-1"
ACCOUNT = "123456789012"


def _poller(visibility: float, window: float) -> SqsPoller:
    """Made, never started: the warning is given when the poller is made, before any receive."""

    def handler(event: dict[str, Any], context: Any) -> None:
        return None

    source = SqsEventSource(
        logical_id="IimmpactQueueEvent",
        queue="IimmpactQueue",
        batch_size=3,
        batching_window_seconds=5,
        function_response_types=("ReportBatchItemFailures",),
        maximum_concurrency=None,
    )
    return SqsPoller(
        sqs=None,
        queue_url="https://sqs.eu-west-1.amazonaws.com/123456789012/iimmpact",
        queue_arn=f"arn:aws:sqs:{REGION}:{ACCOUNT}:iimmpact",
        source=source,
        function=LocalFunction("iimmpact-report", handler, 60, 256, REGION, ACCOUNT),
        region=REGION,
        batching_window_seconds=window,
        visibility_timeout_seconds=visibility,
    )


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]


@pytest.mark.parametrize(("visibility", "window"), [(1, 1), (1, 2), (5, 5)])
def test_a_visibility_time_out_not_longer_than_the_window_is_warned_of(
    caplog: pytest.LogCaptureFixture, visibility: float, window: float
) -> None:
    caplog.set_level(logging.WARNING, logger="local.runtime.poller")

    _poller(visibility, window)

    (warning,) = _warnings(caplog)
    assert warning.startswith(f"queue IimmpactQueue: its visibility time-out ({visibility} s)")
    assert f"batching window of IimmpactQueueEvent ({window} s)" in warning
    assert "handed out again while its batch is still held or handled" in warning
    # AWS's rule, with the function's time-out (60 s) it comes to.
    assert "at least the function's time-out (60 s)" in warning
    assert f"six times the function's time-out plus MaximumBatchingWindowInSeconds ({360 + window} s)" in warning


@pytest.mark.parametrize(("visibility", "window"), [(1, 0), (5, 1), (360, 5)])
def test_a_visibility_time_out_longer_than_the_window_is_not(
    caplog: pytest.LogCaptureFixture, visibility: float, window: float
) -> None:
    caplog.set_level(logging.WARNING, logger="local.runtime.poller")

    poller = _poller(visibility, window)

    assert _warnings(caplog) == []
    assert (poller.visibility_timeout_seconds, poller.batching_window_seconds) == (visibility, window)
