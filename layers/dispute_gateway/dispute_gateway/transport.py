"""HTTP to the providers: one pooled session, and time-outs that fit inside the invocation."""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cache
from typing import Any

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


@cache
def http_session(pool_size: int = 10) -> requests.Session:
    """Retries are the queue's job (with the dispute record as guard), never urllib3's."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=2, pool_maxsize=pool_size, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    return session
