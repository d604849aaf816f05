"""Scheduled functions: the local stack reads a SAM `Schedule` event from the template (through the
EventBridge rule the transform makes of it) and invokes the function with EventBridge's event.

template.yaml has no schedule yet, so a copy of it gets some: a fixed rate, one from a parameter
on a function invoked through its alias, a cron expression and a disabled rule."""

from __future__ import annotations

import itertools
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from local.aws.template import (
    TEMPLATE,
    ScheduleSpec,
    default_parameters,
    load_model,
    pseudo_parameters,
    read_template,
    sam_transform,
    schedule_rate_seconds,
)
from local.runtime.functions import LocalFunction
from local.runtime.scheduler import Scheduler, scheduled_event
from local.stack import LocalStack, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

REGION, ACCOUNT = "ap-southeast-1", "123456789012"
IIMMPACT, API, REPAY = "IimmpactReportFunction", "ApiFunction", "RepayDisputeFunction"
CHECKS, SWEEP, NIGHTLY, PAUSED = (f"{IIMMPACT}Checks", f"{API}Sweep", f"{REPAY}Nightly", f"{REPAY}Paused")
RATE_PARAMETER = "SweepRate"
PAUSED_INPUT = {"sweep": "paused"}
EVENT_KEYS = {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}
ISO_SECONDS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


@pytest.fixture(scope="module")
def scheduled_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of template.yaml with Schedule events, as JSON beside links to the code folders
    (see test_template_drift)."""
    folder = tmp_path_factory.mktemp("scheduled")
    template = read_template(TEMPLATE)
    assert RATE_PARAMETER not in template["Parameters"]
    template["Parameters"][RATE_PARAMETER] = {"Type": "String", "Default": "rate(2 hours)"}

    def schedule(function: str, name: str, **properties: Any) -> None:
        events = template["Resources"][function]["Properties"]["Events"]
        events[name] = {"Type": "Schedule", "Properties": properties}

    schedule(IIMMPACT, "Checks", Schedule="rate(1 minute)")
    # ApiFunction has AutoPublishAlias: its rule targets the alias, not the function.
    schedule(API, "Sweep", Schedule={"Ref": RATE_PARAMETER})
    schedule(REPAY, "Nightly", Schedule="cron(0 3 * * ? *)")
    schedule(REPAY, "Paused", Schedule="rate(5 minutes)", Enabled=False, Input=json.dumps(PAUSED_INPUT))
    for name in ("functions", "layers"):
        (folder / name).symlink_to(TEMPLATE.parent / name, target_is_directory=True)
    copy = folder / "template.json"
    copy.write_text(json.dumps(template, indent=2), encoding="utf-8")
    return copy


Recorded = list[tuple[float, dict[str, Any]]]


def _record_schedules(stack: LocalStack, function: str, *, failures: int = 0) -> Recorded:
    """The scheduled events `function` receives (with when), in place of its handler; the first
    `failures` of them raise. Other events (a poller's) are answered with nothing."""
    events: Recorded = []

    def recording(event: dict[str, Any], context: Any) -> Any:
        if event.get("source") != "aws.events" and event != PAUSED_INPUT:
            return None
        events.append((time.monotonic(), event))
        if len(events) <= failures:
            raise RuntimeError(f"scheduled run {len(events)} fails")
        return {"handled": event.get("id")}

    stack.functions[function].handler = recording
    return events


# -- the model -------------------------------------------------------------------------------------
def test_schedules_are_read_from_the_template(scheduled_template: Path) -> None:
    functions = load_model(scheduled_template).functions
    assert functions[IIMMPACT].schedules == (ScheduleSpec(CHECKS, "rate(1 minute)", 60),)
    # Through the alias, and with the parameter's default.
    assert functions[API].schedules == (ScheduleSpec(SWEEP, "rate(2 hours)", 7200),)
    nightly, paused = sorted(functions[REPAY].schedules, key=lambda schedule: schedule.logical_id)
    assert nightly == ScheduleSpec(NIGHTLY, "cron(0 3 * * ? *)", None)
    assert paused == ScheduleSpec(PAUSED, "rate(5 minutes)", 300, enabled=False, input=json.dumps(PAUSED_INPUT))
    # A parameter override reaches the expression.
    overridden = load_model(scheduled_template, {RATE_PARAMETER: "rate(1 day)"}).functions[API].schedules
    assert [(schedule.expression, schedule.rate_seconds) for schedule in overridden] == [("rate(1 day)", 86400)]


def test_every_scheduled_rule_reaches_a_function(scheduled_template: Path) -> None:
    """No scheduled rule of the transformed template is left out of the model (say, one whose
    target the model fails to trace to its function), in template.yaml as in the copy."""
    for path in (TEMPLATE, scheduled_template):
        template = read_template(path)
        resources = sam_transform(template, {**default_parameters(template), **pseudo_parameters()})["Resources"]
        rules = {
            logical_id
            for logical_id, resource in resources.items()
            if resource["Type"] == "AWS::Events::Rule"
            and "ScheduleExpression" in resource["Properties"]
            and "Condition" not in resource
        }
        listed = {schedule.logical_id for spec in load_model(path).functions.values() for schedule in spec.schedules}
        assert rules <= listed, path


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [
        ("rate(1 minute)", 60),
        ("rate(15 minutes)", 900),
        ("rate(1 hour)", 3600),
        ("rate(2 hours)", 7200),
        ("rate(1 day)", 86400),
        ("rate(30 days)", 30 * 86400),
        ("cron(0/15 * * * ? *)", None),
    ],
)
def test_rate_expressions(expression: str, seconds: int | None) -> None:
    assert schedule_rate_seconds(expression) == seconds


