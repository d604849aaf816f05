"""`make demo`: the service on this machine, disputes filed through every route, the records printed.

The disputes are the ones each provider's sandbox module declares (`SANDBOX.demo_cases`): over the
HTTP API on a loopback port (evidence first through presigned S3 POSTs), on the provider's queue,
by an upload whose manifest files the dispute, and a poison message that must end in its
dead-letter queue (see `local.demo.api_cases` and `local.demo.cases`). A subscriber's queue on the
event bus receives every change; each dispute's events are printed after the table (see
`local.demo.events`).

Exits 0 when every dispute ends as expected, 1 otherwise. The functions' own log lines (JSON,
as on Lambda) go to a file, so that the records stay readable; `--logs` prints them instead.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
import warnings
from typing import Any, TextIO

from dispute_gateway.providers import provider_spec
from local.demo.api_cases import api_case
from local.demo.cases import Case, Records, declared_cases, queued_case, stored_records
from local.demo.events import Change, all_published, changes_by_dispute, print_events, subscribe
from local.demo.report import print_record, print_table
from local.logs import open_log
from local.providers import start_sandboxes, wiring
from local.stack import LocalStack, wait_for
from local.trackers import check_interval_overrides

WAIT_SECONDS = 60
EVENTS_WAIT_SECONDS = 20
TRACKER_PERIOD_SECONDS = 1.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run Dispute Gateway locally and file a few disputes.")
    parser.add_argument("--logs", action="store_true", help="print the functions' log lines instead of saving them")
    arguments = parser.parse_args(argv)
    # Powertools warns on every API answer that published no metric (a lookup); pytest ignores it too.
    warnings.filterwarnings("ignore", "No application metrics to publish")
    out = sys.stdout
    log_path = None
    with contextlib.ExitStack() as resources:
        if not arguments.logs:
            log_file, log_path = open_log("demo")
            resources.enter_context(log_file)
            # Lambda's stdout is its log: the functions' loggers bind to it when they are imported.
            resources.enter_context(contextlib.redirect_stdout(log_file))
        ok = run(out)
    if log_path is not None:
        print(f"\nfunction logs: {log_path}", file=out)
    return 0 if ok else 1


def run(out: TextIO) -> bool:
    started = time.monotonic()
    cases = demo_cases()
    with contextlib.ExitStack() as resources:
        sandboxes = start_sandboxes(resources)
        stack = resources.enter_context(
            LocalStack(
                providers=[wiring(sandbox) for sandbox in sandboxes.values()],
                http_port=0,
                # The outcome trackers run every second instead of every 15 minutes, and check
                # every open dispute each time: the demo shows outcomes within seconds.
                schedule_override=TRACKER_PERIOD_SECONDS,
                environment_overrides=check_interval_overrides(0),
            )
        )
        _print_wiring(stack, sandboxes, out)
        subscription = subscribe(stack)
        for case in cases:
            case.file(stack)
        print(f"\nfiled {len(cases)} cases; waiting for each to end...", file=out, flush=True)
        records = wait_for(lambda: _all_settled(stack, cases, sandboxes), WAIT_SECONDS) or stored_records(stack)
        # The events follow the records through the table's stream: wait for the last of them.
        published = wait_for(lambda: _all_published(stack, subscription), EVENTS_WAIT_SECONDS)
        records, changes = published or (records, changes_by_dispute(stack.events(subscription)))
    elapsed = time.monotonic() - started
    for case in cases:
        print_record(case.reference, case.detail(records), out)
    rows = [case.row(records) for case in cases]
    print(file=out)
    print_table(rows, out)
    events_match = print_events([case.reference for case in cases], records, changes, out)
    ok = all(row.ok for row in rows) and events_match
    verdict = "every dispute ended as expected" if ok else "some disputes did not end as expected"
    print(f"\n{verdict} ({elapsed:.1f} s)", file=out)
    return ok


def demo_cases() -> list[Case]:
    """Every provider's declared cases: the HTTP API's first, then the queues' and the uploads'."""
    declared = declared_cases()
    return [
        *(api_case(provider, case) for provider, case in declared if case.route == "api"),
        *(queued_case(provider, case) for provider, case in declared if case.route != "api"),
    ]


def _all_settled(stack: LocalStack, cases: list[Case], sandboxes: dict[str, Any]) -> Records | None:
    records = stored_records(stack)
    for case in cases:
        case.decide(records, sandboxes)
    return records if all(case.settled(stack, records) for case in cases) else None


def _all_published(stack: LocalStack, subscription: str) -> tuple[Records, dict[str, list[Change]]] | None:
    records, changes = stored_records(stack), changes_by_dispute(stack.events(subscription))
    return (records, changes) if all_published(records, changes) else None


def _print_wiring(stack: LocalStack, sandboxes: dict[str, Any], out: TextIO) -> None:
    rows = [("embedded AWS (moto)", stack.endpoint_url), ("HTTP API", stack.api_url)]
    rows += [(f"{provider_spec(name).title} sandbox", sandbox.base_url) for name, sandbox in sandboxes.items()]
    for poller in stack.pollers:
        source = poller.source
        rows.append(
            (
                "function",
                f"{poller.function.name} <- {source.queue} "
                f"(batch {source.batch_size}, window {source.batching_window_seconds:g} s)",
            )
        )
    for stream_poller in stack.stream_pollers:
        stream = stream_poller.source
        rows.append(
            (
                "function",
                f"{stream_poller.function.name} <- stream of {stream.table} "
                f"(batch {stream.batch_size}, window {stream_poller.batching_window_seconds:g} s)",
            )
        )
    routes = [route.route_key for spec in stack.model.functions.values() for route in spec.http_routes]
    rows.append(("routes", ", ".join(routes)))
    for name, value in rows:
        print(f"{name:<20} {value}", file=out)


if __name__ == "__main__":
    sys.exit(main())
