"""Per-function settings, read from the environment and validated once at cold start.

A missing or malformed variable stops the start with an error naming the variable, so a
misconfigured deployment fails its first invocation loudly instead of filing anything.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, Self, TypeVar, cast

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from .plain_errors import plain_message

if TYPE_CHECKING:
    from .providers import ProviderSpec

DEFAULT_MAX_RECEIVE_COUNT = 12
DEFAULT_RETRY_BASE_DELAY_SECONDS = 60
SQS_MAX_VISIBILITY_SECONDS = 43_200
MiB = 1024 * 1024
# Evidence limits: any value up to the Lambda's own limits works, since evidence is streamed.
# The defaults let any files that each fit fill the total, so a request the API's document
# allows is never refused for its sum.
DEFAULT_EVIDENCE_MAX_FILES = 10
DEFAULT_EVIDENCE_MAX_FILE_BYTES = 10 * MiB
DEFAULT_EVIDENCE_MAX_TOTAL_BYTES = 100 * MiB
DEFAULT_EVIDENCE_ALLOWED_TYPES = "application/pdf,image/png,image/jpeg"
DEFAULT_WORKER_CONCURRENCY = 10
QUEUE_URL_PREFIX_VARIABLE = "PROVIDER_QUEUE_URL_PREFIX"
DEFAULT_RECORD_RETENTION_DAYS = 400
MAX_RECORD_RETENTION_DAYS = 36_500


class ConfigurationError(RuntimeError):
    """The function's environment is missing or has a malformed variable."""


NonEmpty = Annotated[str, Field(min_length=1)]


class _Settings(BaseModel):
    # Built when first validated: a function builds only its own settings model at cold start.
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True, defer_build=True)

    disputes_table: NonEmpty = Field(alias="DISPUTES_TABLE")
    # Days a final record is kept before DynamoDB's TTL removes it; 0 keeps records for ever
    # (CONTRACT section 7). Every function that makes a record final reads it.
    record_retention_days: int = Field(
        DEFAULT_RECORD_RETENTION_DAYS, ge=0, le=MAX_RECORD_RETENTION_DAYS, alias="RECORD_RETENTION_DAYS"
    )

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Self:
        environ = os.environ if environ is None else environ
        try:
            return cls.model_validate(dict(environ))
        except ValidationError as error:
            problems = "; ".join(
                f"{_variable(cls, problem['loc'])}: {plain_message(problem)}" for problem in error.errors()
            )
            raise ConfigurationError(f"invalid configuration: {problems}") from None


def _variable(model: type[BaseModel], location: tuple[int | str, ...]) -> str:
    name = str(location[0]) if location else "?"
    field = model.model_fields.get(name)
    return field.alias if field is not None and field.alias else name


class ProviderSettings(_Settings):
    """Reaching a provider: its base URL and secret (variables named after the provider, see
    `provider_settings_model`), the time-outs of its calls, how long its secret is cached."""

    provider_base_url: AnyHttpUrl
    provider_secret_id: NonEmpty
    # Calls at once (a batch's records, one HTTP connection each).
    worker_concurrency: int = Field(DEFAULT_WORKER_CONCURRENCY, ge=1, le=100, alias="WORKER_CONCURRENCY")
    # Seconds kept back from the Lambda's remaining time so a call that times out still
    # leaves time to write its outcome.
    time_reserve_seconds: float = Field(5.0, ge=0.5, le=60, alias="TIME_RESERVE_SECONDS")
    connect_timeout_seconds: float = Field(3.05, gt=0, le=30, alias="PROVIDER_CONNECT_TIMEOUT_SECONDS")
    read_timeout_seconds: float = Field(20.0, gt=0, le=300, alias="PROVIDER_READ_TIMEOUT_SECONDS")
    secret_max_age_seconds: int = Field(300, ge=0, le=86400, alias="SECRET_MAX_AGE_SECONDS")

    @field_validator("provider_base_url", mode="after")
    @classmethod
    def _no_query(cls, url: AnyHttpUrl) -> AnyHttpUrl:
        if url.query or url.fragment:
            raise ValueError("must be a base URL without query or fragment")
        return url

    @property
    def base_url(self) -> str:
        return str(self.provider_base_url).rstrip("/")


class WorkerSettings(ProviderSettings):
    """What every SQS worker needs besides its provider's own settings."""

    dead_letter_queue_url: NonEmpty = Field(alias="DEAD_LETTER_QUEUE_URL")
    # The queue's redrive policy moves a message after this many receives; the worker
    # records `failed` on that last delivery (template passes the same parameter to both).
    max_receive_count: int = Field(DEFAULT_MAX_RECEIVE_COUNT, ge=1, le=1000, alias="QUEUE_MAX_RECEIVE_COUNT")
    # The delay before the next delivery doubles from the base with each failed one, up to the
    # cap; SQS allows 12 hours at most (CONTRACT section 11).
    retry_base_delay_seconds: int = Field(
        DEFAULT_RETRY_BASE_DELAY_SECONDS, ge=0, le=SQS_MAX_VISIBILITY_SECONDS, alias="RETRY_BASE_DELAY_SECONDS"
    )
    retry_max_delay_seconds: int = Field(
        SQS_MAX_VISIBILITY_SECONDS, ge=0, le=SQS_MAX_VISIBILITY_SECONDS, alias="RETRY_MAX_DELAY_SECONDS"
    )

    @model_validator(mode="after")
    def _cap_not_below_base(self) -> Self:
        if self.retry_max_delay_seconds < self.retry_base_delay_seconds:
            raise ValueError("RETRY_MAX_DELAY_SECONDS must not be below RETRY_BASE_DELAY_SECONDS")
        return self


