"""The three model sets: what a queue or the API receives, the domain's dispute, the stored record.

Each provider defines its request model (in its own package under `providers`) on
`DisputeRequest`: the one definition of a dispute request, so the queue and the API (whose
body is the queue body plus its `provider`) validate the same fields the same way. Nothing
here names a provider.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from .plain_errors import described_pattern, matching, plain_message

# A record keeps the name it was filed under, even of a provider since removed: any provider name.
# (The API's own bodies and parameters name the registered ones: see api_models.)
PROVIDER_NAME_PATTERN = described_pattern(r"^[a-z][a-z0-9_]*$", "must be a provider's name: lower-case letters")
ProviderName = Annotated[str, WithJsonSchema({"type": "string", "pattern": PROVIDER_NAME_PATTERN})]


class Source(StrEnum):
    API = "api"
    SQS = "sqs"
    S3 = "s3"


class Status(StrEnum):
    RECEIVED = "received"
    SUBMITTING = "submitting"
    SUBMITTED = "submitted"
    REJECTED = "rejected"
    FAILED = "failed"

    @property
    def is_final(self) -> bool:
        return self in (Status.SUBMITTED, Status.REJECTED)


class Resolution(StrEnum):
    """What became of a submitted dispute (CONTRACT section 9)."""

    OPEN = "open"
    WON = "won"
    LOST = "lost"
    UNTRACKED = "untracked"

    @property
    def is_final(self) -> bool:
        return self is not Resolution.OPEN


HISTORY_LIMIT = 50


# Printable text that neither starts nor ends with a space. Values are taken exactly as sent
# (never trimmed): the API's schema then says precisely what the server accepts.
PRINTABLE = r"^[^\x00-\x20\x7f](?:[^\x00-\x1f\x7f]*[^\x00-\x20\x7f])?$"
PRINTABLE_RULE = "must not start or end with a space or contain control characters"
Identifier = Annotated[str, Field(min_length=1, max_length=128), matching(PRINTABLE, PRINTABLE_RULE)]
IdempotencyKey = Annotated[
    str,
    Field(min_length=1, max_length=256),
    matching(r"^[\x21-\x7e]+$", "must be printable ASCII characters, without spaces"),
]


def _email_address(value: str) -> str:
    # Imported on first use: email-validator adds ~25 ms to every cold start otherwise, and only
    # some providers' requests carry addresses.
    from email_validator import EmailNotValidError, validate_email

    try:
        return str(validate_email(value, check_deliverability=False).normalized)
    except EmailNotValidError as error:
        raise ValueError(f"value is not a valid email address: {error}") from None


# email-validator's SPECIAL_USE_DOMAIN_NAMES (a unit test keeps the two equal): it refuses
# addresses under them, so the schema says so too.
SPECIAL_USE_DOMAINS = ("arpa", "invalid", "local", "localhost", "onion", "test")


def _any_case(word: str) -> str:
    return "".join(f"[{letter}{letter.upper()}]" for letter in word)


# 254: the longest address email-validator (and SMTP's forward path) accepts.
EmailAddress = Annotated[
    str,
    Field(min_length=3, max_length=254),
    AfterValidator(_email_address),
    WithJsonSchema(
        {
            "type": "string",
            "format": "email",
            "minLength": 3,
            "maxLength": 254,
            "not": {"pattern": "[@.](" + "|".join(_any_case(name) for name in SPECIAL_USE_DOMAINS) + r")\.?$"},
        }
    ),
]


class DisputeRequest(BaseModel):
    """Fields every provider's request shares."""

    # Validators are built on first use, so each worker builds only its own provider's models.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    # Each provider's request narrows it to `Literal["<name>"]` with its name as the default: a
    # queue body may leave it out, the API's body must give it.
    provider_name: str = Field(alias="provider")
    idempotency_key: IdempotencyKey | None = None

    @property
    def provider(self) -> str:
        return self.provider_name

    @property
    def reference(self) -> str:
        raise NotImplementedError

    def normalised(self) -> dict[str, Any]:
        """The request's content in a canonical form: equal for requests that mean the same."""
        raise NotImplementedError


def as_error_details(error: ValidationError) -> list[InitErrorDetails]:
    """An error's problems, to be raised again together with others (see ValidationError.from_exception_data)."""
    return [
        {
            "type": PydanticCustomError(problem["type"], problem["msg"].replace("{", "{{").replace("}", "}}")),
            "loc": problem["loc"],
            "input": problem["input"],
        }
        for problem in error.errors(include_url=False)
    ]


