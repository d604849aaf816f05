"""One live dispute per transaction (CONTRACT section 3), held in the disputes table itself.

Beside the records, the table holds one small item per transaction
(`live#<digest of provider and reference>`, no other attribute but its `holder`), naming the
dispute that holds it. A record that becomes live (created, or a `failed` one claimed again)
takes that item in the same DynamoDB transaction as its own write, on condition that the item is
free, already its own, or held by a dispute that is no longer live (`rejected`, `failed`, or
expired from the table), which the same transaction checks. Two claimants at once, whatever
their doors and keys, cannot both get past it. A dispute that becomes `rejected` or `failed`
keeps the item until another takes it over, so those writes stay single updates. The item
carries no `reference` or `status`, so no index lists it and no event is made of it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .models import DisputeRecord, Status
from .table_items import ConditionFailed, StoreError, from_item, to_item, values_of

LIVE_ITEM_PREFIX = "live#"
# A dispute in one of these no longer holds its transaction.
NOT_LIVE = (Status.REJECTED, Status.FAILED)
# Takeovers that lose a race with another claimant are tried again this many times.
_TRIES = 3


class LiveDisputeExists(Exception):
    """The transaction already has a live dispute (not `rejected` or `failed`): nothing was filed."""

    def __init__(self, live: DisputeRecord) -> None:
        super().__init__(
            f"{live.provider} transaction {live.reference} already has a live dispute, {live.dispute_id} "
            f"({live.status.value}); another is filed only once that one is rejected or failed"
        )
        self.live = live


def live_item_key(provider: str, reference: str) -> str:
    """The key of a transaction's live item: a digest, so the item holds no reference in clear."""
    digest = hashlib.sha256(f"{provider}\n{reference}".encode()).hexdigest()
    return f"{LIVE_ITEM_PREFIX}{digest}"


class LiveItems:
    def __init__(self, table_name: str, client: Any, read: Callable[[str], DisputeRecord | None]) -> None:
        self._table = table_name
        self._client = client
        self._read = read

    def hold(self, record: DisputeRecord, write: dict[str, Any]) -> None:
        """`write` (a transaction item on `record`'s own item) done together with taking its
        transaction's live item. Raises ConditionFailed when `write`'s own condition fails, and
        LiveDisputeExists when another live dispute holds the transaction."""
        key = live_item_key(record.provider, record.reference)
        stale: str | None = None  # a holder read as no longer live, taken over on that condition
        for _ in range(_TRIES):
            items = [write, self._take(key, record.dispute_id, stale)]
            if stale is not None:
                items.append({"ConditionCheck": self._not_live(stale)})
            try:
                self._transact(items)
                return
            except _Cancelled as cancelled:
                own, taken = cancelled.reasons[0], cancelled.reasons[1]
                if own is not None:
                    raise ConditionFailed(from_item(own) if own else None) from None
                holder = str((taken or {}).get("holder", {}).get("S", ""))
            if not holder:
                # The holder read as no longer live is live again (a redriven message), or the item
                # is gone: look again.
                stale = None
                continue
            live = self._read(holder)
            if live is not None and live.status not in NOT_LIVE:
                raise LiveDisputeExists(live)
            stale = holder
        raise StoreError(f"the transaction of dispute {record.dispute_id} kept changing while it was taken")

    def _take(self, key: str, holder: str, stale: str | None) -> dict[str, Any]:
        if stale is None:
            condition, values = "attribute_not_exists(dispute_id) OR holder = :holder", {":holder": holder}
        else:
            condition, values = "holder = :stale", {":stale": stale}
        return {
            "Put": {
                "TableName": self._table,
                "Item": to_item({"dispute_id": key, "holder": holder}),
                "ConditionExpression": condition,
                "ExpressionAttributeValues": to_item(values),
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }

    def _not_live(self, dispute_id: str) -> dict[str, Any]:
        """The condition that `dispute_id` no longer holds its transaction: not live, or gone."""
        return {
            "TableName": self._table,
            "Key": {"dispute_id": {"S": dispute_id}},
            "ConditionExpression": "attribute_not_exists(dispute_id) OR #status IN (:rejected, :failed)",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": values_of(rejected=Status.REJECTED.value, failed=Status.FAILED.value),
        }

    def _transact(self, items: list[dict[str, Any]]) -> None:
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as error:
            reasons = error.response.get("CancellationReasons") or []
            refused = error.response.get("Error", {}).get("Code") == "TransactionCanceledException"
            # Only failed conditions are an answer; a conflict with another transaction is a retry.
            if refused and all(r.get("Code") in (None, "None", "ConditionalCheckFailed") for r in reasons):
                raise _Cancelled([dict(reason) for reason in reasons]) from None
            raise StoreError(f"a transaction on the disputes table failed: {error}") from error
        except BotoCoreError as error:
            raise StoreError(f"a transaction on the disputes table failed: {error}") from error


class _Cancelled(Exception):
    """A transaction refused: for each of its items, the item as it was when its condition failed
    ({} if it did not exist), or None when its condition held."""

    def __init__(self, reasons: list[dict[str, Any]]) -> None:
        super().__init__("transaction cancelled")
        self.reasons: list[dict[str, Any] | None] = [
            (reason.get("Item") or {}) if reason.get("Code") == "ConditionalCheckFailed" else None for reason in reasons
        ]
        self.reasons += [None] * (3 - len(self.reasons))
