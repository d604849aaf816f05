"""The Repay sandbox, driven over real HTTP with the multipart bodies ``requests`` builds."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from local.stack import wait_for
from tests.conftest import ROOT
from tests.sandboxes.repay import Fault, RepaySandbox

PDF = ("evidence.pdf", b"%PDF-1.4 receipt", "application/pdf")


@pytest.fixture
def sandbox() -> Iterator[RepaySandbox]:
    with RepaySandbox() as running:
        yield running


def dispute(
    sandbox: RepaySandbox,
    deal_id: str = "D-1",
    *,
    files: list[tuple[str, Any]] | None = None,
    data: Any = None,
    api_key: str | None = None,
    timeout: float = 2.0,
    session: requests.Session | None = None,
    **options: Any,
) -> requests.Response:
    post = session.post if session is not None else requests.post
    return post(
        f"{sandbox.base_url}/api/v1/external/deals/{deal_id}/disputes",
        headers={"api-key": sandbox.api_key if api_key is None else api_key, "origin": "merchant.example"},
        files=[("files", PDF)] if files is None else files,
        data={"new_amount": "1500.50"} if data is None else data,
        timeout=timeout,
        **options,
    )


def deal(sandbox: RepaySandbox, deal_id: str, api_key: str | None = None, timeout: float = 2.0) -> requests.Response:
    headers = {"api-key": sandbox.api_key if api_key is None else api_key}
    return requests.get(f"{sandbox.base_url}/api/v1/external/deals/{deal_id}", headers=headers, timeout=timeout)


def looked_up(sandbox: RepaySandbox, deal_id: str) -> tuple[str, str]:
    """The deal's state and amount, as a lookup answers them."""
    answer = deal(sandbox, deal_id)
    assert answer.status_code == 200, answer.text
    payload = answer.json()["payload"]
    return payload["state"], payload["amount"]


def raw_dispute(sandbox: RepaySandbox, body: bytes, boundary: str = "b0undary") -> requests.Response:
    headers = {"api-key": sandbox.api_key, "Content-Type": f"multipart/form-data; boundary={boundary}"}
    return requests.post(
        f"{sandbox.base_url}/api/v1/external/deals/D-1/disputes", data=body, headers=headers, timeout=2
    )


def refusal(answer: requests.Response) -> dict[str, list[str]]:
    assert answer.status_code == 422
    body = answer.json()
    assert body["status_code"] == 422 and body["payload"] == {}
    return body["error"]


def test_dispute_is_opened_and_repeats_move_the_deal_on(sandbox: RepaySandbox) -> None:
    ids, states = [], []
    for _ in range(3):
        answer = dispute(sandbox)
        assert answer.status_code == 200
        assert answer.headers["Content-Type"] == "application/json"
        body = answer.json()
        assert body == {"status_code": 200, "error": {}, "payload": {"id": body["payload"]["id"], "status": "uploaded"}}
        assert uuid.UUID(body["payload"]["id"]).version == 4
        ids.append(body["payload"]["id"])
        states.append(deal(sandbox, "D-1").json()["payload"]["state"])
    assert states == ["proceedings", "proceedings2", "proceedings3"]
    assert [d.dispute_id for d in sandbox.disputes] == ids and len(set(ids)) == 3
    assert sandbox.disputes_for("D-1") == 3 and sandbox.disputes_for("D-2") == 0
    assert sandbox.disputes[0].headers["origin"] == "merchant.example"
    assert [(r.method, r.authenticated, r.answered_status) for r in sandbox.requests[:2]] == [
        ("POST", True, 200),
        ("GET", True, 200),
    ]


def test_files_are_stored_byte_for_byte(sandbox: RepaySandbox) -> None:
    # Bytes that look like multipart framing must survive a real parser untouched.
    tricky = b"\r\n--b0undary\r\n\r\n" + os.urandom(200_000) + b"\r\n"
    files = [("files", ("a.pdf", tricky, "application/pdf")), ("files", ("b c.png", b"", "image/png"))]
    assert dispute(sandbox, "D-7", files=files, data={"new_amount": "0007.10"}).status_code == 200
    [received] = sandbox.disputes
    assert (received.deal_id, received.new_amount) == ("D-7", "0007.10")
    assert [(f.filename, f.content_type, f.size) for f in received.files] == [
        ("a.pdf", "application/pdf", len(tricky)),
        ("b c.png", "image/png", 0),
    ]
    assert received.files[0].sha256 == hashlib.sha256(tricky).hexdigest()
    assert received.files[0].data == tricky and received.files[1].data == b""


