"""One live dispute per transaction (CONTRACT section 3), whatever the door and the key: the API
answers 409 naming the live dispute, a queue request becomes a `rejected` record naming it, and a
new request is filed once the live one is `rejected` or `failed`. Enforced by DynamoDB
transactions, so two claimants at once cannot both get past it."""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import boto3
import pytest

from tests.conftest import AwsResources, deliver
from tests.sandboxes.iimmpact import Fault, IimmpactSandbox
from tests.sandboxes.repay import RepaySandbox

REPORT = {"trxid": "T-LIVE", "user_email": ["buyer@example.com"]}
PDF = b"%PDF-1.4\n" + b"receipt body " * 50 + b"\n%%EOF\n"


def records_of(aws: AwsResources, reference: str) -> list[dict[str, Any]]:
    return sorted((r for r in aws.records() if r["reference"] == reference), key=lambda r: r["created_at"])


def queued(aws: AwsResources, provider: str) -> list[dict[str, Any]]:
    response = boto3.client("sqs").receive_message(QueueUrl=aws.queue_urls[provider], MaxNumberOfMessages=10)
    return list(response.get("Messages", []))


# -- the API -------------------------------------------------------------------------------------
def test_the_api_refuses_another_request_for_a_live_transaction_naming_the_live_dispute(aws, api):
    first = api.call("POST", "/disputes", body={"provider": "iimmpact", **REPORT})
    assert first.status == 202
    live_id = first.body["dispute_id"]

    other = api.call(
        "POST", "/disputes", body={"provider": "iimmpact", "trxid": "T-LIVE", "user_email": ["other@example.com"]}
    )

    assert other.status == 409
    assert other.body["dispute_id"] == live_id and other.headers["location"] == f"/disputes/{live_id}"
    assert live_id in other.body["message"] and "nothing was filed" in other.body["message"]
    assert [r["dispute_id"] for r in records_of(aws, "T-LIVE")] == [live_id]
    assert len(queued(aws, "iimmpact")) == 1  # the first request's command only


def test_a_reused_key_is_refused_naming_the_dispute_that_holds_it(aws, api):
    headers = {"Idempotency-Key": "key-1"}
    first = api.call("POST", "/disputes", body={"provider": "iimmpact", **REPORT}, headers=headers)

    reused = api.call("POST", "/disputes", body={"provider": "iimmpact", "trxid": "T-OTHER"}, headers=headers)

    assert reused.status == 409
    holder = first.body["dispute_id"]
    assert reused.body["dispute_id"] == holder and reused.headers["location"] == f"/disputes/{holder}"
    assert holder in reused.body["message"]


def test_a_repeat_of_the_same_request_is_still_a_repeat_not_a_conflict(aws, api):
    first = api.call("POST", "/disputes", body={"provider": "iimmpact", **REPORT})
    again = api.call("POST", "/disputes", body={"provider": "iimmpact", **REPORT})
    assert (first.status, again.status) == (202, 200)
    assert again.body["dispute_id"] == first.body["dispute_id"]


# -- the queues ----------------------------------------------------------------------------------
def test_a_keyed_api_request_and_an_unkeyed_queue_command_file_once(
    aws, api, iimmpact_sandbox: IimmpactSandbox, iimmpact_app
):
    filed = api.call("POST", "/disputes", body={"provider": "iimmpact", **REPORT}, headers={"Idempotency-Key": "k-9"})
    app = iimmpact_app()
    (command,) = queued(aws, "iimmpact")
    assert deliver(app, command["Body"]) == []

    assert deliver(app, REPORT, message_id="m-2") == []  # the same report, without the key

    live, refused = records_of(aws, "T-LIVE")
    assert live["dispute_id"] == filed.body["dispute_id"] and live["status"] == "submitted"
    assert refused["status"] == "rejected" and refused["attempts"] == 0
    assert live["dispute_id"] in refused["error"] and "live dispute" in refused["error"]
    assert iimmpact_sandbox.reports_for("T-LIVE") == 1


def test_a_second_repay_command_with_another_amount_is_rejected_and_repay_hears_once(
    aws, repay_sandbox: RepaySandbox, repay_app
):
    aws.put_evidence("repay/D-LIVE/a/receipt.pdf", PDF, "application/pdf")
    app = repay_app()
    command = {"deal_id": "D-LIVE", "evidence": [{"key": "repay/D-LIVE/a/receipt.pdf"}]}

    assert deliver(app, {**command, "new_amount": "100"}) == []
    assert deliver(app, {**command, "new_amount": "90"}, message_id="m-2") == []

    live, refused = records_of(aws, "D-LIVE")
    assert (live["status"], refused["status"]) == ("submitted", "rejected")
    assert live["dispute_id"] in refused["error"]
    assert repay_sandbox.disputes_for("D-LIVE") == 1


