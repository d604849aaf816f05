"""What a provider declares of itself (`ProviderSpec`), read by the registry and by every part that
is "one per provider": its name and titles, its request and credentials models, its settings and
their variables, its capabilities (evidence, outcomes) and where its heavy parts are."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar, cast

from pydantic import AnyHttpUrl, BaseModel, Field, create_model

from ..config import NonEmpty, ProviderSettings, WorkerSettings
from ..evidence_keys import TakesEvidence
from ..models import DisputeRequest


@dataclass(frozen=True)
class ProviderSpec:
    name: str  # a record's `provider` and the API body's; lower case letters
    title: str  # as people write it, e.g. in log lines and the local banner
    request: type[DisputeRequest]  # its queue body, and with `provider` its API body
    credentials: type[BaseModel]  # its Secrets Manager value
    client: str  # "module:attribute" of its client class (it has `from_settings(settings)`)
    default_base_url: str
    reference_fields: tuple[str, ...]  # fields naming the transaction, read even from an invalid body
    # Settings its worker needs besides the provider's URL and secret, as settings model bases.
    settings: tuple[type[BaseModel], ...] = ()
    evidence: TakesEvidence | None = None
    # "module:attribute" of its outcome checker (it has `from_settings(settings)`), when the
    # provider can say what became of a dispute; without one its disputes are `untracked`.
    outcomes: str | None = None

    @property
    def variable_prefix(self) -> str:
        return self.name.upper()

    @property
    def base_url_variable(self) -> str:
        return f"{self.variable_prefix}_BASE_URL"

    @property
    def secret_variable(self) -> str:
        return f"{self.variable_prefix}_SECRET_ID"

    @property
    def queue_url_variable(self) -> str:
        return f"{self.variable_prefix}_QUEUE_URL"

    def settings_model(self) -> type[WorkerSettings]:
        """Its worker's settings model."""
        return provider_settings_model(self, WorkerSettings)

    @property
    def tracks_outcomes(self) -> bool:
        return self.outcomes is not None

    # The heavy parts are named, not imported: each function imports only its own provider's. What
    # they make is typed where it is used (a DisputeProvider, an OutcomeChecker: `base`, which
    # stands on this module).
    def client_factory(self) -> Callable[[Any], Any]:
        factory: Callable[[Any], Any] = _imported(self.client).from_settings
        return factory

    def outcomes_factory(self) -> Callable[[Any], Any]:
        if self.outcomes is None:
            raise LookupError(f"{self.title} cannot tell what became of a dispute")
        factory: Callable[[Any], Any] = _imported(self.outcomes).from_settings
        return factory


def _imported(reference: str) -> Any:
    module, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module), attribute)


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
