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
"""

from __future__ import annotations

import functools
import threading
from typing import Any

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


def apply() -> None:
    """Every correction, before moto serves its first request."""
    for name in _TABLE_OPERATIONS:
        _one_at_a_time(DynamoDBBackend, name)
    _one_at_a_time(StreamShard, "add")