def test_kept_deal_states_move_on(sandbox: RepaySandbox) -> None:
    sandbox.deals.update({"D-2": "proceedings", "D-3": "proceedings9", "D-4": "completed"})
    for deal_id in ("D-2", "D-3", "D-4"):
        assert dispute(sandbox, deal_id).status_code == 200
    assert sandbox.deals == {"D-2": "proceedings2", "D-3": "proceedings10", "D-4": "proceedings"}


def test_get_deal(sandbox: RepaySandbox) -> None:
    sandbox.deals["D-5"] = "completed"
    assert deal(sandbox, "D-5").json() == {
        "status_code": 200,
        "error": {},
        "payload": {
            "id": "D-5",
            "amount_usdt": "10.00",
            "amount": "1000",
            "currency": "RUB",
            "state": "completed",
            "receiver_info": {},
        },
    }
    assert deal(sandbox, "D-6").json()["payload"]["state"] == "rejected_timeout"
    assert sandbox.deals["D-6"] == "rejected_timeout"


@pytest.mark.parametrize("deal_id", ["UNKNOWN-1", "gone"])
def test_unknown_deal_is_a_404(sandbox: RepaySandbox, deal_id: str) -> None:
    sandbox.unknown.add("gone")
    not_found = {"status_code": 404, "error": {"message": "Deal not found"}, "payload": {}}
    for answer in (deal(sandbox, deal_id), dispute(sandbox, deal_id)):
        assert answer.status_code == 404 and answer.json() == not_found
    assert sandbox.disputes == [] and deal_id not in sandbox.deals


@pytest.mark.parametrize("api_key", ["", "someone_else"])
def test_wrong_or_missing_key_is_a_401_and_nothing_happens(sandbox: RepaySandbox, api_key: str) -> None:
    unauthorized = {"status_code": 401, "error": {"message": "Unauthorized"}, "payload": {}}
    for answer in (dispute(sandbox, api_key=api_key), deal(sandbox, "D-1", api_key=api_key)):
        assert answer.status_code == 401 and answer.json() == unauthorized
    assert sandbox.disputes == [] and sandbox.deals == {}
    assert [r.authenticated for r in sandbox.requests] == [False, False]


@pytest.mark.parametrize("amount", ["1e3", "-5", "0", "0.00", "abc", "1,5", "", " 5", "5.", ".5", "+5", "٣", "10\n"])
def test_bad_amounts_are_refused(sandbox: RepaySandbox, amount: str) -> None:
    assert refusal(dispute(sandbox, data={"new_amount": amount})) == {
        "new_amount": ["A positive decimal number is required."]
    }
    assert sandbox.disputes == [] and sandbox.deals == {"D-1": "rejected_timeout"}


@pytest.mark.parametrize(
    ("data", "why"),
    [({}, "This field is required."), ({"new_amount": ["5", "5"]}, "Only one value is allowed.")],
)
def test_missing_or_repeated_amount_is_refused(sandbox: RepaySandbox, data: Any, why: str) -> None:
    assert refusal(dispute(sandbox, data=data)) == {"new_amount": [why]}


@pytest.mark.parametrize("name", ["Квитанция.pdf", "reçu.pdf", "tab\there.pdf"])
def test_non_latin_file_names_are_refused(sandbox: RepaySandbox, name: str) -> None:
    files = [("files", PDF), ("files", (name, b"x", "application/pdf"))]
    assert refusal(dispute(sandbox, files=files)) == {
        "files": ["The names of attached files must be written in Latin."]
    }
    assert sandbox.disputes == []


def test_rfc2231_encoded_non_latin_name_is_refused(sandbox: RepaySandbox) -> None:
    body = (
        b'--b0undary\r\nContent-Disposition: form-data; name="new_amount"\r\n\r\n5\r\n'
        b"--b0undary\r\nContent-Disposition: form-data; name=\"files\"; filename*=UTF-8''%D0%9A.pdf\r\n"
        b"Content-Type: application/pdf\r\n\r\nx\r\n--b0undary--\r\n"
    )
    assert refusal(raw_dispute(sandbox, body)) == {"files": ["The names of attached files must be written in Latin."]}


NO_FILES = "At least one file is required."
AMOUNT_ONLY = [("new_amount", (None, b"5"))]  # a part without a file name is a plain field


