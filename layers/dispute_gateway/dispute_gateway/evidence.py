"""Evidence in S3: checks before any byte goes to a provider, Latin names, streaming.

The rules here (allowed types, magic bytes, sizes, names) are the same for every provider that
takes evidence and for the API, which enforces them first on what a caller declares. Where in
the bucket a provider's evidence lives (its prefix) and what files a dispute (its manifest) are
the provider's own.
"""

from __future__ import annotations

import mimetypes
import posixpath
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from anyascii import anyascii
from botocore.exceptions import BotoCoreError, ClientError

from .config import EvidenceSettings
from .models import EvidenceFile

# (offset, bytes) runs that must all match, one tuple per accepted variant of the format.
SIGNATURES: dict[str, tuple[tuple[tuple[int, bytes], ...], ...]] = {
    "application/pdf": (((0, b"%PDF-"),),),
    "image/png": (((0, b"\x89PNG\r\n\x1a\n"),),),
    "image/jpeg": (((0, b"\xff\xd8\xff"),),),
    "image/gif": (((0, b"GIF87a"),), ((0, b"GIF89a"),)),
    "image/webp": (((0, b"RIFF"), (8, b"WEBP")),),
    "image/tiff": (((0, b"II*\x00"),), ((0, b"MM\x00*"),)),
}
SIGNATURE_BYTES = 16
_GENERIC_TYPES = {"", "application/octet-stream", "binary/octet-stream", "application/x-www-form-urlencoded"}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_MAX_STEM = 100


class EvidenceRejected(Exception):
    """The evidence can never be sent as it is (missing, empty, too big, wrong type)."""


class EvidenceUnavailable(Exception):
    """S3 could not be read just now: worth another delivery."""


@dataclass(frozen=True)
class CheckedEvidence:
    key: str
    filename: str  # Latin, unique within the dispute
    content_type: str
    size: int
    etag: str


# -- pure rules -----------------------------------------------------------------------------
def latin_name(original: str) -> str:
    """A readable ASCII name with the extension kept: 'Квитанция №1.pdf' -> 'Kvitantsiya_No1.pdf'."""
    base = posixpath.basename(original.replace("\\", "/"))
    stem, extension = posixpath.splitext(base)
    latin_stem = _UNSAFE.sub("_", anyascii(stem)).strip("._-")[:_MAX_STEM] or "evidence"
    latin_extension = _UNSAFE.sub("", anyascii(extension)).lower()
    return latin_stem + (f".{latin_extension.lstrip('.')}" if latin_extension.strip(".") else "")


def unique_names(names: Iterable[str]) -> list[str]:
    taken: set[str] = set()
    unique = []
    for name in names:
        stem, extension = posixpath.splitext(name)
        candidate, counter = name, 1
        while candidate.lower() in taken:
            counter += 1
            candidate = f"{stem}-{counter}{extension}"
        taken.add(candidate.lower())
        unique.append(candidate)
    return unique


def resolve_content_type(declared: str | None, stored: str | None, filename: str) -> str:
    for candidate in (declared, stored):
        value = (candidate or "").split(";")[0].strip().lower()
        if value not in _GENERIC_TYPES:
            return value
    guessed, _ = mimetypes.guess_type(filename)
    return (guessed or "application/octet-stream").lower()


def matches_signature(content_type: str, head: bytes) -> bool:
    variants = SIGNATURES.get(content_type, ())
    return any(all(head[at : at + len(magic)] == magic for at, magic in variant) for variant in variants)


def size_problems(sizes: Sequence[int], settings: EvidenceSettings) -> list[str]:
    """Every way a set of file sizes breaks the limits; empty when none."""
    problems = []
    if len(sizes) > settings.evidence_max_files:
        problems.append(f"{len(sizes)} files, more than the {settings.evidence_max_files} allowed")
    for index, size in enumerate(sizes):
        if size <= 0:
            problems.append(f"file {index + 1} is empty")
        elif size > settings.evidence_max_file_bytes:
            problems.append(f"file {index + 1} has {size} bytes, more than {settings.evidence_max_file_bytes}")
    if sum(sizes) > settings.evidence_max_total_bytes:
        problems.append(f"{sum(sizes)} bytes in all, more than {settings.evidence_max_total_bytes}")
    return problems


