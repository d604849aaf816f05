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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from anyascii import anyascii
from botocore.exceptions import BotoCoreError, ClientError

from .config import EvidenceSettings
from .evidence_keys import TakesEvidence
from .file_types import SIGNATURE_BYTES, matches_signature
from .models import EvidenceFile

_GENERIC_TYPES = {"", "application/octet-stream", "binary/octet-stream", "application/x-www-form-urlencoded"}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_MAX_STEM = 100


class EvidenceRejected(Exception):
    """The evidence can never be sent as it is (missing, empty, too big, wrong type)."""


class EvidenceUnavailable(Exception):
    """S3 could not be read just now: worth another delivery."""


# -- pure rules -----------------------------------------------------------------------------
def latin_name(original: str) -> str:
    """A readable ASCII name with the extension kept: 'Квитанция №1.pdf' -> 'Kvitantsiya_No1.pdf'."""
    base = posixpath.basename(original.replace("\\", "/"))
    stem, extension = posixpath.splitext(base)
    latin_stem = _UNSAFE.sub("_", anyascii(stem)).strip("._-")[:_MAX_STEM] or "evidence"
    latin_extension = _UNSAFE.sub("", anyascii(extension)).lower()
    return latin_stem + (f".{latin_extension.lstrip('.')}" if latin_extension.strip(".") else "")


def unique_names(names: Iterable[str], reserved: Iterable[str] = ()) -> list[str]:
    """Each name, or where it repeats an earlier one or a `reserved` one, a numbered variant."""
    taken = {name.lower() for name in reserved}
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


@dataclass(frozen=True)
class EvidenceLimits:
    """What one provider's disputes may carry: the stricter of the deployment's settings and what
    the provider itself accepts (its TakesEvidence)."""

    max_files: int
    max_file_bytes: int
    max_total_bytes: int
    allowed_types: frozenset[str]

    @classmethod
    def of(cls, settings: EvidenceSettings, place: TakesEvidence) -> EvidenceLimits:
        def stricter(configured: int, own: int | None) -> int:
            return configured if own is None else min(configured, own)

        types = settings.allowed_types
        return cls(
            max_files=stricter(settings.evidence_max_files, place.max_files),
            max_file_bytes=stricter(settings.evidence_max_file_bytes, place.max_file_bytes),
            max_total_bytes=stricter(settings.evidence_max_total_bytes, place.max_total_bytes),
            allowed_types=types if place.allowed_types is None else types & frozenset(place.allowed_types),
        )


def size_problems(files: Sequence[tuple[str, int]], limits: EvidenceLimits) -> list[tuple[int | None, str]]:
    """Every way a dispute's files, each (name, size), break the limits, each with the index of the
    file it is about (None: about them all); empty when none."""
    problems: list[tuple[int | None, str]] = []
    if len(files) > limits.max_files:
        problems.append((None, f"{len(files)} files, more than the {limits.max_files} allowed"))
    for index, (name, size) in enumerate(files):
        if size <= 0:
            problems.append((index, f"{name} is empty"))
        elif size > limits.max_file_bytes:
            limit = limits.max_file_bytes
            problems.append((index, f"{name} has {size} bytes, more than the {limit} allowed for one file"))
    total = sum(size for _, size in files)
    if total > limits.max_total_bytes:
        problems.append((None, f"{total} bytes in all, more than the {limits.max_total_bytes} allowed"))
    return problems


