"""A loopback stand-in for Repay's (repay.cx) deal lookup and dispute creation calls.

It follows the provider's documentation: a cashier key in the ``api-key`` header, deals read
with ``GET /api/v1/external/deals/{id}``, disputes opened with a ``multipart/form-data`` POST of
one ``files`` part per file (each with its own type and a Latin name) and a ``new_amount``.
Repay never refuses a repeated dispute -- each one moves the deal on to ``proceedingsN`` -- so
every dispute opened is recorded, and queued faults (the IIMMPACT sandbox's ``Fault``) let
exactly-once logic be tested over real HTTP rather than against mocks. Deal lookups have a
queue of faults of their own, so that a test can fail one call without touching the other.

Repay's office later decides a dispute: ``settle`` plays that decision, putting the deal in
its final state (``completed`` when won, ``reject_by_office`` when lost) and, on a win,
possibly at an amount that is neither the original nor the one the dispute asked for.

Run it for another process with ``python -m tests.sandboxes.repay --port N``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from collections import deque
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from email.message import Message
from email.utils import collapse_rfc2231_value
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote, urlsplit

from requests_toolbelt.multipart.decoder import ImproperBodyPartContentException, MultipartDecoder

from tests.sandboxes.iimmpact import Fault
from tests.sandboxes.server import (
    Answer,
    DemoCase,
    DemoFile,
    ProviderSandbox,
    SandboxHandler,
    SandboxLifecycle,
    SandboxServer,
    command_line,
    serve_until_signalled,
)

DEFAULT_API_KEY = "repay_sandbox_key"
FIRST_SIGHT_STATE = "rejected_timeout"
DEFAULT_AMOUNT = "1000"  # a deal's amount until `settle` (or `amounts`) says otherwise
MAX_BODY = 2 << 30  # comfortably above the 1 GiB the benchmarks need; larger is refused, not buffered
LATIN_MESSAGE = "The names of attached files must be written in Latin."

_DEAL_PATH = re.compile(r"/api/v1/external/deals/([^/]+)(/disputes)?")
_SETTLE_PATH = re.compile(r"/_sandbox/deals/([^/]+)")
_AMOUNT = re.compile(r"[0-9]+(\.[0-9]+)?")
_LATIN = re.compile(r"[ -~]+")
_PROCEEDINGS = re.compile(r"proceedings([0-9]*)")
_CHUNK = 1 << 20


@dataclass
class ReceivedFile:
    filename: str
    content_type: str
    size: int
    sha256: str
    data: bytes | None  # None when the sandbox does not keep bodies


@dataclass
class ReceivedDispute:
    dispute_id: str  # the uuid4 answered as payload.id
    deal_id: str
    new_amount: str  # exactly as received
    files: list[ReceivedFile]
    headers: dict[str, str]


@dataclass
class ReceivedRequest:
    method: str
    path: str
    authenticated: bool
    answered_status: int | None  # None while unanswered, or when dropped


@dataclass
class _Form:
    new_amount: str = ""
    files: list[ReceivedFile] = field(default_factory=list)
    errors: dict[str, list[str]] = field(default_factory=dict)

    def refuse(self, name: str, why: str) -> None:
        reasons = self.errors.setdefault(name, [])
        if why not in reasons:
            reasons.append(why)


def _envelope(status: int, error: dict[str, Any] | None = None, payload: dict[str, Any] | None = None) -> Any:
    return {"status_code": status, "error": error or {}, "payload": payload or {}}


def _failure(status: int, message: str | None = None, headers: dict[str, str] | None = None) -> Answer:
    if message is None:
        try:
            message = HTTPStatus(status).phrase
        except ValueError:
            message = "Error"
    return status, _envelope(status, {"message": message}), headers or {}


def next_state(state: str) -> str:
    """The state a deal moves to when a dispute is opened on it."""
    match = _PROCEEDINGS.fullmatch(state)
    if match is None:
        return "proceedings"
    return f"proceedings{int(match[1] or 1) + 1}"


class RepaySandbox(SandboxLifecycle):
    def __init__(
        self,
        api_key: str = DEFAULT_API_KEY,
        *,
        latency: float = 0.0,
        keep_bodies: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(_Handler, host, port, latency)
        self.api_key = api_key
        self.keep_bodies = keep_bodies
        self.deals: dict[str, str] = {}
        self.amounts: dict[str, str] = {}  # by deal id; DEFAULT_AMOUNT when absent
        self.unknown: set[str] = set()
        self.disputes: list[ReceivedDispute] = []
        self.requests: list[ReceivedRequest] = []
        self._faults: deque[Fault] = deque()
        self._lookup_faults: deque[Fault] = deque()
        self._lock = threading.Lock()

    def inject(self, *faults: Fault) -> None:
        """Faults for the next dispute POSTs that pass Repay's checks (deal lookups are not affected)."""
        with self._lock:
            self._faults.extend(faults)

    def inject_lookup(self, *faults: Fault) -> None:
        """Faults for the next deal lookups (GET) that pass Repay's checks; disputes are not affected.

        A lookup changes nothing, so there is nothing to do before failing: ``act`` is refused."""
        if any(fault.act for fault in faults):
            raise ValueError("act has no meaning for a deal lookup")
        with self._lock:
            self._lookup_faults.extend(faults)

    def settle(self, deal_id: str, state: str, amount: str | None = None) -> None:
        """Put the deal in `state` as Repay's office would on deciding its dispute ("completed",
        "reject_by_office", or any other state), and at `amount` when given."""
        with self._lock:
            self.deals[deal_id] = state
            if amount is not None:
                self.amounts[deal_id] = amount

    def rotate_credentials(self, api_key: str) -> None:
        with self._lock:
            self.api_key = api_key

    def disputes_for(self, deal_id: str) -> int:
        with self._lock:
            return sum(1 for dispute in self.disputes if dispute.deal_id == deal_id)

    def reset(self) -> None:
        """Forget everything that happened, deal states and amounts included; keeps key, latency and ``unknown``."""
        with self._lock:
            self.requests.clear()
            self.disputes.clear()
            self.deals.clear()
            self.amounts.clear()
            self._faults.clear()
            self._lookup_faults.clear()

    def authorized(self, presented: str | None) -> bool:
        with self._lock:
            key = self.api_key
        # Header values arrive latin-1 decoded; comparing bytes keeps compare_digest total.
        return hmac.compare_digest((presented or "").encode("latin-1"), key.encode())

    def sight(self, deal_id: str) -> bool:
        """Whether Repay knows the deal; a known deal seen for the first time starts out rejected."""
        if deal_id in self.unknown or deal_id.startswith("UNKNOWN"):
            return False
        with self._lock:
            self.deals.setdefault(deal_id, FIRST_SIGHT_STATE)
        return True

    def deal(self, deal_id: str) -> Answer | None:
        """The answer to a deal lookup, or None to drop the connection unanswered."""
        with self._lock:
            fault = self._lookup_faults.popleft() if self._lookup_faults else Fault()
        time.sleep(fault.delay)
        if fault.drop:
            return None
        if fault.status is not None:
            return _failure(fault.status, headers=fault.headers())
        # Read after the delay: a slow answer tells the deal as it is when the answer leaves.
        with self._lock:
            state = self.deals.setdefault(deal_id, FIRST_SIGHT_STATE)
            amount = self.amounts.get(deal_id, DEFAULT_AMOUNT)
        payload = {"id": deal_id, "amount_usdt": "10.00", "amount": amount, "currency": "RUB"}
        return 200, _envelope(200, payload=payload | {"state": state, "receiver_info": {}})

    def dispute(self, deal_id: str, form: _Form, headers: dict[str, str]) -> Answer | None:
        """The answer to a dispute, or None to drop the connection unanswered."""
        if form.errors:
            return 422, _envelope(422, form.errors)
        with self._lock:
            fault = self._faults.popleft() if self._faults else Fault()
        opened = self._open(deal_id, form, headers) if fault.act else None
        time.sleep(fault.delay)
        if fault.drop:
            return None
        if fault.status is not None:
            return _failure(fault.status, headers=fault.headers())
        return opened or self._open(deal_id, form, headers)

    def _open(self, deal_id: str, form: _Form, headers: dict[str, str]) -> Answer:
        dispute = ReceivedDispute(str(uuid.uuid4()), deal_id, form.new_amount, form.files, headers)
        with self._lock:
            self.deals[deal_id] = next_state(self.deals.get(deal_id, FIRST_SIGHT_STATE))
            self.disputes.append(dispute)
        return 200, _envelope(200, payload={"id": dispute.dispute_id, "status": "uploaded"})


