"""Evidence belongs to its deal (contract section 5): a dispute for D-ATTACK that names a file of
D-VICTIM is refused by every entry point, and not one of the victim's bytes leaves S3."""

from __future__ import annotations

import json
from typing import Any

import boto3

from tests.conftest import AwsResources, deliver, s3_notification
from tests.integration.s3_watch import S3Watch

PDF = b"%PDF-1.4\n" + b"private statement " * 40 + b"\n%%EOF\n"
VICTIMS_FILE = "repay/D-VICTIM/x/private_statement.pdf"
REFUSAL = f"{VICTIMS_FILE} is not under repay/D-ATTACK/: a dispute's evidence must be in its own deal's folder"


def attack(**extra: Any) -> dict[str, Any]:
    return {"deal_id": "D-ATTACK", "new_amount": "1", "evidence": [{"key": VICTIMS_FILE}], **extra}


def queued(queue_url: str) -> list[dict[str, Any]]:
    messages = boto3.client("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(message["Body"]) for message in messages]


def test_a_queue_command_naming_another_deals_file_is_rejected_and_reads_nothing(
    aws: AwsResources, repay_sandbox, repay_app
):
    aws.put_evidence(VICTIMS_FILE, PDF, "application/pdf")
    app = repay_app()
    s3 = S3Watch(app)

    assert deliver(app, attack()) == []

    record = aws.only_record()
    assert (record["status"], record["reference"]) == ("rejected", "D-ATTACK")
    assert REFUSAL in record["error"]
    assert s3.calls == []
    assert repay_sandbox.requests == [] and repay_sandbox.disputes == []


def test_the_api_refuses_another_deals_file_naming_the_field_and_queues_nothing(aws: AwsResources, api):
    answer = api.call("POST", "/disputes", body={"provider": "repay", **attack()}, headers={"idempotency-key": "k-1"})

    assert answer.status == 422
    assert answer.body["errors"] == [{"field": "evidence.0.key", "message": REFUSAL}]
    assert aws.records() == []
    assert queued(aws.repay_queue_url) == []


# -- POST /evidence-uploads: never the manifest's own key ---------------------------------------
def upload(api, *filenames: str) -> Any:
    files = [{"filename": name, "content_type": "application/pdf", "size": 100} for name in filenames]
    return api.call("POST", "/evidence-uploads", body={"deal_id": "D-1", "files": files})


def test_presigning_a_file_called_dispute_json_is_refused_naming_it(aws: AwsResources, api):
    answer = upload(api, "receipt.pdf", "dispute.json")

    assert answer.status == 422
    assert answer.body["errors"] == [
        {
            "field": "files.1.filename",
            "message": "dispute.json is the folder's manifest, which this answer presigns on its own "
            "(`manifest`): give the evidence file another name",
        }
    ]


def test_a_name_that_becomes_the_manifests_in_latin_gets_a_key_of_its_own(aws: AwsResources, api):
    answer = upload(api, "dispute .json")

    assert answer.status == 201
    [file] = answer.body["files"]
    assert file["key"] == answer.body["folder"] + "dispute-2.json"
    assert file["key"] != answer.body["manifest"]["key"]


def test_a_manifest_listing_a_file_twice_is_rejected_naming_it(aws, repay_sandbox, repay_app):
    folder = "repay/D-TWICE/c/"
    aws.put_evidence(folder + "receipt.pdf", b"%PDF-1.4\n" + b"x" * 64, "application/pdf")
    etag = aws.put_evidence(folder + "dispute.json", b'{"new_amount": "5", "files": ["receipt.pdf", "receipt.pdf"]}')

    deliver(repay_app(), {"Records": [s3_notification(aws.evidence_bucket, folder + "dispute.json", etag)]})

    record = aws.only_record()
    assert record["status"] == "rejected"
    assert "repay/D-TWICE/c/receipt.pdf is listed more than once: name each file once" in record["error"]
    assert repay_sandbox.disputes == []


def test_a_command_listing_a_key_twice_is_refused_by_the_api_naming_it(aws, api):
    key = "repay/D-TWICE/c/receipt.pdf"
    body = {"provider": "repay", "deal_id": "D-TWICE", "new_amount": "5", "evidence": [{"key": key}, {"key": key}]}
    answer = api.call("POST", "/disputes", body=body)
    assert answer.status == 422
    assert {"field": "evidence.1.key", "message": f"{key} is listed more than once: name each file once"} in (
        answer.body["errors"]
    )


def test_every_offending_upload_field_is_named_at_once(aws, api):
    files = [
        {"filename": "notes.txt", "content_type": "text/plain", "size": 10},
        {"filename": "empty.pdf", "content_type": "application/pdf", "size": 0},
        {"filename": "dispute.json", "content_type": "application/pdf", "size": 5},
    ]
    answer = api.call("POST", "/evidence-uploads", body={"deal_id": "../x", "files": files})

    assert answer.status == 422
    fields = {problem["field"] for problem in answer.body["errors"]}
    assert {"deal_id", "files.0.content_type", "files.1.size", "files.2.filename"} <= fields
    (content_type,) = [p["message"] for p in answer.body["errors"] if p["field"] == "files.0.content_type"]
    assert content_type.startswith("text/plain is not allowed: send one of application/pdf")


def test_a_file_over_the_limit_is_named_by_its_key(aws, repay_sandbox, repay_app):
    key = "repay/D-BIG/c/statement.pdf"
    aws.put_evidence(key, b"%PDF-1.4\n" + b"x" * 2048, "application/pdf")
    command = {"deal_id": "D-BIG", "new_amount": "5", "evidence": [{"key": key}]}

    deliver(repay_app(EVIDENCE_MAX_FILE_BYTES="1024", EVIDENCE_MAX_TOTAL_BYTES="1024"), command)

    error = aws.only_record()["error"]
    assert f"{key} has 2057 bytes, more than the 1024 allowed for one file" in error
    assert "file 1" not in error
