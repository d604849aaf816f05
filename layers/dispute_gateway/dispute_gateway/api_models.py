"""What the HTTP API receives and answers. Dispute requests themselves are each provider's own."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union, cast

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, WithJsonSchema, create_model
from pydantic.fields import FieldInfo

from .config import DEFAULT_EVIDENCE_ALLOWED_TYPES, DEFAULT_EVIDENCE_MAX_FILE_BYTES, DEFAULT_EVIDENCE_MAX_FILES
from .models import (
    ContentType,
    DisputeRecord,
    DisputeRequest,
    DisputeView,
    FileName,
    Status,
)
from .plain_errors import plain_message
from .providers import ProviderSpec, evidence_providers, provider_names, registry


def _api_body(spec: ProviderSpec) -> type[DisputeRequest]:
    """`spec`'s queue body plus its `provider`, which the API requires: one definition of a request."""
    tag: Any = Literal[spec.name]  # a Literal of a name known only at run time
    body = create_model(
        f"{spec.name.capitalize()}DisputeBody",
        __base__=spec.request,
        __module__=__name__,
        provider_name=(tag, Field(alias="provider")),
    )
    return cast(type[DisputeRequest], body)


def _one_of(bodies: tuple[type[BaseModel], ...], tag: str) -> Any:
    """The one body, or a union tagged by the `tag` field (which provider's body it is)."""
    if len(bodies) == 1:
        return bodies[0]
    return Annotated[Union[bodies], Field(discriminator=tag)]  # noqa: UP007


if TYPE_CHECKING:
    DisputeBody = DisputeRequest
else:
    DisputeBody = _one_of(tuple(_api_body(spec) for spec in registry().values()), "provider_name")


# A provider the API takes, by name: the registered ones (a record may name one since removed).
RegisteredProvider = Annotated[str, WithJsonSchema({"type": "string", "enum": list(provider_names())})]


class Problem(BaseModel):
    field: str
    message: str


_TAGS = set(provider_names())
_LOCATIONS = {"body", "query", "path", "header"}


def problems_from_errors(errors: Sequence[Any]) -> list[Problem]:
    """Each offending field and why, from validation errors, never echoing the value."""
    problems = []
    for error in errors:
        location = [str(part) for part in error.get("loc", ())]
        kind = error.get("type", "")
        message = plain_message(error)
        if location[:1] == ["body"] and location[1:2] and location[1] in _TAGS:
            del location[1]  # the union's tag, not a field of the body
        if kind in {"union_tag_not_found", "union_tag_invalid"}:
            location, message = ["provider"], f"must be one of: {', '.join(sorted(_TAGS))}"
        elif kind == "json_invalid":
            location, message = ["body"], "is not valid JSON"
        field = ".".join(location[1:] if location[:1] and location[0] in _LOCATIONS else location) or "body"
        problems.append(Problem(field="Idempotency-Key" if field == "idempotency-key" else field, message=message))
    return problems


def with_idempotency_key(body: DisputeRequest, header: str | None) -> DisputeRequest:
    """The `Idempotency-Key` header, when given, is the request's key; else the body's `idempotency_key`."""
    if header is None or body.idempotency_key == header:
        return body
    return body.model_copy(update={"idempotency_key": header})


class InvalidRequestError(ValueError):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.problems = problems


class ErrorAnswer(BaseModel):
    message: str
    errors: list[Problem] = Field(default_factory=list)
    # API Gateway's request id: the `correlation_id` of the request's log lines and its
    # `apigw-requestid` header.
    correlation_id: str


class ConflictAnswer(ErrorAnswer):
    """A request refused because of an existing dispute: the one holding the key or the transaction."""

    dispute_id: str


class DisputeAccepted(BaseModel):
    dispute_id: str
    provider: RegisteredProvider
    status: Status

    @classmethod
    def from_record(cls, record: DisputeRecord) -> DisputeAccepted:
        return cls(dispute_id=record.dispute_id, provider=record.provider, status=record.status)


