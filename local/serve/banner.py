"""What `local.serve` prints once the stack is up: where everything is, and commands to try it.

Names come from the running stack, which read them from the template; each provider's lines
from its spec and its sandbox's `SANDBOX` (a queue body it accepts, a manifest if it takes
evidence), so a provider added later shows up here by itself.

The commands are meant to be pasted as they are: the stack's names are shell variables defined
first (and kept in an env file to `source` in another terminal), every example disputes a
transaction of its own, and the sample files they upload are in the folder the banner names.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dispute_gateway.models import dispute_id_for
from dispute_gateway.providers import ProviderSpec, registry
from local.providers import sandbox_plugs
from local.stack import FAKE_CREDENTIALS, LocalStack
from local.trackers import CHECK_INTERVAL_VARIABLE, tracker_functions
from tests.sandboxes.server import ProviderSandbox

TABLE = "DisputesTable"
BUCKET = "EvidenceBucket"
BUS = "DisputeEventBus"
RECEIPT = "receipt.pdf"
ENV_FILE = "env"
SAMPLES_VARIABLE = "SAMPLES"
SUBSCRIBER_VARIABLE = "SUBSCRIBER_QUEUE_URL"
API_KEY = "try-1"  # the HTTP example's Idempotency-Key, which decides its dispute_id
# References of the examples that do not use the sandbox's own: one live dispute per transaction.
API_SUFFIX = "-api"
UPLOAD_SUFFIX = "-upload"
# The AWS CLI v1 ignores AWS_ENDPOINT_URL (v2 honours it from 2.13): the option works with both.
AWS = 'aws --endpoint-url "$AWS_ENDPOINT_URL"'


@dataclass(frozen=True)
class Banner:
    stack: LocalStack
    providers: Mapping[str, str]  # provider title -> where it is
    files: Path  # folder of the env file, the sample receipt.pdf and each evidence provider's manifest_sample
    log_file: Path | None  # None: the function logs go to the terminal
    sandbox_urls: Mapping[str, str] = field(default_factory=dict)  # provider name -> its sandbox's base URL
    subscriber_queue: str | None = None  # a queue a rule on the event bus sends every change to
    console: list[tuple[str, str]] = field(default_factory=list)  # the operator console's rows

    def render(self) -> str:
        return "\n".join([*self._where(), "", *self._examples(), "", "Ctrl-C stops everything."])

    def _where(self) -> list[str]:
        stack = self.stack
        rows = [
            ("HTTP API", f"{stack.api_url}  (IAM/SigV4 is not checked locally; /ops takes the console's tokens)"),
            *self.console,
            ("embedded AWS", f"{stack.endpoint_url}  (moto, region {stack.model.region})"),
            ("table", stack.ref(TABLE)),
            ("evidence bucket", stack.ref(BUCKET)),
        ]
        windows = {poller.source.logical_id: poller.batching_window_seconds for poller in stack.pollers}
        consumers = {
            source.queue: (function, source)
            for function, spec in stack.model.functions.items()
            for source in spec.event_sources
        }
        for logical_id, queue in stack.model.queues.items():
            if logical_id not in consumers:
                continue  # a dead-letter queue: listed under its source queue
            function, source = consumers[logical_id]
            rows.append((f"queue {logical_id}", stack.ref(logical_id)))
            window = windows.get(source.logical_id, source.batching_window_seconds)
            rows.append(("", f"-> {function} (batch {source.batch_size}, window {window:g} s)"))
            if queue.dead_letter_queue is not None:
                rows.append(
                    ("", f"dead letters after {queue.max_receive_count} receives: {stack.ref(queue.dead_letter_queue)}")
                )
            variables = stack.function_environments.get(function, {})
            if "RETRY_BASE_DELAY_SECONDS" in variables:
                base, cap = variables["RETRY_BASE_DELAY_SECONDS"], variables["RETRY_MAX_DELAY_SECONDS"]
                rows.append(("", f"a failed delivery comes back after {base} s, doubling each time up to {cap} s"))
        for stream_poller in stack.stream_pollers:
            stream = stream_poller.source
            rows.append(
                (
                    f"stream of {stream.table}",
                    f"-> {stream_poller.function.name} (batch {stream.batch_size}, "
                    f"window {stream_poller.batching_window_seconds:g} s, failures to {stream.on_failure})",
                )
            )
        trackers = tracker_functions(stack.model)
        for scheduler in stack.schedulers:
            period = f"every {scheduler.period_seconds:g} s" if scheduler.period_seconds else "not run locally"
            rows.append((f"schedule {scheduler.schedule.logical_id}", f"-> {scheduler.function.name} ({period})"))
            if scheduler.period_seconds and _function_of(stack, scheduler.schedule.logical_id) in trackers:
                rows.append(("", self._outcomes_shown()))
        if self.subscriber_queue is not None:
            rows.append(("event bus", stack.ref(BUS)))
            rows.append(("", f"-> subscriber queue {self.subscriber_queue} (every Dispute Changed event)"))
        rows += [(name, where) for name, where in self.providers.items()]
        logs = f"{self.log_file} (JSON lines)" if self.log_file is not None else "this terminal"
        rows.append(("function logs", logs))
        width = max(len(name) for name, _ in rows)
        return ["Dispute Gateway, local stack from template.yaml", ""] + [
            f"  {name.ljust(width)}  {value}" for name, value in rows
        ]

    def variables(self) -> list[tuple[str, str]]:
        """This stack's names as shell variables, for the commands below and the env file."""
        stack = self.stack
        names = [("API", stack.api_url), ("DISPUTES_TABLE", stack.ref(TABLE)), ("EVIDENCE_BUCKET", stack.ref(BUCKET))]
        for name, spec in registry().items():
            queue = stack.model.queues[stack.provider_queue(name)]
            names.append((spec.queue_url_variable, stack.ref(queue.logical_id)))
            if queue.dead_letter_queue is not None:
                names.append((dead_letter_variable(spec), stack.ref(queue.dead_letter_queue)))
            if name in self.sandbox_urls:
                names.append((sandbox_variable(spec), self.sandbox_urls[name]))
        if self.subscriber_queue is not None:
            names.append((SUBSCRIBER_VARIABLE, self.subscriber_queue))
        names.append((SAMPLES_VARIABLE, str(self.files)))
        return names

    def aws_variables(self) -> list[tuple[str, str]]:
        """What points the AWS CLI and boto3 at the embedded AWS (exported: they run as other processes)."""
        return [
            ("AWS_ENDPOINT_URL", self.stack.endpoint_url),
            *FAKE_CREDENTIALS.items(),
            ("AWS_DEFAULT_REGION", self.stack.model.region),
        ]

    def env_file(self) -> str:
        """The definitions the banner prints, as a file to `source` in any terminal."""
        lines = [f"# Dispute Gateway's local stack (make serve, process {os.getpid()}): its names and the embedded AWS"]
        return "\n".join([*lines, *self._definitions()]) + "\n"

    def _definitions(self) -> list[str]:
        names = [f"{name}={shlex.quote(value)}" for name, value in self.variables()]
        aws = " ".join(f"{name}={shlex.quote(value)}" for name, value in self.aws_variables())
        return [*names, f"export {aws}"]

    def _examples(self) -> list[str]:
        env = shlex.quote(str(self.files / ENV_FILE))
        lines = [
            "Try it from another terminal, in the repository's folder, in bash (zsh: `setopt interactivecomments`",
            f"first): paste these lines, or `source {env}` (the same definitions) and the commands.",
            "",
            "  # this stack's names; the exported ones send the AWS CLI (with --endpoint-url) and boto3 (the",
            "  # redrive script) to the embedded AWS, which takes any credentials (a new terminal for the real AWS)",
            *("  " + line for line in self._definitions()),
            "",
        ]
        return lines + ["  " + line for line in self.commands()]

    def commands(self) -> list[str]:
        """The example commands: this stack's names only through the variables, so that they read the
        same for every stack (the README shows them as they are)."""
        plugs = [(spec, sandbox_plugs()[name]) for name, spec in registry().items() if name in sandbox_plugs()]
        lines: list[str] = []
        over_api = next(((spec, plug) for spec, plug in plugs if spec.evidence is None), None)
        if over_api is not None:
            lines += _api_example(*over_api)
        for spec, plug in plugs:
            lines += _queue_example(spec, plug)
        for spec, plug in plugs:
            if plug.controls and spec.name in self.sandbox_urls:
                variable = "$" + sandbox_variable(spec)
                lines += [line.replace("{base_url}", variable) for line in plug.controls]
                if spec.tracks_outcomes:
                    lines.append(f"# ({self._outcomes_shown()})")
        if self.subscriber_queue is not None:
            lines += [
                "# every change of a dispute (created, submitting, submitted, won...), as a subscriber gets it",
                f'{AWS} sqs receive-message --queue-url "${SUBSCRIBER_VARIABLE}" --max-number-of-messages 10 \\',
                "     --wait-time-seconds 5 --query 'Messages[].Body' --output text",
            ]
        with_dead_letters = [spec for spec, _ in plugs if self._dead_letter_queue(spec) is not None]
        if with_dead_letters:
            variable = "$" + dead_letter_variable(with_dead_letters[0])
            lines += [
                "# what could not be filed waits in a dead-letter queue, with its reason (a failed dispute's",
                "# message too, once its last visibility time-out is over); once the cause is fixed, redrive it",
                f'{AWS} sqs receive-message --queue-url "{variable}" --message-attribute-names All \\',
                "     --visibility-timeout 0",
                f'.venv/bin/python scripts/redrive.py "{variable}"',
            ]
        return lines

    def _dead_letter_queue(self, spec: ProviderSpec) -> str | None:
        return self.stack.model.queues[self.stack.provider_queue(spec.name)].dead_letter_queue

    def _outcomes_shown(self) -> str:
        """When a deal the provider settled shows as won or lost."""
        trackers = set(tracker_functions(self.stack.model))
        periods = [
            scheduler.period_seconds
            for scheduler in self.stack.schedulers
            if scheduler.period_seconds and _function_of(self.stack, scheduler.schedule.logical_id) in trackers
        ]
        if not periods:
            return "the outcome trackers do not run locally: no outcome will show"
        period = max(periods)
        intervals = {
            int(self.stack.function_environments[function].get(CHECK_INTERVAL_VARIABLE, "0")) for function in trackers
        }
        if intervals == {0}:
            return f"a settled deal shows as won/lost within {period:g} s: every run checks every open dispute"
        longest = max(intervals)
        return (
            f"a settled deal shows as won/lost at its dispute's next check: {longest} s after the last one, "
            f"doubling while the deal stays the same (runs every {period:g} s)"
        )


