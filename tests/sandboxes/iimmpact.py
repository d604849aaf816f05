"""A loopback stand-in for IIMMPACT's Report Issue call, ``POST /v2/transactions/check``.

It follows the provider's documentation: v1 HMAC request signing, one support case per
transaction, the documented 200 and 400 bodies. Queued faults (throttling, 5xx, slow or
dropped answers, with or without the case being filed first) let retry and exactly-once
logic be tested over real HTTP rather than against mocks.

Run it for another process with ``python -m tests.sandboxes.iimmpact --port N``.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import re
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from tests.sandboxes.server import (
    DemoCase,
    ProviderSandbox,
    SandboxHandler,
    SandboxLifecycle,
    SandboxServer,
    command_line,
    serve_until_signalled,
)

CHECK_PATH = "/v2/transactions/check"
DEFAULT_API_KEY = "iimm_sandbox_key"
DEFAULT_HMAC_SECRET_B64 = base64.b64encode(bytes(range(32))).decode()

SUCCESS_MESSAGE = (
    "We've received your request for a status update and are in the midst of checking with the "
    "relevant service provider. We'll keep you updated on the status of your request via email."
)
DUPLICATE_MESSAGE = (
    "Sorry, a support request has already been created for this transaction. "
    "We're working on it and will provide an update shortly."
)
REFUNDED_MESSAGE = (
    "Sorry, Report Issue is not available for failed transactions as the transaction has been "
    "automatically refunded. Please contact us at support@iimmpact.com if you need further assistance."
)
VALIDATION_MESSAGE = "The given data was invalid."
INVALID_ID_MESSAGE = "Invalid transaction ID or reference ID"
MISSING_ID_MESSAGE = "The trxid field is required when refid is not present."
FAULT_MESSAGES = {
    429: "Too Many Attempts.",
    500: "Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Endpoint request timed out",
}

_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass
class Fault:
    status: int | None = None  # answer this status instead of the normal answer
    act: bool = False  # file the report before the fault strikes
    delay: float = 0.0  # seconds to sleep before answering
    drop: bool = False  # read the body, then close the connection without answering
    retry_after: str | None = None  # a Retry-After header with the status: seconds or an HTTP date

    def headers(self) -> dict[str, str]:
        return {"Retry-After": self.retry_after} if self.retry_after is not None else {}


@dataclass
class ReceivedRequest:
    headers: dict[str, str]
    body: bytes
    authenticated: bool
    answered_status: int | None  # None when dropped
    received_at: float = dataclasses.field(default_factory=time.monotonic)  # when it arrived (monotonic clock)


def sign_v1(secret_b64: str, timestamp: str, nonce: str, method: str, query: str, body: bytes) -> str:
    """The ``X-Signature`` value IIMMPACT expects, written from the provider's description."""
    body_hash = base64.b64encode(hashlib.sha256(body).digest()).decode()
    canonical = f"v1:{timestamp}:{nonce}:{method.upper()}:{query}:{body_hash}"
    digest = hmac.new(base64.b64decode(secret_b64), canonical.encode(), hashlib.sha256).digest()
    return "v1=" + base64.b64encode(digest).decode()


def reported_id(report: Any) -> str | None:
    """The id a report names: trxid takes precedence over refid, as documented."""
    if not isinstance(report, dict):
        return None
    for field in ("trxid", "refid"):
        value = report.get(field)
        if isinstance(value, str) and value:
            return value
    return None


def _validation_errors(report: Any) -> dict[str, list[str]]:
    if not isinstance(report, dict):
        return {"trxid": [MISSING_ID_MESSAGE]}
    errors: dict[str, list[str]] = {}
    for field in ("trxid", "refid"):
        if report.get(field) is not None and not isinstance(report[field], str):
            # The provider reports every id problem under trxid, even one about refid.
            errors.setdefault("trxid", []).append(f"The {field} must be a string.")
    if "trxid" not in errors and reported_id(report) is None:
        errors["trxid"] = [MISSING_ID_MESSAGE]
    emails = report.get("user_email")
    if emails is not None and not isinstance(emails, list):
        errors["user_email"] = ["The user email must be an array."]
    elif emails:
        bad = [i for i, e in enumerate(emails) if not (isinstance(e, str) and _EMAIL.fullmatch(e))]
        if bad:
            errors["user_email"] = [f"The user_email.{i} must be a valid email address." for i in bad]
    return errors


