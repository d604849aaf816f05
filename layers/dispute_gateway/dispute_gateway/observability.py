"""Logger and Metrics shared by every function, with redaction of secrets and e-mails.

Redaction happens on the final log line, after Powertools has rendered the message, the
extra keys and any traceback, so no path into a log line can skip it.

No X-Ray SDK (Powertools Tracer): importing it costs ~125 ms of every cold start even when
disabled, about a third of a function's floor. Lambda's active tracing (template) still traces
each invocation; the time each provider takes is a metric (`ProviderLatency`) instead.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from .models import Provider, Status

REDACTED = "[REDACTED]"
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
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


class RedactingFormatter(LambdaPowertoolsFormatter):
    def format(self, record: Any) -> str:
        return redact(super().format(record))


logger = Logger(logger_formatter=RedactingFormatter())
metrics = Metrics()

_METRIC_BY_STATUS = {
    Status.SUBMITTED: "DisputesSubmitted",
    Status.REJECTED: "DisputesRejected",
    Status.FAILED: "DisputesFailed",
}


def count_outcome(provider: Provider, status: Status) -> None:
    """One data point per dispute outcome, with its provider as the dimension."""
    name = _METRIC_BY_STATUS.get(status)
    if name is None:
        return
    # A metric of its own, flushed at once: the shared Metrics object carries one dimension set
    # for a whole invocation, and functions sharing a process (the local stack) share it.
    with single_metric(name=name, unit=MetricUnit.Count, value=1, namespace=metrics.namespace) as metric:
        metric.add_dimension(name="provider", value=provider.value)


def record_provider_latency(provider: Provider, operation: str, milliseconds: float) -> None:
    with single_metric(
        name="ProviderLatency", unit=MetricUnit.Milliseconds, value=milliseconds, namespace=metrics.namespace
    ) as metric:
        metric.add_dimension(name="provider", value=provider.value)
        metric.add_dimension(name="operation", value=operation)
