"""The retry schedule (CONTRACT section 11): growing delays, Retry-After, SQS's limit, a day covered."""

from __future__ import annotations

import email.utils

import pytest

from dispute_gateway.config import DEFAULT_MAX_RECEIVE_COUNT, DEFAULT_RETRY_BASE_DELAY_SECONDS
from dispute_gateway.retries import RetrySchedule, queue_url, retry_after_seconds

DEFAULT = RetrySchedule(DEFAULT_RETRY_BASE_DELAY_SECONDS, 43200)
DAY = 86400


def test_delays_double_from_the_base_up_to_the_cap() -> None:
    assert [DEFAULT.delay(count) for count in range(1, 14)] == [
        60, 120, 240, 480, 960, 1920, 3840, 7680, 15360, 30720, 43200, 43200, 43200,
    ]  # fmt: skip
    assert RetrySchedule(300, 3600).delays(6) == [300, 600, 1200, 2400, 3600]
    assert RetrySchedule(0, 0).delays(4) == [0, 0, 0]


def test_the_defaults_cover_a_day_of_outage_before_a_dispute_fails() -> None:
    delays = DEFAULT.delays(DEFAULT_MAX_RECEIVE_COUNT)
    assert len(delays) == DEFAULT_MAX_RECEIVE_COUNT - 1 == 11
    assert sum(delays) == 104_580 >= DAY  # 29 h 3 min
    # The deliveries within the first 24 hours: one request each to a provider that is down.
    starts = [sum(delays[:n]) for n in range(len(delays) + 1)]
    assert sum(1 for start in starts if start < DAY) == 11


@pytest.mark.parametrize(("retry_after", "delay"), [(900, 900), (5, 60), (10**9, 43200), (0.2, 60)])
def test_retry_after_is_a_floor_within_sqs_limit(retry_after: float, delay: int) -> None:
    assert DEFAULT.delay(1, retry_after) == delay


def test_a_huge_receive_count_stays_at_the_cap() -> None:
    assert DEFAULT.delay(1000) == 43200


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = 1_800_000_000.0
    assert retry_after_seconds("120", now) == 120
    assert retry_after_seconds(email.utils.formatdate(now + 3600, usegmt=True), now) == 3600
    assert retry_after_seconds(email.utils.formatdate(now - 3600, usegmt=True), now) == 0
    for unreadable in (None, "", "  ", "soon", "-5", "1.5"):
        assert retry_after_seconds(unreadable, now) is None


def test_queue_url_from_the_event_source_arn() -> None:
    assert queue_url("arn:aws:sqs:ap-southeast-1:123456789012:dg-iimmpact") == (
        "https://sqs.ap-southeast-1.amazonaws.com/123456789012/dg-iimmpact"
    )
    assert (
        queue_url("arn:aws-cn:sqs:cn-north-1:123456789012:q")
        == "https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q"
    )
