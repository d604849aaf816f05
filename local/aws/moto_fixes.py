"""Corrections to moto where it serves several requests at once, as its server does.

DynamoDB applies each request to a table atomically; moto 5 does not, and its server serves
requests on concurrent threads (the workers file the disputes of a batch concurrently):

- A conditional write reads the item, evaluates its condition and then writes, so two writes
  served at the same time could both pass `attribute_not_exists`. The filing lease rests on that
  condition: the embedded AWS must honour it as DynamoDB does.
- A stream record is numbered from the length of the shard's record list and appended only
  after it is built. Two writes could take the same number (the next skips one); a reader that
  asks for what follows a number given twice is handed the same last record again and again:
  the local stream poller delivered it in a loop and a test reading the stream never came to
  its end (CI, 2026-11-30).

Each table operation, and each stream record's numbering, is therefore done under a lock.

- A transaction (TransactWriteItems) copies every table it names (`copy.deepcopy`) before it
  writes, and on a failed condition puts the copies in the tables' place. Beside its cost (the
  whole table copied per transaction), that swaps out the table's stream shard: a reader
  already iterating the stream (the local stream poller) goes on reading the old shard and
  never sees a later change. Under the lock, the transaction here checks every condition
  first and writes only if all hold, so nothing needs undoing.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import StreamShard

_APPLIED = "_dispute_gateway_serialised"
# Re-entrant: a transaction calls put_item and update_item, a put adds a stream record.
_TABLES = threading.RLock()
# What a request does to a table's items; a batch write is a series of put_item and delete_item.
_TABLE_OPERATIONS = (
    "put_item",
    "update_item",
    "delete_item",
    "get_item",
    "query",
    "scan",
    "transact_write_items",
)


def _one_at_a_time(owner: type, name: str) -> None:
    """`owner.name` made to run under the tables' lock. Idempotent: a method already wrapped is left alone."""
    method = getattr(owner, name)
    if getattr(method, _APPLIED, False):
        return

    @functools.wraps(method)
    def serialised(*args: Any, **kwargs: Any) -> Any:
        with _TABLES:
            return method(*args, **kwargs)

    setattr(serialised, _APPLIED, True)
    setattr(owner, name, serialised)


def _transact_write_items(backend: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    """All of the transaction's writes, or none: every condition is checked before the first write."""
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    targets: set[tuple[str, str]] = set()
    operations: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    failures: list[tuple[Any, Any, Any]] = []
    for item in transact_items:
        if len(item) != 1:
            raise TransactWriteSingleOpException
        kind, operation = next(iter(item.items()))
        table = backend.get_table(operation["TableName"])
        source = operation["Item"] if kind == "Put" else operation["Key"]
        key = {table.hash_key_attr: source[table.hash_key_attr]}
        if table.range_key_attr is not None:
            key[table.range_key_attr] = source[table.range_key_attr]
        target = (operation["TableName"], str(dict(sorted(key.items()))))
        if target in targets:
            raise MultipleTransactionsException()
        targets.add(target)
        operations.append((kind, operation, key))
        current = backend.get_item(operation["TableName"], key)
        condition = operation.get("ConditionExpression")
        holds = condition is None or get_filter_expression(
            condition, operation.get("ExpressionAttributeNames"), operation.get("ExpressionAttributeValues")
        ).expr(current)
        if holds:
            failures.append((None, None, None))
            continue
        old = (
            current.to_json()["Attributes"]
            if current and operation.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD"
            else None
        )
        failures.append(("ConditionalCheckFailed", "The conditional request failed", old))
    if any(code is not None for code, _, _ in failures):
        raise TransactionCanceledException(failures)
    for kind, operation, key in operations:
        names, values = operation.get("ExpressionAttributeNames"), operation.get("ExpressionAttributeValues")
        if kind == "Put":
            backend.put_item(operation["TableName"], operation["Item"])
        elif kind == "Update":
            backend.update_item(
                operation["TableName"],
                key,
                update_expression=operation["UpdateExpression"],
                condition_expression=None,
                expression_attribute_names=names,
                expression_attribute_values=values,
            )
        elif kind == "Delete":
            backend.delete_item(operation["TableName"], key)


def apply() -> None:
    """Every correction, before moto serves its first request."""
    if not getattr(DynamoDBBackend.transact_write_items, _APPLIED, False):
        DynamoDBBackend.transact_write_items = _transact_write_items  # type: ignore[method-assign]
    for name in _TABLE_OPERATIONS:
        _one_at_a_time(DynamoDBBackend, name)
    _one_at_a_time(StreamShard, "add")
