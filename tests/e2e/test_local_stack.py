"""The local stack end to end: template.yaml's resources on moto's server, the workers fed by their
queues' pollers (the Repay queue also by the evidence bucket's events, through its EventBridge
rule), the provider sandboxes answering over HTTP."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest

from local import samples
from local.providers import wiring
from local.stack import LocalStack, wait_for
from tests.conftest import ROOT
from tests.e2e.helpers import (
    BUCKET,
    IIMMPACT_QUEUE,
    REPAY_QUEUE,
    dead_letters,
    final_record,
    messages_left,
    records,
    upload,
)
from tests.sandboxes.iimmpact import Fault, IimmpactSandbox
from tests.sandboxes.repay import RepaySandbox

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

FUNCTION = "IimmpactReportFunction"


def test_a_queued_dispute_is_submitted_and_its_message_deleted(stack: LocalStack, sandbox: IimmpactSandbox) -> None:
    function = stack.functions[FUNCTION]
    events: list[dict[str, Any]] = []
    handler = function.handler

    def recording(event: dict[str, Any], context: Any) -> Any:
        events.append(event)
        return handler(event, context)

    function.handler = recording

    stack.send_message(IIMMPACT_QUEUE, json.dumps({"trxid": "T-E2E-1", "user_email": ["buyer@example.com"]}))

    record = final_record(stack, "T-E2E-1", timeout=10)
    assert record["status"] == "submitted"
    assert record["attempts"] == 1
    assert sandbox.reports_for("T-E2E-1") == 1
    assert wait_for(lambda: messages_left(stack, IIMMPACT_QUEUE) == 0, 5)
    # Lambda's SQS record shape, as in the sample event of the function.
    sample = json.loads((ROOT / "events/iimmpact_report/sqs-report.json").read_text())["Records"][0]
    delivered = events[0]["Records"][0]
    assert set(delivered) == set(sample)
    assert set(sample["attributes"]) <= set(delivered["attributes"])
    assert delivered["attributes"]["ApproximateReceiveCount"] == "1"
    assert delivered["eventSourceARN"] == stack.arn(IIMMPACT_QUEUE)


def test_a_message_that_is_not_json_is_dead_lettered_with_its_reason(stack: LocalStack) -> None:
    stack.send_message(IIMMPACT_QUEUE, "this is not JSON")

    dead = dead_letters(stack, IIMMPACT_QUEUE, timeout=10)

    assert [message["Body"] for message in dead] == ["this is not JSON"]
    reason = dead[0]["MessageAttributes"]["reason"]["StringValue"]
    assert "not JSON" in reason
    assert records(stack) == []
    # Handled (dead-lettered by the worker), so deleted from its queue rather than redelivered.
    assert wait_for(lambda: messages_left(stack, IIMMPACT_QUEUE) == 0, 5)


def test_a_persisting_transient_failure_ends_failed_and_in_the_dead_letter_queue(
    stack: LocalStack, sandbox: IimmpactSandbox
) -> None:
    max_receive_count = stack.model.queues[IIMMPACT_QUEUE].max_receive_count
    assert max_receive_count is not None
    sandbox.inject(*[Fault(status=503) for _ in range(max_receive_count)])

    stack.send_message(IIMMPACT_QUEUE, json.dumps({"trxid": "T-E2E-503"}))

    record = final_record(stack, "T-E2E-503", timeout=25)
    assert record["status"] == "failed"
    assert record["attempts"] == max_receive_count
    assert record["provider_http_status"] == 503
    assert sandbox.reports_for("T-E2E-503") == max_receive_count
    # SQS's redrive, not the worker, moves it: on the receive after the last delivery.
    dead = dead_letters(stack, IIMMPACT_QUEUE, timeout=10)
    assert [json.loads(message["Body"]) for message in dead] == [{"trxid": "T-E2E-503"}]
    assert "reason" not in dead[0].get("MessageAttributes", {})
    assert messages_left(stack, IIMMPACT_QUEUE) == 0


# -- Repay: evidence in S3 ---------------------------------------------------------------------------
@pytest.fixture
def repay_stack(repay_sandbox: RepaySandbox) -> Iterator[LocalStack]:
    with LocalStack(providers=[wiring(repay_sandbox)], batching_window_override=0) as stack:
        yield stack


@pytest.fixture
def idle_stack() -> Iterator[LocalStack]:
    """Resources and wiring only: nothing consumes the queues."""
    with LocalStack(poll=False) as stack:
        yield stack


def _drain(stack: LocalStack, queue: str) -> list[dict[str, Any]]:
    """Every message now on `queue`, bodies parsed, deleted as they are read."""
    sqs, url, bodies = stack.client("sqs"), stack.ref(queue), []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages"):
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def test_the_bucket_notifies_the_repay_queue_of_manifests_only(idle_stack: LocalStack) -> None:
    """Through EventBridge, as deployed: the bucket sends every event to the default bus, and Repay's
    rule (from the template) puts those of its manifests on its queue."""
    stack = idle_stack
    # No s3:TestEvent: S3 sends that to queues it notifies directly, and this bucket notifies none.
    assert _drain(stack, REPAY_QUEUE) == []

    # S3 sends as part of the upload and EventBridge delivers at once locally: they would be there by now.
    upload(stack, "repay/D-1/case1/receipt.pdf", samples.pdf("receipt"), "application/pdf")
    upload(stack, "other/D-1/case1/dispute.json", b"{}")
    upload(stack, "repay/D-1/case1/dispute.json.bak", b"{}")
    assert _drain(stack, REPAY_QUEUE) == []

    manifest = json.dumps({"new_amount": "10"}).encode()
    keys = ["repay/D-1/case1/dispute.json", "repay/D-1/case 2/Квитанция/dispute.json"]
    for key in keys:
        upload(stack, key, manifest, "application/json")
    events = _drain(stack, REPAY_QUEUE)

    assert len(events) == len(keys)
    for event in events:
        assert (event["source"], event["detail-type"]) == ("aws.s3", "Object Created")
        assert event["detail"]["bucket"]["name"] == stack.ref(BUCKET)
        assert event["detail"]["object"]["size"] == len(manifest)
    # Keys as stored, not URL-encoded (unlike S3's own notifications).
    assert sorted(event["detail"]["object"]["key"] for event in events) == sorted(keys)


def test_evidence_uploaded_to_s3_is_filed_with_repay_byte_for_byte(
    repay_stack: LocalStack, repay_sandbox: RepaySandbox
) -> None:
    folder = "repay/D-E2E-78/case1"
    evidence = {
        f"{folder}/receipt.png": (samples.png(), "image/png"),
        f"{folder}/Квитанция №1.pdf": (samples.pdf("Bank statement D-E2E-78"), "application/pdf"),
    }
    for key, (body, content_type) in evidence.items():
        upload(repay_stack, key, body, content_type)
    upload(repay_stack, f"{folder}/dispute.json", json.dumps({"new_amount": "250.5"}).encode(), "application/json")

    record = final_record(repay_stack, "D-E2E-78", timeout=30)

    assert record["status"] == "submitted", record
    assert (record["provider"], record["source"], record["attempts"]) == ("repay", "s3", 1)
    (dispute,) = [d for d in repay_sandbox.disputes if d.deal_id == "D-E2E-78"]
    assert dispute.new_amount == "250.5"
    sent = sorted((f.sha256, f.size, f.content_type, f.data) for f in dispute.files)
    uploaded = sorted((hashlib.sha256(body).hexdigest(), len(body), kind, body) for body, kind in evidence.values())
    assert sent == uploaded
    names = [f.filename for f in dispute.files]
    assert all(name.isascii() for name in names)
    assert sorted(name.rsplit(".", 1)[-1] for name in names) == ["pdf", "png"]
    assert len(set(names)) == len(names)
