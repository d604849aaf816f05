"""Provider credentials from Secrets Manager, cached, and fetched again once on a 401/403."""

from __future__ import annotations

from typing import Generic, TypeVar

import boto3
from aws_lambda_powertools.utilities import parameters
from pydantic import BaseModel, ValidationError

from .models import describe_validation_error
from .redaction import secret_values

CredentialsT = TypeVar("CredentialsT", bound=BaseModel)


class CredentialsUnavailable(Exception):
    """The secret could not be read, or its value is not what the provider needs."""


class ProviderSecret(Generic[CredentialsT]):
    def __init__(self, secret_id: str, model: type[CredentialsT], max_age_seconds: int) -> None:
        self._secret_id = secret_id
        self._model = model
        self._max_age = max_age_seconds

    def get(self, *, refresh: bool = False) -> CredentialsT:
        """`refresh` bypasses the cache: after a 401/403 the secret may have been rotated."""
        _default_provider()
        try:
            value = parameters.get_secret(self._secret_id, transform="json", max_age=self._max_age, force_fetch=refresh)
        except parameters.exceptions.TransformParameterError:
            raise CredentialsUnavailable(f"secret {self._secret_id} is not JSON") from None
        except parameters.exceptions.GetParameterError as error:
            raise CredentialsUnavailable(f"secret {self._secret_id} could not be read: {error}") from None
        if not isinstance(value, dict):
            raise CredentialsUnavailable(f"secret {self._secret_id} is not a JSON object")
        secret_values.add(*(str(item) for item in value.values() if isinstance(item, str)))
        try:
            return self._model.model_validate(value)
        except ValidationError as error:
            problems = describe_validation_error(error)
            raise CredentialsUnavailable(f"secret {self._secret_id} is malformed: {problems}") from None


def _default_provider() -> None:
    """Powertools' default secrets provider (the cache `get_secret` reads), on boto3's default session.

    Left to Powertools, it makes a boto3 Session of its own, whose new botocore loader reads the
    endpoint and partition data the default session has already loaded: ~30 ms of CPU on a
    worker's first secret read, against ~3 ms for one more client of the default session."""
    if "secrets" not in parameters.base.DEFAULT_PROVIDERS:
        client = boto3.client("secretsmanager")
        parameters.base.DEFAULT_PROVIDERS["secrets"] = parameters.SecretsProvider(boto3_client=client)
