"""The local stack with provider sandboxes, shared by the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from local.providers import ProviderWiring, wiring
from local.stack import LocalStack
from tests.sandboxes.iimmpact import IimmpactSandbox
from tests.sandboxes.repay import RepaySandbox


def quick_stack(providers: list[ProviderWiring], **options: Any) -> LocalStack:
    """A 1 s visibility time-out brings a failed message back quickly; no batching window to wait for."""
    return LocalStack(providers=providers, visibility_timeout_override=1, batching_window_override=0, **options)


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