def _parse_form(body: bytearray, boundary: str, keep_bodies: bool) -> _Form | None:
    """The dispute form with every refusal found, or None when the body is not multipart at all."""
    try:
        # latin-1 maps part headers back to their raw bytes, so no filename can fail to decode.
        parts = MultipartDecoder(body, f"multipart/form-data; boundary={boundary}", "latin-1").parts
    except ImproperBodyPartContentException:
        return None
    form, amounts = _Form(), []
    for part in parts:
        disposition = Message()
        disposition["Content-Disposition"] = part.headers.get(b"content-disposition", b"").decode("latin-1")
        if disposition.get_content_disposition() != "form-data":
            return None
        params = [
            (key, collapse_rfc2231_value(value))
            for key, value in disposition.get_params(header="content-disposition")[1:]
        ]
        name = next((value for key, value in params if key == "name"), None)
        filenames = [value for key, value in params if key == "filename"]
        if name is None:
            return None
        if name == "new_amount":
            amounts.append(part.content)
            if filenames:
                form.refuse(name, "Expected a value, not a file.")
        elif name != "files":
            form.refuse(name, "Unexpected field.")
        elif not filenames or not filenames[0]:
            form.refuse(name, "Each file must have a file name.")
        elif not all(_LATIN.fullmatch(filename) for filename in filenames):
            form.refuse(name, LATIN_MESSAGE)
        elif not (content_type := part.headers.get(b"content-type", b"").decode("latin-1").strip()):
            form.refuse(name, "Each file must be passed with its type.")
        else:
            content = part.content
            data = bytes(content) if keep_bodies else None
            form.files.append(
                ReceivedFile(filenames[0], content_type, len(content), hashlib.sha256(content).hexdigest(), data)
            )
    if "files" not in form.errors and not form.files:
        form.refuse("files", "At least one file is required.")
    if len(amounts) != 1:
        form.refuse("new_amount", "This field is required." if not amounts else "Only one value is allowed.")
    elif "new_amount" not in form.errors:
        form.new_amount = amounts[0].decode("latin-1")
        if not _AMOUNT.fullmatch(form.new_amount) or Decimal(form.new_amount) <= 0:
            form.refuse("new_amount", "A positive decimal number is required.")
    return form


