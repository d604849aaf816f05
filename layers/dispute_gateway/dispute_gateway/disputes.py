"""The API's domain: file a dispute once (record, then queue), look disputes up, presign uploads."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from .api_models import (
    DisputePage,
    EvidenceUploadRequest,
    EvidenceUploads,
    FileUpload,
    InvalidRequestError,
    PresignedPost,
    Problem,
    decode_page_token,
    encode_page_token,
)
from .config import ApiSettings, EvidenceSettings
from .evidence import latin_name, size_problems, unique_names
from .models import Dispute, DisputeRecord, DisputeRequest, DisputeView, Source
from .providers import TakesEvidence, evidence_provider, provider_names
from .redaction import redact
from .store import LISTINGS, DisputeStore, dispute_store

MANIFEST_MAX_BYTES = 64 * 1024


class NoList(LookupError):
    """GET /disputes named no list: one of `parameters` picks one."""

    def __init__(self, parameters: list[str]) -> None:
        super().__init__(f"one of {', '.join(parameters)} is required")
        self.problems = [Problem(field=name, message=str(self)) for name in parameters]


class QueueUnavailable(RuntimeError):
    """The command could not be queued; the record waits for the caller's retry."""


@dataclass(frozen=True)
class Filed:
    record: DisputeRecord
    queued_now: bool  # False: a repeat of a request already filed and queued


class DisputeService:
    page_size = 50

    def __init__(self, store: DisputeStore, sqs: Any, queue_urls: Mapping[str, str]) -> None:
        self._store = store
        self._sqs = sqs
        self._queue_urls = dict(queue_urls)

    @classmethod
    def from_settings(cls, settings: ApiSettings) -> DisputeService:
        return cls(
            dispute_store(settings.disputes_table, settings.record_retention_days),
            boto3.client("sqs"),
            settings.queue_urls,
        )

    def file(self, request: DisputeRequest) -> Filed:
        """Record the dispute, then queue it. Raises IdempotencyConflict, LiveDisputeExists, QueueUnavailable."""
        dispute = Dispute.from_request(request, Source.API)
        record, _ = self._store.create(dispute)
        if record.queued_at is not None:
            return Filed(record, queued_now=False)
        self._enqueue(dispute)
        return Filed(self._store.mark_queued(dispute.dispute_id), queued_now=True)

    def get(self, dispute_id: str) -> DisputeView | None:
        record = self._store.get(dispute_id)
        return caller_view(record) if record else None

    def listed(
        self, filters: Mapping[str, str | None], next_token: str | None, limit: int | None = None
    ) -> DisputePage:
        """A page of the disputes that match every filter given (reference, status, resolution,
        provider), read through the index of the first of reference, status, resolution given;
        `limit` items read at most (default `page_size`).

        Raises NoList without any of those three: there is no list of every dispute (no scan)."""
        given = {name: value for name, value in filters.items() if value is not None}
        provider = given.get("provider")
        if provider is not None and provider not in provider_names():
            raise InvalidRequestError(
                [Problem(field="provider", message=f"must be one of: {', '.join(provider_names())}")]
            )
        by = next((name for name in LISTINGS if name in given), None)
        if by is None:
            raise NoList(list(LISTINGS))
        listing, value = LISTINGS[by], given.pop(by)
        start = decode_page_token(next_token, by, listing.position_keys, value) if next_token else None
        records, last = self._store.page(listing, value, given, limit or self.page_size, start)
        return DisputePage(
            items=[caller_view(record) for record in records],
            next_token=encode_page_token(by, last) if last else None,
        )

    def _enqueue(self, dispute: Dispute) -> None:
        # The worker reads the queue body; the key travels in it so it derives the same dispute_id.
        body = dispute.request.model_dump(mode="json", exclude_none=True, exclude={"provider_name"})
        try:
            self._sqs.send_message(
                QueueUrl=self._queue_urls[dispute.provider],
                MessageBody=json.dumps(body, ensure_ascii=False),
            )
        except (ClientError, BotoCoreError) as error:
            raise QueueUnavailable(f"could not queue dispute {dispute.dispute_id}: {error}") from error


def caller_view(record: DisputeRecord) -> DisputeView:
    """The record as the API answers it. Provider answers can carry e-mail addresses (one provider's
    names its support address); an answer never shows one the caller did not send."""
    view = record.view()
    scrubbed: dict[str, Any] = {
        name: _scrub(getattr(view, name)) for name in ("provider_response", "provider_message", "error")
    }
    scrubbed["history"] = [entry.model_copy(update={"message": _scrub(entry.message)}) for entry in view.history]
    return view.model_copy(update=scrubbed)


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _scrub(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_scrub(item) for item in value]
    return value


class UploadService:
    """Presigned S3 POSTs, each confined to one key, its content type and its size."""

    def __init__(self, settings: EvidenceSettings, s3: Any, expiry_seconds: int, place: TakesEvidence) -> None:
        self._settings = settings
        self._s3 = s3
        self._expiry = expiry_seconds
        self._place = place

    @classmethod
    def from_settings(cls, settings: ApiSettings) -> UploadService:
        place = evidence_provider().evidence
        assert place is not None
        return cls(settings, boto3.client("s3"), settings.upload_url_expiry_seconds, place)

    def presign(self, request: EvidenceUploadRequest) -> EvidenceUploads:
        self._check(request)
        folder = f"{self._place.prefix}{request.deal_id}/{uuid.uuid4().hex}/"
        names = unique_names(latin_name(item.filename) for item in request.files)
        files = [
            FileUpload(
                filename=name,
                content_type=item.content_type,
                size=item.size,
                **self._post(folder + name, item.content_type, item.size, item.size).model_dump(),
            )
            for item, name in zip(request.files, names, strict=True)
        ]
        manifest = self._post(folder + self._place.manifest, "application/json", 2, MANIFEST_MAX_BYTES)
        return EvidenceUploads(
            deal_id=request.deal_id, folder=folder, expires_in=self._expiry, files=files, manifest=manifest
        )

    def _check(self, request: EvidenceUploadRequest) -> None:
        problems = [
            Problem(field=f"files.{index}.content_type", message=f"{item.content_type} is not allowed")
            for index, item in enumerate(request.files)
            if item.content_type not in self._settings.allowed_types
        ]
        problems += [
            Problem(field="files", message=message)
            for message in size_problems([item.size for item in request.files], self._settings)
        ]
        if problems:
            raise InvalidRequestError(problems)

    def _post(self, key: str, content_type: str, min_size: int, max_size: int) -> PresignedPost:
        post = self._s3.generate_presigned_post(
            Bucket=self._settings.evidence_bucket,
            Key=key,
            Fields={"Content-Type": content_type},
            Conditions=[{"Content-Type": content_type}, ["content-length-range", min_size, max_size]],
            ExpiresIn=self._expiry,
        )
        return PresignedPost(key=key, url=post["url"], fields=post["fields"])
