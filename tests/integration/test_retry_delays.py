"""Riding out a provider outage (CONTRACT section 11): the workers fed from their queues in moto,
the providers' sandboxes failing on cue. Each failed delivery but the last hides its message for
a delay that doubles (each drawn up to 25 % longer: jitter), never shorter than the provider's
Retry-After; the dispute is `failed` only on the last delivery; one request per dispute per
delivery."""

from __future__ import annotations

import email.utils
import json
import time
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.conftest import AwsResources, put_secret
from tests.integration.conftest import QueueFeed
from tests.sandboxes.iimmpact import Fault

REPORT = {"trxid": "T-1001", "user_email": ["buyer@example.com"]}
DELIVERIES = 5


@pytest.fixture
def iimmpact_feed(aws: AwsResources, iimmpact_app: Any) -> QueueFeed:
    app = iimmpact_app(QUEUE_MAX_RECEIVE_COUNT=str(DELIVERIES), WORKER_CONCURRENCY="1")
    return QueueFeed(aws.iimmpact_queue_url, aws.iimmpact_dlq_url, app, DELIVERIES)


def within(delays: list[int], windows: list[tuple[int, int]]) -> bool:
    """Each delay set inside its window (shortest, longest) of the jittered schedule."""
    return len(delays) == len(windows) and all(a <= d <= b for d, (a, b) in zip(delays, windows, strict=True))


def status_of(aws: AwsResources, reference: str) -> str:
    [record] = [record for record in aws.records() if record["reference"] == reference]
    return str(record["status"])


def test_an_outage_gets_growing_delays_and_the_dispute_is_filed_when_the_provider_is_back(
    aws, iimmpact_sandbox, iimmpact_feed
):
    iimmpact_sandbox.inject(Fault(status=503), Fault(status=502), Fault(status=500))
    message_id = iimmpact_feed.send(REPORT)

    for _ in range(3):
        assert iimmpact_feed.deliver() == [message_id]
        assert status_of(aws, "T-1001") == "submitting"  # not failed: deliveries are left
        assert iimmpact_feed.visible() == 0  # hidden until its next delivery is due
        iimmpact_feed.elapse()
    assert iimmpact_feed.deliver() == []

    assert within(iimmpact_feed.delays[message_id], [(60, 75), (120, 150), (240, 300)]), iimmpact_feed.delays
    assert status_of(aws, "T-1001") == "submitted"
    assert len(iimmpact_sandbox.requests) == 4  # one per delivery
    assert list(iimmpact_sandbox.cases) == ["T-1001"]  # filed once


def test_the_last_delivery_fails_the_dispute_without_a_delay_and_the_message_is_dead_lettered(
    aws, iimmpact_sandbox, iimmpact_feed
):
    iimmpact_sandbox.inject(*[Fault(status=503)] * DELIVERIES)
    message_id = iimmpact_feed.send(REPORT)

    for _ in range(DELIVERIES):
        assert iimmpact_feed.deliver() == [message_id]
        iimmpact_feed.elapse()

    # None after the last.
    windows = [(60, 75), (120, 150), (240, 300), (480, 600)]
    assert within(iimmpact_feed.delays[message_id], windows), iimmpact_feed.delays
    assert status_of(aws, "T-1001") == "failed"
    assert len(iimmpact_sandbox.requests) == DELIVERIES
    boto3.client("sqs").receive_message(QueueUrl=aws.iimmpact_queue_url)  # the receive that redrives it
    assert [json.loads(dead["Body"]) for dead in aws.dead_letters(aws.iimmpact_dlq_url)] == [REPORT]


def http_date(seconds_from_now: int) -> str:
    return email.utils.formatdate(time.time() + seconds_from_now, usegmt=True)


