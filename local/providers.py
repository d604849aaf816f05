"""Pointing the stack's functions at provider sandboxes instead of the real providers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class ProviderWiring:
    """Every function whose environment declares `base_url_variable` gets `base_url` instead, and
    the secret its `secret_variable` refers to (`!Ref` of a secret) gets `secret_value`."""

    base_url_variable: str
    base_url: str
    secret_variable: str
    secret_value: Mapping[str, str]


class IimmpactSandboxLike(Protocol):
    base_url: str
    api_key: str
    hmac_secret_b64: str


def iimmpact(sandbox: IimmpactSandboxLike) -> ProviderWiring:
    """The IIMMPACT worker posting to `sandbox`, signing with the sandbox's credentials."""
    if not sandbox.base_url:
        raise ValueError("start the IIMMPACT sandbox before wiring it")
    return ProviderWiring(
        base_url_variable="IIMMPACT_BASE_URL",
        base_url=sandbox.base_url,
        secret_variable="IIMMPACT_SECRET_ID",
        secret_value={"api_key": sandbox.api_key, "hmac_secret": sandbox.hmac_secret_b64},
    )


class RepaySandboxLike(Protocol):
    base_url: str
    api_key: str


# Repay's example sends the merchant's domain in an `origin` header; any value does for the sandbox.
LOCAL_REPAY_ORIGIN = "demo.local"


def repay(sandbox: RepaySandboxLike) -> ProviderWiring:
    """The Repay worker posting disputes to `sandbox`, with the sandbox's API key."""
    if not sandbox.base_url:
        raise ValueError("start the Repay sandbox before wiring it")
    return ProviderWiring(
        base_url_variable="REPAY_BASE_URL",
        base_url=sandbox.base_url,
        secret_variable="REPAY_SECRET_ID",
        secret_value={"api_key": sandbox.api_key, "origin": LOCAL_REPAY_ORIGIN},
    )
