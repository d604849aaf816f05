"""The API function's settings: the evidence rules, and each registered provider's queue.

Apart from the other settings (`config`), since it reads the provider registry: every provider's
`{NAME}_QUEUE_URL`, or `PROVIDER_QUEUE_URL_PREFIX` + its name.
"""

from __future__ import annotations

from typing import Any

from pydantic import AnyHttpUrl, Field, field_validator, model_validator

from .config import QUEUE_URL_PREFIX_VARIABLE, ConfigurationError, EvidenceSettings
from .providers import registry


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
                "must be the base URL of the user pool's domain, "
                "such as https://example.auth.ap-southeast-1.amazoncognito.com"
            )
        return url

    @model_validator(mode="before")
    @classmethod
    def _queue_urls(cls, environ: Any) -> Any:
        """Each provider's queue: `{NAME}_QUEUE_URL`, else `PROVIDER_QUEUE_URL_PREFIX` + its name.

        The prefix is how a provider added later is reached without touching the API's own
        configuration: the template names every provider's queue `<stack>-<provider>`."""
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
