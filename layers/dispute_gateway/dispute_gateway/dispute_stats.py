"""What the console shows at a glance: how many disputes are in each status and resolution, and
the disputes filed each day of the last weeks by outcome, per provider.

Read through the operator's indexes (status-index, resolution-index), never a scan: counts are
Select=COUNT queries of each index partition; the days are queries of each outcome's partition
since the first day shown, projected to the two attributes needed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from .models import Resolution, Status
from .store import LISTINGS
from .table_items import StoreError, values_of

# How a dispute filed on a day ended up (or where it stands), and the index partition saying so.
OUTCOMES: dict[str, tuple[str, str]] = {
    "won": ("resolution", Resolution.WON.value),
    "lost": ("resolution", Resolution.LOST.value),
    "open": ("resolution", Resolution.OPEN.value),
    "untracked": ("resolution", Resolution.UNTRACKED.value),
    "rejected": ("status", Status.REJECTED.value),
    "failed": ("status", Status.FAILED.value),
    "received": ("status", Status.RECEIVED.value),
    "submitting": ("status", Status.SUBMITTING.value),
}
# Bounds the work of one look: past it, the picture says it is partial.
MAX_ITEMS_PER_OUTCOME = 20_000


@dataclass(frozen=True)
class Counts:
    status: dict[str, int]
    resolution: dict[str, int]


@dataclass
class Daily:
    days: list[str]  # YYYY-MM-DD, oldest first
    # provider -> outcome -> disputes filed that day (one number per day)
    providers: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    partial: bool = False


class DisputeStats:
    def __init__(self, table_name: str, client: Any) -> None:
        self._table = table_name
        self._client = client

    def counts(self, provider: str | None = None) -> Counts:
        return Counts(
            status={status.value: self._count("status", status.value, provider) for status in Status},
            resolution={
                resolution.value: self._count("resolution", resolution.value, provider) for resolution in Resolution
            },
        )

    def daily(self, days: int, today: date | None = None) -> Daily:
        """The disputes filed on each of the last `days` days (today included), by provider and outcome."""
        last = today or datetime.now(UTC).date()
        first = last - timedelta(days=days - 1)
        picture = Daily(days=[(first + timedelta(days=n)).isoformat() for n in range(days)])
        index = {day: n for n, day in enumerate(picture.days)}
        since = first.isoformat()
        for outcome, (listed_by, value) in OUTCOMES.items():
            # Filed since the first day means changed since too: a dispute's updated_at is never
            # before its created_at, so the index's sort key bounds the query.
            for seen, item in enumerate(self._items(listed_by, value, since), start=1):
                if seen > MAX_ITEMS_PER_OUTCOME:
                    picture.partial = True
                    break
                day = item.get("created_at", {}).get("S", "")[:10]
                if day in index:
                    provider = item.get("provider", {}).get("S", "unknown")
                    series = picture.providers.setdefault(provider, {})
                    series.setdefault(outcome, [0] * days)[index[day]] += 1
        for series in picture.providers.values():
            for outcome in OUTCOMES:
                series.setdefault(outcome, [0] * days)
        return picture

    def _count(self, listed_by: str, value: str, provider: str | None) -> int:
        listing = LISTINGS[listed_by]
        arguments: dict[str, Any] = {
            "IndexName": listing.index,
            "KeyConditionExpression": "#p = :v",
            "ExpressionAttributeNames": {"#p": listing.partition},
            "Select": "COUNT",
        }
        if provider is not None:
            arguments["FilterExpression"] = "#o = :provider"
            arguments["ExpressionAttributeNames"]["#o"] = "provider"
            arguments["ExpressionAttributeValues"] = values_of(v=value, provider=provider)
        else:
            arguments["ExpressionAttributeValues"] = values_of(v=value)
        return sum(page.get("Count", 0) for page in self._pages(arguments))

    def _items(self, listed_by: str, value: str, since: str) -> Iterator[dict[str, Any]]:
        listing = LISTINGS[listed_by]
        arguments = {
            "IndexName": listing.index,
            "KeyConditionExpression": "#p = :v AND #s >= :since",
            "ExpressionAttributeNames": {
                "#p": listing.partition,
                "#s": listing.sort,
                "#o": "provider",
                "#c": "created_at",
            },
            "ExpressionAttributeValues": values_of(v=value, since=since),
            "ProjectionExpression": "#o, #c",
        }
        for page in self._pages(arguments):
            yield from page.get("Items", [])

    def _pages(self, arguments: dict[str, Any]) -> Iterator[dict[str, Any]]:
        start: dict[str, Any] | None = None
        while True:
            extra = {"ExclusiveStartKey": start} if start else {}
            try:
                page: dict[str, Any] = self._client.query(TableName=self._table, **arguments, **extra)
            except (ClientError, BotoCoreError) as error:
                raise StoreError(f"query of the disputes table failed: {error}") from error
            yield page
            start = page.get("LastEvaluatedKey")
            if not start:
                return


@cache
def dispute_stats(table_name: str) -> DisputeStats:
    return DisputeStats(table_name, boto3.client("dynamodb"))
