"""Retrying a `failed` dispute by hand: its message moved from its provider's dead-letter queue back
to the provider's queue, where its worker claims the failed record again.

The record is the guard: a conditional write marks it as retried (who and when) before anything
moves, so two retries of one dispute at once move its message once. The message is found by
reading each dead letter as the provider's worker reads its queue (the core's `QueueMessages`:
its commands, and the news of its uploads) and comparing the disputes it asks for with the one to retry. A dead
letter outlives its dispute's failure by the dead-letter queue's retention only (14 days): past
that, nothing is left to move and the dispute must be filed again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from .api_settings import ApiSettings
from .manifests import QueueMessages
from .models import Dispute, DisputeRecord, InvalidDispute, Status
from .observability import logger
from .providers import ProviderSpec, registry
from .providers.base import ProviderError, UnreadableMessage
from .store import DisputeStore, RetryRefused, dispute_store

SQS_RECEIVE_LIMIT = 10
Reader = Callable[[str], list[Dispute | InvalidDispute]]


class UnknownDispute(LookupError):
    """No dispute has this id."""


class NotRetryable(Exception):
    """The dispute is not `failed`, or another retry of it is under way: nothing moved."""

    def __init__(self, record: DisputeRecord, reason: str | None = None) -> None:
        if reason is None and record.status is Status.FAILED:
            reason = (
                f"dispute {record.dispute_id} is already being retried (by {record.retry_requested_by}, at "
                f"{record.retry_requested_at}); it can be retried again once it has failed again"
            )
        elif reason is None:
            reason = f"dispute {record.dispute_id} is {record.status.value}: only a failed dispute can be retried"
        super().__init__(reason)
        self.record = record


class DeadLetterGone(LookupError):
    """The dispute's message is no longer in its dead-letter queue (kept there for its retention only)."""

    def __init__(self, record: DisputeRecord, retention_days: int | None) -> None:
        kept = f"it keeps a message {retention_days} days" if retention_days else "its retention passed"
        super().__init__(
            f"dispute {record.dispute_id} cannot be retried: its message is no longer in the "
            f"{record.provider} dead-letter queue ({kept}, or the message was redriven or deleted). "
            f"File it again: POST /disputes with the same request (a new Idempotency-Key), or send it "
            f"to the {record.provider} queue again"
        )
        self.record = record


class DeadLettersUnavailable(RuntimeError):
    """The dead-letter queue could not be searched or the message moved just now: worth a retry later."""


@dataclass(frozen=True)
class DeadLetter:
    receipt_handle: str
    body: str
    attributes: dict[str, Any]  # its message attributes, sent again with it

    @classmethod
    def of(cls, message: dict[str, Any]) -> DeadLetter:
        attributes = {
            name: {key: value[key] for key in ("DataType", "StringValue", "BinaryValue") if key in value}
            for name, value in (message.get("MessageAttributes") or {}).items()
        }
        return cls(message["ReceiptHandle"], message["Body"], attributes)


