"""The disputes table: create-once records and the conditional status transitions that guard them.

Every transition is one conditional write naming the state it may come from, so two
deliveries of the same message can never both send: the one that holds the lease sends,
the other finds the record claimed or final. Every write that changes a status or a
resolution appends to the record's `history` in that same write (the last HISTORY_LIMIT kept).

A record that becomes live takes its transaction's live item in the same write (see `live`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from .config import DEFAULT_RECORD_RETENTION_DAYS
from .live import NOT_LIVE, LiveItems
from .models import (
    HISTORY_LIMIT,
    Dispute,
    DisputeRecord,
    HistoryEntry,
    InvalidDispute,
    Resolution,
    Status,
    utc_now,
)
from .table_items import ConditionFailed, StoreError, from_item, plain, to_item, values_of


class IdempotencyConflict(Exception):
    """The idempotency key is already used by a different request."""

    def __init__(self, record: DisputeRecord) -> None:
        super().__init__(f"idempotency key already used by dispute {record.dispute_id} for another request")
        self.record = record


class ClaimRefused(Exception):
    """The dispute cannot be claimed now: it is final, or another delivery holds its lease."""

    def __init__(self, record: DisputeRecord) -> None:
        super().__init__(f"dispute {record.dispute_id} is {record.status.value}")
        self.record = record

    @property
    def is_final(self) -> bool:
        return self.record.status.is_final


class LeaseLost(StoreError):
    """Another delivery took the dispute over; this one must not record an outcome."""


class RetryRefused(Exception):
    """The dispute cannot be retried now: it is not `failed`, or a retry of it is under way."""

    def __init__(self, record: DisputeRecord) -> None:
        super().__init__(f"dispute {record.dispute_id} is {record.status.value}")
        self.record = record


class Superseded(Exception):
    """The record changed since it was read (another run checked it first): nothing was written."""


@dataclass(frozen=True)
class ClaimPlan:
    """What the claim's write carries besides the lease, decided once the record has been read.

    `attempt`: a POST is to follow, so the claim counts it and marks its outcome unknown until the
    closing write records it (a crash in between leaves that evidence, as the contract wants);
    the closing write takes the count back if the POST never left. `fields`: facts the provider
    needs kept before its POST (e.g. the state of the transaction), written by the same write."""

    attempt: bool = True
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Claim:
    """The right to send a dispute, held until `lease_expires_at` (the claiming invocation's end).

    `record` is the record as the claim left it; `earlier_in_doubt`: an attempt before this claim
    may have reached the provider without its answer reaching us."""

    record: DisputeRecord
    lease_token: str
    counted_attempt: bool
    earlier_in_doubt: bool

    @property
    def dispute_id(self) -> str:
        return self.record.dispute_id

    def attempts(self, sent: bool) -> int:
        """The POSTs sent, once this claim's own is known to have left (`sent`) or not."""
        return self.record.attempts - (1 if self.counted_attempt and not sent else 0)


@dataclass(frozen=True)
class Listing:
    """An index that lists disputes by one attribute, and in which order."""

    index: str
    partition: str  # the attribute listed by
    sort: str
    newest_first: bool

    @property
    def position_keys(self) -> set[str]:
        """The attributes of a position in it (DynamoDB's LastEvaluatedKey)."""
        return {"dispute_id", self.partition, self.sort}


REFERENCE_INDEX = "reference-index"
# The lists callers read: a transaction's disputes oldest first (CONTRACT section 6), and an
# operator's views of a status or a resolution, the most recently updated first.
LISTINGS = {
    "reference": Listing(REFERENCE_INDEX, "reference", "created_at", newest_first=False),
    "status": Listing("status-index", "status", "updated_at", newest_first=True),
    "resolution": Listing("resolution-index", "resolution", "updated_at", newest_first=True),
}
# Sparse: only disputes whose resolution is open carry `tracked_provider` (CONTRACT section 9).
OUTCOME_INDEX = "outcome-check-index"
_CLAIMABLE = (Status.RECEIVED, Status.FAILED)
# Reads and writes that lose a race with another delivery are tried again this many times.
_CLAIM_TRIES = 3


def with_entry(record: DisputeRecord, entry: HistoryEntry) -> list[dict[str, Any]]:
    """The record's history with `entry` appended, as stored: the last HISTORY_LIMIT entries."""
    entries = [*record.history, entry][-HISTORY_LIMIT:]
    return [item.model_dump(mode="json", exclude_none=True) for item in entries]


def history_entry(
    status: Status,
    attempts: int,
    *,
    resolution: Resolution | None = None,
    fields: dict[str, Any] | None = None,
    at: str | None = None,
) -> HistoryEntry:
    """An entry for a change to `status` (and `resolution`), with the provider's answer or our reason."""
    fields = fields or {}
    message = fields.get("provider_message") or fields.get("error")
    return HistoryEntry(
        at=at or utc_now(),
        status=status,
        resolution=resolution,
        attempts=attempts,
        provider_http_status=fields.get("provider_http_status"),
        message=message if isinstance(message, str) else None,
    )


class DisputeStore:
    def __init__(self, table_name: str, client: Any, retention_days: int = DEFAULT_RECORD_RETENTION_DAYS) -> None:
        self._table = table_name
        self._client = client
        self._retention_seconds = retention_days * 86_400
        self._live = LiveItems(table_name, client, self.get)

    def _expiry(self) -> int | None:
        """When a record made final now may be removed (TTL, epoch seconds); None keeps it for ever."""
        return int(time.time()) + self._retention_seconds if self._retention_seconds else None

    # -- reads ----------------------------------------------------------------------------
    def get(self, dispute_id: str) -> DisputeRecord | None:
        response = self._call("get_item", Key=self._key(dispute_id), ConsistentRead=True)
        item = response.get("Item")
        return from_item(item) if item else None

    def page(
        self, listing: Listing, value: str, filters: dict[str, str], limit: int, start: dict[str, str] | None
    ) -> tuple[list[DisputeRecord], dict[str, str] | None]:
        """A page of the disputes whose `listing.partition` is `value` (and every filter), through its
        index, never a scan; the position after it, if there is more."""
        names = {"#p": listing.partition, **{f"#a{i}": name for i, name in enumerate(filters)}}
        values = {":p": value, **{f":a{i}": item for i, item in enumerate(filters.values())}}
        extra: dict[str, Any] = {}
        if filters:
            extra["FilterExpression"] = " AND ".join(f"#a{i} = :a{i}" for i in range(len(filters)))
        if start:
            extra["ExclusiveStartKey"] = {name: {"S": item} for name, item in start.items()}
        response = self._call(
            "query",
            IndexName=listing.index,
            KeyConditionExpression="#p = :p",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=to_item(values),
            ScanIndexForward=not listing.newest_first,
            Limit=limit,
            **extra,
        )
        last = response.get("LastEvaluatedKey")
        next_start = {name: item["S"] for name, item in last.items()} if last else None
        return [from_item(item) for item in response.get("Items", [])], next_start

    def due_for_check(self, provider: str, now: str, limit: int) -> list[DisputeRecord]:
        """Up to `limit` of the provider's open disputes whose next check is due, longest due first."""
        response = self._call(
            "query",
            IndexName=OUTCOME_INDEX,
            KeyConditionExpression="tracked_provider = :provider AND next_check_at <= :now",
            ExpressionAttributeValues=values_of(provider=provider, now=now),
            Limit=limit,
        )
        return [from_item(item) for item in response.get("Items", [])]

    # -- creation -------------------------------------------------------------------------
    def create(self, dispute: Dispute) -> tuple[DisputeRecord, bool]:
        """The dispute's record, and whether this call created it, holding its transaction: one
        transaction of two items. Raises IdempotencyConflict, LiveDisputeExists."""
        record = _new_record(dispute, Status.RECEIVED)
        try:
            self._live.hold(record, {"Put": {"TableName": self._table, **_put_new(record)}})
        except ConditionFailed as failed:
            return _same_request(failed.record, record), False
        return record, True

    def create_rejected(self, invalid: InvalidDispute) -> tuple[DisputeRecord, bool]:
        return self._put_once(_new_record(invalid, Status.REJECTED, error=invalid.reason, expires_at=self._expiry()))

    def refuse(self, dispute: Dispute, reason: str, **fields: Any) -> DisputeRecord:
        """The dispute recorded `rejected` for `reason` without being sent (its transaction has a live
        dispute, its evidence broke a rule, ...), with the provider's `fields` if it answered a
        lookup: a new record, or its `received`/`failed` record closed, in one write and without a
        claim (nothing is sent, so there is nothing to guard). A dispute that changed meanwhile
        (another delivery filed or closed it) is left as it is."""
        for _ in range(_CLAIM_TRIES):
            current = self.get(dispute.dispute_id)
            if current is None:
                record, _ = self._put_once(
                    _new_record(dispute, Status.REJECTED, error=reason, expires_at=self._expiry(), **fields)
                )
                return record
            if current.request_fingerprint != dispute.request_fingerprint:
                raise IdempotencyConflict(current)
            if not _claimable(current, time.time()):
                return current
            now = utc_now()
            values: dict[str, Any] = {"status": Status.REJECTED.value, "error": reason, "in_doubt": False}
            values.update(fields, updated_at=now)
            if (expiry := self._expiry()) is not None:
                values["expires_at"] = expiry
            values["history"] = with_entry(
                current, history_entry(Status.REJECTED, current.attempts, fields=values, at=now)
            )
            try:
                return self._write(current, values, [], self._unchanged(current))
            except ConditionFailed:
                continue
        raise StoreError(f"dispute {dispute.dispute_id} kept changing while it was refused")

    def _put_once(self, record: DisputeRecord) -> tuple[DisputeRecord, bool]:
        try:
            self._call("put_item", **_put_new(record))
            return record, True
        except ConditionFailed as failed:
            return _same_request(failed.record, record), False

    def mark_queued(self, dispute_id: str) -> DisputeRecord:
        response = self._call(
            "update_item",
            Key=self._key(dispute_id),
            UpdateExpression="SET queued_at = if_not_exists(queued_at, :now)",
            ConditionExpression="attribute_exists(dispute_id)",
            ExpressionAttributeValues=values_of(now=utc_now()),
            ReturnValues="ALL_NEW",
        )
        return from_item(response["Attributes"])

    # -- the sending lease ----------------------------------------------------------------
    def claim(
        self,
        dispute: Dispute,
        lease_seconds: float,
        plan: Callable[[DisputeRecord | None], ClaimPlan] = lambda _: ClaimPlan(),
    ) -> Claim:
        """Take the right to send, creating the record if it is new: one write.

        Claimable: a new dispute, a `received` or `failed` one, or a `submitting` one whose
        earlier holder's lease has run out (that invocation ended, or crashed mid-call). The
        record is read, `plan` decides what the write carries (given what was read: it may ask
        the provider first, and is never called for a dispute that cannot be claimed), then the
        write is conditional on the record being still what was read, so two deliveries that
        read it at once cannot both claim it."""
        for _ in range(_CLAIM_TRIES):
            current = self.get(dispute.dispute_id)
            if current is not None and current.request_fingerprint != dispute.request_fingerprint:
                raise IdempotencyConflict(current)
            if current is not None and not _claimable(current, time.time()):
                raise ClaimRefused(current)
            token = uuid.uuid4().hex
            chosen = plan(current)
            try:
                record = self._take(dispute, current, token, lease_seconds, chosen)
            except ConditionFailed:
                continue  # another delivery wrote it in between: look again
            earlier_in_doubt = bool(current and current.in_doubt)
            return Claim(record, token, counted_attempt=chosen.attempt, earlier_in_doubt=earlier_in_doubt)
        raise StoreError(f"dispute {dispute.dispute_id} kept changing while it was claimed")

    def _take(
        self, dispute: Dispute, current: DisputeRecord | None, token: str, lease_seconds: float, plan: ClaimPlan
    ) -> DisputeRecord:
        fields: dict[str, Any] = {
            "lease_token": token,
            "lease_expires_at": round(time.time() + lease_seconds, 3),
            **plan.fields,
        }
        if plan.attempt:
            fields.update(attempts=(current.attempts if current else 0) + 1, in_doubt=True)
        if current is None:
            record = _new_record(dispute, Status.SUBMITTING).model_copy(update=fields)
            self._live.hold(record, {"Put": {"TableName": self._table, **_put_new(record)}})
            return record
        fields.update(status=Status.SUBMITTING.value, updated_at=utc_now())
        if current.status is not Status.SUBMITTING:
            fields["history"] = with_entry(current, history_entry(Status.SUBMITTING, current.attempts))
        if current.status in NOT_LIVE:
            # Failed, it may have lost its transaction to a later dispute: it takes it back only if free.
            update = self._update_arguments(current, fields, ["expires_at"], self._unchanged(current))
            self._live.hold(current, {"Update": {"TableName": self._table, **update}})
            return _applied(current, fields, ["expires_at"])
        return self._write(current, fields, [], self._unchanged(current))

    def finish(
        self,
        claim: Claim,
        status: Status,
        *,
        sent: bool = True,
        resolution: Resolution | None = None,
        **fields: Any,
    ) -> DisputeRecord:
        """Record a final outcome (submitted/rejected) or `failed`; the lease ends. `sent`: whether
        the claim's POST left (else its count is taken back).

        A submitted dispute gets its resolution in the same write: `open` puts it in the outcome
        index (due for a check at once), `untracked` is final."""
        in_doubt = fields.pop("in_doubt", False)
        now = utc_now()
        if resolution is Resolution.OPEN:
            fields.update(
                resolution=resolution.value,
                tracked_provider=claim.record.provider,
                next_check_at=now,
                tracked_since=now,
            )
        elif resolution is not None:
            fields.update(resolution=resolution.value, resolved_at=now)
        if status in NOT_LIVE or (resolution is not None and resolution.is_final):
            fields["expires_at"] = self._expiry()
        return self._record(claim, status, in_doubt, sent, fields, resolution)

    def release(self, claim: Claim, *, in_doubt: bool, sent: bool = True, **fields: Any) -> DisputeRecord:
        """Give the dispute back for a later delivery after a transient error."""
        # An attempt whose outcome is unknown keeps the record `submitting`, as the contract
        # defines it; one that certainly did not reach the provider is simply waiting again.
        status = Status.SUBMITTING if in_doubt else Status.RECEIVED
        return self._record(claim, status, in_doubt, sent, fields, None)

    def _record(
        self,
        claim: Claim,
        status: Status,
        in_doubt: bool,
        sent: bool,
        fields: dict[str, Any],
        resolution: Resolution | None,
    ) -> DisputeRecord:
        """Set the status and fields; a field given as None is removed (e.g. a stale `error`)."""
        attempts = claim.attempts(sent)
        values: dict[str, Any] = {
            "status": status.value,
            "in_doubt": in_doubt,
            "attempts": attempts,
            "updated_at": utc_now(),
        }
        values.update((name, value) for name, value in fields.items() if value is not None)
        if status is not claim.record.status or resolution is not None:
            entry = history_entry(status, attempts, resolution=resolution, fields=fields, at=values["updated_at"])
            values["history"] = with_entry(claim.record, entry)
        removed = [name for name, value in fields.items() if value is None] + ["lease_token", "lease_expires_at"]
        return self._write(claim.record, values, removed, ("lease_token = :lease", {":lease": claim.lease_token}))

    # -- outcomes -------------------------------------------------------------------------
    def record_check(self, record: DisputeRecord, state: str, interval: int, next_check_at: str) -> DisputeRecord:
        """An open dispute checked, still open: what the provider said, and when to look again."""
        values: dict[str, Any] = {"provider_state": state, "check_interval": interval, "next_check_at": next_check_at}
        if state != record.provider_state:
            values["updated_at"] = utc_now()
        return self._tracked_write(record, values, [])

    def resolve(
        self, record: DisputeRecord, resolution: Resolution, *, state: str | None = None, amount: str | None = None
    ) -> DisputeRecord:
        """An open dispute settled (won, lost) or no longer followed (untracked): final."""
        now = utc_now()
        values: dict[str, Any] = {"resolution": resolution.value, "resolved_at": now, "updated_at": now}
        if (expiry := self._expiry()) is not None:
            values["expires_at"] = expiry
        if state is not None:
            values["provider_state"] = state
        if amount is not None:
            values["resolved_amount"] = amount
        entry = history_entry(record.status, record.attempts, resolution=resolution, at=now)
        values["history"] = with_entry(record, entry)
        return self._tracked_write(record, values, ["tracked_provider", "next_check_at", "check_interval"])

    def _tracked_write(self, record: DisputeRecord, values: dict[str, Any], removed: list[str]) -> DisputeRecord:
        # Still open and not checked since it was read: of two runs checking it at once, one writes.
        condition = (
            "resolution = :open AND next_check_at = :seen",
            {":open": Resolution.OPEN.value, ":seen": record.next_check_at},
        )
        try:
            return self._write(record, values, removed, condition)
        except ConditionFailed:
            raise Superseded(f"dispute {record.dispute_id} was checked by another run") from None

    # -- an operator's retry ---------------------------------------------------------------
    def request_retry(self, record: DisputeRecord, by: str) -> DisputeRecord:
        """The `failed` dispute as read marked as retried by `by`, its history saying who and when: one
        conditional write on the record as read, so of two retries at once only one goes on (the
        other gets RetryRefused). It stays `failed` until its worker claims it again (taking its
        transaction back, if no later dispute holds it)."""
        if record.status is not Status.FAILED or record.retry_pending:
            raise RetryRefused(record)
        now = utc_now()
        entry = HistoryEntry(at=now, status=Status.FAILED, attempts=record.attempts, message=f"retried by {by}")
        values = {
            "updated_at": now,
            "retry_requested_at": now,
            "retry_requested_by": by,
            "history": with_entry(record, entry),
        }
        try:
            return self._write(record, values, [], self._unchanged(record))
        except ConditionFailed as failed:
            raise RetryRefused(failed.record) from None

    def retry_not_done(self, marked: DisputeRecord, reason: str) -> DisputeRecord:
        """The retry `marked` stands for moved nothing, for `reason`: said in its history, and the
        dispute may be retried again. A record changed since (its worker took it) is left as it is."""
        now = utc_now()
        entry = HistoryEntry(at=now, status=marked.status, attempts=marked.attempts, message=reason)
        try:
            return self._write(
                marked, {"updated_at": now, "history": with_entry(marked, entry)}, [], self._unchanged(marked)
            )
        except ConditionFailed as failed:
            return failed.record

    # -- plumbing -------------------------------------------------------------------------
    def _write(
        self,
        base: DisputeRecord,
        values: dict[str, Any],
        removed: list[str],
        condition: tuple[str, dict[str, Any]],
    ) -> DisputeRecord:
        """SET `values`, REMOVE `removed` on `base`'s item if `condition` (an expression and its
        values) holds; the record as the write left it.

        That record is `base` with the change applied here, not read back (ReturnValues NONE):
        the condition says the item is as read, or (a lease) that only its holder writes what it
        reads; the rest is data DynamoDB would send back for nothing."""
        arguments = self._update_arguments(base, values, removed, condition)
        try:
            self._call("update_item", **arguments)
        except ConditionFailed as failed:
            if arguments["ConditionExpression"] == "lease_token = :lease":
                raise LeaseLost(f"dispute {base.dispute_id} was taken over by another delivery") from None
            raise failed
        return _applied(base, values, removed)

    def _update_arguments(
        self,
        base: DisputeRecord,
        values: dict[str, Any],
        removed: list[str],
        condition: tuple[str, dict[str, Any]],
    ) -> dict[str, Any]:
        names = {f"#f{i}": name for i, name in enumerate([*values, *removed])}
        assignments = ", ".join(f"#f{i} = :v{i}" for i in range(len(values)))
        removals = ", ".join(f"#f{i}" for i in range(len(values), len(names)))
        expression = f"SET {assignments}" + (f" REMOVE {removals}" if removals else "")
        condition_expression, condition_values = condition
        return {
            "Key": self._key(base.dispute_id),
            "UpdateExpression": expression,
            "ConditionExpression": condition_expression,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": to_item(
                {**{f":v{i}": value for i, value in enumerate(values.values())}, **condition_values}
            ),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }

    def _unchanged(self, record: DisputeRecord) -> tuple[str, dict[str, Any]]:
        """The condition that the record is still as read: its last change and its lease."""
        if record.lease_token is None:
            return "updated_at = :seen AND attribute_not_exists(lease_token)", {":seen": record.updated_at}
        return "updated_at = :seen AND lease_token = :seen_lease", {
            ":seen": record.updated_at,
            ":seen_lease": record.lease_token,
        }

    def _key(self, dispute_id: str) -> dict[str, Any]:
        return {"dispute_id": {"S": dispute_id}}

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        try:
            result: dict[str, Any] = getattr(self._client, operation)(TableName=self._table, **kwargs)
            return result
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                item = error.response.get("Item")
                raise ConditionFailed(from_item(item) if isinstance(item, dict) else None) from None
            raise StoreError(f"{operation} on the disputes table failed: {error}") from error
        except BotoCoreError as error:
            raise StoreError(f"{operation} on the disputes table failed: {error}") from error