class DisputePage(BaseModel):
    items: list[DisputeView]
    next_token: str | None = None


class DeclaredFileBase(BaseModel):
    """A file a caller is about to upload: what its presigned POST will be confined to."""

    model_config = ConfigDict(extra="forbid")

    filename: FileName
    content_type: ContentType
    size: int = Field(ge=1)


def _upload_body(spec: ProviderSpec, only: bool) -> type[BaseModel]:
    """`POST /evidence-uploads`'s body for `spec`'s evidence: its `provider` (optional when it is the
    only provider that takes evidence, so callers from before there could be several keep
    working), the transaction's `reference` (also taken as the provider's own name for it, e.g.
    `deal_id`), and the files, each within the provider's limits as the document shows them
    (the server checks the configured ones, which may be stricter)."""
    place = spec.evidence
    assert place is not None
    types: list[Any] = list(place.allowed_types or DEFAULT_EVIDENCE_ALLOWED_TYPES.split(","))
    declared = create_model(
        f"{spec.name.capitalize()}DeclaredFile",
        __base__=DeclaredFileBase,
        __module__=__name__,
        # The folder's manifest is presigned on its own; the service refuses a file of its name.
        filename=(FileName, Field(json_schema_extra={"not": {"const": place.manifest}})),
        content_type=(ContentType, Field(json_schema_extra={"enum": types})),
        size=(int, Field(ge=1, json_schema_extra={"maximum": place.max_file_bytes or DEFAULT_EVIDENCE_MAX_FILE_BYTES})),
    )
    own_name = spec.reference_fields[0]
    reference = FieldInfo.merge_field_infos(
        spec.request.model_fields[own_name], validation_alias=AliasChoices("reference", own_name)
    )
    tag: Any = Literal[spec.name]
    return create_model(
        f"{spec.name.capitalize()}EvidenceUploadBody",
        __module__=__name__,
        __config__=ConfigDict(extra="forbid"),
        provider=(tag, Field(spec.name) if only else Field()),
        reference=(str, reference),
        files=(
            list[declared],
            Field(
                min_length=1,
                max_length=100,
                json_schema_extra={"maxItems": place.max_files or DEFAULT_EVIDENCE_MAX_FILES},
            ),
        ),
    )


if TYPE_CHECKING:
    EvidenceUploadRequest = DeclaredFileBase
else:
    _only = len(evidence_providers()) == 1
    EvidenceUploadRequest = _one_of(
        tuple(_upload_body(spec, _only) for spec in evidence_providers().values()), "provider"
    )


class PresignedPost(BaseModel):
    key: str
    url: str
    fields: dict[str, str]


class FileUpload(PresignedPost):
    filename: str
    content_type: str
    size: int


class EvidenceUploads(BaseModel):
    provider: RegisteredProvider
    reference: str
    folder: str
    expires_in: int
    files: list[FileUpload]
    manifest: PresignedPost


class InvalidPageToken(ValueError):
    """A `next_token` this API did not give for this query: no such page."""


def encode_page_token(listing: str, start: dict[str, str]) -> str:
    token = {"by": listing, "after": start}
    return base64.urlsafe_b64encode(json.dumps(token, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_page_token(token: str, listing: str, keys: set[str], value: str) -> dict[str, str]:
    """The index position a `next_token` stands for: given by this API for the same list (`listing`
    by `value`), with the position's `keys`."""
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidPageToken("is not a token this API gave") from None
    start = decoded.get("after") if isinstance(decoded, dict) else None
    if not isinstance(start, dict) or set(start) != keys or not all(isinstance(item, str) for item in start.values()):
        raise InvalidPageToken("is not a token this API gave")
    if decoded.get("by") != listing or start.get(listing) != value:
        raise InvalidPageToken(f"belongs to another list than this {listing}'s")
    return start
