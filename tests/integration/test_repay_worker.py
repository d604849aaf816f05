"""The repay_dispute worker: S3 evidence streamed to the Repay sandbox over HTTP, exactly once."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from tests.conftest import AwsResources, deliver, object_created, put_secret, s3_notification
from tests.sandboxes.iimmpact import Fault
from tests.sandboxes.repay import RepaySandbox

PDF = b"%PDF-1.4\n" + b"receipt body " * 50 + b"\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
JPEG = b"\xff\xd8\xff\xe0" + b"jpeg" * 100


def command(deal_id: str = "D-77", amount: Any = "1000", *keys: str, **extra: Any) -> dict[str, Any]:
    return {
        "deal_id": deal_id,
        "new_amount": amount,
        "evidence": [{"key": key} for key in (keys or ("repay/D-77/cmd1/receipt.pdf",))],
        **extra,
    }


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def receipt(aws: AwsResources) -> str:
    key = "repay/D-77/cmd1/receipt.pdf"
    aws.put_evidence(key, PDF, "application/pdf")
    return key


# -- the command form -----------------------------------------------------------------------
def test_command_files_one_dispute_with_byte_identical_evidence(aws, repay_sandbox: RepaySandbox, repay_app, receipt):
    aws.put_evidence("repay/D-77/cmd1/photo.png", PNG, "image/png")
    body = command("D-77", "1000", receipt, "repay/D-77/cmd1/photo.png")

    assert deliver(repay_app(), body) == []

    record = aws.only_record()
    [dispute] = repay_sandbox.disputes
    assert record["status"] == "submitted"
    assert record["provider"] == "repay" and record["reference"] == "D-77" and record["source"] == "sqs"
    assert record["provider_case_id"] == dispute.dispute_id
    assert record["attempts"] == 1
    assert dispute.new_amount == "1000"
    assert [(f.filename, f.content_type, f.sha256) for f in dispute.files] == [
        ("receipt.pdf", "application/pdf", sha(PDF)),
        ("photo.png", "image/png", sha(PNG)),
    ]
    assert dispute.headers.get("api-key") == repay_sandbox.api_key
    assert dispute.headers.get("origin") == "merchant.example"


@pytest.mark.parametrize(
    ("amount", "sent"),
    [("1000", "1000"), (250.5, "250.5"), (1000.0000001, "1000.0000001"), (1e16, "10000000000000000"), ("0.50", "0.50")],
)
def test_amount_is_sent_as_a_plain_decimal(aws, repay_sandbox, repay_app, receipt, amount, sent):
    deliver(repay_app(), command("D-77", amount, receipt))
    assert repay_sandbox.disputes[0].new_amount == sent


def test_file_names_arrive_in_latin_and_unique(aws, repay_sandbox, repay_app):
    keys = ["repay/D-77/c/Квитанция №1.pdf", "repay/D-77/c/reçu.pdf", "repay/D-77/c/sub/recu.pdf"]
    for key in keys:
        aws.put_evidence(key, PDF, "application/pdf")
    deliver(repay_app(), command("D-77", "10", *keys))
    assert [f.filename for f in repay_sandbox.disputes[0].files] == ["Kvitantsiya_No1.pdf", "recu.pdf", "recu-2.pdf"]


def test_redelivered_command_opens_no_second_dispute(aws, repay_sandbox, repay_app, receipt):
    app = repay_app()
    deliver(app, command("D-77", "1000", receipt))
    assert deliver(app, command("D-77", "1000.00", receipt), receive_count=2, message_id="m-2") == []
    assert repay_sandbox.disputes_for("D-77") == 1


# -- evidence refusals: before any byte goes to Repay ----------------------------------------
@pytest.mark.parametrize(
    ("objects", "evidence", "environment", "reason"),
    [
        ({}, [{"key": "repay/D-77/c/missing.pdf"}], {}, "evidence missing: repay/D-77/c/missing.pdf"),
        ({"repay/D-77/c/empty.pdf": (b"", "application/pdf")}, None, {}, "is empty"),
        (
            {"repay/D-77/c/big.pdf": (PDF, "application/pdf")},
            None,
            {"EVIDENCE_MAX_FILE_BYTES": "100"},
            "more than the 100 allowed",
        ),
        (
            {"repay/D-77/c/a.pdf": (PDF, "application/pdf"), "repay/D-77/c/b.pdf": (PDF, "application/pdf")},
            None,
            {"EVIDENCE_MAX_TOTAL_BYTES": str(len(PDF) + 1)},
            "in all, more than",
        ),
        (
            {"repay/D-77/c/a.pdf": (PDF, "application/pdf"), "repay/D-77/c/b.pdf": (PDF, "application/pdf")},
            None,
            {"EVIDENCE_MAX_FILES": "1"},
            "2 files, more than the 1 allowed",
        ),
        ({"repay/D-77/c/notes.txt": (b"hello", "text/plain")}, None, {}, "type text/plain is not allowed"),
        (
            {"repay/D-77/c/fake.pdf": (PNG, "application/pdf")},
            None,
            {},
            "its bytes do not match its type, application/pdf",
        ),
        ({"repay/D-77/c/photo.jpg": (PDF, None)}, None, {}, "its bytes do not match its type, image/jpeg"),
        ({"other/receipt.pdf": (PDF, "application/pdf")}, None, {}, "other/receipt.pdf is not under repay/D-77/"),
    ],
    ids=[
        "missing",
        "empty",
        "file-too-big",
        "total-too-big",
        "too-many",
        "type-not-allowed",
        "magic-mismatch",
        "type-from-extension",
        "outside-repay",
    ],
)
def test_evidence_that_breaks_a_rule_is_rejected_before_repay_is_called(
    aws, repay_sandbox, repay_app, objects, evidence, environment, reason
):
    for key, (data, content_type) in objects.items():
        aws.put_evidence(key, data, content_type)
    body = {"deal_id": "D-77", "new_amount": "5", "evidence": evidence or [{"key": key} for key in objects]}

    assert deliver(repay_app(**environment), body) == []

    record = aws.only_record()
    assert record["status"] == "rejected"
    assert reason in record["error"]
    assert repay_sandbox.requests == []


def test_declared_type_wins_over_stored_metadata(aws, repay_sandbox, repay_app):
    aws.put_evidence("repay/D-77/c/scan", JPEG, "binary/octet-stream")
    deliver(
        repay_app(),
        {
            "deal_id": "D-77",
            "new_amount": "5",
            "evidence": [{"key": "repay/D-77/c/scan", "content_type": "image/jpeg", "filename": "scan.jpg"}],
        },
    )
    [item] = repay_sandbox.disputes[0].files
    assert (item.filename, item.content_type) == ("scan.jpg", "image/jpeg")


# -- the S3 upload form ------------------------------------------------------------------------
def upload_case(aws: AwsResources, folder: str, manifest: dict[str, Any]) -> str:
    aws.put_evidence(f"{folder}receipt.png", PNG, "image/png")
    aws.put_evidence(f"{folder}Квитанция №1.pdf", PDF, "application/pdf")
    return aws.put_evidence(f"{folder}dispute.json", json.dumps(manifest).encode(), "application/json")


def test_upload_with_manifest_files_the_dispute_with_the_whole_folder(aws, repay_sandbox, repay_app):
    etag = upload_case(aws, "repay/D-78/case 1/", {"new_amount": "250.5"})
    message = {"Records": [s3_notification(aws.evidence_bucket, "repay/D-78/case 1/dispute.json", etag)]}

    assert deliver(repay_app(), message) == []

    record = aws.only_record()
    assert record["status"] == "submitted" and record["source"] == "s3" and record["reference"] == "D-78"
    [dispute] = repay_sandbox.disputes
    assert dispute.new_amount == "250.5"
    assert sorted((f.filename, f.sha256) for f in dispute.files) == sorted(
        [("receipt.png", sha(PNG)), ("Kvitantsiya_No1.pdf", sha(PDF))]
    )


def test_manifest_naming_files_sends_only_those(aws, repay_sandbox, repay_app):
    etag = upload_case(aws, "repay/D-78/c2/", {"new_amount": "9", "files": ["receipt.png"]})
    deliver(repay_app(), {"Records": [s3_notification(aws.evidence_bucket, "repay/D-78/c2/dispute.json", etag)]})
    assert [f.filename for f in repay_sandbox.disputes[0].files] == ["receipt.png"]


def test_same_manifest_notified_twice_files_once(aws, repay_sandbox, repay_app):
    etag = upload_case(aws, "repay/D-78/c3/", {"new_amount": "9"})
    key = "repay/D-78/c3/dispute.json"
    app = repay_app()
    both = {
        "Records": [
            s3_notification(aws.evidence_bucket, key, etag),
            s3_notification(aws.evidence_bucket, key, etag, "ObjectCreated:CompleteMultipartUpload"),
        ]
    }
    assert deliver(app, both) == []
    assert deliver(app, {"Records": [s3_notification(aws.evidence_bucket, key, etag)]}, message_id="m-2") == []
    assert repay_sandbox.disputes_for("D-78") == 1
    assert len(aws.records()) == 1


def test_eventbridge_event_files_the_dispute_as_the_s3_notification_would(aws, repay_sandbox, repay_app):
    """The bucket's events reach the queue through an EventBridge rule: the event is the message
    body, its key as stored (a + is a +, a space a space)."""
    folder = "repay/D-78/case 1+2/"
    etag = upload_case(aws, folder, {"new_amount": "250.5"})
    app = repay_app()

    assert deliver(app, object_created(aws.evidence_bucket, folder + "dispute.json", etag)) == []
    # The same upload told again in S3's own shape (a message queued before the bucket moved to
    # EventBridge): the same dispute, filed once.
    again = {"Records": [s3_notification(aws.evidence_bucket, folder + "dispute.json", etag)]}
    assert deliver(app, again, message_id="m-2") == []

    record = aws.only_record()
    assert (record["status"], record["source"], record["reference"]) == ("submitted", "s3", "D-78")
    assert repay_sandbox.disputes_for("D-78") == 1
    assert sorted(f.filename for f in repay_sandbox.disputes[0].files) == ["Kvitantsiya_No1.pdf", "receipt.png"]


def test_eventbridge_event_of_an_object_that_only_looks_like_a_manifest_is_ignored(aws, repay_sandbox, repay_app):
    etag = aws.put_evidence("repay/D-80/c/x-dispute.json", b"{}", "application/json")
    assert deliver(repay_app(), object_created(aws.evidence_bucket, "repay/D-80/c/x-dispute.json", etag)) == []
    assert aws.records() == [] and repay_sandbox.requests == []
    assert aws.dead_letters(aws.repay_dlq_url) == []


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (object_created("evidence", "repay/D-1/c/dispute.json", "e", detail_type="Object Deleted"), "Object Deleted"),
        ({**object_created("evidence", "k", "e"), "detail": {"bucket": {"name": "evidence"}}}, "detail.object.key"),
    ],
)
def test_eventbridge_event_that_tells_of_no_new_object_is_dead_lettered(aws, repay_sandbox, repay_app, event, reason):
    assert deliver(repay_app(), event) == []
    [dead] = aws.dead_letters(aws.repay_dlq_url)
    assert reason in dead["MessageAttributes"]["reason"]["StringValue"]
    assert aws.records() == [] and repay_sandbox.requests == []


def test_s3_test_event_is_acknowledged_and_ignored(aws, repay_sandbox, repay_app):
    test_event = {
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": "2026-11-21T06:00:00Z",
        "Bucket": aws.evidence_bucket,
        "RequestId": "R",
        "HostId": "H",
    }
    assert deliver(repay_app(), test_event) == []
    assert aws.records() == [] and repay_sandbox.requests == []
    assert aws.dead_letters(aws.repay_dlq_url) == []


def test_manifest_that_is_not_valid_is_rejected_naming_the_deal(aws, repay_sandbox, repay_app):
    etag = aws.put_evidence("repay/D-79/c/dispute.json", b'{"new_amount": "1e3"}', "application/json")
    deliver(repay_app(), {"Records": [s3_notification(aws.evidence_bucket, "repay/D-79/c/dispute.json", etag)]})
    record = aws.only_record()
    assert (record["status"], record["reference"]) == ("rejected", "D-79")
    assert "new_amount" in record["error"]


# -- exactly once despite Repay ---------------------------------------------------------------
@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(Fault(status=502, act=True), id="5xx-after-acting"),
        pytest.param(Fault(delay=1.5, act=True), id="timeout-after-acting"),
        pytest.param(Fault(drop=True, act=True), id="connection-dropped-after-reading"),
    ],
)
def test_in_doubt_attempt_that_landed_is_not_posted_again(aws, repay_sandbox, repay_app, receipt, fault):
    app = repay_app()
    repay_sandbox.inject(fault)

    assert deliver(app, command("D-77", "1000", receipt)) == ["m-1"]
    assert aws.only_record()["status"] == "submitting"

    assert deliver(app, command("D-77", "1000", receipt), receive_count=2) == []
    record = aws.only_record()
    assert record["status"] == "submitted"
    assert "case id for it is unknown" in record["provider_message"]
    assert "provider_case_id" not in record
    assert repay_sandbox.disputes_for("D-77") == 1
    assert repay_sandbox.deals["D-77"] == "proceedings"


def test_in_doubt_attempt_that_did_not_land_is_posted_again(aws, repay_sandbox, repay_app, receipt):
    app = repay_app()
    repay_sandbox.inject(Fault(status=503))
    deliver(app, command("D-77", "1000", receipt))
    assert aws.only_record()["in_doubt"] is True

    assert deliver(app, command("D-77", "1000", receipt), receive_count=2) == []
    record = aws.only_record()
    assert record["status"] == "submitted"
    assert record["provider_case_id"] == repay_sandbox.disputes[0].dispute_id
    assert repay_sandbox.disputes_for("D-77") == 1


def test_a_dispute_opened_before_ours_is_not_mistaken_for_ours(aws, repay_sandbox, repay_app, receipt):
    repay_sandbox.deals["D-77"] = "proceedings"  # someone disputed the deal before us
    app = repay_app()
    repay_sandbox.inject(Fault(status=503))  # our first attempt does not land
    deliver(app, command("D-77", "1000", receipt))

    deliver(app, command("D-77", "1000", receipt), receive_count=2)
    assert aws.only_record()["provider_case_id"] == repay_sandbox.disputes[0].dispute_id
    assert repay_sandbox.deals["D-77"] == "proceedings2"


def test_a_landed_retry_on_an_already_disputed_deal_is_recognised(aws, repay_sandbox, repay_app, receipt):
    repay_sandbox.deals["D-77"] = "proceedings"
    app = repay_app()
    repay_sandbox.inject(Fault(status=504, act=True))
    deliver(app, command("D-77", "1000", receipt))

    deliver(app, command("D-77", "1000", receipt), receive_count=2)
    assert aws.only_record()["status"] == "submitted"
    assert repay_sandbox.disputes_for("D-77") == 1


# -- answers and faults ---------------------------------------------------------------------------
@pytest.mark.parametrize("status", [408, 429])
def test_retryable_refusal_returns_the_message_and_is_not_in_doubt(aws, repay_sandbox, repay_app, receipt, status):
    app = repay_app()
    repay_sandbox.inject(Fault(status=status))
    assert deliver(app, command("D-77", "1000", receipt)) == ["m-1"]
    record = aws.only_record()
    assert (record["status"], record["in_doubt"], record["provider_http_status"]) == ("received", False, status)
    assert deliver(app, command("D-77", "1000", receipt), receive_count=2) == []
    assert aws.only_record()["status"] == "submitted"


def test_refusal_by_repay_is_rejected_with_its_body(aws, repay_sandbox, repay_app, receipt):
    repay_sandbox.inject(Fault(status=422))
    deliver(repay_app(), command("D-77", "1000", receipt))
    record = aws.only_record()
    assert record["status"] == "rejected"
    assert record["provider_http_status"] == 422
    assert "Repay refused the dispute (HTTP 422)" in record["error"]


def test_unknown_deal_is_rejected(aws, repay_sandbox, repay_app):
    aws.put_evidence("repay/UNKNOWN-1/c/receipt.pdf", PDF, "application/pdf")
    deliver(repay_app(), command("UNKNOWN-1", "1", "repay/UNKNOWN-1/c/receipt.pdf"))
    record = aws.only_record()
    assert record["status"] == "rejected" and "does not know deal" in record["error"]


def test_rotated_api_key_is_fetched_again_once(aws, repay_sandbox, repay_app, receipt):
    app = repay_app()
    repay_sandbox.rotate_credentials("repay_rotated_key")
    put_secret(aws.repay_secret_id, {"api_key": "repay_rotated_key"})
    assert deliver(app, command("D-77", "1000", receipt)) == []
    assert aws.only_record()["status"] == "submitted"


def test_last_delivery_records_failed(aws, repay_sandbox, repay_app, receipt):
    app = repay_app(QUEUE_MAX_RECEIVE_COUNT="1")
    repay_sandbox.inject(Fault(status=500))
    assert deliver(app, command("D-77", "1000", receipt)) == ["m-1"]
    assert aws.only_record()["status"] == "failed"


# -- bad input ---------------------------------------------------------------------------------------
def test_command_without_deal_goes_to_the_dead_letter_queue(aws, repay_sandbox, repay_app):
    assert deliver(repay_app(), {"new_amount": "5", "evidence": []}) == []
    [dead] = aws.dead_letters(aws.repay_dlq_url)
    assert "deal_id" in dead["MessageAttributes"]["reason"]["StringValue"]


def test_command_with_bad_amount_is_rejected_naming_the_field(aws, repay_sandbox, repay_app, receipt):
    deliver(repay_app(), command("D-77", "1e3", receipt))
    record = aws.only_record()
    assert record["status"] == "rejected"
    assert "new_amount" in record["error"]
    assert repay_sandbox.requests == []


def test_object_that_only_looks_like_a_manifest_is_ignored_by_name(aws, repay_sandbox, repay_app, log_output):
    etag = aws.put_evidence("repay/D-80/c/x-dispute.json", b"{}", "application/json")
    message = {"Records": [s3_notification(aws.evidence_bucket, "repay/D-80/c/x-dispute.json", etag)]}
    assert deliver(repay_app(), message) == []
    assert aws.records() == [] and repay_sandbox.requests == []
    assert aws.dead_letters(aws.repay_dlq_url) == []
    assert "repay/D-80/c/x-dispute.json" in log_output.getvalue()


def test_manifest_outside_a_folder_is_rejected_with_its_reason(aws, repay_sandbox, repay_app):
    """`aws s3 cp m.json s3://$BUCKET/repay/D-1/dispute.json`: bad input, kept, never dropped."""
    etag = aws.put_evidence("repay/D-81/dispute.json", b'{"new_amount": "5"}', "application/json")
    message = {"Records": [s3_notification(aws.evidence_bucket, "repay/D-81/dispute.json", etag)]}

    assert deliver(repay_app(), message) == []
    assert deliver(repay_app(), message, message_id="m-2") == []

    record = aws.only_record()
    assert (record["status"], record["reference"], record["source"]) == ("rejected", "D-81", "s3")
    assert "repay/D-81/dispute.json is not in a folder of its own" in record["error"]
    assert "repay/{deal}/{folder}/dispute.json" in record["error"]
    assert repay_sandbox.requests == []


def test_manifest_that_names_no_deal_is_dead_lettered_with_its_reason(aws, repay_sandbox, repay_app):
    etag = aws.put_evidence("repay/dispute.json", b'{"new_amount": "5"}', "application/json")
    message = {"Records": [s3_notification(aws.evidence_bucket, "repay/dispute.json", etag)]}

    assert deliver(repay_app(), message) == []

    [dead] = aws.dead_letters(aws.repay_dlq_url)
    assert "repay/dispute.json names no deal" in dead["MessageAttributes"]["reason"]["StringValue"]
    assert aws.records() == []


def test_evidence_refused_by_the_gateway_is_not_logged_as_refused_by_repay(aws, repay_sandbox, repay_app, log_output):
    aws.put_evidence("repay/D-77/c/fake.pdf", PNG, "application/pdf")
    deliver(repay_app(), command("D-77", "5", "repay/D-77/c/fake.pdf"))
    logs = log_output.getvalue()
    assert "Dispute rejected before sending" in logs
    assert "rejected by the provider" not in logs


def test_logs_never_carry_the_api_key(aws, repay_sandbox, repay_app, receipt, log_output):
    app = repay_app()
    repay_sandbox.inject(Fault(status=401), Fault(status=502, act=True))
    deliver(app, command("D-77", "1000", receipt))
    deliver(app, command("D-77", "1000", receipt), receive_count=2)
    deliver(app, command("D-77", "1000", receipt), receive_count=3)
    logs = log_output.getvalue()
    assert "Dispute submitted" in logs
    assert repay_sandbox.api_key not in logs
