"""Disputes filed by upload: S3 notifies Repay's queue of each `repay/{deal_id}/{folder}/dispute.json`.

A manifest the service cannot use is bad input, kept with its reason and never dropped: one
outside a folder of its own becomes a `rejected` record of its deal, one whose key names no deal
goes to the dead-letter queue (ValueError here). An object whose name merely ends like a
manifest's (S3's suffix filter lets `x-dispute.json` through) is not one.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from ...evidence import EvidenceBucket, notification_key
from ...models import Dispute, InvalidDispute, Source, describe_validation_error
from . import SPEC
from .models import EvidenceManifest, RepayDisputeRequest, RepayEvidenceFile

assert SPEC.evidence is not None
PREFIX, MANIFEST = SPEC.evidence.prefix, SPEC.evidence.manifest
PLACE = f"{PREFIX}{{deal_id}}/{{folder}}/{MANIFEST}"


def is_manifest(key: str) -> bool:
    """An object under the prefix named exactly dispute.json, wherever it is (a misplaced one is refused)."""
    return key.startswith(PREFIX) and key.rsplit("/", 1)[-1] == MANIFEST


class ManifestReader:
    def __init__(self, bucket: EvidenceBucket) -> None:
        self._bucket = bucket

    def dispute(self, record: dict[str, Any]) -> Dispute | InvalidDispute:
        """The dispute an S3 ObjectCreated notification of a manifest asks for."""
        s3 = record.get("s3") or {}
        bucket = str((s3.get("bucket") or {}).get("name", ""))
        item = s3.get("object") or {}
        key = notification_key(record)
        identity = {"bucket": bucket, "key": key, "etag": str(item.get("eTag", "")), "version": item.get("versionId")}
        return self._from_manifest(bucket, key, identity)

    def _from_manifest(self, bucket: str, key: str, identity: dict[str, Any]) -> Dispute | InvalidDispute:
        parts = key.split("/")
        if len(parts) < 3 or not parts[1]:
            raise ValueError(f"{key} names no deal: a manifest's key is {PLACE}")
        deal_id, folder = parts[1], "/".join(parts[:-1]) + "/"

        def invalid(reason: str, idempotency_key: str | None = None) -> InvalidDispute:
            return InvalidDispute.from_message(
                SPEC.name, deal_id, Source.S3, identity, reason, idempotency_key, identity
            )

        if len(parts) < 4:
            # Its folder would be the deal's whole prefix, with every other upload's evidence in it.
            return invalid(f"{key} is not in a folder of its own: a manifest's key is {PLACE}")
        if bucket != self._bucket.name:
            return invalid(f"evidence must be in the evidence bucket, not {bucket}")
        raw = self._bucket.read_manifest(key, identity.get("version"))
        if raw is None:
            return invalid(f"{key} was deleted before it could be read")
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):
            return invalid(f"{MANIFEST} is not JSON")
        try:
            manifest = EvidenceManifest.model_validate(data)
        except ValidationError as error:
            given_key = data.get("idempotency_key") if isinstance(data, dict) else None
            reason = f"invalid {MANIFEST}: {describe_validation_error(error)}"
            return invalid(reason, given_key if isinstance(given_key, str) and given_key else None)
        names = manifest.files if manifest.files is not None else self._bucket.folder_files(folder, key)
        try:
            request = RepayDisputeRequest(
                deal_id=deal_id,
                new_amount=manifest.new_amount,
                evidence=[RepayEvidenceFile(key=folder + name) for name in names],
                idempotency_key=manifest.idempotency_key,
            )
        except ValidationError as error:
            return invalid(f"invalid dispute in {folder}: {describe_validation_error(error)}")
        return Dispute.from_request(request, Source.S3, None if manifest.idempotency_key else identity)
