"""HTTP to the providers: one pooled session that never follows a redirect, and time-outs that fit
inside the invocation."""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter

USER_AGENT = "dispute-gateway/0.1"


@dataclass(frozen=True)
class Deadline:
    """When the current invocation must have written its outcomes (the Lambda's end minus a reserve)."""

    at: float

    @classmethod
    def from_lambda_context(cls, context: Any, reserve_seconds: float) -> Deadline:
        remaining_ms = context.get_remaining_time_in_millis() if context is not None else 60_000
        return cls(time.monotonic() + remaining_ms / 1000 - reserve_seconds)

    @property
    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def timeouts(self, connect: float, read: float) -> tuple[float, float] | None:
        """(connect, read) time-outs bounded by what is left, or None when too little is left to try."""
        left = self.remaining
        if left < 1.0:
            return None
        return (min(connect, left), min(read, left))


class ProviderSession(requests.Session):
    """A session that never follows a redirect, whatever its caller asks.

    requests follows 3xx by default and sends the request's own headers again to whatever host
    `Location` names; it drops only `Authorization` there, while the providers' credentials travel
    in headers of their own (API keys, signatures). A redirect is answered to the caller as it
    came (CONTRACT section 7)."""

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        kwargs["allow_redirects"] = False
        return super().send(request, **kwargs)


def redirect_host(response: requests.Response) -> str:
    """The host (and port, if one is given) a 3xx answer points at, never its path or query: they
    can carry tokens. A relative `Location` stays on the host that answered."""
    location = response.headers.get("Location")
    if not location:
        return "nowhere (no Location)"
    try:
        target = urlsplit(urljoin(response.url or "", location))
        host, port = target.hostname, target.port
    except ValueError:
        return "an unreadable address"
    if not host:
        return "an unreadable address"
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{port}" if port else host


@cache
def http_session(pool_size: int = 10) -> requests.Session:
    """Retries are the queue's job (with the dispute record as guard), never urllib3's."""
    session = ProviderSession()
    adapter = HTTPAdapter(pool_connections=2, pool_maxsize=pool_size, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    return session
