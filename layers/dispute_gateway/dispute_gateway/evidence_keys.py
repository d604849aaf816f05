"""Where a dispute's evidence may be: under its own transaction's folder, `{prefix}{reference}/`.

One rule for every entry point. The request models apply it (the API answers 422, a queue
command becomes `rejected`), and the evidence bucket applies it again before any S3 request.
A key is judged as S3 stores it, byte for byte: S3 resolves neither `..` nor percent-encoding,
but a person or a tool reading the key might, so a key that reads as another path is refused
rather than interpreted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from .models import PRINTABLE, DisputeRequest, EvidenceFile, FileName, IdempotencyKey
from .redaction import redact

MANIFEST_NAME = "dispute.json"
KEY_MAX_LENGTH = 1024  # S3's own limit, in UTF-8 bytes; counted here in characters, as ObjectKey does

_CHARACTER = r"[^\x00-\x1f\x7f/\\%]"
_NOT_DOT = r"[^\x00-\x1f\x7f/\\%.]"
# A folder or file name other than "", "." and "..".
_SEGMENT = rf"(?:{_NOT_DOT}{_CHARACTER}*|\.{_NOT_DOT}{_CHARACTER}*|\.\.{_CHARACTER}+)"


@dataclass(frozen=True)
class TakesEvidence:
    """The provider takes evidence files: uploaded to `{prefix}{reference}/{folder}/`, a folder
    filed by the `manifest` written into it last. `owner`: what a reference names, in messages."""

    prefix: str
    manifest: str = MANIFEST_NAME
    owner: str = "transaction"
    # What the provider itself accepts, when it is stricter than the deployment's EVIDENCE_* settings
    # (None: the settings alone): files per dispute, bytes per file and in all, media types.
    max_files: int | None = None
    max_file_bytes: int | None = None
    max_total_bytes: int | None = None
    allowed_types: tuple[str, ...] | None = None

    def folder(self, reference: str) -> str:
        return f"{self.prefix}{reference}/"

    def is_manifest(self, key: str) -> bool:
        """An object under the prefix named exactly as the manifest, wherever it is (a misplaced
        one is refused, not ignored); S3's suffix filter also lets `x-dispute.json` through."""
        return key.startswith(self.prefix) and key.rsplit("/", 1)[-1] == self.manifest

    @property
    def place(self) -> str:
        """Where a manifest goes, in words: `{prefix}{owner}/{folder}/{manifest}`."""
        return f"{self.prefix}{{{self.owner}}}/{{folder}}/{self.manifest}"

    def key_problem(self, key: str, reference: str) -> str | None:
        """Why `key` cannot be evidence of the dispute of `reference`, in plain words; None if it can."""
        folder, shown = self.folder(reference), redact(key)
        if not key.startswith(folder):
            return f"{shown} is not under {folder}: a dispute's evidence must be in its own {self.owner}'s folder"
        if "\\" in key:
            return f"{shown} holds a backslash: the folders of an evidence key are separated by / only"
        if "%" in key:
            return f"{shown} holds a %: evidence keys are given as stored, never percent-encoded"
        names = key[len(folder) :].split("/")
        if "" in names:
            return f"{shown} has an empty folder or file name (// or a / at its end): evidence keys are plain paths"
        if "." in names or ".." in names:
            dots = "." if "." in names else ".."
            return f"{shown} has '{dots}' in its path: evidence keys are plain paths, without '.' or '..'"
        if names[-1] == self.manifest:
            return f"{shown} is named {self.manifest}, the file that files its folder: it is never evidence"
        return None

    def key_schema(self) -> dict[str, Any]:
        """An evidence key's JSON schema: all the rule says of a key alone (that it lies under the
        request's own folder compares it with another field, which a schema cannot say)."""
        return {
            "type": "string",
            "minLength": 1,
            "maxLength": KEY_MAX_LENGTH,
            "allOf": [{"pattern": PRINTABLE}, {"pattern": rf"^{re.escape(self.prefix)}{_SEGMENT}(?:/{_SEGMENT})+$"}],
            "not": {"pattern": rf"/{re.escape(self.manifest)}$"},
            "description": (
                f"An object in this dispute's own {self.owner}'s folder, {self.folder(f'<{self.owner}>')}: "
                f"no '.', '..' or empty folder names, no backslash, no %, and not named {self.manifest}"
            ),
        }


class EvidenceManifest(BaseModel):
    """What every manifest may say (the provider's manifest adds what its request needs): the files
    it files (else every other object of its folder) and its idempotency key."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    files: list[FileName] | None = Field(None, min_length=1, max_length=100)
    idempotency_key: IdempotencyKey | None = None


class EvidenceRequest(DisputeRequest):
    """A request that files evidence objects: each one under its own transaction's folder.

    A provider that takes evidence declares where (`evidence_place`), what its manifest holds
    (`manifest_model`), and how its request is made from a manifest (`from_manifest`); reading
    manifests, checking and streaming the files is the core's."""

    evidence_place: ClassVar[TakesEvidence]
    manifest_model: ClassVar[type[EvidenceManifest]] = EvidenceManifest

    @classmethod
    def from_manifest(cls, reference: str, manifest: Any, evidence_keys: list[str]) -> Self:
        """The request a manifest of `reference`'s folder files, its evidence the given objects."""
        raise NotImplementedError

    if TYPE_CHECKING:
        # Declared by each request, where it sits among its own fields.
        evidence: Sequence[EvidenceFile]

    @model_validator(mode="after")
    def _evidence_in_its_own_folder(self) -> Self:
        problems: list[InitErrorDetails] = []
        seen: set[str] = set()
        for index, item in enumerate(self.evidence):
            problem = self.evidence_place.key_problem(item.key, self.reference)
            if problem is None and item.key in seen:
                # Sent twice, it would reach the provider as two files (a.pdf, a-2.pdf) without a word.
                problem = f"{redact(item.key)} is listed more than once: name each file once"
            seen.add(item.key)
            if problem is not None:
                error = PydanticCustomError("evidence_elsewhere", problem.replace("{", "{{").replace("}", "}}"))
                problems.append({"type": error, "loc": ("evidence", index, "key"), "input": item.key})
        if problems:
            raise ValidationError.from_exception_data(type(self).__name__, problems)
        return self
