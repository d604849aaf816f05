"""Credentials stay home (CONTRACT section 7): a provider host that answers a redirect never gets
the request re-sent to the host its `Location` names. Over real HTTP on loopback: the provider's
base URL is a server answering 302 or 307 towards a second server that records everything it
receives; the real clients, with the real sandboxes' credentials, send it nothing at all, the
dispute waits for a later delivery (transient, not in doubt) and the log names the target host."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from tests.conftest import AwsResources, FakeLambdaContext, deliver
from tests.integration.conftest import QueueFeed
from tests.integration.test_repay_worker import PDF, command
from tests.sandboxes.server import SandboxHandler, SandboxLifecycle, SandboxServer

REPORT = {"trxid": "T-REDIRECT", "user_email": ["buyer@example.com"]}
# The query of a Location can carry a token of its own: it is never logged.
TARGET_PATH = "/collect?token=never-logged"


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class _RecordingHandler(SandboxHandler):
    server_version = "Recorder"
    server: SandboxServer[Recorder]

    def setup(self) -> None:
        super().setup()
        self.server.sandbox.connections += 1

    def _any(self) -> None:
        recorder = self.server.sandbox
        body = self.rfile.read(self._length() or 0)
        recorder.received.append(Received(self.command, self.path, dict(self.headers), body))
        self._send(200, {"payload": {"id": "stolen", "state": "proceedings"}, "data": {"status": "Success"}})

    do_GET = do_POST = do_PUT = _any


class Recorder(SandboxLifecycle):
    """The host a redirect points at: whatever reaches it, even a bare connection, is kept."""

    def __init__(self) -> None:
        super().__init__(_RecordingHandler, "127.0.0.1", 0, 0.0)
        self.connections = 0
        self.received: list[Received] = []

    @property
    def address(self) -> str:
        return self.base_url.removeprefix("http://")


class _RedirectingHandler(SandboxHandler):
    server_version = "Redirector"
    server: SandboxServer[Redirector]

    def _any(self) -> None:
        redirector = self.server.sandbox
        body = self.rfile.read(self._length() or 0)
        redirector.asked.append(self.command)
        if self.command not in redirector.methods and redirector.upstream:
            self._relay(redirector.upstream, body)
            return
        self._send(redirector.status, {"moved": True}, {"Location": redirector.location})

    def _relay(self, upstream: str, body: bytes) -> None:
        headers = {name: value for name, value in self.headers.items() if name.lower() != "host"}
        answer = requests.request(self.command, upstream + self.path, headers=headers, data=body, timeout=5)
        self._send(answer.status_code, answer.json())

    do_GET = do_POST = do_PUT = _any


class Redirector(SandboxLifecycle):
    """The configured provider host, answering `status` towards the recorder to the `methods` given;
    any other request goes to `upstream` (the real sandbox) and its answer comes back as it is."""

    def __init__(self, status: int, recorder: Recorder, methods: tuple[str, ...], upstream: str = "") -> None:
        super().__init__(_RedirectingHandler, "127.0.0.1", 0, 0.0)
        self.status = status
        self.location = recorder.base_url + TARGET_PATH
        self.methods = methods
        self.upstream = upstream
        self.asked: list[str] = []


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    with Recorder() as server:
        yield server


@pytest.fixture(params=[302, 307])
def status(request: pytest.FixtureRequest) -> int:
    return int(request.param)


def redirector(status: int, recorder: Recorder, *methods: str, upstream: str = "") -> Redirector:
    return Redirector(status, recorder, methods or ("GET", "POST", "PUT"), upstream)


def redirect_logged(log_output: Any) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in log_output.getvalue().splitlines()]
    return [line for line in lines if line["message"] == "Provider redirect not followed"]


def assert_nothing_secret_logged(log_output: Any, *secrets: str) -> None:
    text = log_output.getvalue()
    for secret in ("never-logged", "buyer@example.com", *secrets):
        assert secret not in text


def test_the_recorder_would_catch_a_client_that_follows(status, recorder):
    # The harness itself: a plain requests call follows and re-sends a custom header.
    with Redirector(status, recorder, ("POST",)) as provider:
        requests.post(provider.base_url + "/x", headers={"api-key": "k-1"}, data=b"{}", timeout=5)
    assert [r.headers.get("api-key") for r in recorder.received] == ["k-1"]


def test_the_providers_session_never_follows_even_when_asked(status, recorder):
    from dispute_gateway.transport import http_session

    with Redirector(status, recorder, ("GET", "POST")) as provider:
        for method in ("GET", "POST"):
            answer = http_session().request(
                method, provider.base_url + "/x", headers={"api-key": "k-1"}, allow_redirects=True, timeout=5
            )
            assert answer.status_code == status
    assert (recorder.connections, recorder.received) == (0, [])


# -- IIMMPACT: the signed report ------------------------------------------------------------------
def test_iimmpact_redirected_sends_the_report_nowhere_else_and_files_it_once_put_right(
    aws: AwsResources, iimmpact_sandbox, iimmpact_app, recorder, status, log_output
):
    with redirector(status, recorder) as provider:
        app = iimmpact_app(IIMMPACT_BASE_URL=provider.base_url, QUEUE_MAX_RECEIVE_COUNT="5")
        feed = QueueFeed(aws.iimmpact_queue_url, aws.iimmpact_dlq_url, app, 5)
        message_id = feed.send(REPORT)

        assert feed.deliver() == [message_id]  # back on the queue: a transient error

    assert provider.asked == ["POST"]
    assert (recorder.connections, recorder.received) == (0, [])
    record = aws.only_record()
    assert (record["status"], record["in_doubt"], record["provider_http_status"]) == ("received", False, status)
    [delay] = feed.delays[message_id]  # on the growing schedule, as any provider error
    assert 60 <= delay <= 75
    [logged] = redirect_logged(log_output)
    assert logged["redirect_host"] == recorder.address
    assert (logged["http_status"], logged["dispute_id"]) == (status, record["dispute_id"])
    assert_nothing_secret_logged(log_output, iimmpact_sandbox.api_key, iimmpact_sandbox.hmac_secret_b64)

    # The operator puts the base URL right: the next delivery files the dispute, once.
    fixed = iimmpact_app(QUEUE_MAX_RECEIVE_COUNT="5")
    assert deliver(fixed, REPORT, receive_count=2) == []
    assert aws.only_record()["status"] == "submitted"
    assert list(iimmpact_sandbox.cases) == ["T-REDIRECT"]


# -- Repay: the deal lookup, the dispute POST and the outcome tracker -------------------------------
@pytest.fixture
def evidence(aws: AwsResources) -> dict[str, Any]:
    aws.put_evidence("repay/D-77/cmd1/receipt.pdf", PDF, "application/pdf")
    return command("D-77", "1000")


def test_repay_deal_lookup_redirected_goes_nowhere_else(
    aws: AwsResources, repay_sandbox, repay_app, recorder, status, evidence, log_output
):
    with redirector(status, recorder) as provider:
        assert deliver(repay_app(REPAY_BASE_URL=provider.base_url), evidence) == ["m-1"]

    assert provider.asked == ["GET"]  # no POST after a lookup that did not answer
    assert (recorder.connections, recorder.received) == (0, [])
    record = aws.only_record()
    assert (record["status"], record["in_doubt"], record["attempts"]) == ("received", False, 0)
    [logged] = redirect_logged(log_output)
    assert (logged["redirect_host"], logged["operation"]) == (recorder.address, "deal")
    assert_nothing_secret_logged(log_output, repay_sandbox.api_key)


def test_repay_dispute_post_redirected_goes_nowhere_else_and_files_once_put_right(
    aws: AwsResources, repay_sandbox, repay_app, recorder, status, evidence, log_output
):
    with redirector(status, recorder, "POST", upstream=repay_sandbox.base_url) as provider:
        assert deliver(repay_app(REPAY_BASE_URL=provider.base_url), evidence) == ["m-1"]

    assert provider.asked == ["GET", "POST"]  # the lookup reached Repay; the POST was redirected
    assert (recorder.connections, recorder.received) == (0, [])
    assert repay_sandbox.disputes == []
    record = aws.only_record()
    assert (record["status"], record["in_doubt"], record["attempts"]) == ("received", False, 1)
    [logged] = redirect_logged(log_output)
    assert (logged["redirect_host"], logged["operation"]) == (recorder.address, "dispute")
    assert f"Repay answered HTTP {status}, a redirect to {recorder.address}" in log_output.getvalue()
    assert "check REPAY_BASE_URL" in log_output.getvalue()
    assert_nothing_secret_logged(log_output, repay_sandbox.api_key)

    assert deliver(repay_app(), evidence, receive_count=2) == []
    assert aws.only_record()["status"] == "submitted"
    assert repay_sandbox.disputes_for("D-77") == 1


def test_the_outcome_tracker_redirected_leaves_the_dispute_open_and_goes_nowhere_else(
    aws: AwsResources, repay_sandbox, repay_app, tracker_app, recorder, status, evidence, log_output
):
    assert deliver(repay_app(), evidence) == []
    with redirector(status, recorder) as provider:
        tracker = tracker_app(REPAY_BASE_URL=provider.base_url)
        summary = tracker.lambda_handler({"source": "aws.events"}, FakeLambdaContext())

    assert provider.asked == ["GET"]
    assert (recorder.connections, recorder.received) == (0, [])
    assert summary["failed"] == 1
    record = aws.only_record()
    assert (record["status"], record["resolution"]) == ("submitted", "open")
    [logged] = redirect_logged(log_output)
    assert (logged["redirect_host"], logged["operation"]) == (recorder.address, "deal")
    assert_nothing_secret_logged(log_output, repay_sandbox.api_key)
