"""Disputes filed by upload: S3 notifies Repay's queue of each `repay/{deal_id}/{folder}/dispute.json`.

A manifest the service cannot use is bad input, kept with its reason and never dropped: one
outside a folder of its own becomes a `rejected` record of its deal, one whose key names no deal
goes to the dead-letter queue (ValueError here). An object whose name merely ends like a
manifest's (S3's suffix filter lets `x-dispute.json` through) is not one.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import ValidationError

from ...evidence import EvidenceBucket
from ...json_depth import TooDeep, check_depth
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

    def dispute(self, bucket: str, key: str) -> Dispute | InvalidDispute:
        """The dispute the manifest an S3 notification names asks for, as S3 holds it now.

        Without an idempotency key, what the dispute is comes from what is read from S3, never
        from the notification (its eTag and version are anyone's to write): the deal, the
        manifest's key and bytes, and each evidence object's key and ETag as listed. The same
        bytes uploaded again are the same dispute; a manifest written before its evidence, then
        again after, is another one (its evidence is in it now) and files."""
        parts = key.split("/")
        if len(parts) < 3 or not parts[1]:
            raise ValueError(f"{key} names no deal: a manifest's key is {PLACE}")
        deal_id, folder = parts[1], "/".join(parts[:-1]) + "/"
        identity: dict[str, Any] = {"deal_id": deal_id, "manifest": key}

        def invalid(reason: str, idempotency_key: str | None = None) -> InvalidDispute:
            return InvalidDispute.from_message(
                SPEC.name, deal_id, Source.S3, identity, reason, idempotency_key, identity
            )

        if len(parts) < 4:
            # Its folder would be the deal's whole prefix, with every other upload's evidence in it.
            return invalid(f"{key} is not in a folder of its own: a manifest's key is {PLACE}")
        if bucket != self._bucket.name:
            identity["bucket"] = bucket
            return invalid(f"evidence must be in the evidence bucket, not {bucket}")
        raw = self._bucket.read_manifest(key)
        identity["sha256"] = hashlib.sha256(raw).hexdigest() if raw is not None else None
        if raw is None:
            return invalid(f"{key} was deleted before it could be read")
        try:
            check_depth(raw, MANIFEST)
            data = json.loads(raw)
        except TooDeep as too_deep:
            return invalid(str(too_deep))
        except (ValueError, RecursionError):
            return invalid(f"{MANIFEST} is not JSON")
        try:
            manifest = EvidenceManifest.model_validate(data)
        except ValidationError as error:
            given_key = data.get("idempotency_key") if isinstance(data, dict) else None
            reason = f"invalid {MANIFEST}: {describe_validation_error(error)}"
            return invalid(reason, given_key if isinstance(given_key, str) and given_key else None)
        listed = self._bucket.folder_objects(folder)
        if manifest.files is not None:
            keys = [folder + name for name in manifest.files]
        else:
            keys = [evidence_key for evidence_key in listed if evidence_key != key]
        identity["evidence"] = [[evidence_key, listed.get(evidence_key)] for evidence_key in keys]
        problem = _unlisted(folder, keys, listed)
        if problem is not None:
            return invalid(problem)
        try:
            request = RepayDisputeRequest(
                deal_id=deal_id,
                new_amount=manifest.new_amount,
                evidence=[RepayEvidenceFile(key=evidence_key) for evidence_key in keys],
                idempotency_key=manifest.idempotency_key,
            )
        except ValidationError as error:
            return invalid(f"invalid dispute in {folder}: {describe_validation_error(error)}")
        etags = {evidence_key: listed[evidence_key] for evidence_key in keys}
        return Dispute.from_request(request, Source.S3, None if manifest.idempotency_key else identity, etags)


def _unlisted(folder: str, keys: list[str], listed: dict[str, str]) -> str | None:
    """Why evidence the manifest asks for is not there (it may come later: a manifest written
    again once it is there is another request, and files)."""
    if not keys:
        return f"no evidence in {folder}: upload the evidence files there first, then {MANIFEST}"
    missing = [evidence_key for evidence_key in keys if evidence_key not in listed]
    return f"evidence missing: {', '.join(missing)}" if missing else None
