"""What operators see: logs keyed by dispute, outcome metrics, and no secret or e-mail anywhere."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import FakeLambdaContext, put_secret, sqs_event, sqs_record
from tests.sandboxes.iimmpact import Fault

EMAILS = ["buyer@example.com", "Second.Person+cc@example.org"]


def full_run(app: Any, sandbox: Any) -> None:
    """Success, a refusal, an in-doubt retry, a 401 and an invalid message: every log path."""
    sandbox.inject(Fault(status=503, act=True))
    bodies = [
        {"trxid": "T-1", "user_email": EMAILS},
        {"trxid": "REFUNDED-2", "user_email": EMAILS[:1]},
        {"trxid": "T-3", "user_email": ["not an email", EMAILS[1]]},
        {"user_email": EMAILS},
    ]
    records = [sqs_record(json.dumps(body), message_id=f"m-{n}") for n, body in enumerate(bodies)]
    app.lambda_handler(sqs_event(*records), FakeLambdaContext())
    app.lambda_handler(
        sqs_event(*(dict(r, attributes={**r["attributes"], "ApproximateReceiveCount": "3"}) for r in records)),
        FakeLambdaContext(),
    )


def test_logs_never_carry_secrets_signatures_or_emails(aws, iimmpact_sandbox, iimmpact_app, log_output, capsys):
    app = iimmpact_app()
    full_run(app, iimmpact_sandbox)
    put_secret(
        aws.iimmpact_secret_id, {"api_key": "iimm_wrong_key_123", "hmac_secret": iimmpact_sandbox.hmac_secret_b64}
    )
    app = iimmpact_app(QUEUE_MAX_RECEIVE_COUNT="1")
    app.lambda_handler(sqs_event(sqs_record(json.dumps({"trxid": "T-9", "user_email": EMAILS}))), FakeLambdaContext())

    output = capsys.readouterr()
    logs = log_output.getvalue() + output.out + output.err
    signatures = [r.headers["X-Signature"].removeprefix("v1=") for r in iimmpact_sandbox.requests]
    assert signatures, "the run must have sent signed requests"
    forbidden = [
        iimmpact_sandbox.api_key,
        iimmpact_sandbox.hmac_secret_b64,
        "iimm_wrong_key_123",
        *signatures,
        *EMAILS,
        "buyer@",
        "Second.Person",
    ]
    assert "Dispute submitted" in logs
    for value in forbidden:
        assert value not in logs, f"{value[:6]}... leaked into the logs"


def test_every_log_line_of_a_dispute_carries_its_id(aws, iimmpact_sandbox, iimmpact_app, log_output):
    full_run(iimmpact_app(), iimmpact_sandbox)
    lines = [json.loads(line) for line in log_output.getvalue().splitlines()]
    dispute_lines = [line for line in lines if line.get("message", "").startswith("Dispute")]
    assert dispute_lines
    assert all(line.get("dispute_id") for line in dispute_lines)


def test_outcomes_are_counted_per_provider(aws, iimmpact_sandbox, iimmpact_app, capsys):
    full_run(iimmpact_app(), iimmpact_sandbox)
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    counted: dict[str, float] = {}
    for blob in blobs:
        assert blob["provider"] == "iimmpact"
        for name in ("DisputesSubmitted", "DisputesRejected", "DisputesFailed"):
            value = blob.get(name, 0)
            counted[name] = counted.get(name, 0) + (sum(value) if isinstance(value, list) else value)
    assert counted == {"DisputesSubmitted": 1, "DisputesRejected": 2, "DisputesFailed": 0}
