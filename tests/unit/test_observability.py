"""Redaction is the last step of every log line, whatever put the value there."""

from __future__ import annotations

import json

from dispute_gateway.observability import REDACTED, logger, redact, secret_values


def test_emails_signatures_and_known_secrets_are_redacted() -> None:
    secret_values.add("iimm_live_0123456789abcdef")
    text = redact("mail Jane.Doe+x@sub.example.co.uk key iimm_live_0123456789abcdef sig v1=q83vEjRWeJA0Ew+/abc= end")
    assert "Jane.Doe" not in text and "example.co.uk" not in text
    assert "iimm_live" not in text
    assert "q83vEjRWeJA0Ew" not in text
    assert text.count(REDACTED) == 3


def test_log_line_with_secret_in_message_extra_and_traceback_is_redacted(log_output) -> None:
    secret_values.add("hmac-secret-value-AAAA")
    try:
        raise ValueError("failed for buyer@example.com with hmac-secret-value-AAAA")
    except ValueError:
        logger.exception("oops buyer@example.com", extra={"header": "v1=abcdefgh12345678"})

    line = log_output.getvalue()
    assert json.loads(line)["message"] == f"oops {REDACTED}"
    assert "buyer@example.com" not in line
    assert "hmac-secret-value-AAAA" not in line
    assert "abcdefgh12345678" not in line