@pytest.mark.parametrize(
    ("files", "data", "errors"),
    [
        ([("files", ("a.pdf", b"x"))], None, {"files": ["Each file must be passed with its type."]}),
        ([("files", (None, b"x", "application/pdf"))], None, {"files": ["Each file must have a file name."]}),
        ([("files", ("", b"x", "application/pdf"))], None, {"files": ["Each file must have a file name."]}),
        (AMOUNT_ONLY, {}, {"files": [NO_FILES]}),
        ([*AMOUNT_ONLY, ("file", PDF)], {}, {"file": ["Unexpected field."], "files": [NO_FILES]}),
        (None, {"new_amount": "5", "comment": "hi"}, {"comment": ["Unexpected field."]}),
        ([("new_amount", PDF)], {}, {"new_amount": ["Expected a value, not a file."], "files": [NO_FILES]}),
        (
            [("comment", (None, b"hi"))],
            {},
            {"comment": ["Unexpected field."], "files": [NO_FILES], "new_amount": ["This field is required."]},
        ),
    ],
)
def test_malformed_forms_are_refused(sandbox: RepaySandbox, files: Any, data: Any, errors: Any) -> None:
    assert refusal(dispute(sandbox, files=files, data=data)) == errors
    assert sandbox.disputes == []


@pytest.mark.parametrize("options", [{"json": {"new_amount": "5"}}, {"data": "new_amount=5"}])
def test_a_body_that_is_not_multipart_is_a_415(sandbox: RepaySandbox, options: Any) -> None:
    headers = {"api-key": sandbox.api_key}
    url = f"{sandbox.base_url}/api/v1/external/deals/D-1/disputes"
    answer = requests.post(url, headers=headers, timeout=2, **options)
    assert answer.status_code == 415 and answer.json()["status_code"] == 415
    assert sandbox.disputes == []


@pytest.mark.parametrize("body", [b"no framing at all", b"--b0undary\r\nX-Part: 1\r\n\r\nx\r\n--b0undary--\r\n"])
def test_broken_multipart_is_a_400(sandbox: RepaySandbox, body: bytes) -> None:
    answer = raw_dispute(sandbox, body)
    assert answer.status_code == 400 and answer.json()["error"] == {"message": "Malformed multipart/form-data body."}


def test_a_chunked_body_needs_a_length(sandbox: RepaySandbox) -> None:
    headers = {"api-key": sandbox.api_key, "Content-Type": "multipart/form-data; boundary=x"}
    url = f"{sandbox.base_url}/api/v1/external/deals/D-1/disputes"
    answer = requests.post(url, data=iter([b"--x--\r\n"]), headers=headers, timeout=2)
    assert answer.status_code == 411
    assert sandbox.requests[0].answered_status == 411


def test_unrouted_paths_and_wrong_methods(sandbox: RepaySandbox) -> None:
    headers = {"api-key": sandbox.api_key}
    assert requests.get(f"{sandbox.base_url}/api/v1/deals", headers=headers, timeout=2).status_code == 404
    url = f"{sandbox.base_url}/api/v1/external/deals/D-1"
    assert requests.post(url, headers=headers, timeout=2).status_code == 405
    assert requests.get(f"{url}/disputes", headers=headers, timeout=2).status_code == 405


@pytest.mark.parametrize(("status", "act"), [(408, False), (429, False), (500, True), (502, False), (503, True)])
def test_status_faults(sandbox: RepaySandbox, status: int, act: bool) -> None:
    sandbox.inject(Fault(status=status, act=act))
    failed = dispute(sandbox)
    assert failed.status_code == status
    assert failed.json() == {"status_code": status, "error": failed.json()["error"], "payload": {}}
    assert failed.json()["error"]["message"]
    assert ("Retry-After" in failed.headers) is (status == 429)
    assert sandbox.disputes_for("D-1") == int(act)
    assert sandbox.deals["D-1"] == ("proceedings" if act else "rejected_timeout")
    assert dispute(sandbox).status_code == 200
    assert sandbox.disputes_for("D-1") == int(act) + 1


def test_faults_are_not_spent_on_refused_disputes(sandbox: RepaySandbox) -> None:
    sandbox.inject(Fault(status=504))
    assert dispute(sandbox, api_key="wrong").status_code == 401
    assert dispute(sandbox, "UNKNOWN-2").status_code == 404
    assert dispute(sandbox, data={"new_amount": "0"}).status_code == 422
    assert deal(sandbox, "D-1").status_code == 200
    assert dispute(sandbox).status_code == 504
    assert dispute(sandbox).status_code == 200


