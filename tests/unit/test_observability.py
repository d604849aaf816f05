"""Redaction is the last step of every log line, whatever put the value there."""

from __future__ import annotations

import json

import pytest

from dispute_gateway.observability import logger
from dispute_gateway.redaction import REDACTED, redact, secret_values


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


def test_each_invocation_logs_with_its_own_keys_even_beside_another_in_the_same_process(log_output) -> None:
    """The local stack runs every function in one process: an HTTP request's correlation id must not
    show on a worker's lines, whether the worker runs after it or at the same time."""
    import threading

    from dispute_gateway.observability import invocation_logging
    from tests.conftest import FakeLambdaContext

    api_started, worker_logged = threading.Event(), threading.Event()

    @invocation_logging(correlation_id_path="requestContext.requestId")
    def api(event: dict, context: object) -> None:
        logger.info("api line")
        api_started.set()
        worker_logged.wait(5)

    @invocation_logging()
    def worker(event: dict, context: object) -> None:
        api_started.wait(5)
        logger.info("worker line")
        worker_logged.set()

    threads = [
        threading.Thread(target=api, args=({"requestContext": {"requestId": "req-1"}}, FakeLambdaContext())),
        threading.Thread(target=worker, args=({}, FakeLambdaContext())),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    worker({}, FakeLambdaContext())  # and after it, in the same thread as nothing else

    lines = {json.loads(line)["message"]: json.loads(line) for line in log_output.getvalue().splitlines()}
    assert lines["api line"]["correlation_id"] == "req-1"
    worker_lines = [json.loads(line) for line in log_output.getvalue().splitlines() if "worker line" in line]
    assert len(worker_lines) == 2
    assert all("correlation_id" not in line for line in worker_lines)
    assert [line["cold_start"] for line in worker_lines] == [True, False]


@pytest.mark.timeout(10)  # a guard, not a measurement: the quadratic pattern took minutes on this
def test_a_long_run_of_address_characters_is_scanned_once() -> None:
    blob = "QUJD+/09" * 125_000  # 1 MB of base64 with no address in it
    line = f"evidence {blob} from Jane.Doe@example.com"
    assert redact(line) == f"evidence {blob} from {REDACTED}"
    assert redact(blob + "x@example.com") == REDACTED