@pytest.mark.parametrize(
    ("status", "retry_after", "shortest", "longest"),
    [
        (429, lambda: "900", 900, 1125),  # longer than the schedule's 60 s: honoured, spread above
        (503, lambda: "5", 60, 75),  # shorter: the schedule's delay stands
        (503, lambda: http_date(7200), 7198, 9001),  # an HTTP date has a second's resolution
        (503, lambda: http_date(-60), 60, 75),  # a date already past
        (503, lambda: "soon", 60, 75),  # unreadable: ignored
    ],
)
def test_retry_after_is_honoured(aws, iimmpact_sandbox, iimmpact_feed, status, retry_after, shortest, longest):
    iimmpact_sandbox.inject(Fault(status=status, retry_after=retry_after()))
    message_id = iimmpact_feed.send(REPORT)

    iimmpact_feed.deliver()

    [set_delay] = iimmpact_feed.delays[message_id]
    assert shortest <= set_delay <= longest


def test_no_delay_reaches_past_sqs_twelve_hours(aws, iimmpact_sandbox, iimmpact_feed):
    iimmpact_sandbox.inject(Fault(status=503, retry_after=str(3 * 86400)))
    message_id = iimmpact_feed.send(REPORT)

    iimmpact_feed.deliver()

    # SQS counts 12 hours from the receive; what is set stays inside them, so it is accepted.
    [set_delay] = iimmpact_feed.delays[message_id]
    assert 43200 - 120 <= set_delay < 43200
    assert iimmpact_feed.visible() == 0


def test_one_slow_dispute_never_delays_the_others_of_its_batch(aws, iimmpact_sandbox, iimmpact_feed):
    iimmpact_sandbox.inject(Fault(status=503, retry_after="3600"), Fault(), Fault(status=502))
    slow = iimmpact_feed.send({"trxid": "T-1"})
    iimmpact_feed.send({"trxid": "T-2"})
    failing = iimmpact_feed.send({"trxid": "T-3"})

    assert sorted(iimmpact_feed.deliver()) == sorted([slow, failing])

    assert set(iimmpact_feed.delays) == {slow, failing}
    assert within(iimmpact_feed.delays[slow], [(3600, 4500)]) and within(iimmpact_feed.delays[failing], [(60, 75)])
    assert status_of(aws, "T-2") == "submitted"


def test_a_settled_or_hopeless_message_is_never_delayed(aws, iimmpact_sandbox, iimmpact_feed):
    iimmpact_feed.send(REPORT)
    assert iimmpact_feed.deliver() == []
    iimmpact_feed.send(REPORT)  # its dispute is settled
    iimmpact_feed.send({"trxid": "REFUNDED-1"})  # IIMMPACT refuses it for good
    iimmpact_feed.send("not JSON")  # can never succeed

    assert iimmpact_feed.deliver() == []  # every one acknowledged, none delayed

    assert iimmpact_feed.delays == {}
    assert iimmpact_feed.visible() == 0


def test_a_dispute_held_by_another_delivery_comes_back_at_the_queue_pace(aws, iimmpact_sandbox, iimmpact_feed):
    from dispute_gateway.models import Dispute, Source
    from dispute_gateway.providers.iimmpact.models import IimmpactReportRequest
    from dispute_gateway.store import DisputeStore

    dispute = Dispute.from_request(IimmpactReportRequest.model_validate(REPORT), Source.SQS)
    DisputeStore(aws.table, boto3.client("dynamodb")).claim(dispute, lease_seconds=600)  # a delivery at work
    message_id = iimmpact_feed.send(REPORT)

    assert iimmpact_feed.deliver() == [message_id]

    assert iimmpact_feed.delays == {}  # not the provider's fault: no growing delay
    assert iimmpact_sandbox.requests == []


def test_a_visibility_change_that_fails_loses_nothing(aws, iimmpact_sandbox, iimmpact_feed, iimmpact_app, log_output):
    def throttled(**_: Any) -> None:
        raise ClientError(
            {"Error": {"Code": "RequestThrottled", "Message": "slow down"}}, "ChangeMessageVisibilityBatch"
        )

    iimmpact_feed._app.worker._delays._client.meta.events.register(
        "before-call.sqs.ChangeMessageVisibilityBatch", throttled
    )
    iimmpact_sandbox.inject(Fault(status=503))
    message_id = iimmpact_feed.send(REPORT)

    assert iimmpact_feed.deliver() == [message_id]  # still reported: the message comes back

    assert status_of(aws, "T-1001") == "submitting"
    assert "Could not delay the next deliveries" in log_output.getvalue()
    iimmpact_feed.elapse()
    assert iimmpact_feed.deliver() == []
    assert status_of(aws, "T-1001") == "submitted"


