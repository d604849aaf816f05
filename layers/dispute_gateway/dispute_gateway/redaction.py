"""Redaction of secrets, signatures and e-mail addresses: one mask, `[REDACTED]`, wherever text
leaves the service (log lines, API answers, dead-letter reasons, the demo's printout).

A module of its own, with no Logger or Metrics: importing it reads no configuration, so a
program (the local demo) may import it before any function's cold start.
"""

from __future__ import annotations

import re
import threading

REDACTED = "[REDACTED]"
_LOCAL_PART = r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]"
# An address starts where a run of local-part characters starts: without the look-behind every
# position of a long run (a base64 blob in a log line) is tried to the run's end, time growing
# with the square of its length (a 50 KB run took 1.8 s, holding the interpreter).
_EMAIL = re.compile(rf"(?<!{_LOCAL_PART}){_LOCAL_PART}+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_SIGNATURE = re.compile(r"v1=[A-Za-z0-9+/=_-]{8,}")


class _SecretValues:
    """Secret values seen at run time (API keys, HMAC secrets), scrubbed from every line."""

    def __init__(self) -> None:
        self._values: frozenset[str] = frozenset()
        self._lock = threading.Lock()

    def add(self, *values: str) -> None:
        # Short values would redact ordinary words; real keys are long.
        with self._lock:
            self._values = self._values | {value for value in values if value and len(value) >= 8}

    def scrub(self, text: str) -> str:
        for value in sorted(self._values, key=len, reverse=True):
            text = text.replace(value, REDACTED)
        return text


secret_values = _SecretValues()


def redact(text: str) -> str:
    text = secret_values.scrub(text)
    text = _SIGNATURE.sub("v1=" + REDACTED, text)
    return _EMAIL.sub(REDACTED, text)
