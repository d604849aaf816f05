"""What became of submitted disputes: a scheduled run asks the provider about each one due (CONTRACT section 9).

Which disputes: the open ones of the provider whose next check is due, read from the outcome
index (never a table scan), longest due first, at most a page per run and only while the
invocation has time; the rest are due in the next run. Checks of an unchanged dispute back
off (the base interval, doubling up to a day); after the tracking period without a final
state the dispute becomes `untracked`. A provider error leaves the dispute open for the next
run and stops no other. Every write is conditional on the record still being open and not
checked since it was read, so overlapping runs cannot write a resolution twice or undo one.
Like the pipeline, nothing here names a provider: the tracker of a provider's function is the
one whose secret its environment names.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .config import ConfigurationError, TrackerSettings, load_settings
from .models import DisputeRecord, Resolution
from .observability import count_resolution, logger
from .providers import ProviderSpec, registry
from .providers.base import Call, CredentialsRejected, Outcome, OutcomeChecker, ProviderError
from .providers.spec import provider_settings_model
from .store import DisputeStore, Superseded, dispute_store
from .transport import Deadline

MAX_INTERVAL_SECONDS = 86400  # at most one check a day


@dataclass
class RunSummary:
    due: int = 0
    checked: int = 0  # asked the provider, still open
    resolved: int = 0  # won or lost
    untracked: int = 0  # followed for the whole tracking period
    failed: int = 0  # the provider could not say: left for the next run
    superseded: int = 0  # checked by an overlapping run first
    left: int = 0  # due, but no time left in this run

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def next_interval(record: DisputeRecord, state: str, base: int) -> int:
    """Seconds until the next check: the base interval after a change, doubling while nothing changes."""
    if base == 0:
        return 0
    if record.check_interval is None or state != record.provider_state:
        return base
    return min(max(record.check_interval, base) * 2, MAX_INTERVAL_SECONDS)


def _at(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class OutcomeTracker:
    def __init__(self, checker: OutcomeChecker, store: DisputeStore, settings: TrackerSettings) -> None:
        self.checker = checker
        self._store = store
        self._settings = settings

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> OutcomeTracker:
        """The tracker of the provider whose secret the environment names (a cold start)."""
        spec = tracked_provider(os.environ if environ is None else environ)
        settings = load_settings(provider_settings_model(spec, TrackerSettings), environ)
        return cls(
            spec.outcomes_factory()(settings),
            dispute_store(settings.disputes_table, settings.record_retention_days),
            settings,
        )

    def run(self, context: Any) -> RunSummary:
        deadline = Deadline.from_lambda_context(context, self._settings.time_reserve_seconds)
        # One "now" for the whole run: a check's next one is then due on the run its interval
        # reaches, not one later because this run took a few seconds to get to it.
        now = datetime.now(UTC)
        due = self._store.due_for_check(self.checker.name, _iso(now), self._settings.page_size)
        summary = RunSummary(due=len(due))
        for position, record in enumerate(due):
            if deadline.remaining < 1:
                summary.left = len(due) - position
                break
            logger.thread_safe_append_keys(dispute_id=record.dispute_id, provider=record.provider)
            try:
                self._check(record, now, deadline, summary)
            except Superseded:
                summary.superseded += 1
            finally:
                logger.thread_safe_remove_keys(["dispute_id", "provider"])
        logger.info("Outcome checks done", extra=summary.as_dict())
        return summary

    def _check(self, record: DisputeRecord, now: datetime, deadline: Deadline, summary: RunSummary) -> None:
        if record.tracked_since and now - _at(record.tracked_since) > timedelta(days=self._settings.tracking_days):
            logger.info("Dispute no longer followed: tracking period over", extra={"state": record.provider_state})
            self._store.resolve(record, Resolution.UNTRACKED)
            summary.untracked += 1
            return
        try:
            outcome = self._ask(record, deadline)
        except ProviderError as error:
            # Nothing is written: the dispute stays due, and the next run asks again.
            logger.warning("Provider could not tell the outcome: asked again next run", extra={"reason": error.reason})
            summary.failed += 1
            return
        if outcome.resolution is Resolution.OPEN:
            interval = next_interval(record, outcome.state, self._settings.check_interval_seconds)
            self._store.record_check(record, outcome.state, interval, _iso(now + timedelta(seconds=interval)))
            summary.checked += 1
            return
        logger.info(f"Dispute {outcome.resolution.value}", extra={"state": outcome.state})
        self._store.resolve(record, outcome.resolution, state=outcome.state, amount=outcome.amount)
        count_resolution(record.provider, outcome.resolution)
        summary.resolved += 1

    def _ask(self, record: DisputeRecord, deadline: Deadline) -> Outcome:
        call = Call(deadline)
        try:
            return self.checker.outcome(record, call)
        except CredentialsRejected:
            logger.warning("Provider refused the credentials: reading the secret again")
            call.fresh_credentials = True
            return self.checker.outcome(record, call)


def tracked_provider(environ: Mapping[str, str]) -> ProviderSpec:
    """The one provider that can tell outcomes and whose `{NAME}_SECRET_ID` is set."""
    trackers = [spec for spec in registry().values() if spec.tracks_outcomes]
    configured = [spec for spec in trackers if environ.get(spec.secret_variable)]
    if len(configured) != 1:
        variables = " or ".join(spec.secret_variable for spec in trackers) or "a provider that tells outcomes"
        raise ConfigurationError(f"invalid configuration: exactly one of {variables} must be set")
    return configured[0]
