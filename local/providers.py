"""Pointing the stack's functions at provider sandboxes (or real providers) instead of the providers' hosts.

Nothing here names a provider: what a provider's functions read comes from its spec in the
shared package's registry (`{NAME}_BASE_URL`, `{NAME}_SECRET_ID`), and how to stand a sandbox in
for it from the sandbox's own module (its `SANDBOX`, found among `tests/sandboxes`).
"""

from __future__ import annotations

import contextlib
import importlib
import pkgutil
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from dispute_gateway.providers import provider_spec, registry
from tests import sandboxes
from tests.sandboxes.server import ProviderSandbox


@dataclass(frozen=True)
class ProviderWiring:
    """Every function whose environment declares `secret_variable` (the provider's worker) gets
    `base_url` as `base_url_variable`, and the secret the variable refers to (`!Ref` of a secret)
    gets `secret_value`."""

    base_url_variable: str
    base_url: str
    secret_variable: str
    secret_value: Mapping[str, str]

    @classmethod
    def of(cls, provider: str, base_url: str, secret_value: Mapping[str, str]) -> ProviderWiring:
        spec = provider_spec(provider)
        return cls(spec.base_url_variable, base_url, spec.secret_variable, secret_value)


@cache
def sandbox_plugs() -> dict[str, ProviderSandbox[Any]]:
    """Every sandbox module's `SANDBOX`, by provider name."""
    plugs: dict[str, ProviderSandbox[Any]] = {}
    for module in pkgutil.iter_modules(sandboxes.__path__):
        plug = getattr(importlib.import_module(f"{sandboxes.__name__}.{module.name}"), "SANDBOX", None)
        if isinstance(plug, ProviderSandbox):
            plugs[plug.provider] = plug
    return plugs


def wiring(sandbox: Any) -> ProviderWiring:
    """The functions of `sandbox`'s provider pointed at it (started), with its credentials."""
    plug = next((p for p in sandbox_plugs().values() if isinstance(sandbox, p.sandbox)), None)  # type: ignore[arg-type]
    if plug is None:
        raise ValueError(f"{type(sandbox).__name__} is no provider's sandbox (its module has no SANDBOX)")
    if not sandbox.base_url:
        raise ValueError(f"start the {provider_spec(plug.provider).title} sandbox before wiring it")
    return ProviderWiring.of(plug.provider, sandbox.base_url, plug.credentials(sandbox))


def start_sandboxes(resources: contextlib.ExitStack, skip: set[str] | frozenset[str] = frozenset()) -> dict[str, Any]:
    """A started sandbox for every registered provider but those in `skip`, stopped with `resources`."""
    missing = [name for name in registry() if name not in skip and name not in sandbox_plugs()]
    if missing:
        raise LookupError(f"no sandbox for {', '.join(missing)}: give its real base URL and credentials")
    return {
        name: resources.enter_context(sandbox_plugs()[name].sandbox())  # type: ignore[arg-type]
        for name in registry()
        if name not in skip
    }
