"""`make serve`: the whole service on this machine, for a developer, until Ctrl-C.

    python -m local.serve [--port 3000] [--visibility-timeout SECONDS] [--batching-window SECONDS]
                          [--retry-base-delay SECONDS] [--max-receive-count N]
                          [--schedule-period SECONDS] [--outcome-check-interval SECONDS]
                          [--logs | --log-file PATH]
                          [--<provider>-url URL --<provider>-secret-file FILE]...

It runs what `make demo` runs (moto's server as AWS, the template's resources, the functions
fed by their queues' pollers, the bucket's notifications and the table's stream), plus the HTTP
API on http://127.0.0.1:PORT (0: any free port) and a subscriber's queue on the event bus (every
change of a dispute), and prints the URLs, names and copy-paste commands to use them; the same
names go to `$TMPDIR/dispute-gateway-serve-PORT/env` for another terminal to `source` (see
`local.serve.files`). Each provider is its sandbox unless a real base URL and credentials are
given (see `local.serve.real_providers` for the flags and variables, named after each provider);
a real provider gets every dispute filed, so say so loudly. The banner also gives the operator
console's URL and a viewer's and an operator's login made for the run.

Outcomes show within seconds: the schedules (the outcome trackers') run every 5 s, and every
tracker checks every open dispute on each run, unless told otherwise.

The functions' log lines (JSON, as on Lambda) go to a file of this run's own (`--log-file` to
append to one of your choice; see `local.logs`) or, with `--logs`, to this terminal. Ctrl-C or
SIGTERM stops the pollers, the HTTP server, the sandboxes and moto's process, and exits 0; moto's
process also ends by itself if this one is killed (see `local/aws/moto_child.py`).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import signal
import sys
import time
import warnings
from pathlib import Path
from types import FrameType
from typing import TextIO
from urllib.parse import urlsplit

from dispute_gateway.providers import provider_spec, registry
from local import samples
from local.logs import open_log
from local.providers import ProviderWiring, sandbox_plugs, start_sandboxes, wiring
from local.runtime.http_server import DEFAULT_PORT
from local.serve.banner import ENV_FILE, RECEIPT, Banner, manifest_sample
from local.serve.console_users import console_lines, console_logins
from local.serve.files import FolderTaken, stack_folder
from local.serve.real_providers import ProviderConfigError, add_arguments, real_providers
from local.stack import LocalStack
from local.trackers import CHECK_INTERVAL_VARIABLE, check_interval_overrides

SUBSCRIBER_RULE = "local-subscriber"
# A subscriber's pattern, from the contract (section 10); importing the publisher's module here
# would create its Logger before the log file is chosen.
SUBSCRIBER_PATTERN = {"source": ["dispute-gateway"], "detail-type": ["Dispute Changed"]}
# A sandbox settles a deal when asked: its outcome should show while the developer watches, not
# after the template's 15 minutes (its schedule) and 900 s, doubling (the tracker's interval).
SCHEDULE_PERIOD_SECONDS = 5.0
OUTCOME_CHECK_INTERVAL_SECONDS = 0
_MAX_CHECK_INTERVAL_SECONDS = 86400  # the template parameter's MaxValue


class Stopped(Exception):
    """Raised in the main thread by the first SIGINT or SIGTERM: unwinds whatever runs, start-up included."""


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    arguments = parser.parse_args(argv)
    try:
        real = real_providers(arguments, os.environ)
    except ProviderConfigError as error:
        parser.error(str(error))
    # Powertools warns on every API answer that published no metric (a lookup).
    warnings.filterwarnings("ignore", "No application metrics to publish")
    out = sys.stdout
    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return _serve(arguments, real, out)
    except Stopped as stopped:
        print(f"\n{stopped}: stopped", file=out, flush=True)
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _serve(arguments: argparse.Namespace, real: dict[str, ProviderWiring], out: TextIO) -> int:
    with contextlib.ExitStack() as resources:
        log_path = None
        if not arguments.logs:
            log_file, log_path = open_log("serve", arguments.log_file)
            resources.enter_context(log_file)
            # Lambda's stdout is its log: the functions' loggers bind to it when they are imported.
            resources.enter_context(contextlib.redirect_stdout(log_file))
        wirings, providers, sandbox_urls = list(real.values()), {}, {}
        for name, real_wiring in real.items():
            where = f"REAL provider at {real_wiring.base_url}: every dispute filed goes to it"
            providers[provider_spec(name).title] = where
        for name, sandbox in start_sandboxes(resources, skip=set(real)).items():
            wirings.append(wiring(sandbox))
            sandbox_urls[name] = sandbox.base_url
            providers[provider_spec(name).title] = f"sandbox at {sandbox.base_url} ({sandbox_plugs()[name].notes})"
        parameters = _retry_parameters(arguments)
        stack = LocalStack(
            providers=wirings,
            http_port=arguments.port,
            visibility_timeout_override=arguments.visibility_timeout,
            batching_window_override=arguments.batching_window,
            schedule_override=arguments.schedule_period,
            parameter_overrides=parameters,
            environment_overrides=check_interval_overrides(
                arguments.outcome_check_interval, parameter_overrides=parameters
            ),
        )
        try:
            resources.enter_context(stack)
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                raise
            print(f"port {arguments.port} is in use: choose another with --port N (0: any free port)", file=out)
            return 1
        # As an upstream team would: a rule on the bus for every change, an SQS queue as its target.
        subscriber = stack.subscribe(SUBSCRIBER_RULE, SUBSCRIBER_PATTERN)
        try:
            files = resources.enter_context(stack_folder(urlsplit(stack.api_url).port or arguments.port))
        except FolderTaken as error:
            print(error, file=out)
            return 1
        _write_samples(files)
        console = console_lines(stack, console_logins(stack))
        banner = Banner(stack, providers, files, log_path, sandbox_urls, subscriber_queue=subscriber, console=console)
        (files / ENV_FILE).write_text(banner.env_file(), encoding="utf-8")
        print(banner.render(), file=out, flush=True)
        while True:
            time.sleep(3600)


def _write_samples(folder: Path) -> None:
    """The files the banner's commands upload: a receipt, and each evidence provider's manifest in a
    file of its own (`manifest_sample`)."""
    (folder / RECEIPT).write_bytes(samples.pdf("A receipt: 1000 paid"))
    for name, spec in registry().items():
        plug = sandbox_plugs().get(name)
        if spec.evidence is not None and plug is not None and plug.example_manifest is not None:
            (folder / manifest_sample(spec)).write_text(json.dumps(plug.example_manifest) + "\n", encoding="utf-8")


def _retry_parameters(arguments: argparse.Namespace) -> dict[str, int]:
    given = {"RetryBaseDelaySeconds": arguments.retry_base_delay, "MaxReceiveCount": arguments.max_receive_count}
    return {name: value for name, value in given.items() if value is not None}


def _stop(signum: int, _frame: FrameType | None) -> None:
    # Only the first signal stops: a second one must not cut the shutdown short and leave a
    # process behind. The shutdown is bounded (pollers wait at most a function's time-out).
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _still_stopping)
    raise Stopped(signal.Signals(signum).name)


def _still_stopping(_signum: int, _frame: FrameType | None) -> None:
    print("still stopping (waiting for an invocation under way to end)...", file=sys.stderr, flush=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m local.serve",
        description="Run Dispute Gateway locally (HTTP API, queues, S3 uploads) until Ctrl-C.",
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"HTTP API port on 127.0.0.1 (default {DEFAULT_PORT}; 0: any)"
    )
    parser.add_argument(
        "--visibility-timeout",
        type=int,
        metavar="SECONDS",
        help="every queue's visibility time-out: when a message held by another delivery comes back "
        "(a provider's failures follow the retry delays instead; default: the template's)",
    )
    parser.add_argument(
        "--retry-base-delay",
        type=int,
        metavar="SECONDS",
        help="the delay after a failed delivery, doubling per delivery (default: the template's 60 s)",
    )
    parser.add_argument(
        "--max-receive-count",
        type=int,
        metavar="N",
        help="deliveries before a dispute is failed and its message dead-lettered (default: the template's 12)",
    )
    parser.add_argument(
        "--batching-window",
        type=float,
        metavar="SECONDS",
        help="every event source's batching window, 0 to deliver at once (default: the template's)",
    )
    parser.add_argument(
        "--schedule-period",
        type=_positive,
        default=SCHEDULE_PERIOD_SECONDS,
        metavar="SECONDS",
        help=f"every schedule's period: how often the outcome trackers run (default {SCHEDULE_PERIOD_SECONDS:g}, "
        "instead of the template's 15 minutes)",
    )
    parser.add_argument(
        "--outcome-check-interval",
        type=_check_interval,
        default=OUTCOME_CHECK_INTERVAL_SECONDS,
        metavar="SECONDS",
        help=f"every outcome tracker's {CHECK_INTERVAL_VARIABLE}: least time between two checks of one open "
        "dispute, doubling while it stays the same (default 0: each run checks every open dispute, so a settled "
        "deal shows within a schedule period; the template's is 900)",
    )
    logs = parser.add_mutually_exclusive_group()
    logs.add_argument("--logs", action="store_true", help="print the functions' log lines here")
    logs.add_argument(
        "--log-file",
        type=Path,
        metavar="PATH",
        help="append the function logs to this file (default: a new file for each run, in the temporary "
        "directory, named in the banner)",
    )
    add_arguments(parser)
    return parser


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds above 0, not {text!r}")
    return value


def _check_interval(text: str) -> int:
    if not text.isdigit() or int(text) > _MAX_CHECK_INTERVAL_SECONDS:
        raise argparse.ArgumentTypeError(
            f"expected whole seconds from 0 to {_MAX_CHECK_INTERVAL_SECONDS}, not {text!r}"
        )
    return int(text)


if __name__ == "__main__":
    sys.exit(main())
