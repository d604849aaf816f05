"""What `local.serve` prints once the stack is up: where everything is, and commands to try it.

Names come from the running stack, which read them from the template; each provider's lines
from its spec and its sandbox's `SANDBOX` (a queue body it accepts, a manifest if it takes
evidence), so a provider added later shows up here by itself.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dispute_gateway.providers import ProviderSpec, registry
from local.providers import sandbox_plugs
from local.stack import FAKE_CREDENTIALS, LocalStack
from tests.sandboxes.server import ProviderSandbox

TABLE = "DisputesTable"
BUCKET = "EvidenceBucket"
BUS = "DisputeEventBus"
RECEIPT = "receipt.pdf"


@dataclass(frozen=True)
class Banner:
    stack: LocalStack
    providers: Mapping[str, str]  # provider title -> where it is
    files: Path  # folder of the sample receipt.pdf and each evidence provider's manifest
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
        for scheduler in stack.schedulers:
            period = f"every {scheduler.period_seconds:g} s" if scheduler.period_seconds else "not run locally"
            rows.append((f"schedule {scheduler.schedule.logical_id}", f"-> {scheduler.function.name} ({period})"))
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

    def _examples(self) -> list[str]:
        stack = self.stack
        aws = f"aws --endpoint-url {stack.endpoint_url}"
        credentials = " ".join(f"{name}={value}" for name, value in FAKE_CREDENTIALS.items())
        plugs = [(spec, sandbox_plugs()[name]) for name, spec in registry().items() if name in sandbox_plugs()]
        first, first_plug = plugs[0]
        reference = first.request.model_validate(first_plug.example).reference
        body = json.dumps({"provider": first.name, **first_plug.example})
        lines = [
            "Try it from another terminal:",
            "",
            f"  API={stack.api_url}",
            "  # file a dispute over the HTTP API, then read its record (use the dispute_id it answers)",
            "  curl -s -X POST $API/disputes -H 'content-type: application/json' -H 'Idempotency-Key: try-1' \\",
            f"       -d {shlex.quote(body)}",
            "  curl -s $API/disputes/<dispute_id>",
            f'  curl -s "$API/disputes?reference={reference}"',
            "",
            "  # the AWS CLI against the embedded AWS needs these (moto accepts any credentials):",
            f"  export {credentials} AWS_DEFAULT_REGION={stack.model.region}",
        ]
        bucket, receipt = stack.ref(BUCKET), shlex.quote(str(self.files / RECEIPT))
        for spec, plug in plugs:
            queue = stack.provider_queue(spec.name)
            lines.append(
                f"  # {spec.title} by a message on its queue" + (": evidence first" if plug.example_uploads else "")
            )
            for key in plug.example_uploads:
                lines.append(f"  {aws} s3 cp {receipt} s3://{bucket}/{key} --content-type application/pdf")
            lines.append(f"  {aws} sqs send-message --queue-url {stack.ref(queue)} \\")
            lines.append(f"       --message-body {shlex.quote(json.dumps(plug.example))}")
            if spec.evidence is not None and plug.example_manifest is not None:
                upload_reference = spec.request.model_validate(plug.example).reference + "-upload"
                folder = f"{spec.evidence.prefix}{upload_reference}/case1/"
                manifest = shlex.quote(str(self.files / spec.evidence.manifest))
                lines += [
                    f"  # {spec.title} by upload: evidence first, {spec.evidence.manifest} last (it files the dispute)",
                    f"  {aws} s3 cp {receipt} s3://{bucket}/{folder}{RECEIPT} --content-type application/pdf",
                    f"  {aws} s3 cp {manifest} s3://{bucket}/{folder}{spec.evidence.manifest} "
                    "--content-type application/json",
                ]
        for name, plug in plugs_by_name(plugs).items():
            if plug.controls and name in self.sandbox_urls:
                lines += ["  " + line.replace("{base_url}", self.sandbox_urls[name]) for line in plug.controls]
        if self.subscriber_queue is not None:
            lines += [
                "  # every change of a dispute (created, submitting, submitted, won...), as a subscriber gets it",
                f"  {aws} sqs receive-message --queue-url {self.subscriber_queue} --max-number-of-messages 10 \\",
                "       --wait-time-seconds 5 --query 'Messages[].Body' --output text",
            ]
        dead_letters = stack.model.queues[stack.provider_queue(first.name)].dead_letter_queue
        lines += [
            "  # what could not be filed at all waits in a dead-letter queue, with its reason",
            f"  {aws} sqs receive-message --queue-url {stack.ref(dead_letters) if dead_letters else '(none)'} "
            "--message-attribute-names All",
        ]
        return lines


def plugs_by_name(plugs: list[tuple[ProviderSpec, ProviderSandbox[Any]]]) -> dict[str, ProviderSandbox[Any]]:
    return {spec.name: plug for spec, plug in plugs}