def test_an_expired_receipt_handle_is_logged_and_the_others_are_delayed(
    aws, iimmpact_sandbox, iimmpact_feed, log_output
):
    iimmpact_sandbox.inject(Fault(status=503), Fault(status=503))
    first = iimmpact_feed.send({"trxid": "T-1"})
    second = iimmpact_feed.send({"trxid": "T-2"})

    def expire_the_first(params: dict[str, Any], **_: Any) -> None:
        params["Entries"][0]["ReceiptHandle"] = "expired"

    iimmpact_feed._app.worker._delays._client.meta.events.register(
        "before-parameter-build.sqs.ChangeMessageVisibilityBatch", expire_the_first
    )

    assert sorted(iimmpact_feed.deliver()) == sorted([first, second])

    said = {line["message"]: line for line in map(json.loads, log_output.getvalue().splitlines())}
    assert said["Could not delay the next delivery: it comes at the queue's visibility time-out"]["message_id"] == first
    assert said["Next delivery delayed"]["message_id"] == second


def test_credentials_refused_follow_the_same_schedule_one_request_per_delivery(aws, iimmpact_sandbox, iimmpact_feed):
    put_secret(aws.iimmpact_secret_id, {"api_key": "iimm_wrong", "hmac_secret": iimmpact_sandbox.hmac_secret_b64})
    message_id = iimmpact_feed.send(REPORT)

    assert iimmpact_feed.deliver() == [message_id]
    assert len(iimmpact_sandbox.requests) == 1

    # The key is put right; the next delivery reads the secret afresh.
    put_secret(
        aws.iimmpact_secret_id, {"api_key": iimmpact_sandbox.api_key, "hmac_secret": iimmpact_sandbox.hmac_secret_b64}
    )
    iimmpact_feed.elapse()
    assert iimmpact_feed.deliver() == []

    assert within(iimmpact_feed.delays[message_id], [(60, 75)])
    assert len(iimmpact_sandbox.requests) == 2
    assert status_of(aws, "T-1001") == "submitted"


# -- Repay: the same pipeline ----------------------------------------------------------------------
@pytest.fixture
def repay_feed(aws: AwsResources, repay_app: Any) -> QueueFeed:
    app = repay_app(QUEUE_MAX_RECEIVE_COUNT=str(DELIVERIES), RETRY_BASE_DELAY_SECONDS="300")
    return QueueFeed(aws.repay_queue_url, aws.repay_dlq_url, app, DELIVERIES)


def test_repay_down_gets_the_same_schedule_and_one_request_per_delivery(aws, repay_sandbox, repay_feed):
    from local import samples

    boto3.client("s3").put_object(
        Bucket=aws.evidence_bucket,
        Key="repay/D-77/c/receipt.pdf",
        Body=samples.pdf("receipt"),
        ContentType="application/pdf",
    )
    repay_sandbox.inject_lookup(Fault(status=503), Fault(status=503, retry_after="1800"))
    command = {"deal_id": "D-77", "new_amount": "1000", "evidence": [{"key": "repay/D-77/c/receipt.pdf"}]}
    message_id = repay_feed.send(command)

    for _ in range(2):
        assert repay_feed.deliver() == [message_id]
        repay_feed.elapse()
    assert repay_feed.deliver() == []

    # Base 300 here; then Repay's Retry-After.
    assert within(repay_feed.delays[message_id], [(300, 375), (1800, 2250)]), repay_feed.delays
    assert len(repay_sandbox.requests) == 2 + 2  # a lookup per failed delivery; lookup and POST at last
    assert status_of(aws, "D-77") == "submitted"
