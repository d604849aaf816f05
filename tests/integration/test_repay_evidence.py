"""Evidence from S3 to Repay: one GetObject per file, checked before any byte is sent, every body closed.

What the worker asks S3 is seen from its own S3 client (see `s3_watch`).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import EndpointConnectionError

from dispute_gateway.evidence import SIGNATURE_BYTES
from tests.conftest import AwsResources, deliver
from tests.integration.s3_watch import S3Fault, S3Watch
from tests.sandboxes.iimmpact import Fault
from tests.sandboxes.repay import RepaySandbox

MiB = 1024 * 1024
PDF = b"%PDF-1.4\n" + b"receipt body " * 50 + b"\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
JPEG = b"\xff\xd8\xff\xe0" + b"jpeg" * 100


def s3_error(status: int, code: str) -> S3Fault:
    def answer() -> tuple[AWSResponse, dict[str, Any]]:
        parsed = {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
        return AWSResponse("https://s3.amazonaws.com/evidence", status, {}, None), parsed

    return answer


def network_down() -> tuple[AWSResponse, dict[str, Any]]:
    raise EndpointConnectionError(endpoint_url="https://evidence.s3.ap-southeast-1.amazonaws.com")


@pytest.fixture
def worker(repay_app: Callable[..., ModuleType]) -> Callable[..., tuple[ModuleType, S3Watch]]:
    def cold_start(**environment: str) -> tuple[ModuleType, S3Watch]:
        app = repay_app(**environment)
        return app, S3Watch(app)

    return cold_start


def put_files(aws: AwsResources, *files: tuple[str, bytes, str | None]) -> list[str]:
    keys = []
    for name, data, content_type in files:
        keys.append(f"repay/D-90/c/{name}")
        aws.put_evidence(keys[-1], data, content_type)
    return keys


def command(*keys: str) -> dict[str, Any]:
    return {"deal_id": "D-90", "new_amount": "12.5", "evidence": [{"key": key} for key in keys]}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def nothing_posted(sandbox: RepaySandbox) -> bool:
    """Repay heard nothing: evidence is opened and checked before the deal lookup."""
    return sandbox.requests == [] and sandbox.disputes == []


# -- the happy path ---------------------------------------------------------------------------
def test_each_file_costs_one_get_object_and_no_other_s3_request(aws, repay_sandbox, worker):
    files = [("receipt.pdf", PDF, "application/pdf"), ("photo.png", PNG, "image/png"), ("scan.jpg", JPEG, None)]
    keys = put_files(aws, *files)
    app, s3 = worker()

    assert deliver(app, command(*keys)) == []

    assert aws.only_record()["status"] == "submitted"
    assert s3.calls == ["GetObject"] * len(files)  # no HeadObject, no ranged GetObject
    assert [get["Key"] for get in s3.gets] == keys
    assert not any({"Range", "IfMatch"} & set(get) for get in s3.gets)
    assert [body.closed for body in s3.bodies] == [True] * len(files)
    assert [(f.filename, f.sha256) for f in repay_sandbox.disputes[0].files] == [
        (name, sha(data)) for name, data, _ in files
    ]


def test_posted_bytes_are_the_objects_bytes_peeked_ones_included(aws, repay_sandbox, worker):
    large = b"%PDF-1.7\n" + random.Random(90).randbytes(5 * MiB - 9)
    keys = put_files(aws, ("large.pdf", large, "application/pdf"), ("photo.png", PNG, "image/png"))
    app, s3 = worker()

    assert deliver(app, command(*keys)) == []

    [dispute] = repay_sandbox.disputes
    assert [(f.size, f.sha256) for f in dispute.files] == [(len(large), sha(large)), (len(PNG), sha(PNG))]
    assert [body.bytes_read for body in s3.bodies] == [len(large), len(PNG)]


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (b"\xff\xd8\xff\xe0", "image/jpeg"),
        (b"%PDF-", "application/pdf"),
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"%PDF-1.4\n%%EOF\n", "application/pdf"),
    ],
    ids=["4-bytes", "5-bytes", "8-bytes", "15-bytes"],
)
def test_a_file_shorter_than_the_bytes_checked_is_checked_on_what_it_has(
    aws, repay_sandbox, worker, data, content_type
):
    assert len(data) < SIGNATURE_BYTES
    keys = put_files(aws, ("short", data, content_type))
    app, _ = worker()

    assert deliver(app, command(*keys)) == []

    assert aws.only_record()["status"] == "submitted"
    [item] = repay_sandbox.disputes[0].files
    assert (item.data, item.content_type) == (data, content_type)


def test_a_file_too_short_for_its_signature_is_refused(aws, repay_sandbox, worker):
    keys = put_files(aws, ("short.pdf", b"%PD", "application/pdf"))
    app, _ = worker()

    deliver(app, command(*keys))

    record = aws.only_record()
    assert record["status"] == "rejected"
    assert "its bytes do not match its type, application/pdf" in record["error"]
    assert nothing_posted(repay_sandbox)


# -- refusals: decided before any byte is sent, every body closed -----------------------------
@pytest.mark.parametrize(
    ("third", "environment", "reason"),
    [
        (("fake.pdf", PNG, "application/pdf"), {}, "fake.pdf: its bytes do not match its type, application/pdf"),
        (("notes.txt", b"hello", "text/plain"), {}, "notes.txt: type text/plain is not allowed"),
        (("big.pdf", PDF + bytes(4096), None), {"EVIDENCE_MAX_FILE_BYTES": "4096"}, "big.pdf has"),
        (("c.pdf", PDF, None), {"EVIDENCE_MAX_FILES": "2"}, "3 files, more than the 2 allowed"),
        (
            ("c.pdf", PDF, None),
            {"EVIDENCE_MAX_TOTAL_BYTES": str(2 * len(PDF) + len(PNG) - 1)},
            f"{2 * len(PDF) + len(PNG)} bytes in all",
        ),
    ],
    ids=["magic-bytes", "type-not-allowed", "file-too-big", "too-many", "total-too-big"],
)
def test_refused_evidence_is_read_no_further_than_its_first_bytes_and_every_body_is_closed(
    aws, repay_sandbox, worker, third, environment, reason
):
    keys = put_files(aws, ("a.pdf", PDF, "application/pdf"), ("b.png", PNG, "image/png"), third)
    app, s3 = worker(**environment)

    assert deliver(app, command(*keys)) == []

    record = aws.only_record()
    assert record["status"] == "rejected"
    assert reason in record["error"]
    assert s3.calls == ["GetObject"] * 3
    assert [body.closed for body in s3.bodies] == [True] * 3
    assert all(body.bytes_read <= SIGNATURE_BYTES for body in s3.bodies)
    assert nothing_posted(repay_sandbox)


@pytest.mark.parametrize("fault", [None, s3_error(403, "AccessDenied")], ids=["404", "403"])
def test_missing_evidence_is_rejected_and_the_bodies_already_opened_are_closed(aws, repay_sandbox, worker, fault):
    """The role has no s3:ListBucket, so S3 answers a missing object with 403 AccessDenied."""
    keys = put_files(aws, ("a.pdf", PDF, "application/pdf"))
    keys.append("repay/D-90/c/b.pdf")
    if fault is not None:
        aws.put_evidence(keys[1], PDF, "application/pdf")  # there, but S3 answers 403
    app, s3 = worker()
    if fault is not None:
        s3.faults[2] = fault

    assert deliver(app, command(*keys)) == []

    record = aws.only_record()
    assert record["status"] == "rejected"
    assert record["error"] == "evidence missing: repay/D-90/c/b.pdf"
    assert [(body.closed, body.bytes_read) for body in s3.bodies] == [(True, 0)]
    assert nothing_posted(repay_sandbox)


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (s3_error(500, "InternalError"), "could not read repay/D-90/c/b.pdf: InternalError"),
        (s3_error(503, "SlowDown"), "could not read repay/D-90/c/b.pdf: SlowDown"),
        (network_down, "could not read repay/D-90/c/b.pdf: Could not connect"),
    ],
    ids=["500", "503-slow-down", "network"],
)
def test_s3_unreadable_just_now_returns_the_message_and_closes_the_bodies_opened(
    aws, repay_sandbox, worker, log_output, fault, reason
):
    keys = put_files(aws, ("a.pdf", PDF, "application/pdf"), ("b.pdf", PDF, "application/pdf"))
    app, s3 = worker()
    s3.faults[2] = fault

    assert deliver(app, command(*keys)) == ["m-1"]

    record = aws.only_record()
    assert (record["status"], record["in_doubt"], record["attempts"]) == ("received", False, 0)
    assert reason in log_output.getvalue()
    assert [(body.closed, body.bytes_read) for body in s3.bodies] == [(True, 0)]
    assert nothing_posted(repay_sandbox)

    s3.faults.clear()
    assert deliver(app, command(*keys), receive_count=2) == []
    assert aws.only_record()["status"] == "submitted"


# -- failures while posting: the bodies are closed all the same --------------------------------
def test_bodies_are_closed_when_the_post_fails(aws, repay_sandbox, worker):
    keys = put_files(aws, ("a.pdf", PDF, "application/pdf"), ("b.png", PNG, "image/png"))
    app, s3 = worker()
    repay_sandbox.inject(Fault(drop=True))

    assert deliver(app, command(*keys)) == ["m-1"]

    assert aws.only_record()["in_doubt"] is True
    assert [body.closed for body in s3.bodies] == [True, True]


def test_an_object_that_breaks_off_while_streaming_leaves_the_attempt_in_doubt(aws, repay_sandbox, worker):
    large = b"%PDF-1.7\n" + bytes(3 * MiB)
    keys = put_files(aws, ("large.pdf", large, "application/pdf"), ("b.png", PNG, "image/png"))
    app, s3 = worker()
    s3.break_after[1] = MiB

    assert deliver(app, command(*keys)) == ["m-1"]

    record = aws.only_record()
    assert (record["status"], record["in_doubt"], record["attempts"]) == ("submitting", True, 1)
    assert [body.closed for body in s3.bodies] == [True, True]
    assert repay_sandbox.disputes == []
