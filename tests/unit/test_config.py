"""Configuration is validated at cold start and names the offending variable."""

from __future__ import annotations

import pytest

from dispute_gateway.config import ConfigurationError, load_settings
from dispute_gateway.providers.iimmpact import SPEC

IimmpactWorkerSettings = SPEC.settings_model()

VALID = {
    "DISPUTES_TABLE": "disputes",
    "IIMMPACT_SECRET_ID": "iimmpact",
    "DEAD_LETTER_QUEUE_URL": "https://sqs.ap-southeast-1.amazonaws.com/123456789012/dlq",
}


def test_defaults_apply() -> None:
    settings = load_settings(IimmpactWorkerSettings, VALID)
    assert settings.base_url == "https://api.iimmpact.com"
    assert settings.max_receive_count == 12
    assert (settings.retry_base_delay_seconds, settings.retry_max_delay_seconds) == (60, 43200)


@pytest.mark.parametrize("missing", sorted(VALID))
def test_missing_variable_is_named(missing: str) -> None:
    environ = {k: v for k, v in VALID.items() if k != missing}
    with pytest.raises(ConfigurationError, match=missing):
        load_settings(IimmpactWorkerSettings, environ)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("IIMMPACT_BASE_URL", "not a url"),
        ("QUEUE_MAX_RECEIVE_COUNT", "zero"),
        ("WORKER_CONCURRENCY", "0"),
        ("RETRY_BASE_DELAY_SECONDS", "-1"),
        ("RETRY_MAX_DELAY_SECONDS", "43201"),  # past SQS's 12 hours
    ],
)
def test_malformed_variable_is_named(variable: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=variable):
        load_settings(IimmpactWorkerSettings, {**VALID, variable: value})


def test_a_retry_cap_below_its_base_is_refused_naming_both() -> None:
    environment = {**VALID, "RETRY_BASE_DELAY_SECONDS": "600", "RETRY_MAX_DELAY_SECONDS": "60"}
    with pytest.raises(ConfigurationError, match="RETRY_MAX_DELAY_SECONDS must not be below RETRY_BASE_DELAY_SECONDS"):
        load_settings(IimmpactWorkerSettings, environment)
