"""Outcomes end to end: the local stack runs the Repay outcome tracker on the template's schedule
(its period shortened), and a deal Repay's office decides shows up on the record by itself."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from local import samples
from local.providers import wiring
from local.stack import LocalStack, wait_for
from tests.e2e.conftest import quick_stack
from tests.e2e.helpers import REPAY_QUEUE, final_record, records, upload
from tests.sandboxes.repay import RepaySandbox

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]
TRACKER = "RepayOutcomeTrackerFunction"


@pytest.fixture
def tracked_stack(repay_sandbox: RepaySandbox) -> Iterator[LocalStack]:
    overrides = {TRACKER: {"OUTCOME_CHECK_INTERVAL_SECONDS": "0"}}
    with quick_stack([wiring(repay_sandbox)], schedule_override=0.5, environment_overrides=overrides) as stack:
        yield stack


def _file(stack: LocalStack, deal_id: str) -> None:
    key = f"repay/{deal_id}/cmd1/receipt.pdf"
    upload(stack, key, samples.pdf(f"Receipt {deal_id}"), "application/pdf")
    evidence = [{"key": key, "content_type": "application/pdf"}]
    stack.send_message(REPAY_QUEUE, json.dumps({"deal_id": deal_id, "new_amount": "1000", "evidence": evidence}))


def _resolved(stack: LocalStack, deal_id: str, resolution: str) -> dict[str, Any] | None:
    found = [record for record in records(stack) if record["reference"] == deal_id]
    return found[0] if found and found[0].get("resolution") == resolution else None


def test_the_tracker_runs_on_its_schedule_and_records_won_and_lost(
    tracked_stack: LocalStack, repay_sandbox: RepaySandbox
) -> None:
    (schedule,) = [s for s in tracked_stack.schedulers if s.schedule.logical_id.startswith(TRACKER)]
    assert schedule.schedule.expression == "rate(15 minutes)"  # the template's, run every 0.5 s here

    for deal_id in ("D-E2E-WON", "D-E2E-LOST", "D-E2E-OPEN"):
        _file(tracked_stack, deal_id)
        assert final_record(tracked_stack, deal_id, timeout=15)["status"] == "submitted"
    assert wait_for(lambda: _resolved(tracked_stack, "D-E2E-OPEN", "open") or None, 5)

    repay_sandbox.settle("D-E2E-WON", "completed", amount="975")
    repay_sandbox.settle("D-E2E-LOST", "reject_by_office")

    won = wait_for(lambda: _resolved(tracked_stack, "D-E2E-WON", "won"), 10)
    lost = wait_for(lambda: _resolved(tracked_stack, "D-E2E-LOST", "lost"), 10)
    assert won is not None and won["resolved_amount"] == "975"
    assert lost is not None and lost["provider_state"] == "reject_by_office"
    still_open = _resolved(tracked_stack, "D-E2E-OPEN", "open")
    assert still_open is not None and still_open["provider_state"] == "proceedings"
    assert schedule.invocations >= 2 and schedule.errors == 0