class DeadLetterQueue:
    """One provider's dead-letter queue, as the redrive policy of the provider's queue names it."""

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        read: Reader,
        *,
        hold_seconds: int = 30,
        wait_seconds: int = 1,
        max_receives: int = 100,
    ) -> None:
        self._sqs = sqs
        self.queue_url = queue_url
        self._read = read
        self._hold = hold_seconds
        # A receive that waits asks every SQS server: a short poll samples some, and could answer
        # nothing while the queue holds the message.
        self._wait = wait_seconds
        self._max_receives = max_receives
        self._url: str | None = None
        self.retention_days: int | None = None

    def find(self, dispute_id: str) -> DeadLetter | None:
        """The dead letter asking for `dispute_id`, held out of sight for a while; every other one
        received on the way is made visible again at once."""
        passed: list[str] = []
        try:
            for _ in range(self._max_receives):
                messages = self._receive()
                if not messages:
                    return None
                for message in messages:
                    if dispute_id in self._disputes_of(message["Body"]):
                        return DeadLetter.of(message)
                    passed.append(message["ReceiptHandle"])
            raise DeadLettersUnavailable(f"more than {self._max_receives * SQS_RECEIVE_LIMIT} dead letters to search")
        finally:
            self._release(passed)

    def move(self, letter: DeadLetter) -> None:
        """Back to the provider's queue, then deleted here: sent before deleted, so a failure in
        between leaves a copy in both (the record keeps it from being filed twice), never in none."""
        self._call(
            "send_message", QueueUrl=self.queue_url, MessageBody=letter.body, MessageAttributes=letter.attributes
        )
        self._call("delete_message", QueueUrl=self.dead_letter_url, ReceiptHandle=letter.receipt_handle)

    def give_back(self, letter: DeadLetter) -> None:
        self._release([letter.receipt_handle])

    @property
    def dead_letter_url(self) -> str:
        if self._url is None:
            answer = self._call("get_queue_attributes", QueueUrl=self.queue_url, AttributeNames=["RedrivePolicy"])
            policy = json.loads(answer.get("Attributes", {}).get("RedrivePolicy") or "{}")
            arn = str(policy.get("deadLetterTargetArn") or "")
            if arn.count(":") != 5:
                raise DeadLettersUnavailable(f"the queue {self.queue_url} has no dead-letter queue")
            *_, account, name = arn.split(":")
            self._url = str(self._call("get_queue_url", QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"])
            retention = self._call(
                "get_queue_attributes", QueueUrl=self._url, AttributeNames=["MessageRetentionPeriod"]
            )
            seconds = retention.get("Attributes", {}).get("MessageRetentionPeriod")
            self.retention_days = int(seconds) // 86_400 if seconds else None
        return self._url

    def _receive(self) -> list[dict[str, Any]]:
        answer = self._call(
            "receive_message",
            QueueUrl=self.dead_letter_url,
            MaxNumberOfMessages=SQS_RECEIVE_LIMIT,
            VisibilityTimeout=self._hold,
            WaitTimeSeconds=self._wait,
            MessageAttributeNames=["All"],
        )
        return list(answer.get("Messages", []))

    def _disputes_of(self, body: str) -> set[str]:
        try:
            return {dispute.dispute_id for dispute in self._read(body)}
        except (UnreadableMessage, ProviderError, ValueError):
            return set()  # a message no worker could read asks for no dispute

    def _release(self, handles: list[str]) -> None:
        for start in range(0, len(handles), SQS_RECEIVE_LIMIT):
            entries = [
                {"Id": str(n), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                for n, handle in enumerate(handles[start : start + SQS_RECEIVE_LIMIT])
            ]
            try:
                self._sqs.change_message_visibility_batch(QueueUrl=self.dead_letter_url, Entries=entries)
            except (ClientError, BotoCoreError):
                # They come back by themselves once the hold ends.
                logger.warning("Dead letters not made visible again", extra={"count": len(entries)})

    def _call(self, operation: str, **arguments: Any) -> dict[str, Any]:
        try:
            answer: dict[str, Any] = getattr(self._sqs, operation)(**arguments)
            return answer
        except (ClientError, BotoCoreError) as error:
            raise DeadLettersUnavailable(f"{operation} failed: {error}") from error


class RetryService:
    """Moves a failed dispute's message back to its provider's queue, once."""

    def __init__(self, store: DisputeStore, queues: Mapping[str, DeadLetterQueue]) -> None:
        self._store = store
        self._queues = dict(queues)

    @classmethod
    def from_settings(cls, settings: ApiSettings) -> RetryService:
        return cls(dispute_store(settings.disputes_table, settings.record_retention_days), dead_letter_queues(settings))

    def retry(self, dispute_id: str, by: str) -> DisputeRecord:
        """The record as the retry left it (still `failed`, its history saying who retried it).

        Raises UnknownDispute, NotRetryable, DeadLetterGone, DeadLettersUnavailable."""
        record = self._store.get(dispute_id)
        if record is None:
            raise UnknownDispute(dispute_id)
        queue = self._queues.get(record.provider)
        if queue is None:
            raise NotRetryable(record, f"dispute {dispute_id}'s provider {record.provider} has no queue here")
        try:
            marked = self._store.request_retry(record, by)
        except RetryRefused as refused:
            raise NotRetryable(refused.record) from None
        logger.info("Retry of a failed dispute asked", extra={"dispute_id": dispute_id})
        try:
            letter = queue.find(dispute_id)
            if letter is None:
                self._store.retry_not_done(marked, f"retry by {by} moved nothing: no dead letter left")
                raise DeadLetterGone(marked, queue.retention_days)
            try:
                queue.move(letter)
            except DeadLettersUnavailable:
                queue.give_back(letter)
                raise
        except DeadLettersUnavailable as error:
            logger.warning("Retry of a failed dispute not done", extra={"dispute_id": dispute_id, "reason": str(error)})
            self._store.retry_not_done(marked, f"retry by {by} moved nothing: the dead-letter queue was unavailable")
            raise
        logger.info("Failed dispute's message moved back to its queue", extra={"dispute_id": dispute_id})
        return marked


def dead_letter_queues(settings: ApiSettings, sqs: Any = None) -> dict[str, DeadLetterQueue]:
    """Every provider's dead-letter queue, behind the queue the API sends the provider's disputes to."""
    client = sqs or boto3.client("sqs")
    return {
        name: DeadLetterQueue(client, settings.queue_urls[name], _reader(spec, settings))
        for name, spec in registry().items()
        if name in settings.queue_urls
    }


def _reader(spec: ProviderSpec, settings: ApiSettings) -> Reader:
    """How `spec`'s worker reads a message (the core's QueueMessages), made on first use: reading
    an upload's manifest needs an S3 client, which the API's cold start does without."""
    made: list[QueueMessages] = []

    def read(body: str) -> list[Dispute | InvalidDispute]:
        if not made:
            made.append(QueueMessages.for_provider(spec, settings))
        return made[0].disputes_from_message(body)

    return read
