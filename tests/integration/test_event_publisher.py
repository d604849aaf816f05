"""event_publisher over moto: the disputes table's stream in, `Dispute Changed` events on the bus out,
as a subscriber's EventBridge rule and SQS target receive them (CONTRACT section 10)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import jsonschema
import pytest

from tests.conftest import ROOT, FakeLambdaContext, deliver

SCHEMA = json.loads(Path(ROOT, "docs", "events", "dispute-changed.json").read_text(encoding="utf-8"))


def iimmpact_dispute(trxid: str = "T-1001", email: str = "buyer@example.com") -> Any:
    from dispute_gateway.models import Dispute, Source
    from dispute_gateway.providers.iimmpact.models import IimmpactReportRequest

    request = IimmpactReportRequest.model_validate({"trxid": trxid, "user_email": [email]})
    return Dispute.from_request(request, Source.SQS)


def publish(publisher: Any, batch: dict[str, Any]) -> list[str]:
    """Invoke the function with a batch; the sequence numbers it reports as failed."""
    answer = publisher.lambda_handler(batch, FakeLambdaContext())
    return [failure["itemIdentifier"] for failure in answer["batchItemFailures"]]


def dispute_sequence(batch: dict[str, Any]) -> list[str]:
    """The sequence numbers of the batch's dispute records, leaving out the items that say which
    dispute holds a transaction (written by the same transactions, and never published)."""
    from dispute_gateway.live import LIVE_ITEM_PREFIX

    return [
        record["dynamodb"]["SequenceNumber"]
        for record in batch["Records"]
        if not record["dynamodb"]["Keys"]["dispute_id"]["S"].startswith(LIVE_ITEM_PREFIX)
    ]


def changes(events: list[dict[str, Any]], dispute_id: str | None = None) -> list[tuple[str, str | None]]:
    return [
        (event["detail"]["status"], event["detail"]["resolution"])
        for event in sorted(events, key=lambda event: event["detail"]["updated_at"])
        if dispute_id is None or event["detail"]["dispute_id"] == dispute_id
    ]


class PutEventsFaults:
    """Makes EventBridge answer 200 with entries failed (FailedEntryCount), as PutEvents does under
    throttling or an internal failure, for the events a predicate picks, until healed."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.refused: list[dict[str, Any]] = []
        self._refuse: Callable[[dict[str, Any]], bool] = lambda detail: False
        client.meta.events.register_first("before-call.events.PutEvents", self._maybe_refuse)

    def refuse(self, predicate: Callable[[dict[str, Any]], bool]) -> None:
        self._refuse = predicate

    def heal(self) -> None:
        self._refuse = lambda detail: False

    def _maybe_refuse(self, params: dict[str, Any], **_: Any) -> Any:
        entries = json.loads(params["body"])["Entries"]  # the request as it would go on the wire
        if not any(self._refuse(json.loads(entry["Detail"])) for entry in entries):
            return None  # the call goes on to moto
        self.refused.extend(entries)
        failed = {"ErrorCode": "InternalFailure", "ErrorMessage": "Try again"}
        return SimpleNamespace(status_code=200, headers={}), {
            "FailedEntryCount": len(entries),
            "Entries": [failed] * len(entries),
        }


def counted(stdout: str) -> dict[str, int]:
    """The event metrics an invocation emitted (CloudWatch embedded metric format on stdout)."""
    totals: dict[str, int] = {}
    for line in stdout.splitlines():
        document = json.loads(line) if line.startswith("{") else {}
        for directive in document.get("_aws", {}).get("CloudWatchMetrics", []):
            for metric in directive["Metrics"]:
                values = document[metric["Name"]]
                totals[metric["Name"]] = totals.get(metric["Name"], 0) + int(
                    sum(values if isinstance(values, list) else [values])
                )
    return totals


@pytest.fixture
def put_events_faults(publisher: Any) -> PutEventsFaults:
    return PutEventsFaults(publisher.publisher._bus._client)


# -- one event per change, none for other writes --------------------------------------------------
def test_a_dispute_life_publishes_one_event_per_change_and_nothing_else(aws, stream, subscriber, publisher, store):
    from dispute_gateway.models import Resolution, Status

    dispute = iimmpact_dispute()
    store.create(dispute)
    store.mark_queued(dispute.dispute_id)  # no change a caller follows
    claim = store.claim(dispute, lease_seconds=60)  # an attempt counted with the change
    record = store.finish(claim, Status.SUBMITTED, resolution=Resolution.OPEN, provider_case_id="C-1")
    record = store.record_check(record, "disputed", 60, "2026-12-01T00:00:00.000Z")  # checked, still open
    store.resolve(record, Resolution.WON, state="completed", amount="990.50")

    assert publish(publisher, stream.batch()) == []

    events = subscriber.received()
    assert changes(events) == [
        ("received", None),
        ("submitting", None),
        ("submitted", "open"),
        ("submitted", "won"),
    ]
    created = min(events, key=lambda event: event["detail"]["updated_at"])
    assert "previous_status" not in created["detail"]
    won = max(events, key=lambda event: event["detail"]["updated_at"])["detail"]
    assert won["previous_status"] == "submitted" and won["previous_resolution"] == "open"
    assert won["provider_case_id"] == "C-1" and won["attempts"] == 1