def _function_of(stack: LocalStack, schedule: str) -> str | None:
    return next(
        (
            function
            for function, spec in stack.model.functions.items()
            if any(s.logical_id == schedule for s in spec.schedules)
        ),
        None,
    )


def _api_example(spec: ProviderSpec, plug: ProviderSandbox[Any]) -> list[str]:
    # A transaction of its own: the queue example disputes the plug's, and a transaction has one live dispute.
    request = {
        field: value + API_SUFFIX if field in spec.reference_fields else value for field, value in plug.example.items()
    }
    reference = spec.request.model_validate(request).reference
    body = json.dumps({"provider": spec.name, **request})
    return [
        f"# {spec.title} over the HTTP API (each example disputes a transaction of its own: one live dispute each)",
        "curl -s -w '\\n' -X POST \"$API/disputes\" -H 'content-type: application/json' \\",
        f"     -H 'Idempotency-Key: {API_KEY}' -d {shlex.quote(body)}",
        "# its record, by the dispute_id it answered (its Idempotency-Key decides it), then by transaction",
        f"curl -s -w '\\n' \"$API/disputes/{dispute_id_for(API_KEY, '')}\"",
        f"curl -s -w '\\n' \"$API/disputes?reference={reference}\"",
    ]


def _queue_example(spec: ProviderSpec, plug: ProviderSandbox[Any]) -> list[str]:
    queue = "$" + spec.queue_url_variable
    lines = [f"# {spec.title} by a message on its queue" + (": evidence first" if plug.example_uploads else "")]
    for key in plug.example_uploads:
        lines += [
            f'{AWS} s3 cp "${SAMPLES_VARIABLE}/{RECEIPT}" "s3://$EVIDENCE_BUCKET/{key}" \\',
            "     --content-type application/pdf",
        ]
    lines += [
        f'{AWS} sqs send-message --queue-url "{queue}" \\',
        f"     --message-body {shlex.quote(json.dumps(plug.example))}",
    ]
    if spec.evidence is not None and plug.example_manifest is not None:
        folder = f"{spec.evidence.prefix}{spec.request.model_validate(plug.example).reference}{UPLOAD_SUFFIX}/case1/"
        manifest = spec.evidence.manifest
        lines += [
            f"# {spec.title} by upload: evidence first, {manifest} last (it files the dispute)",
            f'{AWS} s3 cp "${SAMPLES_VARIABLE}/{RECEIPT}" "s3://$EVIDENCE_BUCKET/{folder}{RECEIPT}" \\',
            "     --content-type application/pdf",
            f'{AWS} s3 cp "${SAMPLES_VARIABLE}/{manifest_sample(spec)}" "s3://$EVIDENCE_BUCKET/{folder}{manifest}" \\',
            "     --content-type application/json",
        ]
    return lines


def manifest_sample(spec: ProviderSpec) -> str:
    """The sample file of an evidence provider's manifest in the samples folder: one per provider, since
    each has a manifest of its own (`<name>-dispute.json`), uploaded under the manifest's own name."""
    assert spec.evidence is not None
    return f"{spec.name}-{spec.evidence.manifest}"


def dead_letter_variable(spec: ProviderSpec) -> str:
    return f"{spec.variable_prefix}_DEAD_LETTER_QUEUE_URL"


def sandbox_variable(spec: ProviderSpec) -> str:
    # Not {NAME}_BASE_URL: `make serve` reads that one as a real provider's.
    return f"{spec.variable_prefix}_SANDBOX"
