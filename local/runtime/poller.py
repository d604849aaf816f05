"""The SQS event source mapping, played locally: receive a batch, invoke the function, delete what succeeded.

Like Lambda's poller it never changes a message's visibility: a message that failed (listed
in `batchItemFailures`, or its whole batch when the function raised) reappears once the
queue's visibility time-out has passed, and the queue's redrive policy moves it to the
dead-letter queue after maxReceiveCount receives. One poller runs one invocation at a time,
so a source's ScalingConfig.MaximumConcurrency is not reproduced locally.

A message is hidden from the moment it is received: while a batch fills for the batching window,
is invoked and has its messages deleted, they must stay hidden. If the visibility time-out runs
out first, SQS hands the message out again (on Lambda to another poller; here to this poller's
next receive within the same window, into the same batch), and the function gets it twice. The
poller warns when a queue's visibility time-out is not longer than the batching window: then
a message received as the window opens is visible again before the window closes. What keeps
a message hidden is a visibility time-out comfortably above the window plus the handling; on
AWS, at least the function's time-out (CreateEventSourceMapping refuses less).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from local.aws.template import SqsEventSource
from local.runtime.functions import LocalFunction, failed_message_ids, let_finish, sqs_event, sqs_lambda_record

log = logging.getLogger(__name__)

_MAX_RECEIVE = 10  # SQS returns at most 10 messages per ReceiveMessage call
# Long polls stay short so that stop() is prompt.
_LONG_POLL_SECONDS = 1
_ERROR_PAUSE_SECONDS = 0.5


class SqsPoller:
    def __init__(
        self,
        *,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        source: SqsEventSource,
        function: LocalFunction,
        region: str,
        batching_window_seconds: float,
        visibility_timeout_seconds: float,
    ) -> None:
        self.source = source
        self.function = function
        self.batches = 0  # invocations made
        self.errors = 0  # invocations that raised
        self._sqs = sqs
        self._queue_url = queue_url
        self._queue_arn = queue_arn
        self._region = region
        self._window = batching_window_seconds
        self._visibility = visibility_timeout_seconds
        self._stopping = threading.Event()
        self._state = threading.Lock()
        self._invoking = False
        self._thread = threading.Thread(target=self._run, name=f"sqs-poller-{source.logical_id}", daemon=True)
        self._warn_if_handed_out_while_held()

    @property
    def batching_window_seconds(self) -> float:
        return self._window

    @property
    def visibility_timeout_seconds(self) -> float:
        return self._visibility

    def _warn_if_handed_out_while_held(self) -> None:
        if self._visibility > self._window:
            return
        timeout = self.function.timeout_seconds
        log.warning(
            "queue %s: its visibility time-out (%g s) is not longer than the batching window of %s (%g s), "
            "so a message can be handed out again while its batch is still held or handled, and reach %s "
            "twice. AWS requires of an SQS event source a visibility time-out of at least the function's "
            "time-out (%g s), and recommends at least six times the function's time-out plus "
            "MaximumBatchingWindowInSeconds (%g s)",
            self.source.queue,
            self._visibility,
            self.source.logical_id,
            self._window,
            self.function.name,
            timeout,
            6 * timeout + self._window,
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float) -> None:
        """Stop polling. An invocation under way (and the deletes after it) is waited for, up to
        `timeout` seconds; a receive under way is not: its messages, if any, are left to come
        back after their visibility time-out, as from a poller that went away."""
        with self._state:
            self._stopping.set()
            invoking = self._invoking
        if invoking:
            let_finish(self._thread, timeout, f"poller {self.source.logical_id}")

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                batch = self._collect()
                with self._state:
                    # Checked under the lock `stop` takes: once it has returned, nothing is invoked.
                    self._invoking = bool(batch) and not self._stopping.is_set()
                if self._invoking:
                    try:
                        self._deliver(batch)
                    finally:
                        self._invoking = False
            except (ClientError, BotoCoreError) as error:
                if self._stopping.is_set():
                    break
                log.warning("poller %s: SQS call failed: %s", self.source.logical_id, error)
                self._stopping.wait(_ERROR_PAUSE_SECONDS)

    # -- one batch -----------------------------------------------------------------------------
    def _collect(self) -> list[dict[str, Any]]:
        """Up to BatchSize messages: after the first arrives, more are gathered for the batching window."""
        batch = self._receive(self.source.batch_size, _LONG_POLL_SECONDS)
        if not batch:
            return []
        window_ends = time.monotonic() + self._window
        while len(batch) < self.source.batch_size and not self._stopping.is_set():
            left = window_ends - time.monotonic()
            if left <= 0:
                break
            wait = 1 if left >= 1 else 0
            more = self._receive(self.source.batch_size - len(batch), wait)
            batch.extend(more)
            if not more and not wait:
                time.sleep(min(left, 0.1))
        return batch

    def _receive(self, wanted: int, wait_seconds: int) -> list[dict[str, Any]]:
        response = self._sqs.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=min(wanted, _MAX_RECEIVE),
            WaitTimeSeconds=wait_seconds,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages: list[dict[str, Any]] = response.get("Messages", [])
        return messages

    def _deliver(self, batch: list[dict[str, Any]]) -> None:
        records = [sqs_lambda_record(message, self._queue_arn, self._region) for message in batch]
        self.batches += 1
        try:
            response = self.function.invoke(sqs_event(records))
        except Exception:
            # As on Lambda: an invocation error fails the whole batch; every message comes back.
            self.errors += 1
            log.exception("function %s failed; its batch of %d will be redelivered", self.function.name, len(batch))
            return
        message_ids = [record["messageId"] for record in records]
        failed = failed_message_ids(
            response, message_ids, reports_item_failures=self.source.reports_batch_item_failures
        )
        done = [message for message in batch if message["MessageId"] not in failed]
        self._delete(done)

    def _delete(self, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), _MAX_RECEIVE):
            chunk = messages[start : start + _MAX_RECEIVE]
            entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)]
            response = self._sqs.delete_message_batch(QueueUrl=self._queue_url, Entries=entries)
            for failure in response.get("Failed", []):
                log.warning("poller %s: a message could not be deleted: %s", self.source.logical_id, failure)
