"""EventBridge's scheduled rules, played locally: invoke a function every period with a scheduled event.

As on EventBridge, the first invocation comes one period after the rule starts, not at once,
and ticks keep to a fixed grid (start + k periods) however long an invocation takes. Where it
differs: EventBridge invokes Lambda asynchronously, so runs may overlap and a failed run is
retried by Lambda; here a function runs one invocation at a time (see `LocalFunction`), so a
tick that falls while the previous invocation is still running is skipped (and counted), and a
failed run is logged and counted, not retried. Either way the schedule goes on.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from local.aws.template import ScheduleSpec
from local.runtime.functions import LocalFunction, let_finish

log = logging.getLogger(__name__)


def rule_arn(name: str, region: str, account: str) -> str:
    return f"arn:aws:events:{region}:{account}:rule/{name}"


def scheduled_event(rule: str, *, region: str, account: str, at: datetime | None = None) -> dict[str, Any]:
    """The event EventBridge sends the targets of the scheduled rule whose ARN is `rule`, for the tick at `at`."""
    moment = (at or datetime.now(UTC)).astimezone(UTC)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        # EventBridge gives the time to the second.
        "time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule],
        "detail": {},
    }


def event_for(schedule: ScheduleSpec, rule: str, *, region: str, account: str) -> Any:
    """What the target receives: its constant Input when the template gives one, else the scheduled event."""
    if schedule.input is not None:
        return json.loads(schedule.input)
    return scheduled_event(rule, region=region, account=account)


class Scheduler:
    """One schedule of one function, on its own thread from `start` to `stop`."""

    def __init__(
        self,
        *,
        schedule: ScheduleSpec,
        function: LocalFunction,
        rule_arn: str,
        region: str,
        account: str,
        period_seconds: float | None = None,
    ) -> None:
        """`period_seconds` replaces a rate expression's period (a cron expression is still not run)."""
        if period_seconds is not None and period_seconds <= 0:
            raise ValueError(f"a schedule's period must be positive, not {period_seconds}")
        self.schedule = schedule
        self.function = function
        self.rule_arn = rule_arn
        self.invocations = 0  # invocations made
        self.errors = 0  # invocations that raised
        self.skipped = 0  # ticks that fell while an invocation was still running
        self._region = region
        self._account = account
        self._period: float | None = None
        if schedule.rate_seconds is not None:
            self._period = period_seconds if period_seconds is not None else schedule.rate_seconds
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"scheduler-{schedule.logical_id}", daemon=True)

    @property
    def period_seconds(self) -> float | None:
        """Seconds between invocations; None when the schedule is not run locally (cron)."""
        return self._period

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> None:
        if self._period is None:
            log.warning(
                "schedule %s (%s) of %s is not run locally: only rate(...) expressions are",
                self.schedule.logical_id,
                self.schedule.expression,
                self.function.name,
            )
            return
        self._thread.start()

    def stop(self, timeout: float) -> None:
        """Stop the schedule. Between ticks the thread ends at once; an invocation under way is
        waited for, up to `timeout` seconds, and no other starts after it."""
        self._stopping.set()
        if self._thread.is_alive():
            let_finish(self._thread, timeout, f"schedule {self.schedule.logical_id}")

    def _run(self) -> None:
        period = self._period
        assert period is not None
        due = time.monotonic() + period
        while not self._stopping.wait(max(0.0, due - time.monotonic())):
            self._invoke()
            due += period
            late = time.monotonic() - due
            if late >= 0:
                missed = int(late // period) + 1
                self.skipped += missed
                due += missed * period
                log.warning(
                    "schedule %s: the invocation outlasted its period; %d tick(s) skipped",
                    self.schedule.logical_id,
                    missed,
                )

    def _invoke(self) -> None:
        self.invocations += 1
        event = event_for(self.schedule, self.rule_arn, region=self._region, account=self._account)
        try:
            self.function.invoke(event)
        except Exception:
            # EventBridge goes on with its schedule whatever became of one run.
            self.errors += 1
            log.exception("schedule %s: function %s failed", self.schedule.logical_id, self.function.name)