# -- the bucket ---------------------------------------------------------------------------
class EvidenceBucket:
    """The evidence bucket as one provider sees it (`place`): a dispute's evidence is read only
    from under its own transaction's folder."""

    def __init__(self, settings: EvidenceSettings, client: Any, place: TakesEvidence) -> None:
        self.name = settings.evidence_bucket
        self.place = place
        self.limits = EvidenceLimits.of(settings, place)
        self._s3 = client

    def open(
        self, evidence: Sequence[EvidenceFile], reference: str, etags: Mapping[str, str] | None = None
    ) -> list[EvidenceStream]:
        """Each file opened once (one GetObject, which tells its size, type and ETag) and checked
        before any byte is sent: it exists, fits the limits, is of an allowed type and its first
        bytes are what its type says. The streams give those first bytes, then the rest of the
        same body; on a refusal or a failure every body opened is closed.

        Every key is checked to lie under the folder of `reference` before any S3 request: the
        request models refuse others already, and a key that slipped past them must not read
        another transaction's files. A key given an ETag in `etags` is read only if it still has
        it (If-Match, in the same GetObject): what is sent is the object the dispute was read with."""
        for item in evidence:
            problem = self.place.key_problem(item.key, reference)
            if problem is not None:
                raise EvidenceRejected(problem)
        names = unique_names(latin_name(item.filename or item.key) for item in evidence)
        streams: list[EvidenceStream] = []
        try:
            for item, name in zip(evidence, names, strict=True):
                streams.append(self._open(item, name, (etags or {}).get(item.key)))
            self._check(streams)
        except BaseException:
            for stream in streams:
                stream.close()
            raise
        return streams

    def _open(self, item: EvidenceFile, filename: str, if_match: str | None) -> EvidenceStream:
        response = self._get(item.key, if_match)
        content_type = resolve_content_type(item.content_type, response.get("ContentType"), item.filename or item.key)
        size, etag = int(response["ContentLength"]), str(response.get("ETag", ""))
        return EvidenceStream(item.key, filename, content_type, size, etag, response["Body"])

    def _check(self, streams: Sequence[EvidenceStream]) -> None:
        problems = size_problems([(stream.key, stream.size) for stream in streams], self.limits)
        if problems:
            raise EvidenceRejected("evidence refused: " + "; ".join(message for _, message in problems))
        for stream in streams:
            if stream.content_type not in self.limits.allowed_types:
                allowed = ", ".join(sorted(self.limits.allowed_types))
                raise EvidenceRejected(f"{stream.key}: type {stream.content_type} is not allowed (allowed: {allowed})")
            if not matches_signature(stream.content_type, stream.peek(SIGNATURE_BYTES)):
                raise EvidenceRejected(f"{stream.key}: its bytes do not match its type, {stream.content_type}")

    # -- S3 calls ----------------------------------------------------------------------------
    def _get(self, key: str, if_match: str | None) -> dict[str, Any]:
        condition = {"IfMatch": if_match} if if_match else {}
        try:
            return dict(self._s3.get_object(Bucket=self.name, Key=key, **condition))
        except ClientError as error:
            # Without s3:ListBucket on that key S3 answers a missing object with 403, not 404;
            # the role may read everything under the prefix, so a 403 there means "not there".
            if _missing(error) or _code(error) in {"403", "AccessDenied"}:
                raise EvidenceRejected(f"evidence missing: {key}") from None
            if _code(error) in {"412", "PreconditionFailed"}:
                # Written over in the moment between the folder's listing and this read. Sending
                # the new object would file what the dispute was not identified by; leaving the
                # dispute for a later delivery would not help (that delivery lists the new ETag,
                # which is another dispute) and would keep this one open for ever.
                raise EvidenceRejected(
                    f"{key} changed after its folder was read: upload {self.place.manifest} again "
                    "to file the folder as it is now"
                ) from None
            raise EvidenceUnavailable(f"could not read {key}: {_code(error)}") from None
        except BotoCoreError as error:
            raise EvidenceUnavailable(f"could not read {key}: {error}") from None

    def read_manifest(self, key: str) -> bytes | None:
        """The first 64 KiB of the manifest as S3 holds it now, whichever upload was notified (a
        notification's version or eTag is anyone's to write); None once deleted."""
        try:
            body = self._s3.get_object(Bucket=self.name, Key=key)["Body"]
            with body:
                return bytes(body.read(64 * 1024))
        except ClientError as error:
            if _missing(error):
                return None
            raise EvidenceUnavailable(f"could not read {key}: {_code(error)}") from None
        except BotoCoreError as error:
            raise EvidenceUnavailable(f"could not read {key}: {error}") from None

    def folder_objects(self, folder: str) -> dict[str, str]:
        """Every object under `folder` (folder markers aside) and its ETag, by key in key order: one
        ListObjectsV2 up to 1000 objects."""
        objects = {}
        try:
            for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self.name, Prefix=folder):
                for item in page.get("Contents", []):
                    if not item["Key"].endswith("/"):
                        objects[item["Key"]] = str(item["ETag"])
        except (ClientError, BotoCoreError) as error:
            raise EvidenceUnavailable(f"could not list {folder}: {error}") from None
        return dict(sorted(objects.items()))


def notification_bucket(record: dict[str, Any]) -> str:
    return str(((record.get("s3") or {}).get("bucket") or {}).get("name", ""))


def notification_key(record: dict[str, Any]) -> str:
    # S3 URL-encodes keys in notifications, spaces as '+' (moto also encodes '/').
    item = (record.get("s3") or {}).get("object") or {}
    return unquote_plus(str(item.get("key", "")))


class EvidenceStream:
    """One evidence object's S3 body, read in chunks, with the remaining length (`len`) the
    multipart encoder asks for; the bytes peeked to check it come first, so nothing is lost."""

    CHUNK = 1024 * 1024

    def __init__(self, key: str, filename: str, content_type: str, size: int, etag: str, body: Any) -> None:
        self.key = key
        self.filename = filename  # Latin, unique within the dispute
        self.content_type = content_type
        self.size = size
        self.etag = etag
        self.len = size
        self._body = body
        self._peeked = b""

    def peek(self, count: int) -> bytes:
        """The first `count` bytes (all of them when the object is shorter), kept for the first reads."""
        while len(self._peeked) < min(count, self.size):
            chunk = self._read_body(min(count, self.size) - len(self._peeked))
            if not chunk:
                raise EvidenceUnavailable(f"{self.key} ended before its declared size")
            self._peeked += chunk
        return self._peeked[:count]

    def read(self, size: int | None = -1) -> bytes:
        wanted = min(self.CHUNK if size is None or size < 0 else min(size, self.CHUNK), self.len)
        if not wanted:
            return b""
        if self._peeked:
            chunk, self._peeked = self._peeked[:wanted], self._peeked[wanted:]
        else:
            chunk = self._read_body(wanted)
        if not chunk:
            raise EvidenceUnavailable(f"{self.key} ended before its declared size")
        self.len -= len(chunk)
        return chunk

    def close(self) -> None:
        self._body.close()

    def _read_body(self, size: int) -> bytes:
        try:
            return bytes(self._body.read(size))
        except BotoCoreError as error:  # a read time-out, a connection reset, a short body
            raise EvidenceUnavailable(f"could not read {self.key}: {error}") from None


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", "error"))


def _missing(error: ClientError) -> bool:
    return _code(error) in {"404", "NoSuchKey", "NotFound", "NoSuchVersion"}
