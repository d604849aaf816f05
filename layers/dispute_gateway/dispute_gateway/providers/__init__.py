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
from functools import cache

from ..evidence_keys import TakesEvidence
from .spec import ProviderSpec

# What provider packages and the core name from here.
__all__ = ["ProviderSpec", "TakesEvidence", "evidence_providers", "provider_names", "provider_spec", "registry"]


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


def evidence_providers() -> dict[str, ProviderSpec]:
    """The providers that take evidence (uploads, manifests), by name: any number of them."""
    return {name: spec for name, spec in registry().items() if spec.evidence is not None}
