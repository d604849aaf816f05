"""The worker flow both SQS workers share: read -> record -> claim -> submit -> record the outcome.

Per message, the dispute record decides: a final record is never sent again, a claimed one
is left to its holder, and only the holder of the claim posts. Transient failures go back
to the queue (a batch item failure), hidden until their next delivery is due on a growing
schedule (see `retries`); on the delivery before the redrive the record becomes `failed` and
SQS moves the message to the dead-letter queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import boto3
from aws_lambda_powertools.utilities.batch import (
    AsyncBatchProcessor,
    EventType,
    async_process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.exceptions import BotoCoreError, ClientError

from .config import WorkerSettings, load_settings
from .live import LiveDisputeExists
from .models import Dispute, DisputeRecord, InvalidDispute, Resolution, Status
from .observability import count_outcome, count_retries, logger
from .providers import ProviderSpec
from .providers.base import (
    Attempt,
    Call,
    CredentialsRejected,
    DisputeProvider,
    Prepared,
    Rejected,
    Transient,
    UnreadableMessage,
)
from .redaction import redact
from .retries import MessageDelays, RetrySchedule
from .store import (
    Claim,
    ClaimPlan,
    ClaimRefused,
    DisputeStore,
    IdempotencyConflict,
    LeaseLost,
    dispute_store,
)
from .transport import Deadline

T = TypeVar("T")
_MAX_REASON_LENGTH = 1000


class NotAQueueBatch(ValueError):
    """The function was invoked with something other than its queue's SQS batch."""


