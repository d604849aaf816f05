"""Growing delays between the deliveries of a message whose dispute could not be filed yet
(CONTRACT section 11).

A failed delivery that is not the last gets its message's visibility time-out set to a delay
that doubles from a base with each receive, up to a cap, and is never shorter than the
provider's `Retry-After`. The queue's `maxReceiveCount` and this schedule together decide how
long a provider may be down before a dispute becomes `failed`.

Each delay is drawn at random within 25 % of its nominal value, so disputes that failed together
(an outage, a batch) do not all come back in the same second. Below the cap the spread goes up
(nominal to +25 %): the time a provider may be down before a dispute fails never shrinks. At the
cap it goes down (-25 %, never below the last doubled delay): the cap is the longest delay
allowed, SQS's 12 hours at most. With the defaults the worst draws still cover 26 hours.

Setting the visibility can fail (an expired receipt handle, throttling): the message then comes
back after the queue's own visibility time-out, as it did before delays existed. Nothing is lost,
so such a failure is logged and the invocation goes on.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.exceptions import BotoCoreError, ClientError

from .config import SQS_MAX_VISIBILITY_SECONDS
from .observability import logger

# Lambda received the batch before the invocation began (polling, the batching window).
_RECEIVE_MARGIN_SECONDS = 60
_BATCH_LIMIT = 10  # entries per ChangeMessageVisibilityBatch
JITTER = 0.25  # the most a delay strays from its nominal value, either way (CONTRACT section 11)


@dataclass(frozen=True)
class RetrySchedule:
    base_seconds: int
    max_seconds: int
    # Draws each delay within its window; a seeded random.Random makes the draws repeatable.
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def delay(self, receive_count: int, retry_after: float | None = None) -> int:
        """Seconds until the message's next delivery, after its `receive_count`-th failed."""
        shortest, longest = self.window(receive_count, retry_after)
        return self.rng.randint(shortest, longest)

    def window(self, receive_count: int, retry_after: float | None = None) -> tuple[int, int]:
        """The shortest and the longest delay `delay` may draw after the `receive_count`-th delivery."""
        nominal = self.nominal(receive_count)
        if nominal < self.max_seconds:
            shortest, longest = nominal, min(math.floor(nominal * (1 + JITTER)), self.max_seconds)
        else:
            shortest, longest = max(math.ceil(nominal * (1 - JITTER)), self._last_doubling()), nominal
        if retry_after is not None and math.ceil(retry_after) > shortest:
            # Spread above the provider's wish as well: a 429 to a whole batch names one moment.
            shortest = math.ceil(retry_after)
            longest = max(longest, math.floor(shortest * (1 + JITTER)))
        return min(shortest, SQS_MAX_VISIBILITY_SECONDS), min(longest, SQS_MAX_VISIBILITY_SECONDS)

    def nominal(self, receive_count: int) -> int:
        """The delay before jitter: the base doubled once per earlier delivery, up to the cap."""
        doublings = min(max(receive_count - 1, 0), 32)  # 2**32 times any base is past every cap
        return min(self.base_seconds * 2**doublings, self.max_seconds)

    def _last_doubling(self) -> int:
        """The longest nominal delay below the cap: a delay at the cap is never drawn shorter."""
        return max((d for d in map(self.nominal, range(1, 34)) if d < self.max_seconds), default=0)

    def delays(self, max_receive_count: int) -> list[int]:
        """The delays drawn after each delivery but the last: the time a provider may be down before
        a dispute becomes `failed` is their sum (plus the deliveries' own durations)."""
        return [self.delay(count) for count in range(1, max_receive_count)]

    def shortest_delays(self, max_receive_count: int) -> list[int]:
        """The delays after each delivery but the last at the worst draws: what a queue's
        `maxReceiveCount` is sure to cover."""
        return [self.window(count)[0] for count in range(1, max_receive_count)]


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """An HTTP `Retry-After` (delay-seconds or an HTTP-date) as seconds from now; None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # an HTTP-date is GMT
    moment = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    return max(0.0, (when - moment).total_seconds())


def queue_url(event_source_arn: str) -> str:
    """The queue URL of an SQS ARN (arn:partition:sqs:region:account:name)."""
    _, partition, _, region, account, name = event_source_arn.split(":", 5)
    domain = "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com"
    return f"https://sqs.{region}.{domain}/{account}/{name}"


class MessageDelays:
    """Hides failed messages until their next delivery is due: one ChangeMessageVisibilityBatch
    call per queue and ten messages."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def apply(self, delays: Sequence[tuple[SQSRecord, int]], elapsed_seconds: float) -> None:
        """`elapsed_seconds`: time since the invocation began. SQS counts its 12 hours from the receive
        that delivered the message, not from this change: a longer delay would be refused."""
        limit = max(0, int(SQS_MAX_VISIBILITY_SECONDS - _RECEIVE_MARGIN_SECONDS - elapsed_seconds))
        by_queue: dict[str, list[tuple[SQSRecord, int]]] = defaultdict(list)
        for record, seconds in delays:
            by_queue[queue_url(record.event_source_arn)].append((record, min(seconds, limit)))
        for url, entries in by_queue.items():
            for start in range(0, len(entries), _BATCH_LIMIT):
                self._change(url, entries[start : start + _BATCH_LIMIT])

    def _change(self, url: str, entries: list[tuple[SQSRecord, int]]) -> None:
        requests = [
            {"Id": str(n), "ReceiptHandle": record.receipt_handle, "VisibilityTimeout": seconds}
            for n, (record, seconds) in enumerate(entries)
        ]
        try:
            answer = self._client.change_message_visibility_batch(QueueUrl=url, Entries=requests)
        except (ClientError, BotoCoreError) as error:
            logger.warning(
                "Could not delay the next deliveries: they come at the queue's visibility time-out",
                extra={"message_ids": [record.message_id for record, _ in entries], "reason": str(error)},
            )
            return
        failed = {failure["Id"]: failure for failure in answer.get("Failed", [])}
        for n, (record, seconds) in enumerate(entries):
            failure = failed.get(str(n))
            if failure is None:
                logger.info(
                    "Next delivery delayed",
                    extra={
                        "message_id": record.message_id,
                        "receive_count": int(record.attributes.approximate_receive_count),
                        "delay_seconds": seconds,
                    },
                )
            else:
                reason = f"{failure.get('Code')}: {failure.get('Message')}"
                logger.warning(
                    "Could not delay the next delivery: it comes at the queue's visibility time-out",
                    extra={"message_id": record.message_id, "reason": reason},
                )
