"""What became of a dispute: the outcome tracker over moto and the Repay sandbox (CONTRACT section 9)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from tests.conftest import AwsResources, FakeLambdaContext, deliver, put_secret
from tests.integration.test_repay_worker import PDF, command
from tests.sandboxes.iimmpact import Fault


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def submitted(aws: AwsResources, repay_app: Any, deal_id: str) -> str:
    """A Repay dispute filed and accepted; its dispute_id."""
    key = f"repay/{deal_id}/cmd1/receipt.pdf"
    aws.put_evidence(key, PDF, "application/pdf")
    assert deliver(repay_app(), command(deal_id, "1000", key), message_id=f"m-{deal_id}") == []
    (record,) = [r for r in aws.records() if r["reference"] == deal_id]
    assert record["status"] == "submitted"
    return str(record["dispute_id"])


def run(tracker: Any) -> dict[str, int]:
    summary: dict[str, int] = tracker.lambda_handler({"source": "aws.events"}, FakeLambdaContext())
    return summary


def set_fields(aws: AwsResources, dispute_id: str, **values: Any) -> None:
    """Moves a record in time: what a test cannot wait for."""
    names = {f"#f{i}": name for i, name in enumerate(values)}
    boto3.resource("dynamodb").Table(aws.table).update_item(
        Key={"dispute_id": dispute_id},
        UpdateExpression="SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(values))),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues={f":v{i}": value for i, value in enumerate(values.values())},
    )


# -- what a user sees -----------------------------------------------------------------------------
def test_a_submitted_repay_dispute_is_open_then_won_at_the_deals_new_amount(
    aws, api, repay_sandbox, repay_app, tracker_app
):
    dispute_id = submitted(aws, repay_app, "D-WON")
    tracker = tracker_app()
    record = aws.record(dispute_id)
    assert record["resolution"] == "open" and record["tracked_provider"] == "repay"

    assert run(tracker)["checked"] == 1
    view = api.call("GET", "/disputes/{dispute_id}", f"/disputes/{dispute_id}").body
    assert (view["resolution"], view["provider_state"]) == ("open", "proceedings")
    assert "tracked_provider" not in view and "next_check_at" not in view

    repay_sandbox.settle("D-WON", "completed", amount="990.50")
    assert run(tracker)["resolved"] == 1

    view = api.call("GET", "/disputes/{dispute_id}", f"/disputes/{dispute_id}").body
    assert (view["resolution"], view["resolved_amount"], view["provider_state"]) == ("won", "990.50", "completed")
    assert view["resolved_at"] >= view["created_at"]
    assert [(entry["status"], entry.get("resolution")) for entry in view["history"]] == [
        ("submitting", None),
        ("submitted", "open"),
        ("submitted", "won"),
    ]
    assert view["history"][1]["attempts"] == 1 and view["history"][1]["provider_http_status"] == 200


def test_a_deal_rejected_by_the_office_is_lost(aws, repay_sandbox, repay_app, tracker_app):
    dispute_id = submitted(aws, repay_app, "D-LOST")
    repay_sandbox.settle("D-LOST", "reject_by_office")
    assert run(tracker_app())["resolved"] == 1
    record = aws.record(dispute_id)
    assert (record["resolution"], record["provider_state"], record["resolved_amount"]) == (
        "lost",
        "reject_by_office",
        None,
    )


def test_any_other_state_is_recorded_and_left_open(aws, repay_sandbox, repay_app, tracker_app):
    dispute_id = submitted(aws, repay_app, "D-ODD")
    repay_sandbox.settle("D-ODD", "waiting_payment")
    assert run(tracker_app())["checked"] == 1
    record = aws.record(dispute_id)
    assert (record["resolution"], record["provider_state"]) == ("open", "waiting_payment")


def test_an_iimmpact_dispute_is_untracked_once_submitted(aws, iimmpact_sandbox, iimmpact_app):
    deliver(iimmpact_app(), {"trxid": "T-UNTRACKED"})
    record = aws.only_record()
    assert (record["status"], record["resolution"]) == ("submitted", "untracked")
    assert record["resolved_at"] and "tracked_provider" not in record
    assert record["history"][-1]["resolution"] == "untracked"


def test_won_lost_and_untracked_are_never_checked_again(aws, repay_sandbox, repay_app, tracker_app):
    submitted(aws, repay_app, "D-FINAL")
    repay_sandbox.settle("D-FINAL", "completed")
    tracker = tracker_app()
    assert run(tracker)["resolved"] == 1
    requests_before = len(repay_sandbox.requests)
    repay_sandbox.settle("D-FINAL", "reject_by_office")
    assert run(tracker)["due"] == 0
    assert len(repay_sandbox.requests) == requests_before
    assert aws.only_record()["resolution"] == "won"


# -- failures stay local --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "fault",
    [Fault(status=429), Fault(status=503), Fault(delay=1.5), Fault(drop=True)],
    ids=["429", "503", "time-out", "dropped"],
)
def test_a_provider_error_leaves_that_dispute_open_and_stops_no_other(
    aws, repay_sandbox, repay_app, tracker_app, fault
):
    first, second = submitted(aws, repay_app, "D-ERR-1"), submitted(aws, repay_app, "D-ERR-2")
    repay_sandbox.settle("D-ERR-1", "completed")
    repay_sandbox.settle("D-ERR-2", "completed")
    repay_sandbox.inject_lookup(fault)

    summary = run(tracker_app())

    assert (summary["failed"], summary["resolved"]) == (1, 1)
    resolutions = sorted(aws.record(dispute)["resolution"] for dispute in (first, second))
    assert resolutions == ["open", "won"]
    # Left due: the next run asks again and settles it.
    assert run(tracker_app())["resolved"] == 1


def test_refused_credentials_are_read_again_once(aws, repay_sandbox, repay_app, tracker_app):
    dispute_id = submitted(aws, repay_app, "D-ROTATED")
    tracker = tracker_app()
    repay_sandbox.rotate_credentials("repay_rotated_key")
    put_secret(aws.repay_secret_id, {"api_key": "repay_rotated_key"})
    repay_sandbox.settle("D-ROTATED", "completed")
    assert run(tracker)["resolved"] == 1
    assert aws.record(dispute_id)["resolution"] == "won"


# -- how often, and for how long -------------------------------------------------------------------
def test_checks_of_an_unchanged_dispute_back_off_to_one_a_day(aws, repay_sandbox, repay_app, tracker_app):
    dispute_id = submitted(aws, repay_app, "D-SLOW")
    tracker = tracker_app(OUTCOME_CHECK_INTERVAL_SECONDS="900")
    intervals = []
    for _ in range(9):
        set_fields(aws, dispute_id, next_check_at=iso(datetime.now(UTC) - timedelta(seconds=1)))
        assert run(tracker)["checked"] == 1
        record = aws.record(dispute_id)
        intervals.append(record["check_interval"])
        # Not due again before its interval is over.
        assert run(tracker)["due"] == 0
    assert intervals == [900, 1800, 3600, 7200, 14400, 28800, 57600, 86400, 86400]

    # A change of state starts the backoff over.
    repay_sandbox.settle("D-SLOW", "waiting_payment")
    set_fields(aws, dispute_id, next_check_at=iso(datetime.now(UTC) - timedelta(seconds=1)))
    run(tracker)
    assert aws.record(dispute_id)["check_interval"] == 900


def test_interval_zero_checks_every_open_dispute_on_every_run(aws, repay_sandbox, repay_app, tracker_app):
    submitted(aws, repay_app, "D-EVERY")
    tracker = tracker_app(OUTCOME_CHECK_INTERVAL_SECONDS="0")
    assert [run(tracker)["checked"] for _ in range(3)] == [1, 1, 1]


def test_after_the_tracking_period_a_dispute_becomes_untracked(aws, repay_sandbox, repay_app, tracker_app):
    dispute_id = submitted(aws, repay_app, "D-OLD")
    set_fields(aws, dispute_id, tracked_since=iso(datetime.now(UTC) - timedelta(days=31)))
    requests_before = len(repay_sandbox.requests)

    assert run(tracker_app(OUTCOME_TRACKING_DAYS="30"))["untracked"] == 1

    record = aws.record(dispute_id)
    assert (record["resolution"], record["tracked_provider"]) == ("untracked", None)
    assert record["resolved_at"] is not None
    assert len(repay_sandbox.requests) == requests_before  # no provider call for it


def test_a_run_does_a_page_and_leaves_the_rest_for_the_next(aws, repay_sandbox, repay_app, tracker_app):
    for n in range(3):
        submitted(aws, repay_app, f"D-PAGE-{n}")
    tracker = tracker_app(OUTCOME_CHECKS_PER_RUN="2", OUTCOME_CHECK_INTERVAL_SECONDS="900")
    assert run(tracker)["checked"] == 2
    assert run(tracker)["checked"] == 1
    assert run(tracker)["due"] == 0


def test_overlapping_runs_neither_write_twice_nor_undo_a_resolution(aws, repay_sandbox, repay_app, tracker_app):
    """Two runs read the same due dispute; the one that writes second finds it changed and writes nothing."""
    from dispute_gateway.config import TrackerSettings, load_settings
    from dispute_gateway.outcomes import OutcomeTracker
    from dispute_gateway.providers.repay import SPEC
    from dispute_gateway.providers.spec import provider_settings_model
    from dispute_gateway.store import DisputeStore

    dispute_id = submitted(aws, repay_app, "D-RACE")
    tracker = tracker_app()
    (read_by_the_slow_run,) = DisputeStore(aws.table, boto3.client("dynamodb")).due_for_check(
        "repay", iso(datetime.now(UTC)), 10
    )

    class SlowRunStore(DisputeStore):
        def due_for_check(self, provider: str, now: str, limit: int) -> list[Any]:
            return [read_by_the_slow_run]

    repay_sandbox.settle("D-RACE", "completed")
    assert run(tracker)["resolved"] == 1
    repay_sandbox.settle("D-RACE", "reject_by_office")
    settings = load_settings(provider_settings_model(SPEC, TrackerSettings))
    slow = OutcomeTracker(tracker.tracker.checker, SlowRunStore(aws.table, boto3.client("dynamodb")), settings)

    assert slow.run(FakeLambdaContext()).superseded == 1

    record = aws.record(dispute_id)
    assert record["resolution"] == "won"
    assert [entry.get("resolution") for entry in record["history"]].count("won") == 1


def test_history_keeps_the_last_fifty_changes(aws, repay_sandbox, repay_app):
    """Every redelivery after a transient refusal is two changes (claimed, given back)."""
    from tests.sandboxes.repay import RepaySandbox

    assert isinstance(repay_sandbox, RepaySandbox)
    key = "repay/D-MANY/cmd1/receipt.pdf"
    aws.put_evidence(key, PDF, "application/pdf")
    app = repay_app(QUEUE_MAX_RECEIVE_COUNT="100")
    repay_sandbox.inject(*[Fault(status=429) for _ in range(30)])
    for delivery in range(1, 31):
        deliver(app, command("D-MANY", "1000", key), receive_count=delivery)
    deliver(app, command("D-MANY", "1000", key), receive_count=31)
    record = aws.only_record()
    assert record["status"] == "submitted"
    assert len(record["history"]) == 50
    assert record["history"][-1]["resolution"] == "open"
    assert record["history"][0]["at"] <= record["history"][-1]["at"]
