"""A manifest is what it files (contract section 3): without an idempotency key, an S3 upload is
identified by what the worker reads from S3 (the deal, the manifest's bytes, each evidence
object's key and ETag), never by the notification's eTag or version, which anyone who can send
to the queue can write. The bucket is versioned, as the template makes it."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from tests.conftest import AwsResources, deliver, s3_notification
from tests.integration.s3_watch import S3Watch

PDF = b"%PDF-1.4\n" + b"receipt body " * 50 + b"\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
FOLDER = "repay/D-60/case1/"
MANIFEST = FOLDER + "dispute.json"


@pytest.fixture
def bucket(aws: AwsResources) -> AwsResources:
    boto3.client("s3").put_bucket_versioning(Bucket=aws.evidence_bucket, VersioningConfiguration={"Status": "Enabled"})
    return aws


def put_evidence(aws: AwsResources) -> None:
    aws.put_evidence(FOLDER + "receipt.pdf", PDF, "application/pdf")
    aws.put_evidence(FOLDER + "photo.png", PNG, "image/png")


def put_manifest(aws: AwsResources, manifest: dict[str, Any]) -> dict[str, Any]:
    """Uploads the manifest; its notification as S3 sends it, with the new version's id."""
    answer = boto3.client("s3").put_object(
        Bucket=aws.evidence_bucket, Key=MANIFEST, Body=json.dumps(manifest).encode(), ContentType="application/json"
    )
    record = s3_notification(aws.evidence_bucket, MANIFEST, answer["ETag"])
    record["s3"]["object"]["versionId"] = answer["VersionId"]
    return record


def notified(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}


def test_the_same_manifest_bytes_uploaded_three_times_file_one_dispute(bucket, repay_sandbox, repay_app):
    put_evidence(bucket)
    uploads = [put_manifest(bucket, {"new_amount": "9"}) for _ in range(3)]
    assert len({upload["s3"]["object"]["versionId"] for upload in uploads}) == 3
    app = repay_app()

    for number, upload in enumerate(uploads):
        assert deliver(app, notified(upload), message_id=f"m-{number}") == []

    record = bucket.only_record()
    assert (record["status"], record["attempts"]) == ("submitted", 1)
    assert repay_sandbox.disputes_for("D-60") == 1


def test_twenty_notifications_with_invented_etags_in_one_message_file_one_dispute(bucket, repay_sandbox, repay_app):
    put_evidence(bucket)
    real = put_manifest(bucket, {"new_amount": "9"})
    forged = [s3_notification(bucket.evidence_bucket, MANIFEST, f"{number:032x}") for number in range(20)]
    app = repay_app()
    s3 = S3Watch(app)

    assert deliver(app, notified(*forged)) == []
    assert deliver(app, notified(real), message_id="m-2") == []

    record = bucket.only_record()
    assert (record["status"], record["attempts"]) == ("submitted", 1)
    assert repay_sandbox.disputes_for("D-60") == 1
    # The first message read its manifest once: one GetObject of it, one listing, one GetObject a file.
    assert s3.calls[:4] == ["GetObject", "ListObjectsV2", "GetObject", "GetObject"]


@pytest.mark.parametrize(
    ("manifest", "first_error"),
    [
        ({"new_amount": "9"}, f"no evidence in {FOLDER}: upload the evidence files there first, then dispute.json"),
        (
            {"new_amount": "9", "files": ["receipt.pdf", "photo.png"]},
            f"evidence missing: {FOLDER}receipt.pdf, {FOLDER}photo.png",
        ),
    ],
    ids=["whole-folder", "files-named"],
)
def test_a_manifest_uploaded_before_its_evidence_files_once_it_is_uploaded_again_after(
    bucket, repay_sandbox, repay_app, manifest, first_error
):
    app = repay_app()
    early = put_manifest(bucket, manifest)
    assert deliver(app, notified(early)) == []
    [refused] = bucket.records()
    assert (refused["status"], refused["error"]) == ("rejected", first_error)
    assert repay_sandbox.requests == []

    put_evidence(bucket)
    again = put_manifest(bucket, manifest)
    assert deliver(app, notified(again), message_id="m-2") == []
    assert deliver(app, notified(early), message_id="m-3") == []  # the first notification, delivered late

    statuses = sorted(record["status"] for record in bucket.records())
    assert statuses == ["rejected", "submitted"]
    assert repay_sandbox.disputes_for("D-60") == 1
    assert sorted(f.filename for f in repay_sandbox.disputes[0].files) == ["photo.png", "receipt.pdf"]


def test_the_manifest_read_is_the_current_one_whichever_version_was_notified(bucket, repay_sandbox, repay_app):
    put_evidence(bucket)
    first = put_manifest(bucket, {"new_amount": "9"})
    second = put_manifest(bucket, {"new_amount": "10"})
    app = repay_app()

    assert deliver(app, notified(first)) == []
    assert deliver(app, notified(second), message_id="m-2") == []

    assert bucket.only_record()["status"] == "submitted"
    [dispute] = repay_sandbox.disputes
    assert dispute.new_amount == "10"


def test_evidence_is_read_only_as_listed_and_one_written_over_meanwhile_is_not_sent(bucket, repay_sandbox, repay_app):
    put_evidence(bucket)
    upload = put_manifest(bucket, {"new_amount": "9", "files": ["receipt.pdf"]})
    app = repay_app()
    s3 = S3Watch(app)

    def write_over(**_: Any) -> None:
        bucket.put_evidence(FOLDER + "receipt.pdf", PDF + b"% altered\n", "application/pdf")

    app.worker.provider._evidence._s3.meta.events.register("after-call.s3.ListObjectsV2", write_over)

    assert deliver(app, notified(upload)) == []

    record = bucket.only_record()
    assert record["status"] == "rejected"
    assert record["error"] == (
        f"{FOLDER}receipt.pdf changed after its folder was read: "
        "upload dispute.json again to file the folder as it is now"
    )
    assert [get.get("IfMatch") is not None for get in s3.gets] == [False, True]
    assert repay_sandbox.requests == []


def test_each_file_costs_one_get_object_conditional_on_its_listed_etag(bucket, repay_sandbox, repay_app):
    put_evidence(bucket)
    upload = put_manifest(bucket, {"new_amount": "9"})
    listed = {item["Key"]: item["ETag"] for item in boto3.client("s3").list_objects_v2(Bucket="evidence")["Contents"]}
    app = repay_app()
    s3 = S3Watch(app)

    assert deliver(app, notified(upload)) == []

    assert s3.calls == ["GetObject", "ListObjectsV2", "GetObject", "GetObject"]
    assert [(get["Key"], get.get("IfMatch")) for get in s3.gets[1:]] == [
        (FOLDER + "photo.png", listed[FOLDER + "photo.png"]),
        (FOLDER + "receipt.pdf", listed[FOLDER + "receipt.pdf"]),
    ]
    assert "VersionId" not in s3.gets[0]
