"""The operator console's domain: what a signed-in person may see and do, each call checked against
their groups (see `operators`) before anything is read or moved.

Reading: the counts and the daily picture (`dispute_stats`), pages of disputes (the API's own
lists), one dispute with links to its evidence (`evidence_links`). Acting: retrying a `failed`
dispute (`redrive`), the one change a person can make to a dispute; nothing edits or deletes one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import boto3
from pydantic import BaseModel, Field

from .api_models import DisputePage, InvalidRequestError, Problem
from .api_settings import ApiSettings
from .dispute_stats import OUTCOMES, DisputeStats, dispute_stats
from .disputes import DisputeService, caller_view
from .evidence_links import EvidenceLinks
from .models import DisputeRecord, DisputeView, Status, utc_now
from .operators import Action, Operator
from .providers import provider_names
from .redrive import RetryService
from .store import DisputeStore, dispute_store

PICTURE_DAYS = 30


class Me(BaseModel):
    username: str
    groups: list[str]
    may_read: bool
    may_retry: bool
    providers: list[str] = Field(description="The providers disputes are filed with, for the console's filters")


class EvidenceFileLink(BaseModel):
    key: str
    filename: str
    folder: str = Field(description="The upload folder under the transaction's evidence prefix")
    size: int
    content_type: str = Field(description="As the link answers it: an allowed evidence type opens inline")
    url: str = Field(description="A presigned GET, valid `expires_in` seconds")
    expires_in: int


class DisputeDetail(BaseModel):
    dispute: DisputeView
    evidence: list[EvidenceFileLink]
    retryable: bool = Field(description="failed, with no retry under way: an operator may retry it")
    retried_by: str | None = None
    retried_at: str | None = None


class Overview(BaseModel):
    provider: str | None = None
    status: dict[str, int] = Field(description="Disputes in each status")
    resolution: dict[str, int] = Field(description="Submitted disputes with each resolution")
    days: list[str] = Field(description="The days of `filed`, oldest first (UTC)")
    outcomes: list[str] = Field(description="Every outcome `filed` counts, in this order")
    filed: dict[str, dict[str, list[int]]] = Field(
        description="Provider -> outcome -> disputes filed on each day of `days` that have that outcome now"
    )
    partial: bool = Field(description="True when an outcome had too many disputes to count them all")
    generated_at: str


class RetryAccepted(BaseModel):
    dispute_id: str
    status: Status
    message: str
    retried_by: str
    retried_at: str

    @classmethod
    def from_record(cls, record: DisputeRecord) -> RetryAccepted:
        return cls(
            dispute_id=record.dispute_id,
            status=record.status,
            message="its message is back on its provider's queue, and it will be submitted again shortly",
            retried_by=record.retry_requested_by or "",
            retried_at=record.retry_requested_at or "",
        )


class ConsoleService:
    def __init__(
        self,
        store: DisputeStore,
        disputes: DisputeService,
        stats: DisputeStats,
        links: EvidenceLinks,
        retries: RetryService,
    ) -> None:
        self._store = store
        self._disputes = disputes
        self._stats = stats
        self._links = links
        self._retries = retries

    @classmethod
    def from_settings(cls, settings: ApiSettings, disputes: DisputeService, retries: RetryService) -> ConsoleService:
        return cls(
            dispute_store(settings.disputes_table, settings.record_retention_days),
            disputes,
            dispute_stats(settings.disputes_table),
            EvidenceLinks(settings, boto3.client("s3")),
            retries,
        )

    def me(self, operator: Operator) -> Me:
        return Me(
            username=operator.username,
            groups=sorted(operator.groups),
            may_read=operator.may(Action.READ),
            may_retry=operator.may(Action.RETRY),
            providers=list(provider_names()),
        )

    def overview(self, operator: Operator, provider: str | None) -> Overview:
        operator.require(Action.READ)
        if provider is not None and provider not in provider_names():
            raise InvalidRequestError(
                [Problem(field="provider", message=f"must be one of: {', '.join(provider_names())}")]
            )
        counts = self._stats.counts(provider)
        picture = self._stats.daily(PICTURE_DAYS)
        filed = picture.providers if provider is None else {provider: picture.providers.get(provider, {})}
        return Overview(
            provider=provider,
            status=counts.status,
            resolution=counts.resolution,
            days=picture.days,
            outcomes=list(OUTCOMES),
            filed={name: series for name, series in filed.items() if series},
            partial=picture.partial,
            generated_at=utc_now(),
        )

    def page(
        self, operator: Operator, filters: Mapping[str, str | None], next_token: str | None, limit: int
    ) -> DisputePage:
        operator.require(Action.READ)
        return self._disputes.listed(filters, next_token, limit)

    def dispute(self, operator: Operator, dispute_id: str) -> DisputeDetail | None:
        operator.require(Action.READ)
        record = self._store.get(dispute_id)
        if record is None:
            return None
        links = [EvidenceFileLink(**_fields(link)) for link in self._links.of(record)]
        return DisputeDetail(
            dispute=caller_view(record),
            evidence=links,
            retryable=record.status is Status.FAILED and not record.retry_pending,
            retried_by=record.retry_requested_by,
            retried_at=record.retry_requested_at,
        )

    def retry(self, operator: Operator, dispute_id: str) -> RetryAccepted:
        """Raises NotAllowed before anything is read, then as RetryService.retry."""
        operator.require(Action.RETRY)
        return RetryAccepted.from_record(self._retries.retry(dispute_id, operator.signature))


def _fields(link: Any) -> dict[str, Any]:
    return {name: getattr(link, name) for name in EvidenceFileLink.model_fields}
