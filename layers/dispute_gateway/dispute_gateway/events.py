"""Every change of a dispute, pushed to the callers: one EventBridge event per change of `status` or
`resolution` (CONTRACT section 10).

The events come from the disputes table's stream, not from the code paths that write: a worker
that crashes right after its write loses no event. Delivery is at least once and in order per
dispute: a record whose event is not accepted (PutEvents answers 200 with failed entries too) is
reported as a batch item failure, and so is every later record of the same dispute in the
batch, so Lambda retries them in their order instead of publishing the later ones first.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import boto3
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from .config import PublisherSettings
from .models import DISPUTE_ID_PATTERN, Resolution, Source, Status
from .observability import count_events, logger
from .redaction import redact

SOURCE = "dispute-gateway"
DETAIL_TYPE = "Dispute Changed"


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)  # the field is absent, never null


class DisputeChanged(BaseModel):
    """The `Detail` of a `Dispute Changed` event: the dispute as it now is, and what it was before.

    Never an e-mail address, a secret or a signature: the provider's message and our error are
    redacted as log lines are, and no request field beyond the reference is carried."""

    model_config = ConfigDict(extra="forbid", title="DisputeChanged")

    dispute_id: str = Field(pattern=DISPUTE_ID_PATTERN, description="The dispute's id, as GET /disputes/{id} takes it")
    # A name, not an enumeration: a provider added later changes no subscriber's schema.
    provider: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="The provider's name, as the API takes it")
    reference: str = Field(description="The provider's reference of the transaction (trxid, refid or deal_id)")
    source: Source = Field(description="How the dispute reached the service")
    status: Status
    previous_status: Status | SkipJsonSchema[None] = Field(
        None,
        description="Absent when the dispute was created",
        json_schema_extra=_no_default,
    )
    resolution: Resolution | None = Field(description="Null until the dispute is submitted")
    previous_resolution: Resolution | None
    attempts: int = Field(ge=0, description="Requests sent to the provider so far")
    provider_case_id: str | None
    provider_message: str | None = Field(description="What the provider answered, redacted")
    error: str | None = Field(description="Why the dispute failed or was rejected, redacted")
    updated_at: str = Field(json_schema_extra={"format": "date-time"})


def event_schema() -> dict[str, Any]:
    """The JSON schema of a `Dispute Changed` event as a subscriber receives it (EventBridge's
    envelope around the detail), committed as docs/events/dispute-changed.json."""
    detail = DisputeChanged.model_json_schema(ref_template="#/$defs/{model}")
    definitions = {**detail.pop("$defs", {}), "DisputeChanged": detail}
    text = {"type": "string"}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": DETAIL_TYPE,
        "description": "A change of a dispute's status or resolution, on the bus EVENT_BUS_NAME (CONTRACT section 10)",
        "type": "object",
        "required": ["source", "detail-type", "detail"],
        "properties": {
            "version": text,
            "id": text,
            "source": {"const": SOURCE},
            "detail-type": {"const": DETAIL_TYPE},
            "account": text,
            "time": {**text, "format": "date-time"},
            "region": text,
            "resources": {"type": "array", "items": text},
            "detail": {"$ref": "#/$defs/DisputeChanged"},
        },
        "$defs": definitions,
    }


def change_of(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> DisputeChanged | None:
    """The event a write from `old` to `new` makes; None when neither status nor resolution changed."""
    if not new or "status" not in new:
        return None  # a record removed, or not yet whole
    if old and old.get("status") == new["status"] and old.get("resolution") == new.get("resolution"):
        return None  # e.g. an attempt counted, a note kept: no change a caller follows
    message, error = new.get("provider_message"), new.get("error")
    return DisputeChanged(
        dispute_id=str(new["dispute_id"]),
        provider=str(new["provider"]),
        reference=str(new["reference"]),
        source=Source(new["source"]),
        status=Status(new["status"]),
        previous_status=Status(old["status"]) if old and old.get("status") else None,
        resolution=Resolution(new["resolution"]) if new.get("resolution") else None,
        previous_resolution=Resolution(old["resolution"]) if old and old.get("resolution") else None,
        attempts=int(new.get("attempts", 0)),
        provider_case_id=new.get("provider_case_id"),
        provider_message=redact(message) if isinstance(message, str) else None,
        error=redact(error) if isinstance(error, str) else None,
        updated_at=str(new["updated_at"]),
    )


def detail_json(change: DisputeChanged) -> str:
    fields = change.model_dump(mode="json")
    if change.previous_status is None:
        del fields["previous_status"]
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=False)


class NotPublished(Exception):
    """EventBridge did not take the event (an error, or a failed entry in a 200 answer)."""


class EventBus:
    def __init__(self, name: str, client: Any) -> None:
        self.name = name
        self._client = client

    def put(self, change: DisputeChanged) -> None:
        entry = {"Source": SOURCE, "DetailType": DETAIL_TYPE, "Detail": detail_json(change), "EventBusName": self.name}
        try:
            answer = self._client.put_events(Entries=[entry])
        except (ClientError, BotoCoreError) as error:
            raise NotPublished(f"PutEvents failed: {error}") from error
        if answer.get("FailedEntryCount"):
            (failed,) = answer["Entries"]
            raise NotPublished(f"PutEvents refused the event: {failed.get('ErrorCode')} {failed.get('ErrorMessage')}")


class ChangePublisher:
    def __init__(self, bus: EventBus) -> None:
        self._bus = bus

    @classmethod
    def from_settings(cls, settings: PublisherSettings) -> ChangePublisher:
        return cls(EventBus(settings.event_bus_name, boto3.client("events")))

    def process_batch(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        held_back: set[str] = set()  # disputes with a record not published in this batch

        def publish(record: DynamoDBRecord) -> None:
            stream = record.dynamodb
            keys = (stream.keys if stream else None) or {}
            dispute_id = str(keys.get("dispute_id", ""))
            if dispute_id in held_back:
                raise NotPublished("an earlier change of this dispute is not published yet")
            try:
                self._publish(stream.old_image if stream else None, stream.new_image if stream else None)
            except Exception:
                held_back.add(dispute_id)  # whatever failed, its later changes must not overtake it
                raise

        processor = BatchProcessor(EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)
        return dict(process_partial_response(event=event, record_handler=publish, processor=processor, context=context))

    def _publish(self, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> None:
        change = change_of(old, new)
        if change is None:
            return
        logger.thread_safe_append_keys(dispute_id=change.dispute_id, provider=change.provider)
        try:
            self._bus.put(change)
        except NotPublished as refused:
            logger.warning("Change not published: retried", extra={"reason": str(refused)})
            count_events(change.provider, published=False)
            raise
        finally:
            logger.thread_safe_remove_keys(["dispute_id", "provider"])
        count_events(change.provider, published=True)
