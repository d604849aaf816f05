"""What the provider sandboxes share: a loopback HTTP server that a test can start and stop at will.

A sandbox inherits `SandboxLifecycle` (start, stop, ``with``), answers with a `SandboxHandler`
subclass, and runs for another process through `command_line` and `serve_until_signalled`.
Its module says how the local stack wires it, in a `SANDBOX` (a `ProviderSandbox`): the local
stack finds every sandbox module that has one, and `make demo` files the disputes it declares
(its `demo_cases`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Generic, Protocol, Self, TypeVar

SandboxT = TypeVar("SandboxT", bound="SandboxLifecycle", covariant=True)
# A status and a JSON payload, and headers to send with them (a fault's Retry-After).
Answer = tuple[int, Any] | tuple[int, Any, dict[str, str]]

_CONTENT_LENGTH = re.compile(r"[0-9]{1,10}")


class Recorded(Protocol):
    answered_status: int | None


class SandboxServer(ThreadingHTTPServer, Generic[SandboxT]):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[SandboxHandler], sandbox: SandboxT) -> None:
        super().__init__(address, handler)
        self.sandbox = sandbox
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()

    def close_connections(self) -> None:
        with self.connections_lock:
            for connection in self.connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that give up mid-upload or mid-answer are routine in fault and time-out tests;
        # anything else is a bug.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class SandboxHandler(BaseHTTPRequestHandler):
    """JSON answers over kept-alive HTTP/1.1; a subclass names itself in `server_version`."""

    protocol_version = "HTTP/1.1"
    server: SandboxServer[SandboxLifecycle]

    def version_string(self) -> str:
        return self.server_version

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in separate writes; without this, Nagle's algorithm and the
        # client's delayed ACK stall every answer on a kept-alive connection by ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: request lines and headers carry credentials and transaction or deal ids."""

    def _length(self) -> int | None:
        """The body's Content-Length (0 when absent), or None when the body is not framed by one."""
        length = self.headers.get("Content-Length") or "0"
        if self.headers.get("Transfer-Encoding") or not _CONTENT_LENGTH.fullmatch(length):
            return None
        return int(length)

    def _answer(self, request: Recorded, outcome: Answer | None) -> None:
        """After the sandbox's latency, `outcome` sent and recorded on `request`; None drops the connection."""
        time.sleep(self.server.sandbox.latency)
        if outcome is None:
            self._drop()
            return
        status, payload = outcome[0], outcome[1]
        headers = dict(outcome[2]) if len(outcome) > 2 else {}
        if status == 429:
            headers.setdefault("Retry-After", "1")
        request.answered_status = status
        self._send(status, payload, headers)

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            self.close_connection = True

    def _drop(self) -> None:
        # A FIN with nothing written makes the client fail at once instead of waiting for a time-out.
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


class SandboxLifecycle:
    """Serving on `host`:`port` (0: any free port) from `start` to `stop`; `base_url` once started.
    Every answer waits `latency` seconds first."""

    def __init__(self, handler: type[SandboxHandler], host: str, port: int, latency: float) -> None:
        self.host, self.port = host, port
        self.latency = latency
        self.base_url = ""
        self._handler = handler
        self._server: SandboxServer[Self] | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        self._server = SandboxServer((self.host, self.port), self._handler, self)
        self.base_url = f"http://{self.host}:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        # Kept-alive connections would otherwise go on being served by a "stopped" sandbox.
        self._server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def command_line(description: str, api_key: str) -> argparse.ArgumentParser:
    """The options every sandbox takes; a sandbox adds its own."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--api-key", default=api_key)
    return parser


def serve_until_signalled(sandbox: SandboxLifecycle) -> None:
    """Serves `sandbox`, its base URL the first line on stdout, until SIGTERM or SIGINT."""
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    with sandbox:
        print(sandbox.base_url, flush=True)
        while not stopped.wait(0.5):
            pass


@dataclass(frozen=True)
class DemoFile:
    """An evidence file the demo makes and uploads: a one-page PDF showing `text` (ASCII), or a PNG."""

    filename: str
    content_type: str  # application/pdf or image/png
    text: str = "evidence"


@dataclass(frozen=True)
class DemoCase(Generic[SandboxT]):
    """One dispute `make demo` files for the provider, and how it must end.

    `route`: `api` (POST /disputes; its evidence uploaded first through POST /evidence-uploads),
    `sqs` (a message on the provider's queue; its evidence uploaded first, under the transaction's
    folder) or `s3` (the evidence uploaded into a new folder of the transaction, then `request` as
    its manifest, written last). The files' keys go into `request` as its `evidence`, except by
    `s3`. `raw`: a body sent as it is on the queue instead, which must end in its dead-letter queue
    (`reference` then only names the case)."""

    reference: str
    route: str
    expected: str  # the status, "status/resolution" once submitted ("submitted/won"), or "dead-lettered"
    request: Mapping[str, Any] = field(default_factory=dict)  # without `provider`
    evidence: tuple[DemoFile, ...] = ()
    # The provider's part once the dispute is submitted (e.g. its office deciding), on the sandbox.
    decide: Callable[[SandboxT], None] | None = None
    idempotency_key: str | None = None  # the API's Idempotency-Key header
    raw: str | None = None


@dataclass(frozen=True)
class ProviderSandbox(Generic[SandboxT]):
    """How the local stack stands a sandbox in for its provider."""

    provider: str  # the provider's name in the registry
    sandbox: Callable[[], SandboxT]  # a new, unstarted sandbox
    credentials: Callable[[SandboxT], Mapping[str, str]]  # its provider's secret value, for this sandbox
    notes: str  # the references it treats specially, for `make serve`'s banner
    # For the banner's copy-paste commands: a queue body the provider accepts, the evidence keys
    # it names (uploaded first), and for a provider that takes evidence, a manifest's content.
    example: Mapping[str, Any]
    example_uploads: tuple[str, ...] = ()
    example_manifest: Mapping[str, Any] | None = None
    # Shell commands playing the provider's part (e.g. deciding a dispute); {base_url} is the sandbox's.
    controls: tuple[str, ...] = ()
    # What `make demo` files for this provider: each of its routes, and the ends it can come to.
    demo_cases: tuple[DemoCase[SandboxT], ...] = ()
