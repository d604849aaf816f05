"""The disputes table: create-once records and the conditional status transitions that guard them.

Every transition is one conditional write naming the states it may come from, so two
deliveries of the same message can never both send: the one that holds the lease sends,
the other finds the record claimed or final.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from .models import Dispute, DisputeRecord, InvalidDispute, Status, utc_now


class StoreError(RuntimeError):
    """The table could not be read or written (throttling, network): worth a retry."""


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


@dataclass(frozen=True)
class Claim:
    """The right to send a dispute, held until `lease_expires_at` (the claiming invocation's end)."""

    record: DisputeRecord
    lease_token: str

    @property
    def dispute_id(self) -> str:
        return self.record.dispute_id


_serializer = TypeSerializer()
_deserializer = TypeDeserializer()
REFERENCE_INDEX = "reference-index"
_CLAIMABLE = (Status.RECEIVED.value, Status.FAILED.value)


def _to_item(values: dict[str, Any]) -> dict[str, Any]:
    return {key: _serializer.serialize(_storable(value)) for key, value in values.items() if value is not None}


def _storable(value: Any) -> Any:
    # DynamoDB rejects floats, and provider bodies arrive with them.
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {str(key): _storable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_storable(item) for item in value]
    return value


def _from_item(item: dict[str, Any]) -> DisputeRecord:
    values = {key: _deserializer.deserialize(value) for key, value in item.items()}
    return DisputeRecord.model_validate(json.loads(json.dumps(values, default=_number)))


def _number(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


class DisputeStore:
    def __init__(self, table_name: str, client: Any) -> None:
        self._table = table_name
        self._client = client

    # -- reads ----------------------------------------------------------------------------
    def get(self, dispute_id: str) -> DisputeRecord | None:
        response = self._call("get_item", Key=self._key(dispute_id), ConsistentRead=True)
        item = response.get("Item")
        return _from_item(item) if item else None

    # -- creation -------------------------------------------------------------------------
    def create(self, dispute: Dispute) -> tuple[DisputeRecord, bool]:
        """The dispute's record, and whether this call created it. Raises IdempotencyConflict."""
        return self._put_once(_new_record(dispute, Status.RECEIVED))

    def create_rejected(self, invalid: InvalidDispute) -> tuple[DisputeRecord, bool]:
        return self._put_once(_new_record(invalid, Status.REJECTED, error=invalid.reason))

    def _put_once(self, record: DisputeRecord) -> tuple[DisputeRecord, bool]:
        item = record.model_dump(mode="json")
        try:
            self._call(
                "put_item",
                Item=_to_item(item),
                ConditionExpression="attribute_not_exists(dispute_id)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            return record, True
        except _ConditionFailed as failed:
            existing = failed.record
        if existing.request_fingerprint != record.request_fingerprint:
            raise IdempotencyConflict(existing)
        return existing, False

    def mark_queued(self, dispute_id: str) -> DisputeRecord:
        response = self._call(
            "update_item",
            Key=self._key(dispute_id),
            UpdateExpression="SET queued_at = if_not_exists(queued_at, :now)",
            ConditionExpression="attribute_exists(dispute_id)",
            ExpressionAttributeValues=_values(now=utc_now()),
            ReturnValues="ALL_NEW",
        )
        return _from_item(response["Attributes"])

    def by_reference(
        self, reference: str, provider: str | None, limit: int, start: dict[str, str] | None
    ) -> tuple[list[DisputeRecord], dict[str, str] | None]:
        """A page of the transaction's disputes, oldest first, through the reference index."""
        extra: dict[str, Any] = {}
        if provider:
            extra["FilterExpression"] = "provider = :provider"
        if start:
            extra["ExclusiveStartKey"] = {name: {"S": value} for name, value in start.items()}
        response = self._call(
            "query",
            IndexName=REFERENCE_INDEX,
            KeyConditionExpression="#r = :reference",
            ExpressionAttributeNames={"#r": "reference"},
            ExpressionAttributeValues=_values(reference=reference, **({"provider": provider} if provider else {})),
            Limit=limit,
            **extra,
        )
        last = response.get("LastEvaluatedKey")
        next_start = {name: value["S"] for name, value in last.items()} if last else None
        return [_from_item(item) for item in response.get("Items", [])], next_start

    # -- the sending lease ----------------------------------------------------------------
    def claim(self, dispute: Dispute, lease_seconds: float) -> Claim:
        """Take the right to send, creating the record if it is new: one conditional write.

        Claimable: a new dispute, a `received` or `failed` one, or a `submitting` one whose
        earlier holder's lease has run out (that invocation ended, or crashed mid-call).
        """
        token = uuid.uuid4().hex
        now = time.time()
        new = _new_record(dispute, Status.SUBMITTING)
        try:
            response = self._call(
                "update_item",
                Key=self._key(dispute.dispute_id),
                UpdateExpression=(
                    "SET #s = :submitting, lease_token = :t, lease_expires_at = :exp, updated_at = :u, "
                    "provider = if_not_exists(provider, :provider), #r = if_not_exists(#r, :reference), "
                    "#src = if_not_exists(#src, :source), created_at = if_not_exists(created_at, :u), "
                    "request_fingerprint = if_not_exists(request_fingerprint, :fp), "
                    "attempts = if_not_exists(attempts, :zero)"
                ),
                ConditionExpression=(
                    "attribute_not_exists(dispute_id) OR (request_fingerprint = :fp AND (#s IN (:received, :failed) "
                    "OR (#s = :submitting AND (attribute_not_exists(lease_expires_at) OR lease_expires_at < :now))))"
                ),
                ExpressionAttributeNames={"#s": "status", "#r": "reference", "#src": "source"},
                ExpressionAttributeValues=_values(
                    submitting=Status.SUBMITTING.value,
                    received=_CLAIMABLE[0],
                    failed=_CLAIMABLE[1],
                    t=token,
                    exp=Decimal(str(round(now + lease_seconds, 3))),
                    now=Decimal(str(round(now, 3))),
                    u=new.created_at,
                    provider=new.provider,
                    reference=new.reference,
                    source=new.source.value,
                    fp=new.request_fingerprint,
                    zero=0,
                ),
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except _ConditionFailed as failed:
            if failed.record.request_fingerprint != dispute.request_fingerprint:
                raise IdempotencyConflict(failed.record) from None
            raise ClaimRefused(failed.record) from None
        return Claim(_from_item(response["Attributes"]), token)

    def begin_attempt(self, claim: Claim) -> None:
        """Count a POST about to leave; until its answer is recorded its outcome is unknown."""
        self._update(
            claim,
            "SET attempts = if_not_exists(attempts, :zero) + :one, in_doubt = :yes",
            {"zero": 0, "one": 1, "yes": True},
        )

    def annotate(self, claim: Claim, **fields: Any) -> None:
        """Keep provider facts on the record while holding the claim (e.g. the state before a first POST)."""
        names = {f"#f{i}": name for i, name in enumerate(fields)}
        assignments = ", ".join(f"#f{i} = :v{i}" for i in range(len(fields)))
        self._update(claim, f"SET {assignments}", {f":v{i}": v for i, v in enumerate(fields.values())}, names)

    def finish(self, claim: Claim, status: Status, **fields: Any) -> DisputeRecord:
        """Record a final outcome (submitted/rejected) or `failed`; the lease ends."""
        in_doubt = fields.pop("in_doubt", False)
        return self._record(claim, status, in_doubt, fields)

    def release(self, claim: Claim, *, in_doubt: bool, **fields: Any) -> DisputeRecord:
        """Give the dispute back for a later delivery after a transient error."""
        # An attempt whose outcome is unknown keeps the record `submitting`, as the contract
        # defines it; one that certainly did not reach the provider is simply waiting again.
        status = Status.SUBMITTING if in_doubt else Status.RECEIVED
        return self._record(claim, status, in_doubt, fields)

    def _record(self, claim: Claim, status: Status, in_doubt: bool, fields: dict[str, Any]) -> DisputeRecord:
        """Set the status and fields; a field given as None is removed (e.g. a stale `error`)."""
        values: dict[str, Any] = {"status": status.value, "in_doubt": in_doubt, "updated_at": utc_now()}
        values.update((name, value) for name, value in fields.items() if value is not None)
        removed = [name for name, value in fields.items() if value is None]
        removed += ["lease_token", "lease_expires_at"]
        names = {f"#f{i}": name for i, name in enumerate([*values, *removed])}
        assignments = ", ".join(f"#f{i} = :v{i}" for i in range(len(values)))
        removals = ", ".join(f"#f{i}" for i in range(len(values), len(names)))
        response = self._update(
            claim,
            f"SET {assignments} REMOVE {removals}",
            {f":v{i}": value for i, value in enumerate(values.values())},
            names,
        )
        return _from_item(response["Attributes"])

    def _update(
        self, claim: Claim, expression: str, values: dict[str, Any], names: dict[str, str] | None = None
    ) -> dict[str, Any]:
        plain_values = {(k if k.startswith(":") else f":{k}"): v for k, v in values.items()}
        try:
            return self._call(
                "update_item",
                Key=self._key(claim.dispute_id),
                UpdateExpression=expression,
                ConditionExpression="lease_token = :lease",
                ExpressionAttributeValues=_to_item({**plain_values, ":lease": claim.lease_token}),
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                **({"ExpressionAttributeNames": names} if names else {}),
            )
        except _ConditionFailed:
            raise LeaseLost(f"dispute {claim.dispute_id} was taken over by another delivery") from None

    # -- plumbing -------------------------------------------------------------------------
    def _key(self, dispute_id: str) -> dict[str, Any]:
        return {"dispute_id": {"S": dispute_id}}

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        try:
            result: dict[str, Any] = getattr(self._client, operation)(TableName=self._table, **kwargs)
            return result
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                item = error.response.get("Item")
                raise _ConditionFailed(_from_item(item) if isinstance(item, dict) else None) from None
            raise StoreError(f"{operation} on the disputes table failed: {error}") from error
        except BotoCoreError as error:
            raise StoreError(f"{operation} on the disputes table failed: {error}") from error


class _ConditionFailed(Exception):
    def __init__(self, record: DisputeRecord | None) -> None:
        super().__init__("condition failed")
        self._record = record

    @property
    def record(self) -> DisputeRecord:
        if self._record is None:
            raise StoreError("conditional write failed on a record that does not exist")
        return self._record


def _new_record(dispute: Dispute | InvalidDispute, status: Status, **fields: Any) -> DisputeRecord:
    now = utc_now()
    return DisputeRecord(
        dispute_id=dispute.dispute_id,
        provider=dispute.provider,
        reference=dispute.reference,
        source=dispute.source,
        status=status,
        created_at=now,
        updated_at=now,
        request_fingerprint=dispute.request_fingerprint,
        **fields,
    )


def _values(**values: Any) -> dict[str, Any]:
    return _to_item({f":{name}": value for name, value in values.items()})


@cache
def dispute_store(table_name: str) -> DisputeStore:
    return DisputeStore(table_name, boto3.client("dynamodb"))
