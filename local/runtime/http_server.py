"""The local HTTP API on a real port: each request becomes the payload 2.0 event API Gateway would send.

    server = LocalHttpServer(stack.http_api, port=3000)
    server.start()                       # http://127.0.0.1:3000
    curl -X POST http://127.0.0.1:3000/disputes -H 'content-type: application/json' -d '{"provider": ...}'

What API Gateway does between the socket and the function is `LocalHttpApi.respond` (route
choice, event, proxy answer); this module only moves bytes. Not emulated: IAM (SigV4)
authorization. Every request is taken as authorized and an `Authorization` header is never
checked, so the server listens on loopback only. Also not emulated: throttling, and the 30 s
integration time-out. API Gateway's 10 MB request limit is kept, since a client that works
locally past it would fail once deployed.

`HttpApiClient` is the other end: the same calls as `LocalHttpApi.call`, over HTTP.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

from local.runtime.gateway import ApiAnswer, LocalHttpApi, RawAnswer, gateway_error
from local.runtime.http_api import Body, QueryValues, new_request_id

DEFAULT_PORT = 3000  # sam local start-api's port, so tools made for it find this one
LOOPBACK = "127.0.0.1"
MAX_REQUEST_BYTES = 10 * 1024 * 1024  # API Gateway HTTP API's payload limit
_CONTENT_LENGTH = re.compile(r"[0-9]{1,12}")
_QUERY = re.compile(r"\?\S*")
_CLIENT_TIMEOUT_SECONDS = 60
_log = logging.getLogger(__name__)


class LocalHttpServer:
    """`api` served on `port` of 127.0.0.1 (0: any free port), one thread per connection."""

    def __init__(self, api: LocalHttpApi, *, port: int = DEFAULT_PORT) -> None:
        self._api = api
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def start(self) -> str:
        """Listen and serve; the base URL. An OSError when the port is taken."""
        self._server = _Server((LOOPBACK, self._port), self._api)
        self.url = f"http://{LOOPBACK}:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="local-http-api", daemon=True
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        """Stop accepting; a request under way finishes on its own (daemon) thread."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> LocalHttpServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], api: LocalHttpApi) -> None:
        super().__init__(address, _Handler)
        self.api = api


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def version_string(self) -> str:
        return "dispute-gateway-local"

    def log_message(self, format: str, *args: Any) -> None:
        # An access log line per request, quiet unless the caller configures logging; without the
        # query string, as the template's access log: the console's sign-in returns with its code there.
        shown = [_QUERY.sub("?...", arg) if isinstance(arg, str) else arg for arg in args]
        _log.info("%s " + format, self.address_string(), *shown)

    def do_HEAD(self) -> None:
        self._forward(send_body=False)

    def __getattr__(self, name: str) -> Any:
        # BaseHTTPRequestHandler answers a method it has no do_<METHOD> for with an HTML 501;
        # API Gateway routes every method (an ANY route takes it, else a JSON 404).
        if name.startswith("do_"):
            return self._forward
        raise AttributeError(name)

    def _forward(self, *, send_body: bool = True) -> None:
        try:
            answer = self._answer()
        except Exception:
            # A bug here, not in a function (the gateway turns those into 500s itself).
            _log.exception("local HTTP API failed on %s %s", self.command, self.path)
            answer = gateway_error(500, "Internal Server Error", new_request_id())
        self._send(answer, send_body)

    def _answer(self) -> RawAnswer:
        length = self.headers.get("Content-Length") or "0"
        if self.headers.get("Transfer-Encoding"):
            # API Gateway wants a framed body too; reading a chunked one is not worth it here.
            self.close_connection = True
            return gateway_error(411, "Length Required", new_request_id())
        if not _CONTENT_LENGTH.fullmatch(length):
            self.close_connection = True
            return gateway_error(400, "Bad Request", new_request_id())
        if int(length) > MAX_REQUEST_BYTES:
            # The body is left unread, so the connection cannot carry another request.
            self.close_connection = True
            return gateway_error(413, "Request Entity Too Large", new_request_id())
        data = self.rfile.read(int(length))
        return self.server.api.respond(self.command, self.path, body=data or None, headers=_joined(self.headers))

    def _send(self, answer: RawAnswer, send_body: bool) -> None:
        try:
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                if name not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(name, value)
            for cookie in answer.cookies:
                self.send_header("set-cookie", cookie)
            self.send_header("content-length", str(len(answer.body)))
            self.end_headers()
            if send_body:
                self.wfile.write(answer.body)
        except OSError:
            # The client went away; nothing to tell it.
            self.close_connection = True


def _joined(headers: Any) -> dict[str, str]:
    """Header names in lower case, repeated headers joined with commas (as API Gateway passes them)."""
    joined: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    return joined


class HttpApiClient:
    """`LocalHttpApi.call` over HTTP: (status, headers, body), header names lower-cased, JSON bodies parsed."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._session = requests.Session()

    def call(
        self,
        method: str,
        path: str,
        body: Body = None,
        headers: Mapping[str, str] | None = None,
        query: QueryValues | None = None,
    ) -> ApiAnswer:
        data: bytes | None
        sent = dict(headers or {})
        if body is None or isinstance(body, bytes):
            data = body
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = json.dumps(body).encode()
            sent.setdefault("content-type", "application/json")
        response = self._session.request(
            method, self.base_url + path, data=data, headers=sent, params=query, timeout=_CLIENT_TIMEOUT_SECONDS
        )
        parsed: Any = None
        if response.content:
            try:
                parsed = response.json()
            except ValueError:
                parsed = response.text
        return ApiAnswer(response.status_code, {k.lower(): v for k, v in response.headers.items()}, parsed)

    def close(self) -> None:
        self._session.close()
