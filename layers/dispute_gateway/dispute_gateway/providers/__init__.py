"""The providers, each a package here declaring its `SPEC`, and the registry the core reads them from.

A provider package has a light part (its `__init__` and `models`: the spec, the request and
credentials models; nothing that imports `requests`, so the API's cold start does not pay for
it) and a heavy part (its client, named by `ProviderSpec.client`), which only its own worker
imports. Everything that is "one per provider" is derived from the registry: the set of names,
the API's request union and queue map, the worker's settings and their variable names
(`{NAME}_BASE_URL`, `{NAME}_SECRET_ID`, `{NAME}_QUEUE_URL`), and the capabilities.

Adding a provider is adding a package here: nothing else in the shared package changes.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

if TYPE_CHECKING:
    from ..config import WorkerSettings
    from ..models import DisputeRequest
    from .base import DisputeProvider, MessageReader, OutcomeChecker


@dataclass(frozen=True)
class TakesEvidence:
    """The provider takes evidence files: uploaded to `{prefix}{reference}/{folder}/`, a folder
    filed by the `manifest` written into it last."""

    prefix: str
    manifest: str = "dispute.json"


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
    # "module:attribute" of its reader of queue messages (it has `from_settings(settings)`, given
    # EvidenceSettings), when its queue carries more than its commands (e.g. S3 notifications);
    # without one, a message is one command (`messages.commands_from_message`).
    messages: str | None = None

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
        from ..config import WorkerSettings, provider_settings_model

        return provider_settings_model(self, WorkerSettings)

    @property
    def tracks_outcomes(self) -> bool:
        return self.outcomes is not None

    def client_factory(self) -> Callable[[Any], DisputeProvider]:
        factory: Callable[[Any], DisputeProvider] = _imported(self.client).from_settings
        return factory

    def messages_factory(self) -> Callable[[Any], MessageReader] | None:
        if self.messages is None:
            return None
        factory: Callable[[Any], MessageReader] = _imported(self.messages).from_settings
        return factory

    def outcomes_factory(self) -> Callable[[Any], OutcomeChecker]:
        if self.outcomes is None:
            raise LookupError(f"{self.title} cannot tell what became of a dispute")
        factory: Callable[[Any], OutcomeChecker] = _imported(self.outcomes).from_settings
        return factory


def _imported(reference: str) -> Any:
    module, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module), attribute)


@cache
def registry() -> dict[str, ProviderSpec]:
    """Every provider package's spec, by name: the packages found here, in name order."""
    specs: dict[str, ProviderSpec] = {}
    for package in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
        if not package.ispkg:
            continue
        spec = getattr(importlib.import_module(f"{__name__}.{package.name}"), "SPEC", None)
        if isinstance(spec, ProviderSpec):
            if spec.name in specs:
                raise RuntimeError(f"two provider packages are named {spec.name}")
            specs[spec.name] = spec
    return specs


def provider_names() -> tuple[str, ...]:
    return tuple(registry())


def provider_spec(name: str) -> ProviderSpec:
    try:
        return registry()[name]
    except KeyError:
        raise KeyError(f"no provider named {name!r}; known: {', '.join(provider_names())}") from None


def evidence_provider() -> ProviderSpec:
    """The provider that takes evidence uploads (POST /evidence-uploads has no `provider` field)."""
    takers = [spec for spec in registry().values() if spec.evidence is not None]
    if len(takers) != 1:
        raise RuntimeError(f"exactly one provider may take evidence uploads, found {len(takers)}")
    return takers[0]
