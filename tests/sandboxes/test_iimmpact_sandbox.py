"""The IIMMPACT sandbox, driven over real HTTP with independently computed signatures."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from local.stack import wait_for
from tests.conftest import ROOT
from tests.sandboxes.iimmpact import Fault, IimmpactSandbox

SUCCESS = "We've received your request for a status update"
DUPLICATE = "Sorry, a support request has already been created for this transaction."
REFUNDED = "Sorry, Report Issue is not available for failed transactions"


@pytest.fixture
def sandbox() -> Iterator[IimmpactSandbox]:
    with IimmpactSandbox() as running:
        yield running


def signed_headers(
    body: bytes,
    api_key: str,
    secret_b64: str,
    *,
    timestamp: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = uuid.uuid4().hex if nonce is None else nonce
    body_hash = base64.b64encode(hashlib.sha256(body).digest()).decode()
    canonical = f"v1:{ts}:{nonce}:POST::{body_hash}".encode()
    mac = hmac.new(base64.b64decode(secret_b64), canonical, hashlib.sha256).digest()
    return {
        "Content-Type": "application/json",
        "X-Api-Key": api_key,
        "X-Timestamp": ts,
        "X-Nonce": nonce,
        "X-Signature": "v1=" + base64.b64encode(mac).decode(),
    }


def report(
    sandbox: IimmpactSandbox,
    payload: Any,
    *,
    timeout: float = 2.0,
    session: requests.Session | None = None,
    **header_options: Any,
) -> requests.Response:
    body = json.dumps(payload).encode()
    headers = signed_headers(body, sandbox.api_key, sandbox.hmac_secret_b64, **header_options)
    post = session.post if session is not None else requests.post
    return post(f"{sandbox.base_url}/v2/transactions/check", data=body, headers=headers, timeout=timeout)


def test_first_report_files_a_case_and_the_second_is_refused(sandbox: IimmpactSandbox) -> None:
    first = report(sandbox, {"refid": "R-1", "user_email": ["a@example.com"]})
    assert first.status_code == 200
    assert first.headers["Content-Type"] == "application/json"
    assert first.json()["data"]["refid"] == "R-1"
    assert first.json()["data"]["status"] == "Success"
    assert first.json()["data"]["message"].startswith(SUCCESS)
    assert sandbox.cases == {"R-1": {"refid": "R-1", "user_email": ["a@example.com"]}}

    second = report(sandbox, {"refid": "R-1"})
    assert second.json()["data"] == {
        "refid": "R-1",
        "status": "Failed",
        "message": second.json()["data"]["message"],
    }
    assert second.json()["data"]["message"].startswith(DUPLICATE)
    assert sandbox.reports_for("R-1") == 2
    assert [r.answered_status for r in sandbox.requests] == [200, 200]


def test_trxid_takes_precedence_and_refid_is_echoed(sandbox: IimmpactSandbox) -> None:
    answer = report(sandbox, {"refid": "R-2", "trxid": "T-2"})
    assert answer.json()["data"]["refid"] == "R-2"
    assert list(sandbox.cases) == ["T-2"]
    assert sandbox.reports_for("T-2") == 1
    assert sandbox.reports_for("R-2") == 0


@pytest.mark.parametrize("trxid", ["REFUNDED-9", "plain-refunded"])
def test_refunded_transaction(sandbox: IimmpactSandbox, trxid: str) -> None:
    sandbox.refunded.add("plain-refunded")
    answer = report(sandbox, {"trxid": trxid})
    assert answer.status_code == 200
    assert answer.json()["data"]["status"] == "Failed"
    assert answer.json()["data"]["message"].startswith(REFUNDED)
    assert sandbox.cases == {}


@pytest.mark.parametrize("refid", ["INVALID-1", "plain-invalid"])
def test_invalid_transaction_has_the_documented_400_shape(sandbox: IimmpactSandbox, refid: str) -> None:
    sandbox.invalid.add("plain-invalid")
    answer = report(sandbox, {"refid": refid})
    assert answer.status_code == 400
    assert answer.json() == {
        "message": "The given data was invalid.",
        "errors": {"trxid": ["Invalid transaction ID or reference ID"]},
    }
    assert sandbox.cases == {}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "trxid"),
        ({"refid": "", "trxid": ""}, "trxid"),
        ({"refid": 12}, "trxid"),
        ([{"refid": "R"}], "trxid"),
        ({"refid": "R", "user_email": "a@example.com"}, "user_email"),
        ({"refid": "R", "user_email": ["not-an-address"]}, "user_email"),
    ],
)
def test_malformed_report_is_a_400(sandbox: IimmpactSandbox, payload: Any, field: str) -> None:
    answer = report(sandbox, payload)
    assert answer.status_code == 400
    assert answer.json()["message"] == "The given data was invalid."
    assert list(answer.json()["errors"]) == [field]
    assert sandbox.cases == {}


@pytest.mark.parametrize(
    "spoil",
    [
        "signature",
        "stale timestamp",
        "future timestamp",
        "text timestamp",
        "wrong key",
        "short nonce",
        "long nonce",
    ],
)
def test_unauthenticated_reports_file_nothing(sandbox: IimmpactSandbox, spoil: str) -> None:
    body = json.dumps({"refid": "R-3"}).encode()
    key, secret = sandbox.api_key, sandbox.hmac_secret_b64
    spoilt_options: dict[str, dict[str, Any]] = {
        "stale timestamp": {"timestamp": int(time.time()) - 301},
        "future timestamp": {"timestamp": int(time.time()) + 301},
        "short nonce": {"nonce": "x" * 15},
        "long nonce": {"nonce": "x" * 129},
    }
    options = spoilt_options.get(spoil, {})
    headers = signed_headers(body, key, secret, **options)
    if spoil == "signature":
        headers = signed_headers(body + b" ", key, secret)
    elif spoil == "text timestamp":
        headers["X-Timestamp"] = "soon"
    elif spoil == "wrong key":
        headers["X-Api-Key"] = "iimm_someone_else"
    answer = requests.post(f"{sandbox.base_url}/v2/transactions/check", data=body, headers=headers, timeout=2)
    assert answer.status_code == 401
    assert answer.json() == {"message": "Unauthenticated."}
    assert sandbox.cases == {}
    assert sandbox.reports_for("R-3") == 0
    assert sandbox.requests[0].authenticated is False


def test_missing_headers_are_unauthenticated(sandbox: IimmpactSandbox) -> None:
    answer = requests.post(f"{sandbox.base_url}/v2/transactions/check", json={"refid": "R-4"}, timeout=2)
    assert answer.status_code == 401
    assert sandbox.cases == {}


def test_reused_nonce_is_refused(sandbox: IimmpactSandbox) -> None:
    nonce = "n" * 32
    assert report(sandbox, {"refid": "R-5"}, nonce=nonce).status_code == 200
    assert report(sandbox, {"refid": "R-6"}, nonce=nonce).status_code == 401
    assert list(sandbox.cases) == ["R-5"]


def test_throttling_fault_files_nothing(sandbox: IimmpactSandbox) -> None:
    sandbox.inject(Fault(status=429))
    throttled = report(sandbox, {"refid": "R-7"})
    assert throttled.status_code == 429
    assert throttled.json() == {"message": "Too Many Attempts."}
    assert sandbox.cases == {}
    assert report(sandbox, {"refid": "R-7"}).json()["data"]["status"] == "Success"


def test_a_fault_can_say_when_to_come_back(sandbox: IimmpactSandbox) -> None:
    sandbox.inject(Fault(status=503, retry_after="120"), Fault(status=429, retry_after="Wed, 21 Oct 2026 07:28:00 GMT"))
    assert report(sandbox, {"refid": "R-9"}).headers["Retry-After"] == "120"
    assert report(sandbox, {"refid": "R-9"}).headers["Retry-After"] == "Wed, 21 Oct 2026 07:28:00 GMT"
    assert "Retry-After" not in report(sandbox, {"refid": "R-9"}).headers


def test_server_error_after_acting_files_the_case(sandbox: IimmpactSandbox) -> None:
    sandbox.inject(Fault(status=503, act=True))
    failed = report(sandbox, {"refid": "R-8"})
    assert failed.status_code == 503
    assert failed.json() == {"message": "Service Unavailable"}
    assert "R-8" in sandbox.cases
    assert report(sandbox, {"refid": "R-8"}).json()["data"]["message"].startswith(DUPLICATE)


def test_faults_are_not_spent_on_unauthenticated_reports(sandbox: IimmpactSandbox) -> None:
    sandbox.inject(Fault(status=500))
    assert report(sandbox, {"refid": "R-9"}, timestamp=0).status_code == 401
    assert report(sandbox, {"refid": "R-9"}).status_code == 500
    assert report(sandbox, {"refid": "R-9"}).status_code == 200


def test_dropped_connection(sandbox: IimmpactSandbox) -> None:
    sandbox.inject(Fault(drop=True, act=True), Fault(drop=True))
    with pytest.raises(requests.ConnectionError):
        report(sandbox, {"refid": "R-10"})
    with pytest.raises(requests.ConnectionError):
        report(sandbox, {"refid": "R-11"})
    assert list(sandbox.cases) == ["R-10"]
    assert [r.answered_status for r in sandbox.requests] == [None, None]


def test_slow_answer_times_the_client_out_and_is_filed_afterwards(sandbox: IimmpactSandbox) -> None:
    sandbox.inject(Fault(delay=0.5))
    with pytest.raises(requests.ReadTimeout):
        report(sandbox, {"refid": "R-12"}, timeout=0.2)
    assert wait_for(lambda: "R-12" in sandbox.cases, 2.0, interval=0.02)


def test_latency_applies_to_every_answer(sandbox: IimmpactSandbox) -> None:
    sandbox.latency = 0.2
    started = time.monotonic()
    assert report(sandbox, {"refid": "R-13"}).status_code == 200
    assert time.monotonic() - started >= 0.2


def test_rotated_credentials(sandbox: IimmpactSandbox) -> None:
    old_key, old_secret = sandbox.api_key, sandbox.hmac_secret_b64
    new_secret = base64.b64encode(b"\x07" * 32).decode()
    sandbox.rotate_credentials("iimm_rotated", new_secret)
    body = json.dumps({"refid": "R-14"}).encode()
    url = f"{sandbox.base_url}/v2/transactions/check"
    stale = requests.post(url, data=body, headers=signed_headers(body, old_key, old_secret), timeout=2)
    assert stale.status_code == 401
    fresh = requests.post(url, data=body, headers=signed_headers(body, "iimm_rotated", new_secret), timeout=2)
    assert fresh.status_code == 200


def test_keep_alive_and_stop_closes_kept_connections(sandbox: IimmpactSandbox) -> None:
    with requests.Session() as session:
        for n in range(3):
            assert report(sandbox, {"refid": f"R-15-{n}"}, session=session).status_code == 200
        sandbox.stop()
        with pytest.raises(requests.ConnectionError):
            report(sandbox, {"refid": "R-15-x"}, session=session)
    assert len(sandbox.cases) == 3


def test_http_control_endpoints(sandbox: IimmpactSandbox) -> None:
    queued = requests.post(f"{sandbox.base_url}/_sandbox/faults", json=[{"status": 503, "act": True}], timeout=2)
    assert queued.json() == {"queued": 1}
    assert requests.post(f"{sandbox.base_url}/_sandbox/faults", json=[{"colour": 1}], timeout=2).status_code == 400
    assert report(sandbox, {"trxid": "T-16"}).status_code == 503
    summary = requests.get(f"{sandbox.base_url}/_sandbox/requests", timeout=2).json()
    assert [(r["transaction_id"], r["authenticated"], r["answered_status"]) for r in summary] == [("T-16", True, 503)]
    assert requests.get(f"{sandbox.base_url}/_sandbox/cases", timeout=2).json() == {"T-16": {"trxid": "T-16"}}
    assert requests.post(f"{sandbox.base_url}/_sandbox/reset", timeout=2).status_code == 200
    assert sandbox.requests == [] and sandbox.cases == {}


def test_reset_forgets_nonces_and_faults(sandbox: IimmpactSandbox) -> None:
    nonce = "r" * 20
    report(sandbox, {"refid": "R-17"}, nonce=nonce)
    sandbox.inject(Fault(status=503))
    sandbox.reset()
    assert report(sandbox, {"refid": "R-17"}, nonce=nonce).json()["data"]["status"] == "Success"


def test_command_line_runs_a_sandbox_for_another_process() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.sandboxes.iimmpact", "--port", "0", "--latency", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        remote = IimmpactSandbox()
        remote.base_url = base_url
        assert report(remote, {"refid": "R-18"}).json()["data"]["status"] == "Success"
    finally:
        process.terminate()
    assert process.wait(timeout=5) == 0