def test_dropped_connection(sandbox: RepaySandbox) -> None:
    sandbox.inject(Fault(drop=True, act=True), Fault(drop=True))
    with pytest.raises(requests.ConnectionError):
        dispute(sandbox, "D-8")
    with pytest.raises(requests.ConnectionError):
        dispute(sandbox, "D-9")
    assert [d.deal_id for d in sandbox.disputes] == ["D-8"]
    assert sandbox.deals == {"D-8": "proceedings", "D-9": "rejected_timeout"}
    assert [r.answered_status for r in sandbox.requests] == [None, None]


def test_slow_answer_times_the_client_out_and_is_opened_afterwards(sandbox: RepaySandbox) -> None:
    sandbox.inject(Fault(delay=0.4))
    with pytest.raises(requests.ReadTimeout):
        dispute(sandbox, timeout=0.15)
    assert sandbox.disputes == []
    assert wait_for(lambda: sandbox.disputes_for("D-1") == 1, 2.0, interval=0.02)


def test_latency_applies_to_every_api_answer(sandbox: RepaySandbox) -> None:
    sandbox.latency = 0.15
    for send in (lambda: dispute(sandbox), lambda: deal(sandbox, "D-1"), lambda: dispute(sandbox, api_key="")):
        started = time.monotonic()
        send()
        assert time.monotonic() - started >= 0.15


def test_rotated_credentials(sandbox: RepaySandbox) -> None:
    old_key = sandbox.api_key
    sandbox.rotate_credentials("repay_rotated")
    assert dispute(sandbox, api_key=old_key).status_code == 401
    assert dispute(sandbox, api_key="repay_rotated").status_code == 200


def test_bodies_can_be_dropped_after_hashing() -> None:
    content = os.urandom(3 << 20)
    with RepaySandbox(keep_bodies=False) as sandbox:
        assert dispute(sandbox, files=[("files", ("big.bin", content, "application/octet-stream"))]).status_code == 200
    [received] = sandbox.disputes[0].files
    assert received.data is None
    assert (received.size, received.sha256) == (len(content), hashlib.sha256(content).hexdigest())


def test_keep_alive_and_stop_closes_kept_connections(sandbox: RepaySandbox) -> None:
    big = [("files", ("big.bin", os.urandom(2 << 20), "application/octet-stream"))]
    with requests.Session() as session:
        # Refused bodies are still read off the wire, so the kept connection stays in step.
        assert dispute(sandbox, files=big, api_key="wrong", session=session).status_code == 401
        assert dispute(sandbox, "UNKNOWN-3", files=big, session=session).status_code == 404
        for _ in range(3):
            assert dispute(sandbox, session=session).status_code == 200
        sandbox.stop()
        with pytest.raises(requests.ConnectionError):
            dispute(sandbox, session=session)
    assert sandbox.disputes_for("D-1") == 3


def test_http_control_endpoints(sandbox: RepaySandbox) -> None:
    control = f"{sandbox.base_url}/_sandbox"
    assert requests.post(f"{control}/faults", json=[{"status": 503, "act": True}], timeout=2).json() == {"queued": 1}
    assert requests.post(f"{control}/faults", json={"delay": 0}, timeout=2).json() == {"queued": 1}
    for bad in ([{"colour": 1}], [{"status": "503"}], {"delay": -1}, {"drop": 1}, "fault"):
        assert requests.post(f"{control}/faults", json=bad, timeout=2).status_code == 400
    assert requests.post(f"{control}/deals", json={"D-10": "proceedings"}, timeout=2).json() == {"deals": 1}
    assert requests.post(f"{control}/deals", json={"D-10": 1}, timeout=2).status_code == 400
    assert dispute(sandbox, "D-10").status_code == 503
    assert dispute(sandbox, "D-10", files=[("files", PDF), ("files", PDF)]).status_code == 200
    assert requests.get(f"{control}/deals", timeout=2).json() == {"D-10": "proceedings3"}
    summary = requests.get(f"{control}/disputes", timeout=2).json()
    file_summary = {
        "filename": PDF[0],
        "content_type": PDF[2],
        "size": len(PDF[1]),
        "sha256": sandbox.disputes[0].files[0].sha256,
    }
    assert summary == [
        {"dispute_id": d.dispute_id, "deal_id": "D-10", "new_amount": "1500.50", "files": [file_summary] * n}
        for d, n in zip(sandbox.disputes, (1, 2), strict=True)
    ]
    received = requests.get(f"{control}/requests", timeout=2).json()
    assert [(r["method"], r["answered_status"]) for r in received] == [("POST", 503), ("POST", 200)]
    assert requests.post(f"{control}/reset", timeout=2).status_code == 200
    assert sandbox.requests == [] and sandbox.disputes == [] and sandbox.deals == {}


