"""Disputes filed by upload, for every provider that takes evidence: the provider's queue hears of
each `{prefix}{reference}/{folder}/{manifest}`, written last into its folder.

It hears of it in one of two shapes. The evidence bucket sends its events to EventBridge, where each
evidence provider's rule puts an "Object Created" event on its own queue (the message body is the
event: `detail.bucket.name`, `detail.object.key` as stored). S3's own notification shape
(`Records[].s3`, keys URL-encoded) is read too: messages queued before the bucket moved to
EventBridge, and anyone's replay of one, still file their dispute.

A manifest the service cannot use is bad input, kept with its reason and never dropped: one
outside a folder of its own becomes a `rejected` record of its transaction, one whose key names
no transaction goes to the dead-letter queue. An object whose name merely ends like a
manifest's (S3's suffix filter lets `x-dispute.json` through) is not one.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import boto3
from pydantic import ValidationError

from .config import EvidenceSettings
from .evidence import EvidenceBucket, EvidenceUnavailable, notification_bucket, notification_key
from .evidence_keys import EvidenceRequest
from .json_depth import TooDeep, check_depth
from .messages import read_json_object, request_or_invalid
from .models import Dispute, InvalidDispute, Source, describe_validation_error
from .observability import logger
from .providers.base import Transient, UnreadableMessage
from .providers.spec import ProviderSpec

# What S3 puts on EventBridge for a new object (https://docs.aws.amazon.com/AmazonS3/latest/userguide/EventBridge.html).
S3_EVENT_SOURCE = "aws.s3"
OBJECT_CREATED = "Object Created"


class ManifestReader:
    """The manifests of one provider that takes evidence: `request`'s place in the bucket, its
    manifest model and how it makes its request from a manifest."""

    def __init__(self, bucket: EvidenceBucket, provider: str, request: type[EvidenceRequest]) -> None:
        self._bucket = bucket
        self._provider = provider
        self._request = request
        self._place = request.evidence_place

    def disputes_from_message(self, data: dict[str, Any]) -> list[Dispute | InvalidDispute] | None:
        """The disputes a queue message asks for when it tells of uploads (an EventBridge event or an
        S3 notification; none for the test event S3 sends when a notification is configured), or
        None when it is something else (the provider's own command). Raises UnreadableMessage for
        a notification that is not one, Transient when S3 cannot be read now."""
        if data.get("Event") == "s3:TestEvent":
            return []
        if "Records" in data:
            uploads = _notified(data["Records"])
        elif data.get("source") == S3_EVENT_SOURCE and "detail-type" in data:
            uploads = [_created(data)]
        else:
            return None
        try:
            return self.disputes(uploads)
        except EvidenceUnavailable as error:
            raise Transient(str(error)) from None

    def disputes(self, uploads: list[tuple[str, str]]) -> list[Dispute | InvalidDispute]:
        """The disputes of the uploaded objects (bucket, key) that are manifests: one per manifest,
        read once however often it is named (S3 may tell of one upload twice, and anyone who can
        send to the queue can repeat it). Raises UnreadableMessage for a manifest key that names no
        transaction, EvidenceUnavailable when S3 cannot be read now."""
        manifests = [(bucket, key) for bucket, key in uploads if self._place.is_manifest(key)]
        if len(manifests) < len(uploads):
            ignored = [key for bucket, key in uploads if (bucket, key) not in manifests]
            logger.info("Ignored objects whose names only end like a manifest's", extra={"keys": ignored})
        try:
            return [self.dispute(bucket, key) for bucket, key in dict.fromkeys(manifests)]
        except ValueError as error:
            raise UnreadableMessage(str(error)) from None

    def dispute(self, bucket: str, key: str) -> Dispute | InvalidDispute:
        """The dispute the manifest an S3 notification names asks for, as S3 holds it now.

        Without an idempotency key, what the dispute is comes from what is read from S3, never
        from the notification (its eTag and version are anyone's to write): the deal, the
        manifest's key and bytes, and each evidence object's key and ETag as listed. The same
        bytes uploaded again are the same dispute; a manifest written before its evidence, then
        again after, is another one (its evidence is in it now) and files."""
        place, manifest_name = self._place.place, self._place.manifest
        parts = key[len(self._place.prefix) :].split("/")
        if len(parts) < 2 or not parts[0]:
            raise ValueError(f"{key} names no {self._place.owner}: a manifest's key is {place}")
        reference, folder = parts[0], key.rsplit("/", 1)[0] + "/"
        identity: dict[str, Any] = {"reference": reference, "manifest": key}

        def invalid(reason: str, idempotency_key: str | None = None) -> InvalidDispute:
            return InvalidDispute.from_message(
                self._provider, reference, Source.S3, identity, reason, idempotency_key, identity
            )

        if len(parts) < 3:
            # Its folder would be the transaction's whole prefix, with every other upload's evidence in it.
            return invalid(f"{key} is not in a folder of its own: a manifest's key is {place}")
        if bucket != self._bucket.name:
            identity["bucket"] = bucket
            return invalid(f"evidence must be in the evidence bucket, not {bucket}")
        raw = self._bucket.read_manifest(key)
        identity["sha256"] = hashlib.sha256(raw).hexdigest() if raw is not None else None
        if raw is None:
            return invalid(f"{key} was deleted before it could be read")
        try:
            check_depth(raw, manifest_name)
            data = json.loads(raw)
        except TooDeep as too_deep:
            return invalid(str(too_deep))
        except (ValueError, RecursionError):
            return invalid(f"{manifest_name} is not JSON")
        try:
            manifest = self._request.manifest_model.model_validate(data)
        except ValidationError as error:
            given_key = data.get("idempotency_key") if isinstance(data, dict) else None
            reason = f"invalid {manifest_name}: {describe_validation_error(error)}"
            return invalid(reason, given_key if isinstance(given_key, str) and given_key else None)
        listed = self._bucket.folder_objects(folder)
        if manifest.files is not None:
            keys = [folder + name for name in manifest.files]
        else:
            keys = [evidence_key for evidence_key in listed if evidence_key != key]
        identity["evidence"] = [[evidence_key, listed.get(evidence_key)] for evidence_key in keys]
        problem = _unlisted(folder, keys, listed, manifest_name)
        if problem is not None:
            return invalid(problem)
        try:
            request = self._request.from_manifest(reference, manifest, keys)
        except ValidationError as error:
            return invalid(f"invalid dispute in {folder}: {describe_validation_error(error)}")
        etags = {evidence_key: listed[evidence_key] for evidence_key in keys}
        return Dispute.from_request(request, Source.S3, None if manifest.idempotency_key else identity, etags)


def _notified(records: Any) -> list[tuple[str, str]]:
    """The objects (bucket, key) an S3 notification tells of; only new objects are expected."""
    if not isinstance(records, list) or not records:
        raise UnreadableMessage("an S3 notification without records")
    created = [r for r in records if isinstance(r, dict) and str(r.get("eventName", "")).startswith("ObjectCreated")]
    if len(created) != len(records):
        raise UnreadableMessage("an S3 notification with records other than ObjectCreated")
    return [(notification_bucket(record), notification_key(record)) for record in created]


def _created(event: dict[str, Any]) -> tuple[str, str]:
    """The object (bucket, key) an EventBridge event from S3 tells of. Its key is as stored: unlike
    S3's own notifications, EventBridge's are not URL-encoded."""
    if event.get("detail-type") != OBJECT_CREATED:
        raise UnreadableMessage(f"an S3 event other than {OBJECT_CREATED}: {str(event.get('detail-type'))[:100]}")
    detail = event.get("detail")
    bucket = detail.get("bucket") if isinstance(detail, dict) else None
    item = detail.get("object") if isinstance(detail, dict) else None
    name = bucket.get("name") if isinstance(bucket, dict) else None
    key = item.get("key") if isinstance(item, dict) else None
    if not isinstance(name, str) or not isinstance(key, str) or not key:
        raise UnreadableMessage(f"an {OBJECT_CREATED} event without detail.bucket.name and detail.object.key")
    return name, key


def _unlisted(folder: str, keys: list[str], listed: dict[str, str], manifest_name: str) -> str | None:
    """Why evidence the manifest asks for is not there (it may come later: a manifest written
    again once it is there is another request, and files)."""
    if not keys:
        return f"no evidence in {folder}: upload the evidence files there first, then {manifest_name}"
    missing = [evidence_key for evidence_key in keys if evidence_key not in listed]
    return f"evidence missing: {', '.join(missing)}" if missing else None


class QueueMessages:
    """How a provider's queue is read: its commands (its request as JSON) and, for a provider that
    takes evidence, the news of its uploaded manifests (read from S3). Its worker reads its queue
    so, and the API so finds a failed dispute among the provider's dead letters."""

    def __init__(self, spec: ProviderSpec, manifests: ManifestReader | None = None) -> None:
        self._spec = spec
        self._manifests = manifests

    @classmethod
    def for_provider(cls, spec: ProviderSpec, settings: Any, s3: Any = None) -> QueueMessages:
        """`spec`'s reader; `settings` (EvidenceSettings) say where its evidence is, if it takes any."""
        if spec.evidence is None:
            return cls(spec)
        assert isinstance(settings, EvidenceSettings) and issubclass(spec.request, EvidenceRequest)
        bucket = EvidenceBucket(settings, s3 or boto3.client("s3"), spec.evidence)
        return cls(spec, ManifestReader(bucket, spec.name, spec.request))

    def disputes_from_message(self, body: str) -> list[Dispute | InvalidDispute]:
        """The disputes a message asks for; raises UnreadableMessage if it names none, Transient
        when S3 cannot be read now."""
        data = read_json_object(body)
        uploaded = self._manifests.disputes_from_message(data) if self._manifests is not None else None
        return uploaded if uploaded is not None else [request_or_invalid(self._spec, data, source=Source.SQS)]