def validation_problems(error: ValidationError) -> list[dict[str, str]]:
    """Each offending field and why, without echoing its value (it may be an e-mail or a secret)."""
    problems = []
    for problem in error.errors(include_input=False, include_url=False):
        location = [str(part) for part in problem["loc"] if not str(part).startswith("function-")]
        field = ".".join(location) or "body"
        problems.append({"field": field, "message": plain_message(problem)})
    return problems


def describe_validation_error(error: ValidationError) -> str:
    return "; ".join(f"{p['field']}: {p['message']}" for p in validation_problems(error))


_PLAIN_DECIMAL = re.compile(r"^[0-9]{1,18}(\.[0-9]{1,30})?$")
_ZERO = re.compile(r"^0{1,18}(\.0{1,30})?$")
# Numbers are bounded so that their shortest decimal form always fits _PLAIN_DECIMAL.
SMALLEST_NUMBER_AMOUNT = 0.00000001
NUMBER_AMOUNT_LIMIT = 1e18


def plain_decimal(value: Any) -> str:
    """An amount as providers take it: a positive plain decimal string, never an exponent.

    A string is kept exactly as given ("1000" stays "1000"); a number becomes its shortest
    decimal form (250.5 -> "250.5", 100.0 and 1E+2 -> "100"), so float formatting can never add
    digits or an exponent.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ValueError("must be a number such as 1000.50")
        if value <= 0:
            raise ValueError("must be greater than 0")
        if value < SMALLEST_NUMBER_AMOUNT:
            raise ValueError(f"must be at least {SMALLEST_NUMBER_AMOUNT:.8f}")
        if value >= NUMBER_AMOUNT_LIMIT:
            raise ValueError("must be less than 1000000000000000000 (a billion billion)")
        return str(value) if isinstance(value, int) else format(Decimal(repr(value)).normalize(), "f")
    if not isinstance(value, str):
        raise ValueError('must be a decimal number: a string such as "1000.50", or a JSON number')
    if value.startswith("-") and _PLAIN_DECIMAL.match(value[1:]):
        raise ValueError("must be greater than 0")
    if not _PLAIN_DECIMAL.match(value):
        raise ValueError(
            "must be a plain decimal such as 1000.50: up to 18 digits, then optionally '.' and up to 30 more; "
            "no sign, spaces, commas or exponent"
        )
    if _ZERO.match(value):
        raise ValueError("must be greater than 0")
    return value


def decimal_key(amount: str) -> str:
    """Equal for amounts that are the same number ("1000", "1000.00")."""
    try:
        return format(Decimal(amount).normalize(), "f")
    except InvalidOperation:
        return amount


Amount = Annotated[
    str,
    BeforeValidator(plain_decimal),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": _PLAIN_DECIMAL.pattern, "not": {"pattern": _ZERO.pattern}},
                {"type": "number", "minimum": SMALLEST_NUMBER_AMOUNT, "exclusiveMaximum": NUMBER_AMOUNT_LIMIT},
            ]
        }
    ),
]
DealId = Annotated[
    str,
    Field(min_length=1, max_length=128),
    matching(
        r"^[A-Za-z0-9][A-Za-z0-9._:-]*$",
        "must start with a letter or a digit and hold only letters, digits, '.', '_', ':' and '-'",
    ),
]
ObjectKey = Annotated[str, Field(min_length=1, max_length=1024), matching(PRINTABLE, PRINTABLE_RULE)]
ContentType = Annotated[
    str,
    Field(max_length=127),
    matching(r"^[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+$", "must be a media type such as application/pdf"),
]
FileName = Annotated[
    str,
    Field(min_length=1, max_length=255),
    matching(
        r"^[^\x00-\x20\x7f/\\](?:[^\x00-\x1f\x7f/\\]*[^\x00-\x20\x7f/\\])?$",
        "must be a file name: no '/' or '\\', no control characters, no space at either end",
    ),
]


class EvidenceFile(BaseModel):
    """One evidence object in the evidence bucket."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    key: ObjectKey
    content_type: ContentType | None = None
    filename: FileName | None = None


_DISPUTE_ID_NAMESPACE = uuid.UUID("5f0c7a8e-6a43-4c1e-9f55-3f1f0d6b2a11")


def fingerprint(content: dict[str, Any]) -> str:
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


# What dispute_id_for makes: a UUID in its canonical text form.
DISPUTE_ID_PATTERN = described_pattern(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
    "must be a dispute id as this API gives it: a UUID in lower case, such as 5f0c7a8e-6a43-4c1e-9f55-3f1f0d6b2a11",
)


def dispute_id_for(idempotency_key: str | None, content_fingerprint: str) -> str:
    """Stable id: the same key, or without one the same content, always maps to the same dispute."""
    name = f"key:{idempotency_key}" if idempotency_key else f"content:{content_fingerprint}"
    return str(uuid.uuid5(_DISPUTE_ID_NAMESPACE, name))