def _summary(dispute: ReceivedDispute) -> dict[str, Any]:
    return {
        "dispute_id": dispute.dispute_id,
        "deal_id": dispute.deal_id,
        "new_amount": dispute.new_amount,
        "files": [{k: v for k, v in asdict(f).items() if k != "data"} for f in dispute.files],
    }


def _faults_from(payload: Any) -> list[Fault] | None:
    items = [payload] if isinstance(payload, dict) else payload
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        return None
    try:
        faults = [Fault(**item) for item in items]
    except TypeError:
        return None
    # Checked now: a bad fault would otherwise only fail later, inside some dispute's answer.
    sound = all(
        (f.status is None or (type(f.status) is int and 100 <= f.status <= 599))
        and type(f.act) is type(f.drop) is bool
        and type(f.delay) in (int, float)
        and f.delay >= 0
        and (f.retry_after is None or type(f.retry_after) is str)
        for f in faults
    )
    return faults if sound else None


def _settlement_from(payload: Any) -> tuple[str, str | None] | None:
    """The state and amount of a ``POST /_sandbox/deals/{id}`` body, or None when it is not one."""
    if not isinstance(payload, dict) or not set(payload) <= {"state", "amount"}:
        return None
    state, amount = payload.get("state"), payload.get("amount")
    if not (isinstance(state, str) and state) or not (amount is None or isinstance(amount, str)):
        return None
    return state, amount


