"""The API function's settings: the evidence rules, and each registered provider's queue.

Apart from the other settings (`config`), since it reads the provider registry: every provider's
`{NAME}_QUEUE_URL`, or `PROVIDER_QUEUE_URL_PREFIX` + its name.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from .config import QUEUE_URL_PREFIX_VARIABLE, ConfigurationError, EvidenceSettings
from .providers import registry


class ApiSettings(EvidenceSettings):
    # `{NAME}_QUEUE_URL` of every provider, by name (see `_queue_urls`).
    queue_urls: dict[str, str]
    # Presigned uploads should be used at once; a short life limits a leaked URL.
    upload_url_expiry_seconds: int = Field(900, ge=60, le=3600, alias="UPLOAD_URL_EXPIRY_SECONDS")

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