# -- what became of a deal ----------------------------------------------------------------------------
def test_amounts_are_per_deal(sandbox: RepaySandbox) -> None:
    sandbox.amounts["D-20"] = "750.50"
    assert looked_up(sandbox, "D-20") == ("rejected_timeout", "750.50")
    assert looked_up(sandbox, "D-21") == ("rejected_timeout", "1000")
    # A dispute asks for a new amount; only Repay's office changes the deal's.
    assert dispute(sandbox, "D-20", data={"new_amount": "500"}).status_code == 200
    assert looked_up(sandbox, "D-20") == ("proceedings", "750.50")


def test_the_office_settles_a_disputed_deal(sandbox: RepaySandbox) -> None:
    for deal_id in ("D-22", "D-23"):
        assert dispute(sandbox, deal_id, data={"new_amount": "1500.50"}).status_code == 200
        assert dispute(sandbox, deal_id, data={"new_amount": "1500.50"}).status_code == 200
    sandbox.settle("D-22", "completed", "1234.56")  # won, at neither the original nor the asked amount
    sandbox.settle("D-23", "reject_by_office")  # lost: the amount stays
    assert looked_up(sandbox, "D-22") == ("completed", "1234.56")
    assert looked_up(sandbox, "D-23") == ("reject_by_office", "1000")
    # Any state, for a deal never seen before too; a state without an amount keeps the amount.
    sandbox.settle("D-24", "proceedings4", "99")
    sandbox.settle("D-24", "proceedings5")
    assert looked_up(sandbox, "D-24") == ("proceedings5", "99")
    # A new dispute on a settled deal moves it on as before.
    assert dispute(sandbox, "D-22").status_code == 200
    assert looked_up(sandbox, "D-22") == ("proceedings", "1234.56")
    assert sandbox.disputes_for("D-22") == 3
    sandbox.reset()
    assert sandbox.amounts == {} and sandbox.deals == {}
    assert looked_up(sandbox, "D-22") == ("rejected_timeout", "1000")


def test_settling_over_http(sandbox: RepaySandbox) -> None:
    url = f"{sandbox.base_url}/_sandbox/deals"
    answer = requests.post(f"{url}/D-30", json={"state": "completed", "amount": "900"}, timeout=2)
    assert answer.status_code == 200
    assert answer.json() == {"id": "D-30", "state": "completed", "amount": "900"}
    assert looked_up(sandbox, "D-30") == ("completed", "900")
    answer = requests.post(f"{url}/D-30", json={"state": "reject_by_office"}, timeout=2)
    assert answer.json() == {"id": "D-30", "state": "reject_by_office", "amount": "900"}
    # The id is a path segment, percent-decoded as the API's own paths are.
    assert requests.post(f"{url}/D%2031", json={"state": "completed"}, timeout=2).status_code == 200
    assert sandbox.deals["D 31"] == "completed"
    bad_bodies: list[Any] = [
        [],
        "completed",
        {},
        {"state": ""},
        {"state": 1},
        {"amount": "5"},
        {"state": "completed", "amount": 5},
        {"state": "completed", "colour": "red"},
    ]
    for bad in bad_bodies:
        refused = requests.post(f"{url}/D-32", json=bad, timeout=2)
        assert refused.status_code == 400 and refused.json()["status_code"] == 400, bad
    assert requests.post(f"{url}/D-32", data=b"{not json", timeout=2).status_code == 400
    assert requests.post(f"{url}/D-32/more", json={"state": "completed"}, timeout=2).status_code == 404
    assert "D-32" not in sandbox.deals and "D-32" not in sandbox.amounts
    # The states are listed as before; a reset over HTTP forgets the amounts too.
    assert requests.get(url, timeout=2).json() == {"D-30": "reject_by_office", "D 31": "completed"}
    assert requests.post(f"{sandbox.base_url}/_sandbox/reset", timeout=2).status_code == 200
    assert sandbox.amounts == {}