class _Handler(SandboxHandler):
    server_version = "repay-sandbox"
    server: SandboxServer[RepaySandbox]

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if not path.startswith("/_sandbox/"):
            self._api("GET", path)
            return
        sandbox = self.server.sandbox
        with sandbox._lock:
            disputes, deals, received = list(sandbox.disputes), dict(sandbox.deals), list(sandbox.requests)
        if path == "/_sandbox/disputes":
            self._send(200, [_summary(d) for d in disputes])
        elif path == "/_sandbox/deals":
            self._send(200, deals)
        elif path == "/_sandbox/requests":
            self._send(200, [asdict(r) for r in received])
        else:
            self._send(*_failure(404))

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        if not path.startswith("/_sandbox/"):
            self._api("POST", path)
            return
        length = self._length()
        if length is None or length > _CHUNK:
            self.close_connection = True
            self._send(*_failure(411 if length is None else 413))
            return
        body = self._read(length, keep=True)
        if body is None:
            return
        sandbox = self.server.sandbox
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        settled = _SETTLE_PATH.fullmatch(path)
        if path == "/_sandbox/faults":
            faults = _faults_from(payload)
            if faults is None:
                self._send(*_failure(400, "Expected a JSON list of objects with Fault fields."))
                return
            sandbox.inject(*faults)
            self._send(200, {"queued": len(faults)})
        elif path == "/_sandbox/lookup-faults":
            faults = _faults_from(payload)
            if faults is None or any(fault.act for fault in faults):
                self._send(*_failure(400, "Expected a JSON list of objects with Fault fields, without act."))
                return
            sandbox.inject_lookup(*faults)
            self._send(200, {"queued": len(faults)})
        elif settled is not None:
            settlement = _settlement_from(payload)
            if settlement is None:
                self._send(*_failure(400, 'Expected {"state": "...", "amount"?: "..."}.'))
                return
            deal_id = unquote(settled[1])
            sandbox.settle(deal_id, *settlement)
            with sandbox._lock:
                state, amount = sandbox.deals[deal_id], sandbox.amounts.get(deal_id, DEFAULT_AMOUNT)
            self._send(200, {"id": deal_id, "state": state, "amount": amount})
        elif path == "/_sandbox/deals":
            if not isinstance(payload, dict) or not all(isinstance(v, str) for v in payload.values()):
                self._send(*_failure(400, "Expected a JSON object of deal id to state."))
                return
            with sandbox._lock:
                sandbox.deals.update(payload)
            self._send(200, {"deals": len(payload)})
        elif path == "/_sandbox/reset":
            sandbox.reset()
            self._send(200, {"reset": True})
        else:
            self._send(*_failure(404))

    def _api(self, method: str, path: str) -> None:
        sandbox = self.server.sandbox
        request = ReceivedRequest(method, path, sandbox.authorized(self.headers.get("api-key")), None)
        with sandbox._lock:
            sandbox.requests.append(request)
        length = self._length()
        if length is None or length > MAX_BODY:
            # A body not framed by Content-Length would be read as the next request on this connection.
            self.close_connection = True
            self._answer(request, _failure(411 if length is None else 413))
            return
        refusal, deal_id = self._refusal(method, path, request.authenticated)
        body = self._read(length, keep=refusal is None and method == "POST")
        if body is None:
            return
        if refusal is not None:
            self._answer(request, refusal)
        elif method == "GET":
            self._answer(request, sandbox.deal(deal_id))
        else:
            form = _parse_form(body, str(self.headers.get_param("boundary")), sandbox.keep_bodies)
            del body  # the files are hashed (and copied if kept): a delay fault need not hold the upload
            if form is None:
                self._answer(request, _failure(400, "Malformed multipart/form-data body."))
            else:
                self._answer(request, sandbox.dispute(deal_id, form, dict(self.headers.items())))

    def _refusal(self, method: str, path: str, authenticated: bool) -> tuple[Answer | None, str]:
        """A refusal decided from the request line and headers alone, and the deal id."""
        match = _DEAL_PATH.fullmatch(path)
        if match is None:
            return _failure(404), ""
        deal_id, disputes = unquote(match[1]), match[2] is not None
        if method != ("POST" if disputes else "GET"):
            return _failure(405), deal_id
        if not authenticated:
            return _failure(401), deal_id
        if not self.server.sandbox.sight(deal_id):
            return _failure(404, "Deal not found"), deal_id
        if disputes and self.headers.get_content_type() != "multipart/form-data":
            return _failure(415, "Expected multipart/form-data."), deal_id
        if disputes and not (isinstance(boundary := self.headers.get_param("boundary"), str) and boundary):
            return _failure(400, "Malformed multipart/form-data body."), deal_id
        return None, deal_id

    def _read(self, length: int, *, keep: bool) -> bytearray | None:
        """The body (empty when not kept), read in chunks; None when the client hung up mid-body."""
        # One buffer filled in place: joining chunks would briefly double a large upload.
        body = bytearray(length if keep else min(length, _CHUNK))
        done = 0
        with memoryview(body) as view:
            while done < length:
                window = view[done : done + _CHUNK] if keep else view[: min(_CHUNK, length - done)]
                count = self.rfile.readinto(window)
                if not count:
                    self.close_connection = True
                    return None
                done += count
        return body if keep else bytearray()


