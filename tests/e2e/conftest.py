"""The local stack with an IIMMPACT sandbox, shared by the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.providers import iimmpact
from local.stack import LocalStack
from tests.sandboxes.iimmpact import IimmpactSandbox


@pytest.fixture
def sandbox() -> Iterator[IimmpactSandbox]:
    with IimmpactSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def stack(sandbox: IimmpactSandbox) -> Iterator[LocalStack]:
    # A 1 s visibility time-out brings a failed message back quickly; no batching window to wait for.
    with LocalStack(providers=[iimmpact(sandbox)], visibility_timeout_override=1, batching_window_override=0) as stack:
        yield stack