@pytest.mark.parametrize(
    "expression",
    ["rate(1 minutes)", "rate(5 minute)", "rate(0 minutes)", "rate(01 minute)", "rate(5 seconds)", "rate(5)", "at()"],
)
def test_expressions_eventbridge_refuses(expression: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(expression))):
        schedule_rate_seconds(expression)


# -- the event ---------------------------------------------------------------------------------------
def test_scheduled_event_shape() -> None:
    rule = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/r-1"
    at = datetime(2026, 3, 1, 8, 30, 5, 999_999, tzinfo=timezone(timedelta(hours=8)))
    event = scheduled_event(rule, region=REGION, account=ACCOUNT, at=at)
    assert uuid.UUID(event.pop("id")).version == 4
    assert event == {
        "version": "0",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": "2026-03-01T00:30:05Z",
        "region": REGION,
        "resources": [rule],
        "detail": {},
    }
    now = scheduled_event(rule, region=REGION, account=ACCOUNT)["time"]
    assert abs(datetime.strptime(now, "%Y-%m-%dT%H:%M:%S%z") - datetime.now(UTC)) < timedelta(seconds=5)


def test_run_schedule_invokes_at_once_with_eventbridges_event(scheduled_template: Path) -> None:
    overrides = {RATE_PARAMETER: "rate(1 day)"}
    with LocalStack(template=scheduled_template, parameter_overrides=overrides, poll=False) as stack:
        assert stack.schedulers == []
        assert stack.model.functions[API].schedules[0].rate_seconds == 86400
        checks, sweeps, repay = (_record_schedules(stack, name) for name in (IIMMPACT, API, REPAY))

        before = datetime.now(UTC).replace(microsecond=0)
        answer = stack.run_schedule(IIMMPACT)
        ((_, event),) = checks
        assert answer == {"handled": event["id"]}
        assert set(event) == EVENT_KEYS and uuid.UUID(event["id"]).version == 4
        assert (event["version"], event["detail-type"], event["source"], event["detail"]) == (
            "0",
            "Scheduled Event",
            "aws.events",
            {},
        )
        assert (event["account"], event["region"]) == (stack.model.account, stack.model.region)
        assert ISO_SECONDS.fullmatch(event["time"])
        assert before <= datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%S%z") <= datetime.now(UTC)
        # The rule's ARN, under the name CloudFormation would give an unnamed rule.
        (arn,) = event["resources"]
        assert arn == stack.arn(CHECKS)
        prefix = f"arn:aws:events:{stack.model.region}:{stack.model.account}:rule/{stack.model.stack_name}-{CHECKS}-"
        assert arn.startswith(prefix) and stack.ref(CHECKS) == arn.rsplit("/", 1)[1]

        stack.run_schedule(API)
        assert [event["resources"] for _, event in sweeps] == [[stack.arn(SWEEP)]]
        # A function with several schedules needs the rule named; any rule runs on demand,
        # a cron or a disabled one (whose constant Input is what it sends) included.
        with pytest.raises(LookupError, match=f"{REPAY} has not exactly one schedule"):
            stack.run_schedule(REPAY)
        stack.run_schedule(REPAY, NIGHTLY)
        assert stack.run_schedule(REPAY, PAUSED) == {"handled": None}
        assert [event.get("resources") for _, event in repay] == [[stack.arn(NIGHTLY)], None]
        assert repay[1][1] == PAUSED_INPUT
        with pytest.raises(LookupError, match="no schedule Elsewhere"):
            stack.run_schedule(IIMMPACT, "Elsewhere")

        # An error of the function is the caller's.
        _record_schedules(stack, IIMMPACT, failures=1)
        with pytest.raises(RuntimeError, match="scheduled run 1 fails"):
            stack.run_schedule(IIMMPACT)


