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
    EvidenceUploads,
    FileUpload,
    InvalidRequestError,
    PresignedPost,
    Problem,
    decode_page_token,
    encode_page_token,
)
from .api_settings import ApiSettings
from .config import EvidenceSettings
from .evidence import EvidenceLimits, latin_name, size_problems, unique_names
from .evidence_keys import TakesEvidence
from .models import Dispute, DisputeRecord, DisputeRequest, DisputeView, Source
from .providers import evidence_providers, provider_names
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
    """Presigned S3 POSTs, each confined to one key, its content type and its size, into a new
    folder of the transaction, for any provider that takes evidence."""

    def __init__(self, settings: EvidenceSettings, s3: Any, expiry_seconds: int, places: Mapping[str, TakesEvidence]):
        self._settings = settings
        self._s3 = s3
        self._expiry = expiry_seconds
        self._places = dict(places)
        self._limits = {name: EvidenceLimits.of(settings, place) for name, place in places.items()}

    @classmethod
    def from_settings(cls, settings: ApiSettings) -> UploadService:
        places = {name: spec.evidence for name, spec in evidence_providers().items() if spec.evidence is not None}
        return cls(settings, boto3.client("s3"), settings.upload_url_expiry_seconds, places)

    def presign(self, request: Any) -> EvidenceUploads:
        """`request`: one of the evidence providers' upload bodies (`EvidenceUploadRequest`)."""
        self._check(request)
        place = self._places[request.provider]
        folder = f"{place.folder(request.reference)}{uuid.uuid4().hex}/"
        # A name that only becomes the manifest's in Latin ("dispute .json") is numbered instead:
        # presigning it would hand out the manifest's own key.
        names = unique_names((latin_name(item.filename) for item in request.files), reserved=[place.manifest])
        files = [
            FileUpload(
                filename=name,
                content_type=item.content_type,
                size=item.size,
                **self._post(folder + name, item.content_type, item.size, item.size).model_dump(),
            )
            for item, name in zip(request.files, names, strict=True)
        ]
        manifest = self._post(folder + place.manifest, "application/json", 2, MANIFEST_MAX_BYTES)
        return EvidenceUploads(
            provider=request.provider,
            reference=request.reference,
            folder=folder,
            expires_in=self._expiry,
            files=files,
            manifest=manifest,
        )

    def _check(self, request: Any) -> None:
        problems = self.problems(request.model_dump())
        if problems:
            raise InvalidRequestError(problems)

    def problems(self, body: Any) -> list[Problem]:
        """What the configured rules (manifest name, allowed types, sizes) refuse in an upload
        request's body, read as leniently as it comes: asked for an invalid body too, so that its
        answer names every offending field, not only those its schema catches."""
        given = body.get("provider") if isinstance(body, dict) else None
        only = next(iter(self._places)) if len(self._places) == 1 else None
        # Any JSON may come as `provider` (an object cannot even be looked up): only a name is one.
        name = given if isinstance(given, str) and given in self._places else only
        if name is None:
            return []  # no provider to judge by: the schema's answer names `provider`
        place, limits = self._places[name], self._limits[name]
        declared = body.get("files") if isinstance(body, dict) else None
        items = [item if isinstance(item, dict) else {} for item in declared] if isinstance(declared, list) else []
        problems = [
            Problem(
                field=f"files.{index}.filename",
                message=f"{place.manifest} is the folder's manifest, which this answer presigns on its own "
                "(`manifest`): give the evidence file another name",
            )
            for index, item in enumerate(items)
            if item.get("filename") == place.manifest
        ]
        problems += [
            Problem(
                field=f"files.{index}.content_type",
                message=f"{item['content_type']} is not allowed: send one of {', '.join(sorted(limits.allowed_types))}",
            )
            for index, item in enumerate(items)
            if isinstance(item.get("content_type"), str) and item["content_type"] not in limits.allowed_types
        ]
        sized = [
            (str(item.get("filename") or f"file {index + 1}"), item["size"])
            for index, item in enumerate(items)
            if isinstance(item.get("size"), int) and not isinstance(item.get("size"), bool)
        ]
        if len(sized) == len(items):
            problems += [
                Problem(field="files" if index is None else f"files.{index}.size", message=message)
                for index, message in size_problems(sized, limits)
            ]
        return problems

    def _post(self, key: str, content_type: str, min_size: int, max_size: int) -> PresignedPost:
        post = self._s3.generate_presigned_post(
            Bucket=self._settings.evidence_bucket,
            Key=key,
            Fields={"Content-Type": content_type},
            Conditions=[{"Content-Type": content_type}, ["content-length-range", min_size, max_size]],
            ExpiresIn=self._expiry,
        )
        return PresignedPost(key=key, url=post["url"], fields=post["fields"])
