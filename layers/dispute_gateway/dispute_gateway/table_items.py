"""Items of the disputes table as DynamoDB holds them: records to and from its typed JSON, and the
errors of a table call that the store and the live items share."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from .models import DisputeRecord

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class StoreError(RuntimeError):
    """The table could not be read or written (throttling, network): worth a retry."""


class ConditionFailed(Exception):
    """A conditional write refused; `record` is the item as it was (ReturnValuesOnConditionCheckFailure)."""

    def __init__(self, record: DisputeRecord | None) -> None:
        super().__init__("condition failed")
        self._record = record

    @property
    def record(self) -> DisputeRecord:
        if self._record is None:
            raise StoreError("conditional write failed on a record that does not exist")
        return self._record


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    return {key: _serializer.serialize(_storable(value)) for key, value in values.items() if value is not None}


def values_of(**values: Any) -> dict[str, Any]:
    """Expression attribute values: each name given as `:name`."""
    return to_item({f":{name}": value for name, value in values.items()})


def _storable(value: Any) -> Any:
    # DynamoDB rejects floats, and provider bodies arrive with them.
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {str(key): _storable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_storable(item) for item in value]
    return value


def plain(values: dict[str, Any]) -> dict[str, Any]:
    """Values as a read of the stored item would give them back (no None, numbers as stored)."""
    return json.loads(
        json.dumps({name: _storable(value) for name, value in values.items() if value is not None}, default=_number)
    )


def from_item(item: dict[str, Any]) -> DisputeRecord:
    values = {key: _deserializer.deserialize(value) for key, value in item.items()}
    return DisputeRecord.model_validate(json.loads(json.dumps(values, default=_number)))


def _number(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")
