"""Corrections to moto where it serves several requests at once, as its server does.

moto 5 numbers a DynamoDB stream record from the length of the shard's record list, and appends
the record only after building it. Two writes served at the same time (the workers file the
disputes of a batch concurrently) can take the same number; the next one skips a number. A
reader then asks for what follows a number it was given twice and is handed the same last record
again and again: the local stream poller delivered it in a loop and a test reading the stream
never came to its end. On DynamoDB sequence numbers are unique and increase within a shard;
serialising the numbering restores that.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

from moto.dynamodb.models.table import StreamShard

_APPLIED = "_dispute_gateway_serialised"


def serialise_stream_records() -> None:
    """Number and append each stream record under one lock. Idempotent: later calls do nothing."""
    add = StreamShard.add
    if getattr(add, _APPLIED, False):
        return
    lock = threading.Lock()

    @functools.wraps(add)
    def add_one_at_a_time(self: StreamShard, *args: Any, **kwargs: Any) -> None:
        with lock:
            add(self, *args, **kwargs)

    setattr(add_one_at_a_time, _APPLIED, True)
    StreamShard.add = add_one_at_a_time  # type: ignore[method-assign]


def apply() -> None:
    """Every correction, before moto serves its first request."""
    serialise_stream_records()
