"""The local stack with provider sandboxes, shared by the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from local.providers import ProviderWiring, wiring
from local.stack import LocalStack
from tests.sandboxes.iimmpact import IimmpactSandbox
from tests.sandboxes.repay import RepaySandbox

# A failed delivery comes back after a second, and the fourth is the last: a test sees the whole
# retry story in seconds, not the template's 26 to 33 hours.
QUICK_RETRIES = {"RetryBaseDelaySeconds": 1, "RetryMaxDelaySeconds": 1, "MaxReceiveCount": 4}


def quick_stack(providers: list[ProviderWiring], **options: Any) -> LocalStack:
    """A 1 s visibility time-out and retry delay bring a failed message back quickly; no batching
    window to wait for."""
    options.setdefault("parameter_overrides", QUICK_RETRIES)
    options.setdefault("visibility_timeout_override", 1)
    return LocalStack(providers=providers, batching_window_override=0, **options)


@pytest.fixture
def sandbox() -> Iterator[IimmpactSandbox]:
    with IimmpactSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def repay_sandbox() -> Iterator[RepaySandbox]:
    with RepaySandbox() as sandbox:
        yield sandbox


@pytest.fixture
def stack(sandbox: IimmpactSandbox) -> Iterator[LocalStack]:
    with quick_stack([wiring(sandbox)]) as stack:
        yield stack


@pytest.fixture
def served_stack(sandbox: IimmpactSandbox, repay_sandbox: RepaySandbox) -> Iterator[LocalStack]:
    """Both providers' sandboxes, and the HTTP API on a free loopback port (`stack.api_url`)."""
    with quick_stack([wiring(sandbox), wiring(repay_sandbox)], http_port=0) as stack:
        yield stack
