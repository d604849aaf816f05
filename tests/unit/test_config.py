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
    assert settings.max_receive_count == 5


@pytest.mark.parametrize("missing", sorted(VALID))
def test_missing_variable_is_named(missing: str) -> None:
    environ = {k: v for k, v in VALID.items() if k != missing}
    with pytest.raises(ConfigurationError, match=missing):
        load_settings(IimmpactWorkerSettings, environ)


@pytest.mark.parametrize(
    ("variable", "value"),
    [("IIMMPACT_BASE_URL", "not a url"), ("QUEUE_MAX_RECEIVE_COUNT", "zero"), ("WORKER_CONCURRENCY", "0")],
)
def test_malformed_variable_is_named(variable: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=variable):
        load_settings(IimmpactWorkerSettings, {**VALID, variable: value})
