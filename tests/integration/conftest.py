"""Handlers over moto (in-process) and the provider sandboxes (real HTTP on loopback)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import ModuleType

import pytest

from tests.conftest import AwsResources, load_function, put_secret
from tests.sandboxes.iimmpact import IimmpactSandbox
from tests.sandboxes.repay import RepaySandbox


@pytest.fixture(scope="session")
def iimmpact_sandbox_server() -> Iterator[IimmpactSandbox]:
    with IimmpactSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def iimmpact_sandbox(iimmpact_sandbox_server: IimmpactSandbox) -> Iterator[IimmpactSandbox]:
    sandbox = iimmpact_sandbox_server
    original = (sandbox.api_key, sandbox.hmac_secret_b64)
    sandbox.reset()
    sandbox.latency = 0.0
    yield sandbox
    sandbox.rotate_credentials(*original)
    sandbox.reset()


@pytest.fixture
def iimmpact_app(
    aws: AwsResources, iimmpact_sandbox: IimmpactSandbox, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., ModuleType]:
    """A cold start of the iimmpact_report function wired to moto and the sandbox."""
    put_secret(
        aws.iimmpact_secret_id,
        {"api_key": iimmpact_sandbox.api_key, "hmac_secret": iimmpact_sandbox.hmac_secret_b64},
    )

    def cold_start(**environment: str) -> ModuleType:
        defaults = {
            "DISPUTES_TABLE": aws.table,
            "IIMMPACT_BASE_URL": iimmpact_sandbox.base_url,
            "IIMMPACT_SECRET_ID": aws.iimmpact_secret_id,
            "DEAD_LETTER_QUEUE_URL": aws.iimmpact_dlq_url,
            "QUEUE_MAX_RECEIVE_COUNT": "3",
            "PROVIDER_READ_TIMEOUT_SECONDS": "1",
        }
        for name, value in {**defaults, **environment}.items():
            monkeypatch.setenv(name, value)
        return load_function("iimmpact_report")

    return cold_start


@pytest.fixture(scope="session")
def repay_sandbox_server() -> Iterator[RepaySandbox]:
    with RepaySandbox() as sandbox:
        yield sandbox


@pytest.fixture
def repay_sandbox(repay_sandbox_server: RepaySandbox) -> Iterator[RepaySandbox]:
    sandbox = repay_sandbox_server
    original = sandbox.api_key
    sandbox.reset()
    yield sandbox
    sandbox.rotate_credentials(original)
    sandbox.reset()


@pytest.fixture
def repay_app(
    aws: AwsResources, repay_sandbox: RepaySandbox, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., ModuleType]:
    """A cold start of the repay_dispute function wired to moto and the sandbox."""
    put_secret(aws.repay_secret_id, {"api_key": repay_sandbox.api_key, "origin": "merchant.example"})

    def cold_start(**environment: str) -> ModuleType:
        defaults = {
            "DISPUTES_TABLE": aws.table,
            "EVIDENCE_BUCKET": aws.evidence_bucket,
            "REPAY_BASE_URL": repay_sandbox.base_url,
            "REPAY_SECRET_ID": aws.repay_secret_id,
            "DEAD_LETTER_QUEUE_URL": aws.repay_dlq_url,
            "QUEUE_MAX_RECEIVE_COUNT": "3",
            "PROVIDER_READ_TIMEOUT_SECONDS": "1",
        }
        for name, value in {**defaults, **environment}.items():
            monkeypatch.setenv(name, value)
        return load_function("repay_dispute")

    return cold_start