class TrackerSettings(ProviderSettings):
    """The outcome tracker of a provider (CONTRACT section 9)."""

    # The least time between two checks of one dispute; it doubles while nothing changes, up to
    # a day. 0: every open dispute is checked on every run.
    check_interval_seconds: int = Field(900, ge=0, le=86400, alias="OUTCOME_CHECK_INTERVAL_SECONDS")
    tracking_days: int = Field(30, ge=1, le=3650, alias="OUTCOME_TRACKING_DAYS")
    # Disputes checked at most per run; the rest are due in the next one.
    page_size: int = Field(100, ge=1, le=1000, alias="OUTCOME_CHECKS_PER_RUN")


class EvidenceSettings(_Settings):
    """Where evidence lives and what is accepted: the same rules for the API and every worker that takes evidence."""

    evidence_bucket: NonEmpty = Field(alias="EVIDENCE_BUCKET")
    evidence_max_files: int = Field(DEFAULT_EVIDENCE_MAX_FILES, ge=1, le=100, alias="EVIDENCE_MAX_FILES")
    evidence_max_file_bytes: int = Field(DEFAULT_EVIDENCE_MAX_FILE_BYTES, ge=1, alias="EVIDENCE_MAX_FILE_BYTES")
    evidence_max_total_bytes: int = Field(DEFAULT_EVIDENCE_MAX_TOTAL_BYTES, ge=1, alias="EVIDENCE_MAX_TOTAL_BYTES")
    evidence_allowed_types: str = Field(DEFAULT_EVIDENCE_ALLOWED_TYPES, alias="EVIDENCE_ALLOWED_TYPES")

    @field_validator("evidence_allowed_types")
    @classmethod
    def _known_types(cls, value: str) -> str:
        from .evidence import SIGNATURES  # evidence imports config's constants only

        types = {item.strip().lower() for item in value.split(",") if item.strip()}
        unknown = types - set(SIGNATURES)
        if not types or unknown:
            raise ValueError(f"each type needs a known signature; supported: {', '.join(sorted(SIGNATURES))}")
        return ",".join(sorted(types))

    @property
    def allowed_types(self) -> frozenset[str]:
        return frozenset(self.evidence_allowed_types.split(","))


class PublisherSettings(_Settings):
    """The event publisher (CONTRACT section 10): the bus every change of a dispute goes to."""

    event_bus_name: NonEmpty = Field(alias="EVENT_BUS_NAME")


SettingsRole = TypeVar("SettingsRole", bound=ProviderSettings)


@cache
def provider_settings_model(spec: ProviderSpec, role: type[SettingsRole]) -> type[SettingsRole]:
    """The settings model of one of `spec`'s functions (`role`: WorkerSettings, TrackerSettings):
    `{NAME}_BASE_URL` (default the provider's production host) and `{NAME}_SECRET_ID`, and for its
    worker whatever else its spec asks for (e.g. EvidenceSettings)."""
    bases: tuple[type[BaseModel], ...] = (role, *(spec.settings if issubclass(role, WorkerSettings) else ()))
    model = create_model(
        f"{spec.name.capitalize()}{role.__name__}",
        __base__=bases,
        provider_base_url=(AnyHttpUrl, Field(AnyHttpUrl(spec.default_base_url), alias=spec.base_url_variable)),
        provider_secret_id=(NonEmpty, Field(alias=spec.secret_variable)),
    )
    return cast(type[SettingsRole], model)


class ApiSettings(EvidenceSettings):
    # `{NAME}_QUEUE_URL` of every provider, by name (see `_queue_urls`).
    queue_urls: dict[str, str]
    # Presigned uploads should be used at once; a short life limits a leaked URL.
    upload_url_expiry_seconds: int = Field(900, ge=60, le=3600, alias="UPLOAD_URL_EXPIRY_SECONDS")
    # The operator console's sign-in: the user pool's managed login (its domain's base URL, no
    # path) and the console's app client. Without them the console says sign-in is not set up.
    console_auth_url: AnyHttpUrl | None = Field(None, alias="CONSOLE_AUTH_URL")
    console_client_id: str = Field("", max_length=128, alias="CONSOLE_CLIENT_ID")

    @field_validator("console_auth_url", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("console_auth_url", mode="after")
    @classmethod
    def _origin_only(cls, url: AnyHttpUrl | None) -> AnyHttpUrl | None:
        if url is not None and (url.path not in (None, "", "/") or url.query or url.fragment):
            raise ValueError(
                "must be the base URL of the user pool's domain, such as https://example.auth.ap-southeast-1.amazoncognito.com"
            )
        return url

    @model_validator(mode="before")
    @classmethod
    def _queue_urls(cls, environ: Any) -> Any:
        """Each provider's queue: `{NAME}_QUEUE_URL`, else `PROVIDER_QUEUE_URL_PREFIX` + its name.

        The prefix is how a provider added later is reached without touching the API's own
        configuration: the template names every provider's queue `<stack>-<provider>`."""
        from .providers import registry

        if not isinstance(environ, dict):
            return environ
        prefix = environ.get(QUEUE_URL_PREFIX_VARIABLE, "").strip()
        urls, missing = {}, []
        for name, spec in registry().items():
            url = environ.get(spec.queue_url_variable, "").strip() or (prefix + name if prefix else "")
            if url:
                urls[name] = url
            else:
                missing.append(spec.queue_url_variable)
        if missing:
            raise ConfigurationError(
                f"invalid configuration: {', '.join(missing)}: missing (or set {QUEUE_URL_PREFIX_VARIABLE})"
            )
        return {**environ, "queue_urls": urls}


SettingsT = TypeVar("SettingsT", bound=_Settings)


def load_settings(settings_type: type[SettingsT], environ: Mapping[str, str] | None = None) -> SettingsT:
    return settings_type.from_environment(environ)