def _put_new(record: DisputeRecord) -> dict[str, Any]:
    return {
        "Item": to_item(record.model_dump(mode="json", exclude_none=True)),
        "ConditionExpression": "attribute_not_exists(dispute_id)",
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }


def _same_request(existing: DisputeRecord, record: DisputeRecord) -> DisputeRecord:
    if existing.request_fingerprint != record.request_fingerprint:
        raise IdempotencyConflict(existing)
    return existing


def _applied(base: DisputeRecord, values: dict[str, Any], removed: list[str]) -> DisputeRecord:
    """`base` with an update's SET `values` and REMOVE `removed` applied, as the table now holds it."""
    changed = {**base.model_dump(mode="json", exclude_none=True), **plain(values)}
    return DisputeRecord.model_validate({name: value for name, value in changed.items() if name not in removed})


def _claimable(record: DisputeRecord, now: float) -> bool:
    if record.status in _CLAIMABLE:
        return True
    expired = record.lease_expires_at is None or record.lease_expires_at < now
    return record.status is Status.SUBMITTING and expired


def _new_record(dispute: Dispute | InvalidDispute, status: Status, **fields: Any) -> DisputeRecord:
    now = utc_now()
    entry = history_entry(status, 0, fields=fields, at=now)
    return DisputeRecord(
        dispute_id=dispute.dispute_id,
        provider=dispute.provider,
        reference=dispute.reference,
        source=dispute.source,
        status=status,
        created_at=now,
        updated_at=now,
        request_fingerprint=dispute.request_fingerprint,
        history=[entry],
        **fields,
    )


@cache
def dispute_store(table_name: str, retention_days: int = DEFAULT_RECORD_RETENTION_DAYS) -> DisputeStore:
    return DisputeStore(table_name, boto3.client("dynamodb"), retention_days)