class RetryLater(Exception):
    """The message must come back: its dispute is not settled yet.

    `backoff`: the provider (or what it needs, e.g. evidence in S3) failed, so the next delivery
    waits on the growing schedule, at least `retry_after` seconds; otherwise (another delivery
    holds the dispute) it comes back at the queue's visibility time-out."""

    def __init__(self, reason: str, *, backoff: bool = False, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.backoff = backoff
        self.retry_after = retry_after

    @classmethod
    def of(cls, reasons: list[RetryLater]) -> RetryLater:
        """A message's disputes that must come back: the longest wait any of them asks for."""
        waits = [reason.retry_after for reason in reasons if reason.retry_after is not None]
        return cls(
            "; ".join(str(reason) for reason in reasons),
            backoff=any(reason.backoff for reason in reasons),
            retry_after=max(waits) if waits else None,
        )


class DeadLetterQueue:
    """The worker's own dead-letter queue, for messages that can never succeed."""

    def __init__(self, queue_url: str, client: Any) -> None:
        self._url = queue_url
        self._client = client

    def put(self, body: str, reason: str) -> None:
        try:
            self._client.send_message(
                QueueUrl=self._url,
                MessageBody=body,
                MessageAttributes={
                    "reason": {"DataType": "String", "StringValue": redact(reason)[:_MAX_REASON_LENGTH]}
                },
            )
        except (ClientError, BotoCoreError) as error:
            # Not dead-lettered means not handled: the message must stay on its queue.
            raise RetryLater(f"could not dead-letter the message: {error}") from error


class DisputeWorker:
    def __init__(
        self,
        provider: DisputeProvider,
        store: DisputeStore,
        dead_letters: DeadLetterQueue,
        delays: MessageDelays,
        settings: WorkerSettings,
        *,
        tracks_outcomes: bool = False,
    ) -> None:
        self.provider = provider
        # A provider that can say what became of a dispute has it followed (`open`); one that
        # cannot leaves it `untracked` from the start (CONTRACT section 9).
        self._submitted_resolution = Resolution.OPEN if tracks_outcomes else Resolution.UNTRACKED
        self._store = store
        self._dead_letters = dead_letters
        self._settings = settings
        self._pool = ThreadPoolExecutor(max_workers=settings.worker_concurrency, thread_name_prefix="dispute")
        self._schedule = RetrySchedule(settings.retry_base_delay_seconds, settings.retry_max_delay_seconds)
        self._delays = delays
        self._credentials_stale = False

    @classmethod
    def for_provider(cls, spec: ProviderSpec) -> DisputeWorker:
        """The worker of `spec`'s function: its settings read from the environment (a cold start)."""
        settings = load_settings(spec.settings_model())
        sqs = boto3.client("sqs")
        return cls(
            spec.client_factory()(settings),
            dispute_store(settings.disputes_table, settings.record_retention_days),
            DeadLetterQueue(settings.dead_letter_queue_url, sqs),
            MessageDelays(sqs),
            settings,
            tracks_outcomes=spec.tracks_outcomes,
        )

    # -- a batch ----------------------------------------------------------------------------
    def process_batch(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        """Records of one batch are sent concurrently, at most `worker_concurrency` at a time; the
        messages that must come back on the growing schedule are then hidden until they are due."""
        started = time.monotonic()
        _check_queue_batch(event)
        deadline = Deadline.from_lambda_context(context, self._settings.time_reserve_seconds)
        delayed: list[tuple[SQSRecord, int]] = []

        async def handle(record: SQSRecord) -> None:
            try:
                await self._in_pool(self.process_message, record, deadline)
            except RetryLater as retry:
                if retry.backoff:
                    receive_count = int(record.attributes.approximate_receive_count)
                    delayed.append((record, self._schedule.delay(receive_count, retry.retry_after)))
                raise

        # A batch whose every record must come back is still an answer, not a crash: listing
        # them all keeps a provider outage from counting as Lambda errors.
        processor = AsyncBatchProcessor(EventType.SQS, raise_on_entire_batch_failure=False)
        response = async_process_partial_response(
            event=event, record_handler=handle, processor=processor, context=context
        )
        if delayed:
            count_retries(self.provider.name, len(delayed))
            self._delays.apply(delayed, time.monotonic() - started)
        return dict(response)

    async def _in_pool(self, function: Callable[..., T], *args: Any) -> T:
        # Each record runs in its own copy of the context, so its log keys stay its own.
        call = functools.partial(contextvars.copy_context().run, function, *args)
        return await asyncio.get_running_loop().run_in_executor(self._pool, call)

    # -- a message ----------------------------------------------------------------------------
    def process_message(self, record: SQSRecord, deadline: Deadline) -> None:
        last_delivery = int(record.attributes.approximate_receive_count) >= self._settings.max_receive_count
        logger.thread_safe_append_keys(message_id=record.message_id)
        try:
            disputes = self.provider.disputes_from_message(record.body)
        except Transient as transient:  # e.g. the manifest an S3 notification names, unreadable for now
            logger.warning("Message not read: will retry", extra={"reason": transient.reason})
            raise RetryLater(
                transient.reason, backoff=not last_delivery, retry_after=transient.answer.retry_after
            ) from None
        except UnreadableMessage as unreadable:
            logger.warning("Message names no transaction: dead-lettered", extra={"reason": str(unreadable)})
            self._dead_letters.put(record.body, str(unreadable))
            return
        unsettled = []
        for dispute in disputes:
            try:
                self.file(dispute, deadline, last_delivery=last_delivery)
            except RetryLater as retry:
                unsettled.append(retry)
            except IdempotencyConflict as conflict:
                logger.warning("Idempotency key reused for another request: dead-lettered")
                self._dead_letters.put(record.body, str(conflict))
        if unsettled:
            raise RetryLater.of(unsettled)

    # -- a dispute ----------------------------------------------------------------------------
    def file(self, dispute: Dispute | InvalidDispute, deadline: Deadline, *, last_delivery: bool) -> DisputeRecord:
        logger.thread_safe_append_keys(dispute_id=dispute.dispute_id, provider=dispute.provider)
        try:
            return self._file(dispute, deadline, last_delivery)
        finally:
            logger.thread_safe_remove_keys(["dispute_id", "provider"])

    def _file(self, dispute: Dispute | InvalidDispute, deadline: Deadline, last_delivery: bool) -> DisputeRecord:
        if isinstance(dispute, InvalidDispute):
            record, created = self._store.create_rejected(dispute)
            if created:
                logger.info("Dispute rejected: invalid request", extra={"reason": dispute.reason})
                count_outcome(dispute.provider, Status.REJECTED)
            return record
        fresh_credentials, self._credentials_stale = self._credentials_stale, False
        attempt = Attempt(deadline, fresh_credentials=fresh_credentials)
        # Whatever the provider opens before the claim is closed however this ends.
        with contextlib.closing(_BeforeClaim(self.provider, dispute, attempt)) as before:
            try:
                claim = self._store.claim(dispute, lease_seconds=deadline.remaining, plan=before)
            except ClaimRefused as refused:
                if refused.is_final:
                    logger.info("Dispute already settled", extra={"status": refused.record.status.value})
                    return refused.record
                raise RetryLater(f"dispute {dispute.dispute_id} is being sent by another delivery") from None
            except _RefusedBeforeSending as refusal:
                _count_rejection(dispute, refusal.rejected)
                return self._store.refuse(dispute, refusal.rejected.reason, **refusal.rejected.answer.record_fields())
            except LiveDisputeExists as live:
                # One live dispute per transaction (CONTRACT section 3): this one is refused for good.
                logger.info(
                    "Dispute rejected: its transaction has a live dispute", extra={"live": live.live.dispute_id}
                )
                count_outcome(dispute.provider, Status.REJECTED)
                return self._store.refuse(dispute, str(live))
            attempt.earlier_outcome_unknown = claim.earlier_in_doubt
            try:
                return self._submit(dispute, claim, attempt, before, last_delivery)
            except LeaseLost as lost:
                raise RetryLater(str(lost)) from None

    def _submit(
        self, dispute: Dispute, claim: Claim, attempt: Attempt, before: _BeforeClaim, last_delivery: bool
    ) -> DisputeRecord:
        """The claim's one closing write: whatever happened, `attempts` ends as the POSTs sent."""
        try:
            if before.refused is not None:
                raise before.refused
            prepared = before.prepared or Prepared()
            accepted = prepared.already_filed or self.provider.submit(dispute, attempt, prepared)
        except Rejected as rejected:
            _count_rejection(dispute, rejected)
            fields = rejected.answer.record_fields()
            return self._store.finish(claim, Status.REJECTED, sent=attempt.sent, error=rejected.reason, **fields)
        except Transient as transient:
            if isinstance(transient, CredentialsRejected):
                # Not sent again now: one request per dispute per delivery, on the same schedule
                # as any failure. The next attempt in this container reads the secret afresh.
                logger.warning("Provider refused the credentials: the secret is read again for the next attempt")
                self._credentials_stale = True
            return self._transient(claim, attempt, transient, last_delivery)
        logger.info("Dispute submitted", extra={"http_status": accepted.answer.http_status})
        count_outcome(dispute.provider, Status.SUBMITTED)
        return self._store.finish(
            claim,
            Status.SUBMITTED,
            sent=attempt.sent,
            resolution=self._submitted_resolution,
            error=None,
            **accepted.answer.record_fields(),
        )

    def _transient(self, claim: Claim, attempt: Attempt, transient: Transient, last_delivery: bool) -> DisputeRecord:
        in_doubt = attempt.earlier_outcome_unknown or (attempt.sent and transient.in_doubt)
        fields = transient.answer.record_fields()
        if last_delivery:
            logger.error("Dispute failed: retries exhausted", extra={"reason": transient.reason, "in_doubt": in_doubt})
            count_outcome(claim.record.provider, Status.FAILED)
            self._store.finish(
                claim, Status.FAILED, sent=attempt.sent, error=transient.reason, in_doubt=in_doubt, **fields
            )
            raise RetryLater(transient.reason)
        logger.warning("Dispute not settled: will retry", extra={"reason": transient.reason, "in_doubt": in_doubt})
        self._store.release(claim, in_doubt=in_doubt, sent=attempt.sent, **fields)
        raise RetryLater(transient.reason, backoff=True, retry_after=transient.answer.retry_after)


def _count_rejection(dispute: Dispute, rejected: Rejected) -> None:
    refused_by = "by the provider" if rejected.by_provider else "before sending"
    logger.info(f"Dispute rejected {refused_by}", extra={"reason": rejected.reason})
    count_outcome(dispute.provider, Status.REJECTED)


class _RefusedBeforeSending(Exception):
    """The provider's preparation refused the dispute for good (its evidence, an unknown deal):
    nothing is sent, so it is recorded `rejected` without a claim."""

    def __init__(self, rejected: Rejected) -> None:
        super().__init__(rejected.reason)
        self.rejected = rejected


class _BeforeClaim:
    """The claim's plan: once the record is read (and only if it can be claimed), the provider
    says what the claim's write keeps, or that the dispute is already filed; a failure is kept for
    after the claim, which then counts no attempt, and a refusal for good stops the claim (a
    dispute never sent is never `submitting`, so its subscribers see it go straight to `rejected`)."""

    def __init__(self, provider: DisputeProvider, dispute: Dispute, call: Call) -> None:
        self._provider = provider
        self._dispute = dispute
        self._call = call
        self.prepared: Prepared | None = None
        self.refused: Transient | None = None

    def __call__(self, current: DisputeRecord | None) -> ClaimPlan:
        self.close()  # a claim that lost a race asks again
        self.prepared, self.refused = None, None
        try:
            self.prepared = self._provider.prepare(self._dispute, current, self._call)
        except Rejected as rejected:
            raise _RefusedBeforeSending(rejected) from None
        except Transient as refused:
            self.refused = refused
            return ClaimPlan(attempt=False)
        return ClaimPlan(attempt=self.prepared.already_filed is None, fields=self.prepared.keep)

    def close(self) -> None:
        if self.prepared is not None:
            self.prepared.close()


def _check_queue_batch(event: Any) -> None:
    # An S3 notification or an API event invoked on a worker by hand would otherwise fail deep in
    # the batch utility with a bare KeyError; name what is missing instead. Nothing is recorded.
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list) or not records:
        raise NotAQueueBatch("not an SQS batch: 'Records' is missing or empty; this function reads its queue")
    for index, record in enumerate(records):
        missing = [
            field
            for field in ("messageId", "receiptHandle", "body")
            if not isinstance(record, dict) or field not in record
        ]
        if missing:
            raise NotAQueueBatch(
                f"not an SQS batch: Records[{index}] has no {', '.join(missing)}; this function reads its queue"
            )