@dataclass(frozen=True)
class Dispute:
    """The domain's dispute: a validated request, where it came from, and its identity."""

    dispute_id: str
    provider: ProviderName
    reference: str
    source: Source
    request_fingerprint: str
    request: DisputeRequest
    # Evidence key -> the ETag it had when the request was read (an S3 manifest's folder): what is
    # sent must be that object, not one written over it since.
    evidence_etags: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_request(
        cls,
        request: DisputeRequest,
        source: Source,
        identity: dict[str, Any] | None = None,
        evidence_etags: Mapping[str, str] | None = None,
    ) -> Dispute:
        """`identity` replaces the content as what the request is (an S3 manifest: what it files, as
        read from S3), so the same bytes uploaded again, or notified again, are one dispute."""
        request_fingerprint = fingerprint(identity) if identity else fingerprint(request.normalised())
        return cls(
            dispute_id=dispute_id_for(request.idempotency_key, request_fingerprint),
            provider=request.provider,
            reference=request.reference,
            source=source,
            request_fingerprint=request_fingerprint,
            request=request,
            evidence_etags=dict(evidence_etags or {}),
        )


@dataclass(frozen=True)
class InvalidDispute:
    """A message that names a transaction but can never be filed: it becomes a `rejected` record."""

    dispute_id: str
    provider: ProviderName
    reference: str
    source: Source
    request_fingerprint: str
    reason: str

    @classmethod
    def from_message(
        cls,
        provider: str,
        reference: str,
        source: Source,
        raw: Any,
        reason: str,
        key: str | None,
        identity: dict[str, Any] | None = None,
    ) -> InvalidDispute:
        content_fingerprint = fingerprint({"provider": provider, "invalid": raw})
        identity_fingerprint = fingerprint(identity) if identity else content_fingerprint
        return cls(
            dispute_id=dispute_id_for(key, identity_fingerprint),
            provider=provider,
            reference=reference,
            source=source,
            request_fingerprint=content_fingerprint,
            reason=reason,
        )


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class HistoryEntry(BaseModel):
    """One change of a dispute's status or resolution."""

    model_config = ConfigDict(extra="ignore", defer_build=True)

    at: str
    status: Status
    resolution: Resolution | None = None
    attempts: int = 0
    provider_http_status: int | None = None
    message: str | None = None


class DisputeView(BaseModel):
    """A dispute as callers read it (contract section 3)."""

    model_config = ConfigDict(extra="ignore", defer_build=True)

    dispute_id: str
    provider: ProviderName
    reference: str
    source: Source
    status: Status
    attempts: int = 0
    created_at: str
    updated_at: str
    provider_http_status: int | None = None
    provider_response: dict[str, Any] | list[Any] | str | None = None
    provider_message: str | None = None
    provider_case_id: str | None = None
    error: str | None = None
    resolution: Resolution | None = None
    provider_state: str | None = None
    resolved_amount: str | None = None
    resolved_at: str | None = None
    # Oldest first, the last HISTORY_LIMIT changes of status or resolution.
    history: list[HistoryEntry] = Field(default_factory=list)


class DisputeRecord(DisputeView):
    """One item of the disputes table: the view plus the bookkeeping that guards it."""

    # Internal bookkeeping, stored but not part of what callers read.
    request_fingerprint: str
    in_doubt: bool = False
    lease_token: str | None = None
    lease_expires_at: float | None = None
    # What the provider said of the transaction before our first POST (e.g. a deal's
    # state), so an in-doubt retry can tell our dispute from one opened earlier.
    provider_state_before: str | None = None
    # Set once the API's command for it is on its queue; a record without it was written by
    # a call whose send failed, and the caller's retry sends it.
    queued_at: str | None = None
    # While the resolution is open: the provider's name (the outcome index's partition key, gone
    # once the resolution is final), when the next check is due (its sort key), the interval the
    # checks back off to, and since when the dispute is followed.
    tracked_provider: str | None = None
    next_check_at: str | None = None
    check_interval: int | None = None
    tracked_since: str | None = None
    # When DynamoDB's TTL may remove the record (epoch seconds): set once it is final (rejected,
    # failed, or submitted with a final resolution), RECORD_RETENTION_DAYS later.
    expires_at: int | None = None
    # An operator's retry of a `failed` dispute (its dead letter moved back to its queue): when and by
    # whom. Another retry waits until the dispute has changed since (updated_at past it).
    retry_requested_at: str | None = None
    retry_requested_by: str | None = None

    @property
    def retry_pending(self) -> bool:
        return self.retry_requested_at is not None and self.retry_requested_at == self.updated_at

    def view(self) -> DisputeView:
        return DisputeView.model_validate(self.model_dump(include=set(DisputeView.model_fields)))