# -- the stack's schedulers -----------------------------------------------------------------------
def test_the_stack_runs_its_schedules_at_the_override_period(
    scheduled_template: Path, caplog: pytest.LogCaptureFixture
) -> None:
    period = 0.3
    caplog.set_level(logging.WARNING, logger="local.runtime.scheduler")
    with LocalStack(template=scheduled_template, schedule_override=period, batching_window_override=0) as stack:
        # Replaced at once: the first tick comes one period after the schedulers started.
        checks = _record_schedules(stack, IIMMPACT, failures=1)
        sweeps, repay = _record_schedules(stack, API), _record_schedules(stack, REPAY)
        added = {CHECKS, SWEEP, NIGHTLY, PAUSED}
        by_rule = {
            scheduler.schedule.logical_id: scheduler
            for scheduler in stack.schedulers
            if scheduler.schedule.logical_id in added
        }
        # Of the rules this copy adds, the disabled one is left out; the cron one is listed but not run.
        assert set(by_rule) == {CHECKS, SWEEP, NIGHTLY}
        assert [by_rule[rule].period_seconds for rule in (CHECKS, SWEEP, NIGHTLY)] == [period, period, None]
        assert not by_rule[NIGHTLY].running
        assert any("not run locally" in record.getMessage() for record in caplog.records)

        assert wait_for(lambda: len(checks) >= 4 and len(sweeps) >= 2, 10, interval=0.05)
        # The first run raised; the schedule went on.
        assert by_rule[CHECKS].errors == 1 and by_rule[CHECKS].running
        assert by_rule[CHECKS].invocations >= 4
        gaps = [later - earlier for (earlier, _), (later, _) in itertools.pairwise(checks)]
        assert all(period * 0.5 < gap < period * 3 for gap in gaps), gaps
        assert {event["resources"][0] for _, event in checks} == {stack.arn(CHECKS)}
        assert {event["resources"][0] for _, event in sweeps} == {stack.arn(SWEEP)}
        schedulers = list(stack.schedulers)
    # Stopped with the stack: the threads ended, nothing runs after.
    assert not any(scheduler.running for scheduler in schedulers)
    assert stack.schedulers == []
    seen = len(checks) + len(sweeps)
    time.sleep(period * 2)
    assert len(checks) + len(sweeps) == seen
    assert repay == []


def test_a_schedule_override_must_be_positive() -> None:
    with pytest.raises(ValueError, match="schedule_override"):
        LocalStack(schedule_override=0)


# -- one scheduler ---------------------------------------------------------------------------------
def _function(handler: Callable[[dict[str, Any], Any], Any]) -> LocalFunction:
    return LocalFunction("scheduled", handler, timeout_seconds=3, memory_mb=128, region=REGION, account=ACCOUNT)


def _scheduler(
    handler: Callable[[dict[str, Any], Any], Any], period: float, expression: str = "rate(1 minute)"
) -> Scheduler:
    spec = ScheduleSpec("Rule", expression, schedule_rate_seconds(expression))
    arn = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/r-1"
    return Scheduler(
        schedule=spec, function=_function(handler), rule_arn=arn, region=REGION, account=ACCOUNT, period_seconds=period
    )