@pytest.mark.parametrize("status", [404, 429, 500, 503])
def test_lookup_status_faults(sandbox: RepaySandbox, status: int) -> None:
    sandbox.inject_lookup(Fault(status=status))
    failed = deal(sandbox, "D-40")
    assert failed.status_code == status
    assert failed.json() == {"status_code": status, "error": failed.json()["error"], "payload": {}}
    assert failed.json()["error"]["message"]
    assert ("Retry-After" in failed.headers) is (status == 429)
    assert looked_up(sandbox, "D-40") == ("rejected_timeout", "1000")
    assert [r.answered_status for r in sandbox.requests] == [status, 200]


def test_lookup_and_dispute_faults_are_kept_apart(sandbox: RepaySandbox) -> None:
    sandbox.inject_lookup(Fault(status=502))
    sandbox.inject(Fault(status=504))
    # Each call spends only its own kind of fault, and only once past Repay's checks.
    assert deal(sandbox, "D-41", api_key="wrong").status_code == 401
    assert deal(sandbox, "UNKNOWN-4").status_code == 404
    assert dispute(sandbox, "D-41").status_code == 504
    assert dispute(sandbox, "D-41").status_code == 200
    assert deal(sandbox, "D-41").status_code == 502
    assert looked_up(sandbox, "D-41") == ("proceedings", "1000")


def test_dropped_and_slow_lookups(sandbox: RepaySandbox) -> None:
    sandbox.inject_lookup(Fault(drop=True), Fault(delay=0.4), Fault(delay=0.3))
    with pytest.raises(requests.ConnectionError):
        deal(sandbox, "D-42")
    with pytest.raises(requests.ReadTimeout):
        deal(sandbox, "D-42", timeout=0.15)
    # A slow answer tells the deal as it is when the answer leaves.
    waiting = threading.Timer(0.1, sandbox.settle, ("D-42", "completed", "1200"))
    waiting.start()
    started = time.monotonic()
    answer = deal(sandbox, "D-42")
    assert time.monotonic() - started >= 0.3
    waiting.join()
    payload = answer.json()["payload"]
    assert (payload["id"], payload["state"], payload["amount"]) == ("D-42", "completed", "1200")
    assert wait_for(lambda: len(sandbox.requests) == 3 and sandbox.requests[1].answered_status == 200, 2.0)
    assert [r.answered_status for r in sandbox.requests] == [None, 200, 200]


def test_a_lookup_fault_cannot_act(sandbox: RepaySandbox) -> None:
    with pytest.raises(ValueError, match="act"):
        sandbox.inject_lookup(Fault(status=503), Fault(status=500, act=True))
    assert looked_up(sandbox, "D-43") == ("rejected_timeout", "1000")


def test_lookup_faults_over_http(sandbox: RepaySandbox) -> None:
    control = f"{sandbox.base_url}/_sandbox"
    answer = requests.post(f"{control}/lookup-faults", json=[{"status": 503}, {"status": 500}], timeout=2)
    assert answer.json() == {"queued": 2}
    assert requests.post(f"{control}/lookup-faults", json={"delay": 0}, timeout=2).json() == {"queued": 1}
    bad_faults: list[Any] = [[{"colour": 1}], [{"status": "503"}], {"delay": -1}, {"drop": 1}, "fault", {"act": True}]
    for bad in bad_faults:
        assert requests.post(f"{control}/lookup-faults", json=bad, timeout=2).status_code == 400, bad
    assert dispute(sandbox, "D-44").status_code == 200
    assert [deal(sandbox, "D-44").status_code for _ in range(4)] == [503, 500, 200, 200]
    requests.post(f"{control}/lookup-faults", json={"status": 503}, timeout=2)
    assert requests.post(f"{control}/reset", timeout=2).status_code == 200
    assert deal(sandbox, "D-44").status_code == 200


def test_command_line_runs_a_sandbox_for_another_process() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.sandboxes.repay", "--port", "0", "--api-key", "cli_key", "--no-keep-bodies"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        remote = RepaySandbox("cli_key")
        remote.base_url = base_url
        assert dispute(remote).status_code == 200
        assert requests.get(f"{base_url}/_sandbox/disputes", timeout=2).json()[0]["deal_id"] == "D-1"
    finally:
        process.terminate()
    assert process.wait(timeout=5) == 0
