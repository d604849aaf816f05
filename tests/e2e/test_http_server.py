"""The HTTP API on a real loopback port, as `make serve` runs it: requests over HTTP become payload 2.0
events, answers go back as API Gateway sends them; Repay evidence goes up through presigned S3 POSTs."""

from __future__ import annotations

import hashlib
import json
import socket
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from local import samples
from local.stack import LocalStack, wait_for
from tests.e2e.helpers import final_record
from tests.sandboxes.iimmpact import IimmpactSandbox
from tests.sandboxes.repay import RepaySandbox

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

TIMEOUT = 10


def _recorded_events(stack: LocalStack, function: str = "ApiFunction") -> list[dict[str, Any]]:
    local_function, events = stack.functions[function], []
    handler = local_function.handler

    def recording(event: dict[str, Any], context: Any) -> Any:
        events.append(event)
        return handler(event, context)

    local_function.handler = recording
    return events


def test_a_dispute_filed_over_http_is_submitted(served_stack: LocalStack, sandbox: IimmpactSandbox) -> None:
    api, events = served_stack.api_url, _recorded_events(served_stack)
    request = {"provider": "iimmpact", "trxid": "T-HTTP-1", "user_email": ["buyer@example.com"]}
    # Not checked locally (IAM is not emulated), so even a made-up signature gets through.
    headers = {"Idempotency-Key": "http-1", "Authorization": "AWS4-HMAC-SHA256 Credential=made-up"}

    answer = requests.post(f"{api}/disputes", json=request, headers=headers, timeout=TIMEOUT)

    assert answer.status_code == 202, answer.text
    dispute_id = answer.json()["dispute_id"]
    assert answer.headers["location"] == f"/disputes/{dispute_id}"
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.headers["apigw-requestid"]

    def submitted() -> dict[str, Any] | None:
        body: dict[str, Any] = requests.get(f"{api}/disputes/{dispute_id}", timeout=TIMEOUT).json()
        return body if body.get("status") == "submitted" else None

    record = wait_for(submitted, 15)
    assert record is not None
    assert (record["reference"], record["source"], record["attempts"]) == ("T-HTTP-1", "api", 1)
    assert sandbox.reports_for("T-HTTP-1") == 1
    listing = requests.get(f"{api}/disputes", params={"reference": "T-HTTP-1"}, timeout=TIMEOUT)
    assert [item["dispute_id"] for item in listing.json()["items"]] == [dispute_id]

    # What reached the function is API Gateway's event for the request that went over the wire.
    filed, *_, listed = events
    assert (filed["routeKey"], filed["rawPath"]) == ("POST /disputes", "/disputes")
    assert filed["headers"]["idempotency-key"] == "http-1"
    assert json.loads(filed["body"]) == request
    assert filed["requestContext"]["authorizer"]["iam"]["accountId"] == served_stack.model.account
    assert (listed["routeKey"], listed["rawQueryString"]) == ("GET /disputes", "reference=T-HTTP-1")


def test_api_gateway_answers_of_its_own() -> None:
    with LocalStack(poll=False, http_port=0) as stack:
        api = stack.api_url
        missing = requests.delete(f"{api}/disputes/a/b", timeout=TIMEOUT)
        assert (missing.status_code, missing.json()) == (404, {"message": "Not Found"})
        malformed = requests.post(f"{api}/disputes", data=b"{not json", timeout=TIMEOUT)
        assert malformed.status_code == 400, malformed.text
        # API Gateway's 10 MB limit: refused before the body is read (so none is sent here).
        too_large = b"POST /disputes HTTP/1.1\r\nHost: x\r\nContent-Length: 10485761\r\n\r\n"
        assert _raw_status(api, too_large) == 413


def _raw_status(api: str, request: bytes) -> int:
    address = urlsplit(api)
    with socket.create_connection((address.hostname, address.port), timeout=TIMEOUT) as connection:
        connection.sendall(request)
        status_line = connection.makefile("rb").readline()
    return int(status_line.split()[1])


