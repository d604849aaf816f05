"""What `local.serve` prints once the stack is up: where everything is, and commands to try it.

Names come from the running stack, which read them from the template; only the logical ids
of the resources a newcomer is pointed at (the table, the bucket, the two queues) are named
here, as in the demo.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from local.stack import FAKE_CREDENTIALS, LocalStack

TABLE = "DisputesTable"
BUCKET = "EvidenceBucket"
IIMMPACT_QUEUE = "IimmpactQueue"
REPAY_QUEUE = "RepayQueue"


@dataclass(frozen=True)
class Banner:
    stack: LocalStack
    providers: Mapping[str, str]  # provider name -> where it is
    files: Path  # folder of the sample receipt.pdf and dispute.json
    log_file: Path | None  # None: the function logs go to the terminal

    def render(self) -> str:
        return "\n".join([*self._where(), "", *self._examples(), "", "Ctrl-C stops everything."])

    def _where(self) -> list[str]:
        stack = self.stack
        rows = [
            ("HTTP API", f"{stack.api_url}  (no authorization: IAM/SigV4 is not checked locally)"),
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
        bucket = stack.ref(BUCKET)
        receipt, manifest = shlex.quote(str(self.files / "receipt.pdf")), shlex.quote(str(self.files / "dispute.json"))
        credentials = " ".join(f"{name}={value}" for name, value in FAKE_CREDENTIALS.items())
        command = (
            '{"deal_id": "D-2", "new_amount": "500", '
            '"evidence": [{"key": "repay/D-2/cmd1/receipt.pdf", "content_type": "application/pdf"}]}'
        )
        return [
            "Try it from another terminal:",
            "",
            f"  API={stack.api_url}",
            "  # file a dispute over the HTTP API, then read its record (use the dispute_id it answers)",
            "  curl -s -X POST $API/disputes -H 'content-type: application/json' -H 'Idempotency-Key: try-1' \\",
            '       -d \'{"provider": "iimmpact", "trxid": "T-1001", "user_email": ["buyer@example.com"]}\'',
            "  curl -s $API/disputes/<dispute_id>",
            '  curl -s "$API/disputes?reference=T-1001"',
            "",
            "  # the AWS CLI against the embedded AWS needs these (moto accepts any credentials):",
            f"  export {credentials} AWS_DEFAULT_REGION={stack.model.region}",
            "  # a message on the IIMMPACT queue",
            f"  {aws} sqs send-message --queue-url {stack.ref(IIMMPACT_QUEUE)} \\",
            '       --message-body \'{"trxid": "T-1002"}\'',
            "  # Repay by upload: evidence first, dispute.json last (its notification files the dispute)",
            f"  {aws} s3 cp {receipt} s3://{bucket}/repay/D-1/case1/receipt.pdf --content-type application/pdf",
            f"  {aws} s3 cp {manifest} s3://{bucket}/repay/D-1/case1/dispute.json --content-type application/json",
            '  curl -s "$API/disputes?reference=D-1"',
            "  # Repay by command: evidence first, then the message naming it",
            f"  {aws} s3 cp {receipt} s3://{bucket}/repay/D-2/cmd1/receipt.pdf --content-type application/pdf",
            f"  {aws} sqs send-message --queue-url {stack.ref(REPAY_QUEUE)} \\",
            f"       --message-body '{command}'",
            "  # what could not be filed at all waits in a dead-letter queue, with its reason",
            f"  {aws} sqs receive-message --queue-url {self._dead_letter_queue(IIMMPACT_QUEUE)} "
            "--message-attribute-names All",
        ]

    def _dead_letter_queue(self, queue: str) -> str:
        target = self.stack.model.queues[queue].dead_letter_queue
        return self.stack.ref(target) if target is not None else "(none)"