def test_first_run_comes_after_one_period_then_every_period() -> None:
    period, run_time, times = 0.2, 0.1, []

    def busy(event: dict[str, Any], context: Any) -> None:
        times.append(time.monotonic())
        time.sleep(run_time)

    scheduler = _scheduler(busy, period)
    assert scheduler.period_seconds == period
    started = time.monotonic()
    scheduler.start()
    try:
        assert wait_for(lambda: len(times) >= 5, 5, interval=0.02)
    finally:
        scheduler.stop(1)
    assert times[0] - started >= period
    # Ticks keep to a grid: the time each run takes does not push the next ones back
    # (which would put the fifth at 5 periods + 4 runs).
    assert times[4] - started == pytest.approx(5 * period, abs=0.15)
    assert (scheduler.invocations, scheduler.errors, scheduler.skipped) == (len(times), 0, 0)


def test_without_an_override_the_rate_is_the_period() -> None:
    spec = ScheduleSpec("Rule", "rate(15 minutes)", 900)
    arn = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/r-1"
    scheduler = Scheduler(
        schedule=spec, function=_function(lambda e, c: None), rule_arn=arn, region=REGION, account=ACCOUNT
    )
    assert scheduler.period_seconds == 900
    with pytest.raises(ValueError, match="positive"):
        Scheduler(
            schedule=spec, function=scheduler.function, rule_arn=arn, region=REGION, account=ACCOUNT, period_seconds=-1
        )


def test_a_failing_run_is_logged_and_counted_and_the_schedule_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[dict[str, Any]] = []

    def flaky(event: dict[str, Any], context: Any) -> None:
        calls.append(event)
        if len(calls) <= 2:
            raise RuntimeError("downstream unavailable")

    scheduler = _scheduler(flaky, 0.05)
    scheduler.start()
    try:
        assert wait_for(lambda: len(calls) >= 4, 5, interval=0.02)
        assert scheduler.running
    finally:
        scheduler.stop(1)
    assert scheduler.errors == 2 and scheduler.invocations == len(calls)
    failures = [record for record in caplog.records if record.exc_info and "Rule" in record.getMessage()]
    assert len(failures) == 2 and "downstream unavailable" in caplog.text
    # Every run got its own event.
    assert len({event["id"] for event in calls}) == len(calls)


def test_stop_is_prompt_between_runs() -> None:
    scheduler = _scheduler(lambda event, context: None, 60)
    scheduler.start()
    assert scheduler.running
    started = time.monotonic()
    scheduler.stop(5)
    assert time.monotonic() - started < 0.5
    assert not scheduler.running and scheduler.invocations == 0


def test_stop_waits_for_a_run_under_way_and_starts_no_other() -> None:
    entered, release, finished = threading.Event(), threading.Event(), threading.Event()

    def slow(event: dict[str, Any], context: Any) -> None:
        entered.set()
        release.wait(5)
        finished.set()

    scheduler = _scheduler(slow, 0.05)
    scheduler.start()
    assert entered.wait(5)
    threading.Timer(0.3, release.set).start()
    started = time.monotonic()
    scheduler.stop(5)
    assert time.monotonic() - started >= 0.25
    assert finished.is_set() and not scheduler.running
    assert scheduler.invocations == 1


def test_ticks_that_fall_during_a_long_run_are_skipped() -> None:
    times: list[float] = []

    def long(event: dict[str, Any], context: Any) -> None:
        times.append(time.monotonic())
        time.sleep(0.25)

    scheduler = _scheduler(long, 0.1)
    scheduler.start()
    try:
        assert wait_for(lambda: len(times) >= 3, 5, interval=0.02)
    finally:
        scheduler.stop(2)
    assert scheduler.skipped >= 2
    # One run at a time: the next starts on the first tick after the previous one ended.
    assert all(later - earlier >= 0.25 for earlier, later in itertools.pairwise(times))


def test_a_cron_schedule_is_kept_but_not_run(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[dict[str, Any]] = []
    scheduler = _scheduler(lambda event, context: calls.append(event), 0.05, "cron(0/5 * * * ? *)")
    assert scheduler.period_seconds is None
    scheduler.start()
    assert not scheduler.running
    time.sleep(0.2)
    scheduler.stop(1)
    assert calls == [] and scheduler.invocations == 0
    (warning,) = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert "cron(0/5 * * * ? *)" in warning.getMessage() and "not run locally" in warning.getMessage()
