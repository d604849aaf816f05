"""Dispute requests: validation naming the field, trxid precedence, stable identity."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from dispute_gateway.models import Dispute, Source, validation_problems
from dispute_gateway.providers.iimmpact.models import IimmpactReportRequest


def test_trxid_wins_over_refid_as_reference() -> None:
    request = IimmpactReportRequest.model_validate({"refid": "R-1", "trxid": "T-1"})
    assert request.reference == "T-1"
    assert IimmpactReportRequest.model_validate({"refid": "R-1"}).reference == "R-1"


def test_a_request_must_name_a_transaction() -> None:
    with pytest.raises(ValidationError) as error:
        IimmpactReportRequest.model_validate({"user_email": ["a@example.com"]})
    assert {p["field"]: p["message"] for p in validation_problems(error.value)} == {
        "trxid": "one of refid or trxid is required",
        "refid": "one of refid or trxid is required",
    }


def test_a_missing_reference_is_named_beside_every_other_problem() -> None:
    with pytest.raises(ValidationError) as error:
        IimmpactReportRequest.model_validate({"user_email": ["not-an-email"], "amount": "{1,18}"})
    assert [p["field"] for p in validation_problems(error.value)] == ["user_email.0", "amount", "trxid", "refid"]


@pytest.mark.parametrize("value", [" T-1", "T-1 ", "T\t1", ""])
def test_references_are_taken_exactly_as_sent_and_never_trimmed(value: str) -> None:
    with pytest.raises(ValidationError):
        IimmpactReportRequest.model_validate({"trxid": value})


def test_invalid_email_is_named_without_echoing_it() -> None:
    with pytest.raises(ValidationError) as error:
        IimmpactReportRequest.model_validate({"trxid": "T-1", "user_email": ["secret-person-at-example.com"]})
    problems = validation_problems(error.value)
    assert problems[0]["field"] == "user_email.0"
    assert "secret-person" not in str(problems)


def test_unknown_field_is_refused_by_name() -> None:
    with pytest.raises(ValidationError) as error:
        IimmpactReportRequest.model_validate({"trxid": "T-1", "amount": 5})
    assert validation_problems(error.value)[0]["field"] == "amount"


def test_same_content_is_the_same_dispute_whatever_the_email_order_or_case() -> None:
    first = IimmpactReportRequest.model_validate({"trxid": "T-1", "user_email": ["a@x.com", "B@y.com"]})
    second = IimmpactReportRequest.model_validate({"trxid": "T-1", "user_email": ["b@y.com", "a@x.com", "a@x.com"]})
    assert Dispute.from_request(first, Source.SQS).dispute_id == Dispute.from_request(second, Source.API).dispute_id


def test_idempotency_key_identifies_the_dispute_not_the_content() -> None:
    keyed = IimmpactReportRequest.model_validate({"trxid": "T-1", "idempotency_key": "k-1"})
    other = IimmpactReportRequest.model_validate({"trxid": "T-2", "idempotency_key": "k-1"})
    assert Dispute.from_request(keyed, Source.SQS).dispute_id == Dispute.from_request(other, Source.SQS).dispute_id
    assert (
        Dispute.from_request(keyed, Source.SQS).request_fingerprint
        != Dispute.from_request(other, Source.SQS).request_fingerprint
    )


def test_provider_body_carries_only_documented_fields() -> None:
    request = IimmpactReportRequest.model_validate(
        {"trxid": "T-1", "user_email": ["a@x.com", "a@x.com"], "idempotency_key": "k"}
    )
    assert request.provider_body() == {"trxid": "T-1", "user_email": ["a@x.com"]}


def test_the_schema_refuses_the_domains_email_validator_refuses() -> None:
    import email_validator

    from dispute_gateway.models import SPECIAL_USE_DOMAINS

    assert sorted(SPECIAL_USE_DOMAINS) == sorted(email_validator.SPECIAL_USE_DOMAIN_NAMES)


def _record(**fields: Any) -> Any:
    """A stored dispute record with placeholder identity fields."""
    from dispute_gateway.models import DisputeRecord

    identity = {"dispute_id": "d", "provider": "p", "reference": "r", "source": Source.SQS}
    stamps = {"created_at": "2026-01-01T00:00:00.000Z", "updated_at": "2026-01-01T00:00:00.000Z"}
    return DisputeRecord(**identity, **stamps, request_fingerprint="f", **fields)


def test_history_keeps_the_last_fifty_entries_oldest_first() -> None:
    from dispute_gateway.models import Status
    from dispute_gateway.store import history_entry, with_entry

    record = _record(
        status=Status.SUBMITTING,
        history=[history_entry(Status.RECEIVED, n, at=f"2026-01-01T00:00:{n:02d}.000Z") for n in range(50)],
    )
    stored = with_entry(
        record, history_entry(Status.FAILED, 50, fields={"error": "gave up"}, at="2026-01-02T00:00:00.000Z")
    )
    assert len(stored) == 50
    assert stored[0]["attempts"] == 1 and stored[-1] == {
        "at": "2026-01-02T00:00:00.000Z",
        "status": "failed",
        "attempts": 50,
        "message": "gave up",
    }


def test_checks_back_off_from_the_base_interval_to_a_day_and_start_over_on_a_change() -> None:
    from dispute_gateway.models import Status
    from dispute_gateway.outcomes import next_interval

    record = _record(status=Status.SUBMITTED, provider_state="proceedings")
    intervals = []
    for _ in range(9):
        interval = next_interval(record, "proceedings", 900)
        intervals.append(interval)
        record = record.model_copy(update={"check_interval": interval})
    assert intervals == [900, 1800, 3600, 7200, 14400, 28800, 57600, 86400, 86400]
    assert next_interval(record, "proceedings2", 900) == 900
    assert next_interval(record, "proceedings", 0) == 0