class IimmpactSandbox(SandboxLifecycle):
    def __init__(
        self,
        api_key: str = DEFAULT_API_KEY,
        hmac_secret_b64: str = DEFAULT_HMAC_SECRET_B64,
        *,
        latency: float = 0.0,
        timestamp_window: int = 300,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(_Handler, host, port, latency)
        self.api_key = api_key
        self.hmac_secret_b64 = hmac_secret_b64
        self.timestamp_window = timestamp_window
        self.requests: list[ReceivedRequest] = []
        self.cases: dict[str, dict[str, Any]] = {}
        self.refunded: set[str] = set()
        self.invalid: set[str] = set()
        self._faults: deque[Fault] = deque()
        self._nonces: set[str] = set()
        self._lock = threading.Lock()

    def inject(self, *faults: Fault) -> None:
        with self._lock:
            self._faults.extend(faults)

    def rotate_credentials(self, api_key: str, hmac_secret_b64: str) -> None:
        with self._lock:
            self.api_key, self.hmac_secret_b64 = api_key, hmac_secret_b64

    def reports_for(self, transaction_id: str) -> int:
        with self._lock:
            bodies = [r.body for r in self.requests if r.authenticated]
        return sum(1 for body in bodies if reported_id(_parse(body)) == transaction_id)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.cases.clear()
            self._faults.clear()
            self._nonces.clear()

    def authenticate(self, headers: Any, method: str, query: str, body: bytes) -> bool:
        with self._lock:
            key, secret = self.api_key, self.hmac_secret_b64
        timestamp, nonce = headers.get("X-Timestamp") or "", headers.get("X-Nonce") or ""
        # Header values arrive latin-1 decoded; comparing bytes keeps compare_digest total.
        if not hmac.compare_digest((headers.get("X-Api-Key") or "").encode("latin-1"), key.encode()):
            return False
        if not _TIMESTAMP.fullmatch(timestamp) or abs(time.time() - int(timestamp)) > self.timestamp_window:
            return False
        if not 16 <= len(nonce) <= 128:
            return False
        expected = sign_v1(secret, timestamp, nonce, method, query, body).encode()
        if not hmac.compare_digest((headers.get("X-Signature") or "").encode("latin-1"), expected):
            return False
        # Only a correctly signed request burns its nonce, so a forged one cannot block a real one.
        with self._lock:
            if nonce in self._nonces:
                return False
            self._nonces.add(nonce)
        return True

    def answer(self, request: ReceivedRequest) -> tuple[int, dict[str, Any]] | None:
        """The status and body for a report, or None to drop the connection unanswered."""
        if not request.authenticated:
            return 401, {"message": "Unauthenticated."}
        report = _parse(request.body)
        errors = _validation_errors(report)
        if errors:
            return 400, {"message": VALIDATION_MESSAGE, "errors": errors}
        with self._lock:
            fault = self._faults.popleft() if self._faults else Fault()
        filed = self._file(report) if fault.act else None
        time.sleep(fault.delay)
        if fault.drop:
            return None
        if fault.status is not None:
            return fault.status, {"message": FAULT_MESSAGES.get(fault.status, "Error")}, fault.headers()
        return filed if filed is not None else self._file(report)

    def _file(self, report: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        trx = reported_id(report)
        assert trx is not None  # validation has run
        refid = report.get("refid") or trx
        with self._lock:
            if trx in self.invalid or trx.startswith("INVALID"):
                return 400, {"message": VALIDATION_MESSAGE, "errors": {"trxid": [INVALID_ID_MESSAGE]}}
            if trx in self.refunded or trx.startswith("REFUNDED"):
                return 200, {"data": {"refid": refid, "status": "Failed", "message": REFUNDED_MESSAGE}}
            if trx in self.cases:
                return 200, {"data": {"refid": refid, "status": "Failed", "message": DUPLICATE_MESSAGE}}
            self.cases[trx] = report
        return 200, {"data": {"refid": refid, "status": "Success", "message": SUCCESS_MESSAGE}}


def _parse(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _sound(fault: Fault) -> bool:
    status_ok = fault.status is None or (type(fault.status) is int and 100 <= fault.status <= 599)
    retry_after_ok = fault.retry_after is None or type(fault.retry_after) is str
    return status_ok and retry_after_ok and type(fault.delay) in (int, float) and fault.delay >= 0


def _summary(request: ReceivedRequest) -> dict[str, Any]:
    summary = asdict(request)
    summary["body"] = request.body.decode("utf-8", "replace")
    summary["transaction_id"] = reported_id(_parse(request.body))
    return summary


class _Handler(SandboxHandler):
    server_version = "iimmpact-sandbox"
    server: SandboxServer[IimmpactSandbox]

    def do_GET(self) -> None:
        sandbox, path = self.server.sandbox, urlsplit(self.path).path
        if path == "/_sandbox/requests":
            with sandbox._lock:
                received = list(sandbox.requests)
            self._send(200, [_summary(r) for r in received])
        elif path == "/_sandbox/cases":
            with sandbox._lock:
                cases = dict(sandbox.cases)
            self._send(200, cases)
        else:
            self._send(404, {"message": "Not Found."})

    def do_POST(self) -> None:
        body = self._read_body()
        if body is None:
            return
        sandbox, url = self.server.sandbox, urlsplit(self.path)
        if url.path == "/_sandbox/faults":
            self._queue_faults(body)
        elif url.path == "/_sandbox/reset":
            sandbox.reset()
            self._send(200, {"reset": True})
        elif url.path == CHECK_PATH:
            authenticated = sandbox.authenticate(self.headers, "POST", url.query, body)
            request = ReceivedRequest(dict(self.headers.items()), body, authenticated, None)
            with sandbox._lock:
                sandbox.requests.append(request)
            self._answer(request, sandbox.answer(request))
        else:
            self._send(404, {"message": "Not Found."})

    def _queue_faults(self, body: bytes) -> None:
        items = _parse(body)
        items = [items] if isinstance(items, dict) else items
        try:
            faults = [Fault(**item) for item in items]
        except TypeError:
            faults = None
        # Checked now: a bad fault would otherwise only fail later, inside some report's answer.
        if faults is None or not all(_sound(f) for f in faults):
            self._send(400, {"message": "Expected a JSON list of objects with Fault fields."})
            return
        self.server.sandbox.inject(*faults)
        self._send(200, {"queued": len(faults)})

    def _read_body(self) -> bytes | None:
        length = self._length()
        if length is None:
            # A body not framed by Content-Length would be read as the next request on this connection.
            self.close_connection = True
            self._send(411, {"message": "Length Required"})
            return None
        return self.rfile.read(length)


SANDBOX = ProviderSandbox(
    provider="iimmpact",
    sandbox=IimmpactSandbox,
    credentials=lambda sandbox: {"api_key": sandbox.api_key, "hmac_secret": sandbox.hmac_secret_b64},
    notes="REFUNDED-*: refused, INVALID-*: 400",
    example={"trxid": "T-1002"},
    controls=(
        "# an IIMMPACT outage: its next 4 calls answer 503, so the next dispute is retried after the delays",
        "# shown above, and failed and dead-lettered if its last delivery fails too (see --max-receive-count)",
        "curl -s -w '\\n' -X POST {base_url}/_sandbox/faults "
        '-d \'[{"status": 503}, {"status": 503}, {"status": 503}, {"status": 503}]\'',
    ),
    demo_cases=(
        # IIMMPACT answers the end user by e-mail: no API tells the outcome.
        DemoCase(
            "T-API-1",
            "api",
            "submitted/untracked",
            {"trxid": "T-API-1", "user_email": ["buyer@example.com"]},
            idempotency_key="demo-api-1",
        ),
        DemoCase("T-1001", "sqs", "submitted/untracked", {"trxid": "T-1001", "user_email": ["buyer@example.com"]}),
        # The sandbox answers Failed: refunded automatically.
        DemoCase("REFUNDED-1", "sqs", "rejected", {"trxid": "REFUNDED-1"}),
        # Names no transaction: the worker puts it in its dead-letter queue with a reason.
        DemoCase("(not JSON)", "sqs", "dead-lettered", raw="this is not JSON {"),
    ),
)


def main(argv: list[str] | None = None) -> None:
    parser = command_line("IIMMPACT Report Issue sandbox on loopback.", DEFAULT_API_KEY)
    parser.add_argument("--hmac-secret-b64", default=DEFAULT_HMAC_SECRET_B64)
    args = parser.parse_args(argv)
    serve_until_signalled(
        IimmpactSandbox(args.api_key, args.hmac_secret_b64, latency=args.latency, host=args.host, port=args.port)
    )


if __name__ == "__main__":
    main()
