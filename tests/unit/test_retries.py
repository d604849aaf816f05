"""The retry schedule (CONTRACT section 11): growing delays with jitter, Retry-After, SQS's limit,
a day covered even at the worst draws."""

from __future__ import annotations

import email.utils
import itertools
import random

import pytest

from dispute_gateway.config import DEFAULT_MAX_RECEIVE_COUNT, DEFAULT_RETRY_BASE_DELAY_SECONDS
from dispute_gateway.retries import RetrySchedule, queue_url, retry_after_seconds

CAP = 43200
DEFAULT = RetrySchedule(DEFAULT_RETRY_BASE_DELAY_SECONDS, CAP, random.Random(18))
DAY = 86400


class ShortestDraws(random.Random):
    """The unluckiest jitter: every delay drawn as short as its window allows."""

    def randint(self, a: int, b: int) -> int:
        return a


class LongestDraws(random.Random):
    def randint(self, a: int, b: int) -> int:
        return b


def test_nominal_delays_double_from_the_base_up_to_the_cap() -> None:
    assert [DEFAULT.nominal(count) for count in range(1, 14)] == [
        60, 120, 240, 480, 960, 1920, 3840, 7680, 15360, 30720, 43200, 43200, 43200,
    ]  # fmt: skip
    assert [RetrySchedule(300, 3600).nominal(count) for count in range(1, 6)] == [300, 600, 1200, 2400, 3600]
    assert RetrySchedule(0, 0).delays(4) == [0, 0, 0]


def test_jitter_goes_up_below_the_cap_and_down_at_it() -> None:
    assert [DEFAULT.window(count) for count in (1, 2, 10, 11, 12)] == [
        (60, 75), (120, 150), (30720, 38400), (32400, 43200), (32400, 43200),
    ]  # fmt: skip
    # Never past the cap going up, never below the last doubled delay going down.
    assert RetrySchedule(1000, 2400).window(2) == (2000, 2400)
    assert RetrySchedule(1500, 3900).window(2) == (3000, 3750)
    assert RetrySchedule(1500, 3900).window(3) == (3000, 3900)  # not 2925: 75 % of the cap


@pytest.mark.parametrize(("base", "cap"), [(60, CAP), (300, 3600), (1500, 3900), (1, 4), (CAP, CAP), (7, 100), (0, 0)])
def test_the_schedule_grows_at_either_end_of_its_windows(base: int, cap: int) -> None:
    schedule = RetrySchedule(base, cap)
    windows = [schedule.window(count) for count in range(1, 40)]
    for (shortest, longest), (next_shortest, next_longest) in itertools.pairwise(windows):
        assert next_shortest >= shortest and next_longest >= longest
    for count, (shortest, longest) in enumerate(windows, start=1):
        nominal = schedule.nominal(count)
        assert nominal * 0.75 <= shortest <= longest <= min(nominal * 1.25, CAP)


def test_the_defaults_cover_a_day_of_outage_even_at_the_worst_draws() -> None:
    worst = RetrySchedule(DEFAULT_RETRY_BASE_DELAY_SECONDS, CAP, ShortestDraws()).delays(DEFAULT_MAX_RECEIVE_COUNT)
    assert worst == DEFAULT.shortest_delays(DEFAULT_MAX_RECEIVE_COUNT)
    assert len(worst) == DEFAULT_MAX_RECEIVE_COUNT - 1 == 11
    assert sum(worst) == 93_780 >= DAY  # 26 h 3 min
    best = RetrySchedule(DEFAULT_RETRY_BASE_DELAY_SECONDS, CAP, LongestDraws()).delays(DEFAULT_MAX_RECEIVE_COUNT)
    assert sum(best) == 119_925  # 33 h 19 min
    for seed in range(200):
        drawn = RetrySchedule(DEFAULT_RETRY_BASE_DELAY_SECONDS, CAP, random.Random(seed))
        assert sum(worst) <= sum(drawn.delays(DEFAULT_MAX_RECEIVE_COUNT)) <= sum(best)
    # The deliveries within the first 24 hours, at the worst draws: one request each to a
    # provider that is down, and no more than 11.
    starts = [sum(worst[:n]) for n in range(len(worst) + 1)]
    assert sum(1 for start in starts if start < DAY) == 11


@pytest.mark.parametrize("retry_after", [None, 900.0])
@pytest.mark.parametrize("receive_count", [1, 4, 10, 11, 12])
def test_a_hundred_disputes_failing_together_come_back_spread_within_a_quarter(
    receive_count: int, retry_after: float | None
) -> None:
    schedule = RetrySchedule(DEFAULT_RETRY_BASE_DELAY_SECONDS, CAP, random.Random(receive_count))
    nominal = max(schedule.nominal(receive_count), int(retry_after or 0))

    delays = [schedule.delay(receive_count, retry_after) for _ in range(100)]

    assert len(set(delays)) >= 10, delays  # not all in the same second
    assert all(0.75 * nominal <= delay <= 1.25 * nominal for delay in delays), delays
    assert all(delay >= (retry_after or 0) and delay <= CAP for delay in delays), delays


def test_draws_are_repeatable_with_a_seeded_random() -> None:
    def drawn(seed: int) -> list[int]:
        return RetrySchedule(60, CAP, random.Random(seed)).delays(DEFAULT_MAX_RECEIVE_COUNT)

    assert drawn(7) == drawn(7) != drawn(8)


@pytest.mark.parametrize(
    ("retry_after", "shortest", "longest"),
    [(900, 900, 1125), (5, 60, 75), (0.2, 60, 75), (70, 70, 87), (10**9, CAP, CAP), (CAP - 100, CAP - 100, CAP)],
)
def test_retry_after_is_a_floor_within_sqs_limit(retry_after: float, shortest: int, longest: int) -> None:
    assert DEFAULT.window(1, retry_after) == (shortest, longest)
    assert all(shortest <= DEFAULT.delay(1, retry_after) <= longest for _ in range(50))


def test_a_retry_after_above_a_lower_cap_is_still_honoured_and_spread() -> None:
    assert RetrySchedule(60, 3600).window(20, 4000) == (4000, 5000)


def test_a_huge_receive_count_stays_at_the_cap() -> None:
    assert DEFAULT.window(1000) == (32400, CAP)


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