def test_after_a_rejected_dispute_a_new_request_is_filed(aws, iimmpact_sandbox: IimmpactSandbox, iimmpact_app):
    app = iimmpact_app()
    iimmpact_sandbox.refunded.add("T-LIVE")
    deliver(app, REPORT)
    iimmpact_sandbox.refunded.discard("T-LIVE")

    assert deliver(app, {**REPORT, "user_email": ["other@example.com"]}, message_id="m-2") == []

    assert [r["status"] for r in records_of(aws, "T-LIVE")] == ["rejected", "submitted"]


def test_a_failed_dispute_frees_its_transaction_and_its_redrive_then_names_the_new_one(
    aws, iimmpact_sandbox: IimmpactSandbox, iimmpact_app
):
    app = iimmpact_app(QUEUE_MAX_RECEIVE_COUNT="1")  # the first delivery is the last
    iimmpact_sandbox.inject(Fault(status=503))
    assert deliver(app, REPORT) != []  # failed, on its way to the dead-letter queue
    (failed,) = records_of(aws, "T-LIVE")
    assert failed["status"] == "failed"

    second = {**REPORT, "user_email": ["other@example.com"]}
    assert deliver(app, second, message_id="m-2") == []
    assert deliver(app, REPORT, message_id="m-1-redriven") == []  # an operator redrives the failed one

    first, new = records_of(aws, "T-LIVE")
    assert new["status"] == "submitted"
    assert first["status"] == "rejected" and new["dispute_id"] in first["error"]
    assert iimmpact_sandbox.reports_for("T-LIVE") == 2  # the 503 and the new dispute


def test_a_holder_gone_from_the_table_frees_its_transaction(aws, iimmpact_sandbox, iimmpact_app, store):
    app = iimmpact_app()
    deliver(app, REPORT)
    (expired,) = records_of(aws, "T-LIVE")
    # As DynamoDB's TTL would remove a final record, leaving the transaction's live item behind.
    boto3.client("dynamodb").delete_item(TableName=aws.table, Key={"dispute_id": {"S": expired["dispute_id"]}})

    assert deliver(app, {**REPORT, "user_email": ["other@example.com"]}, message_id="m-2") == []

    (new,) = records_of(aws, "T-LIVE")
    # Sent: it is IIMMPACT, not the gateway, that answers it already has a request for the transaction.
    assert new["attempts"] == 1 and iimmpact_sandbox.reports_for("T-LIVE") == 2
    assert new["status"] == "rejected" and "already been created" in new["provider_message"]


# -- the race ------------------------------------------------------------------------------------
class TransactionsAtOnce:
    """Holds each transaction of the disputes table until `parties` are about to send theirs, so
    their writes certainly overlap (two workers, or the API and a worker, at the same moment)."""

    def __init__(self, client: Any, parties: int) -> None:
        self._barrier = threading.Barrier(parties, timeout=10)
        self._released = False
        client.meta.events.register("before-call.dynamodb.TransactWriteItems", self._hold)

    def _hold(self, **_: Any) -> None:
        if not self._released:
            with contextlib.suppress(threading.BrokenBarrierError):
                self._barrier.wait()
            self._released = True


@pytest.mark.parametrize("doors", [("worker", "worker"), ("api", "worker")])
def test_two_claimants_at_once_file_one_dispute(aws, store, doors):
    from dispute_gateway.live import LiveDisputeExists
    from dispute_gateway.models import Dispute, Source
    from dispute_gateway.providers.iimmpact.models import IimmpactReportRequest
    from dispute_gateway.store import DisputeStore

    client = boto3.client("dynamodb")
    racing = DisputeStore(aws.table, client)
    TransactionsAtOnce(client, parties=2)
    requests = [
        IimmpactReportRequest(trxid="T-RACE", user_email=[f"u{n}@example.com"], idempotency_key=f"k{n}")
        for n in range(2)
    ]
    outcomes: list[str] = []

    def claimant(door: str, request: IimmpactReportRequest) -> None:
        dispute = Dispute.from_request(request, Source.API if door == "api" else Source.SQS)
        try:
            if door == "api":
                racing.create(dispute)
            else:
                racing.claim(dispute, lease_seconds=60)
            outcomes.append("live")
        except LiveDisputeExists:
            outcomes.append("refused")

    threads = [threading.Thread(target=claimant, args=pair) for pair in zip(doors, requests, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)

    assert sorted(outcomes) == ["live", "refused"]
    assert len(records_of(aws, "T-RACE")) == 1