# -- the bucket ---------------------------------------------------------------------------
class EvidenceBucket:
    """The evidence bucket as one provider sees it: only keys under its `prefix` are ever read."""

    def __init__(self, settings: EvidenceSettings, client: Any, prefix: str) -> None:
        self.name = settings.evidence_bucket
        self.prefix = prefix
        self._settings = settings
        self._s3 = client

    def check(self, evidence: Sequence[EvidenceFile]) -> list[CheckedEvidence]:
        """Every file exists, fits the limits, is of an allowed type and is what its type says."""
        heads = [self._head(item) for item in evidence]
        problems = size_problems([int(head["ContentLength"]) for head in heads], self._settings)
        if problems:
            raise EvidenceRejected("evidence refused: " + "; ".join(problems))
        names = unique_names(latin_name(item.filename or item.key) for item in evidence)
        checked = []
        for item, head, name in zip(evidence, heads, names, strict=True):
            content_type = resolve_content_type(item.content_type, head.get("ContentType"), item.filename or item.key)
            if content_type not in self._settings.allowed_types:
                raise EvidenceRejected(f"{item.key}: type {content_type} is not allowed")
            etag = str(head.get("ETag", ""))
            if not matches_signature(content_type, self._first_bytes(item.key, etag)):
                raise EvidenceRejected(f"{item.key}: its bytes do not match its type, {content_type}")
            checked.append(CheckedEvidence(item.key, name, content_type, int(head["ContentLength"]), etag))
        return checked

    def open(self, evidence: CheckedEvidence) -> S3Stream:
        """A reader of the exact object that was checked (If-Match on its ETag)."""
        response = self._get(evidence.key, IfMatch=evidence.etag) if evidence.etag else self._get(evidence.key)
        return S3Stream(response["Body"], evidence.size)

    # -- S3 calls ----------------------------------------------------------------------------
    def _head(self, item: EvidenceFile) -> dict[str, Any]:
        if not item.key.startswith(self.prefix):
            raise EvidenceRejected(f"{item.key}: evidence keys start with {self.prefix}")
        try:
            return dict(self._s3.head_object(Bucket=self.name, Key=item.key))
        except ClientError as error:
            # Without s3:ListBucket on that key S3 answers a missing object with 403, not 404;
            # the role may read everything under the prefix, so a 403 there means "not there".
            if _missing(error) or _code(error) in {"403", "AccessDenied"}:
                raise EvidenceRejected(f"evidence missing: {item.key}") from None
            raise EvidenceUnavailable(f"could not read {item.key}: {_code(error)}") from None
        except BotoCoreError as error:
            raise EvidenceUnavailable(f"could not read {item.key}: {error}") from None

    def _first_bytes(self, key: str, etag: str) -> bytes:
        extra = {"IfMatch": etag} if etag else {}
        body = self._get(key, Range=f"bytes=0-{SIGNATURE_BYTES - 1}", **extra)["Body"]
        with body:
            return bytes(body.read())

    def _get(self, key: str, **extra: Any) -> dict[str, Any]:
        try:
            return dict(self._s3.get_object(Bucket=self.name, Key=key, **extra))
        except ClientError as error:
            if _missing(error):
                raise EvidenceRejected(f"evidence missing: {key}") from None
            # PreconditionFailed: replaced since it was checked; the next delivery checks it again.
            raise EvidenceUnavailable(f"could not read {key}: {_code(error)}") from None
        except BotoCoreError as error:
            raise EvidenceUnavailable(f"could not read {key}: {error}") from None

    def read_manifest(self, key: str, version: str | None) -> bytes | None:
        """The first 64 KiB of the manifest (the one version notified, when given); None once deleted."""
        try:
            extra = {"VersionId": version} if version else {}
            body = self._s3.get_object(Bucket=self.name, Key=key, **extra)["Body"]
            with body:
                return bytes(body.read(64 * 1024))
        except ClientError as error:
            if _missing(error):
                return None
            raise EvidenceUnavailable(f"could not read {key}: {_code(error)}") from None
        except BotoCoreError as error:
            raise EvidenceUnavailable(f"could not read {key}: {error}") from None

    def folder_files(self, folder: str, manifest_key: str) -> list[str]:
        """The names of the folder's objects besides its manifest, sorted."""
        names = []
        try:
            for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self.name, Prefix=folder):
                for item in page.get("Contents", []):
                    key = item["Key"]
                    if key != manifest_key and not key.endswith("/"):
                        names.append(key[len(folder) :])
        except (ClientError, BotoCoreError) as error:
            raise EvidenceUnavailable(f"could not list {folder}: {error}") from None
        return sorted(names)


def notification_key(record: dict[str, Any]) -> str:
    # S3 URL-encodes keys in notifications, spaces as '+' (moto also encodes '/').
    item = (record.get("s3") or {}).get("object") or {}
    return unquote_plus(str(item.get("key", "")))


class S3Stream:
    """An S3 body read in chunks, with the remaining length the multipart encoder asks for."""

    CHUNK = 1024 * 1024

    def __init__(self, body: Any, size: int) -> None:
        self._body = body
        self.len = size

    def read(self, size: int | None = -1) -> bytes:
        wanted = self.CHUNK if size is None or size < 0 else min(size, self.CHUNK)
        chunk = bytes(self._body.read(min(wanted, self.len))) if self.len else b""
        if self.len and not chunk:
            raise EvidenceUnavailable("an evidence object ended before its declared size")
        self.len -= len(chunk)
        return chunk

    def close(self) -> None:
        self._body.close()


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", "error"))


def _missing(error: ClientError) -> bool:
    return _code(error) in {"404", "NoSuchKey", "NotFound", "NoSuchVersion"}