SANDBOX = ProviderSandbox(
    provider="repay",
    sandbox=RepaySandbox,
    # Repay's example sends the merchant's domain in an `origin` header; any value does here.
    credentials=lambda sandbox: {"api_key": sandbox.api_key, "origin": "demo.local"},
    notes="UNKNOWN-*: no such deal",
    example={
        "deal_id": "D-2",
        "new_amount": "500",
        "evidence": [{"key": "repay/D-2/cmd1/receipt.pdf", "content_type": "application/pdf"}],
    },
    example_uploads=("repay/D-2/cmd1/receipt.pdf",),
    example_manifest={"new_amount": "1000"},
    controls=(
        "# once D-2's dispute is submitted, Repay's office decides it: won at 990.50",
        '# (or {"state": "reject_by_office"}: lost)',
        'curl -s -w \'\\n\' -X POST {base_url}/_sandbox/deals/D-2 -d \'{"state": "completed", "amount": "990.50"}\'',
    ),
    demo_cases=(
        # Its office has not decided: the tracker shows the deal's state.
        DemoCase(
            "D-79",
            "api",
            "submitted/open",
            {"deal_id": "D-79", "new_amount": "750"},
            evidence=(
                DemoFile("receipt.pdf", "application/pdf", "Receipt for deal D-79: 750 paid"),
                # Presigned under its Latin name (Kvitantsiya_No2.png): Repay takes no other.
                DemoFile("Квитанция №2.png", "image/png"),
            ),
            idempotency_key="demo-api-2",
        ),
        # Its office recognises the payment, at another amount than the dispute's: won.
        DemoCase(
            "D-77",
            "sqs",
            "submitted/won",
            {"deal_id": "D-77", "new_amount": "1000"},
            evidence=(DemoFile("receipt.pdf", "application/pdf", "Receipt for deal D-77: 1000 paid"),),
            decide=lambda sandbox: sandbox.settle("D-77", "completed", amount="990.50"),
        ),
        # ...or cancels the deal in dispute: lost. A Cyrillic name: the worker transliterates it.
        DemoCase(
            "D-78",
            "s3",
            "submitted/lost",
            {"new_amount": "250.5"},
            evidence=(
                DemoFile("receipt.png", "image/png"),
                DemoFile("Квитанция №1.pdf", "application/pdf", "Bank statement, deal D-78"),
            ),
            decide=lambda sandbox: sandbox.settle("D-78", "reject_by_office"),
        ),
    ),
)


def main(argv: list[str] | None = None) -> None:
    parser = command_line("Repay deals and disputes sandbox on loopback.", DEFAULT_API_KEY)
    parser.add_argument("--no-keep-bodies", dest="keep_bodies", action="store_false")
    args = parser.parse_args(argv)
    serve_until_signalled(
        RepaySandbox(args.api_key, latency=args.latency, keep_bodies=args.keep_bodies, host=args.host, port=args.port)
    )


if __name__ == "__main__":
    main()
