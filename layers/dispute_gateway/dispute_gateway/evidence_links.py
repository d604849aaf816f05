"""Short-lived links to a dispute's evidence in S3, for a person to open in a browser.

A record does not keep which files its dispute sent; what it keeps is its transaction, and a
provider that takes evidence keeps every file of a transaction under `{prefix}{reference}/`
(contract section 5). So the links are to the transaction's evidence: each upload's folder, its
files and its manifest.

A link is a presigned GET (signed with the API's role, which may read that prefix only) that
answers the file as one of the allowed evidence types, to show inline (a PDF or an image opens
in the browser tab), whatever type the uploader declared; anything else is a download. It
expires in minutes: it is meant to be clicked, not kept.
"""

from __future__ import annotations

import mimetypes
import posixpath
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .config import EvidenceSettings
from .models import DisputeRecord
from .providers import registry
from .table_items import StoreError

# A transaction's evidence listed in one page: the API's limits are far below it.
MAX_LISTED = 200
LINK_SECONDS = 300
_DOWNLOAD = "application/octet-stream"


@dataclass(frozen=True)
class EvidenceLink:
    key: str
    filename: str
    folder: str
    size: int
    content_type: str  # as the link answers it
    url: str
    expires_in: int


class EvidenceLinks:
    def __init__(self, settings: EvidenceSettings, s3: Any, expiry_seconds: int = LINK_SECONDS) -> None:
        self._settings = settings
        self._s3 = s3
        self._expiry = expiry_seconds

    def of(self, record: DisputeRecord) -> list[EvidenceLink]:
        """Links to every object under the dispute's transaction, oldest upload folder first; none for
        a provider that takes no evidence."""
        spec = registry().get(record.provider)
        if spec is None or spec.evidence is None or not record.reference or "/" in record.reference:
            return []
        prefix = f"{spec.evidence.prefix}{record.reference}/"
        try:
            listed = self._s3.list_objects_v2(Bucket=self._settings.evidence_bucket, Prefix=prefix, MaxKeys=MAX_LISTED)
        except (ClientError, BotoCoreError) as error:
            raise StoreError(f"the evidence of {prefix} could not be listed: {error}") from error
        objects = sorted(listed.get("Contents", []), key=lambda item: (item["LastModified"], item["Key"]))
        return [self._link(item, prefix) for item in objects]

    def _link(self, item: dict[str, Any], prefix: str) -> EvidenceLink:
        key = str(item["Key"])
        filename = posixpath.basename(key)
        guessed, _ = mimetypes.guess_type(filename)
        shown = guessed if guessed in self._settings.allowed_types or guessed == "application/json" else None
        content_type = shown or _DOWNLOAD
        disposition = "inline" if shown else "attachment"
        ascii_name = filename.encode("ascii", "replace").decode().replace('"', "_")
        url = self._s3.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self._settings.evidence_bucket,
                "Key": key,
                "ResponseContentType": content_type,
                "ResponseContentDisposition": f'{disposition}; filename="{ascii_name}"',
            },
            ExpiresIn=self._expiry,
        )
        return EvidenceLink(
            key=key,
            filename=filename,
            folder=posixpath.dirname(key.removeprefix(prefix)),
            size=int(item.get("Size", 0)),
            content_type=content_type,
            url=url,
            expires_in=self._expiry,
        )