def _presigned_uploads(api: str, deal_id: str, files: dict[str, tuple[bytes, str]]) -> dict[str, Any]:
    """POST /evidence-uploads for `files` (name -> (bytes, type)), then each file through its presigned POST."""
    declared = [{"filename": name, "content_type": kind, "size": len(data)} for name, (data, kind) in files.items()]
    answer = requests.post(f"{api}/evidence-uploads", json={"deal_id": deal_id, "files": declared}, timeout=TIMEOUT)
    assert answer.status_code == 201, answer.text
    uploads: dict[str, Any] = answer.json()
    for upload, (data, kind) in zip(uploads["files"], files.values(), strict=True):
        form = {"file": (upload["filename"], data, kind)}
        posted = requests.post(upload["url"], data=upload["fields"], files=form, timeout=TIMEOUT)
        assert posted.status_code == 204, posted.text
    return uploads


def test_evidence_uploaded_through_presigned_posts_is_filed_with_repay(
    served_stack: LocalStack, repay_sandbox: RepaySandbox
) -> None:
    api = served_stack.api_url
    files = {
        "receipt.pdf": (samples.pdf("Receipt D-HTTP-1"), "application/pdf"),
        "Квитанция №1.png": (samples.png(), "image/png"),
    }

    # The evidence, then POST /disputes naming the keys it was given.
    uploads = _presigned_uploads(api, "D-HTTP-1", files)
    evidence = [{"key": upload["key"], "content_type": upload["content_type"]} for upload in uploads["files"]]
    request = {"provider": "repay", "deal_id": "D-HTTP-1", "new_amount": "750", "evidence": evidence}
    assert requests.post(f"{api}/disputes", json=request, timeout=TIMEOUT).status_code == 202

    record = final_record(served_stack, "D-HTTP-1", timeout=15)
    assert (record["status"], record["source"], record["attempts"]) == ("submitted", "api", 1), record
    (dispute,) = [d for d in repay_sandbox.disputes if d.deal_id == "D-HTTP-1"]
    assert dispute.new_amount == "750"
    sent = sorted((f.sha256, f.content_type) for f in dispute.files)
    assert sent == sorted((hashlib.sha256(data).hexdigest(), kind) for data, kind in files.values())
    assert all(f.filename.isascii() for f in dispute.files)

    # Or the folder's presigned dispute.json, written last: its notification files the dispute.
    uploads = _presigned_uploads(api, "D-HTTP-2", {"receipt.pdf": files["receipt.pdf"]})
    manifest = uploads["manifest"]
    form = {"file": ("dispute.json", json.dumps({"new_amount": "99.5"}).encode(), "application/json")}
    assert requests.post(manifest["url"], data=manifest["fields"], files=form, timeout=TIMEOUT).status_code == 204

    record = final_record(served_stack, "D-HTTP-2", timeout=15)
    assert (record["status"], record["source"]) == ("submitted", "s3"), record
    assert repay_sandbox.disputes_for("D-HTTP-2") == 1


@pytest.mark.parametrize("method", ["TRACE", "DELETE", "PROPFIND"])
def test_any_method_is_answered_in_json_as_api_gateway_routes_it(method: str) -> None:
    """No HTML 501 from the local server: the template's ANY routes take every method to the function."""
    with LocalStack(poll=False, http_port=0) as stack:
        answer = requests.request(method, f"{stack.api_url}/disputes", timeout=TIMEOUT)
        assert answer.status_code == 405
        assert answer.headers["allow"] == "GET, POST"
        assert answer.headers["content-type"].startswith("application/json")
        assert answer.json()["message"] == "method not allowed"


def test_path_parameters_arrive_decoded_as_api_gateway_decodes_them() -> None:
    with LocalStack(poll=False, http_port=0) as stack:
        events = _recorded_events(stack)
        dispute_id = "00000000-0000-0000-0000-00000000000d"
        encoded = requests.get(f"{stack.api_url}/disputes/{dispute_id[:-1]}%64", timeout=TIMEOUT)
        plain = requests.get(f"{stack.api_url}/disputes/{dispute_id}", timeout=TIMEOUT)
        assert encoded.status_code == plain.status_code == 404  # the same unknown dispute, not a bad path
        assert [event["pathParameters"] for event in events] == [{"dispute_id": dispute_id}] * 2
        assert [event["rawPath"] for event in events] == [f"/disputes/{dispute_id}"] * 2
