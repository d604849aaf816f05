"""Logger and Metrics shared by every function, with redaction of secrets and e-mails.

Redaction (see `redaction`) happens on the final log line, after Powertools has rendered the
message, the extra keys and any traceback, so no path into a log line can skip it.

No X-Ray SDK (Powertools Tracer): importing it costs ~125 ms of every cold start even when
disabled, about a third of a function's floor. Lambda's active tracing (template) still traces
each invocation; the time each provider takes is a metric (`ProviderLatency`) instead.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.logging.lambda_context import build_lambda_context_model
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities import jmespath_utils

from .models import Resolution, Status
from .redaction import redact


class RedactingFormatter(LambdaPowertoolsFormatter):
    def format(self, record: Any) -> str:
        return redact(super().format(record))


logger = Logger(logger_formatter=RedactingFormatter())
metrics = Metrics()

HandlerT = TypeVar("HandlerT", bound=Callable[..., Any])


def invocation_logging(correlation_id_path: str | None = None) -> Callable[[HandlerT], HandlerT]:
    """Logger.inject_lambda_context, with every key kept to the invocation's own context.

    Powertools' decorator appends the Lambda context and the correlation id to keys the whole
    process shares. On Lambda one process runs one invocation at a time, but where functions
    share a process (the local stack runs each in its own thread) one invocation's keys would
    show on another's lines. Context-local keys start empty in each thread, and the pipeline
    copies them into its worker threads.
    """

    def decorator(handler: HandlerT) -> HandlerT:
        cold = [True]

        @functools.wraps(handler)
        def invoke(event: Any, context: Any) -> Any:
            keys: dict[str, Any] = {"cold_start": cold[0], **build_lambda_context_model(context).__dict__}
            cold[0] = False
            if correlation_id_path:
                keys["correlation_id"] = jmespath_utils.query(envelope=correlation_id_path, data=event)
            logger.thread_safe_clear_keys()
            logger.thread_safe_append_keys(**keys)
            try:
                return handler(event, context)
            finally:
                logger.thread_safe_clear_keys()

        return invoke  # type: ignore[return-value]

    return decorator


_METRIC_BY_STATUS = {
    Status.SUBMITTED: "DisputesSubmitted",
    Status.REJECTED: "DisputesRejected",
    Status.FAILED: "DisputesFailed",
}


_METRIC_BY_RESOLUTION = {Resolution.WON: "DisputesWon", Resolution.LOST: "DisputesLost"}


def count_resolution(provider: str, resolution: Resolution) -> None:
    """One data point per dispute settled (won, lost), with its provider as the dimension."""
    name = _METRIC_BY_RESOLUTION.get(resolution)
    if name is not None:
        _count(name, provider)


def count_events(provider: str, *, published: bool) -> None:
    """One data point per change event published (or refused), with its provider as the dimension."""
    _count("EventsPublished" if published else "EventsNotPublished", provider)


def count_retries(provider: str, count: int) -> None:
    """Deliveries that failed for the provider's sake and wait on the retry schedule: while a
    provider is down this is the signal (its disputes become `failed` only a day later)."""
    _count("DeliveriesRetried", provider, count)


def count_outcome(provider: str, status: Status) -> None:
    """One data point per dispute outcome, with its provider as the dimension."""
    name = _METRIC_BY_STATUS.get(status)
    if name is not None:
        _count(name, provider)


def _count(name: str, provider: str, value: int = 1) -> None:
    # A metric of its own, flushed at once: the shared Metrics object carries one dimension set
    # for a whole invocation, and functions sharing a process (the local stack) share it.
    with single_metric(name=name, unit=MetricUnit.Count, value=value, namespace=metrics.namespace) as metric:
        metric.add_dimension(name="provider", value=provider)


def record_provider_latency(provider: str, operation: str, milliseconds: float) -> None:
    with single_metric(
        name="ProviderLatency", unit=MetricUnit.Milliseconds, value=milliseconds, namespace=metrics.namespace
    ) as metric:
        metric.add_dimension(name="provider", value=provider)
        metric.add_dimension(name="operation", value=operation)
