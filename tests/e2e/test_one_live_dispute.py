"""One live dispute per transaction across doors, on the local stack: the same deal through an
uploaded `dispute.json` and through `POST /disputes` reaches the Repay sandbox once, whichever
door comes first."""

from __future__ import annotations

import json
from typing import Any

import pytest

from local import samples
from local.stack import LocalStack, wait_for
from tests.e2e.helpers import records, upload
from tests.sandboxes.repay import RepaySandbox

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

DEAL = "D-E2E-DOORS"
FOLDER = f"repay/{DEAL}/case1"
COMMAND = {"provider": "repay", "deal_id": DEAL, "new_amount": "250.5", "evidence": [{"key": f"{FOLDER}/receipt.pdf"}]}


def _settled(stack: LocalStack, count: int) -> list[dict[str, Any]] | None:
    found = sorted((r for r in records(stack) if r["reference"] == DEAL), key=lambda r: r["created_at"])
    return found if len(found) == count and all(r["status"] in ("submitted", "rejected") for r in found) else None


def _upload_case(stack: LocalStack) -> None:
    upload(stack, f"{FOLDER}/dispute.json", json.dumps({"new_amount": "250.5"}).encode(), "application/json")


@pytest.fixture
def stack(served_stack: LocalStack) -> LocalStack:
    upload(served_stack, f"{FOLDER}/receipt.pdf", samples.pdf("receipt"), "application/pdf")
    return served_stack


def test_an_upload_then_an_api_request_for_its_deal_reach_repay_once(
    stack: LocalStack, repay_sandbox: RepaySandbox
) -> None:
    _upload_case(stack)
    filed = wait_for(lambda: _settled(stack, 1), 30)
    assert filed is not None and [r["source"] for r in filed] == ["s3"], records(stack)
    (live,) = filed

    answer = stack.call_api("POST", "/disputes", COMMAND)

    assert answer.status == 409, answer.body
    assert answer.body["dispute_id"] == live["dispute_id"]
    assert answer.headers["location"] == f"/disputes/{live['dispute_id']}"
    assert [r["dispute_id"] for r in records(stack) if r["reference"] == DEAL] == [live["dispute_id"]]
    assert repay_sandbox.disputes_for(DEAL) == 1


def test_an_api_request_then_an_upload_for_its_deal_reach_repay_once(
    stack: LocalStack, repay_sandbox: RepaySandbox
) -> None:
    answer = stack.call_api("POST", "/disputes", COMMAND)
    assert answer.status == 202, answer.body
    assert wait_for(lambda: _settled(stack, 1), 30) is not None, records(stack)

    _upload_case(stack)

    settled = wait_for(lambda: _settled(stack, 2), 30)
    assert settled is not None, records(stack)
    live, refused = settled
    assert (live["source"], live["status"]) == ("api", "submitted")
    assert (refused["source"], refused["status"]) == ("s3", "rejected")
    assert live["dispute_id"] in refused["error"] and refused["attempts"] == 0
    assert repay_sandbox.disputes_for(DEAL) == 1