def test_every_event_matches_the_committed_schema(aws, stream, subscriber, publisher, store):
    from dispute_gateway.models import Status

    dispute = iimmpact_dispute()
    store.create(dispute)
    claim = store.claim(dispute, lease_seconds=60)
    store.finish(claim, Status.REJECTED, error="trxid unknown", provider_message="Transaction not found")
    publish(publisher, stream.batch())

    events = subscriber.received()
    assert len(events) == 3
    validator = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker())
    for event in events:
        assert list(validator.iter_errors(event)) == []
        assert event["source"] == "dispute-gateway" and event["detail-type"] == "Dispute Changed"


def test_a_record_removed_publishes_nothing(aws, stream, subscriber, publisher, store):
    dispute = iimmpact_dispute()
    store.create(dispute)
    publish(publisher, stream.batch())
    subscriber.received()
    boto3.client("dynamodb").delete_item(TableName=aws.table, Key={"dispute_id": {"S": dispute.dispute_id}})

    assert publish(publisher, stream.batch()) == []
    assert subscriber.received() == []


# -- nothing secret -----------------------------------------------------------------------------
def test_no_event_carries_an_email_address_a_secret_or_a_signature(
    aws, stream, subscriber, publisher, iimmpact_sandbox, iimmpact_app
):
    """The worker signs with the real secret and IIMMPACT answers with its support address; every
    event of those disputes is searched."""
    worker = iimmpact_app()
    assert deliver(worker, {"trxid": "T-1001", "user_email": ["someone.private@example.com"]}) == []
    assert deliver(worker, {"trxid": "REFUNDED-7", "user_email": ["someone.private@example.com"]}) == []
    signatures = [request.headers["X-Signature"] for request in iimmpact_sandbox.requests]
    assert "support@iimmpact.com" in json.dumps(aws.records(), default=str)  # the record keeps the provider's answer

    assert publish(publisher, stream.batch()) == []

    events = subscriber.received()
    text = json.dumps(events)
    assert changes(events)[-1] == ("rejected", None) and "automatically refunded" in text
    assert "@" not in text
    for secret in (iimmpact_sandbox.api_key, iimmpact_sandbox.hmac_secret_b64, *signatures):
        assert secret not in text


# -- no silent loss: failed entries are reported and retried, in order per dispute ----------------
def test_a_refused_entry_is_reported_with_every_later_change_of_its_dispute(
    aws, stream, subscriber, publisher, store, put_events_faults, capsys
):
    from dispute_gateway.models import Resolution, Status

    first, other = iimmpact_dispute("T-1"), iimmpact_dispute("T-2")
    store.create(first)
    claim = store.claim(first, lease_seconds=60)
    store.create(other)
    store.finish(claim, Status.SUBMITTED, resolution=Resolution.UNTRACKED)
    batch = stream.batch()
    sequence = dispute_sequence(batch)
    put_events_faults.refuse(lambda detail: detail["status"] == "submitting")

    failures = publish(publisher, batch)

    # submitting was refused; submitted (same dispute, later) is held back; the other dispute goes.
    assert failures == [sequence[1], sequence[3]]
    assert len(put_events_faults.refused) == 1
    assert counted(capsys.readouterr().out) == {"EventsPublished": 2, "EventsNotPublished": 1}
    assert changes(subscriber.received()) == [("received", None), ("received", None)]

    # Lambda retries from the first failure reported: this time EventBridge takes them.
    put_events_faults.heal()
    retry = {"Records": [r for r in batch["Records"] if int(r["dynamodb"]["SequenceNumber"]) >= int(sequence[1])]}
    assert publish(publisher, retry) == []

    delivered = subscriber.received()
    assert changes(delivered, first.dispute_id) == [("submitting", None), ("submitted", "untracked")]
    assert changes(delivered, other.dispute_id) == [("received", None)]  # again: at least once


def test_events_of_one_dispute_leave_in_the_order_of_its_changes(aws, stream, subscriber, publisher, store):
    from dispute_gateway.models import Status

    sent: list[tuple[str, str]] = []
    client = publisher.publisher._bus._client
    client.meta.events.register(
        "before-parameter-build.events.PutEvents",
        lambda params, **_: sent.extend(
            (json.loads(e["Detail"])["dispute_id"], json.loads(e["Detail"])["status"]) for e in params["Entries"]
        ),
    )
    disputes = [iimmpact_dispute(f"T-{n}") for n in range(3)]
    for dispute in disputes:
        store.create(dispute)
    for dispute in disputes:
        claim = store.claim(dispute, lease_seconds=60)
        store.finish(claim, Status.FAILED, error="provider unavailable")
        store.finish(store.claim(dispute, lease_seconds=60), Status.SUBMITTED)

    assert publish(publisher, stream.batch()) == []

    for dispute in disputes:
        assert [status for dispute_id, status in sent if dispute_id == dispute.dispute_id] == [
            "received",
            "submitting",
            "failed",
            "submitting",
            "submitted",
        ]


def test_an_eventbridge_error_is_reported_not_raised(aws, stream, publisher, store):
    """No bus at all (e.g. deleted): every change is reported failed, the batch is not lost."""
    dispute = iimmpact_dispute()
    store.create(dispute)

    batch = stream.batch()
    assert publish(publisher, batch) == dispute_sequence(batch)
