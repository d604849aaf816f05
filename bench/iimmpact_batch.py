"""How long the IIMMPACT worker takes for a batch of 10 messages against one, at a realistic provider latency.

The records of a batch are sent concurrently, so a batch of 10 should take about as long as
a single message. The real handler runs in-process against the local stack (moto's server,
the IIMMPACT sandbox with 300 ms per answer); fresh transaction ids every run keep every
report a new one. Prints figures; not a test.

    .venv/bin/python bench/iimmpact_batch.py [--repeat N] [--latency SECONDS]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

# Run as a script (`python bench/iimmpact_batch.py`): the repository root holds `local` and `tests`.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from local.providers import wiring
from local.runtime.functions import sqs_event, sqs_lambda_record
from local.stack import LocalStack
from tests.sandboxes.iimmpact import IimmpactSandbox

FUNCTION = "IimmpactReportFunction"
QUEUE = "IimmpactQueue"
BATCH = 10


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each event (default 5)")
    parser.add_argument("--latency", type=float, default=0.3, help="sandbox answer latency in seconds (default 0.3)")
    arguments = parser.parse_args(argv)
    out = sys.stdout
    # The function logs every dispute (JSON lines on stdout, as on Lambda); only the figures are wanted here.
    with open(os.devnull, "w", encoding="utf-8") as devnull, contextlib.redirect_stdout(devnull):
        single, batch = measure(arguments.repeat, arguments.latency)
        # Without provider latency what is left is the local AWS's own time (moto: DynamoDB writes per record).
        base_single, base_batch = measure(arguments.repeat, 0.0)
    one, ten = statistics.median(single), statistics.median(batch)
    print(f"runs: {arguments.repeat}; 1 message: {_seconds(single)}; {BATCH} messages: {_seconds(batch)}", file=out)
    print(
        f"baseline at 0 ms provider latency (the embedded AWS's own time): "
        f"{statistics.median(base_batch):.2f} s vs {statistics.median(base_single):.2f} s",
        file=out,
    )
    print(
        f"IIMMPACT batch of {BATCH} vs 1 message at {arguments.latency * 1000:.0f} ms provider latency: "
        f"{ten:.2f} s vs {one:.2f} s -> {ten / one:.2f}x",
        file=out,
    )
    return 0


def measure(repeat: int, latency: float) -> tuple[list[float], list[float]]:
    """Wall times of the handler for one event of 1 message and one of BATCH messages, `repeat` times each."""
    with IimmpactSandbox(latency=latency) as sandbox, LocalStack(providers=[wiring(sandbox)], poll=False) as stack:
        queue_arn = stack.arn(QUEUE)
        # The first invocation reads the secret and opens connections: a cold start, not what is measured.
        _invoke(stack, queue_arn, 1)
        single = [_invoke(stack, queue_arn, 1) for _ in range(repeat)]
        batch = [_invoke(stack, queue_arn, BATCH) for _ in range(repeat)]
    return single, batch


def _invoke(stack: LocalStack, queue_arn: str, size: int) -> float:
    bodies = [f'{{"trxid": "BENCH-{uuid.uuid4().hex[:12]}"}}' for _ in range(size)]
    event = sqs_event([sqs_lambda_record(_received(body), queue_arn, stack.model.region) for body in bodies])
    started = time.perf_counter()
    response = stack.invoke(FUNCTION, event)
    elapsed = time.perf_counter() - started
    failures = (response or {}).get("batchItemFailures") or []
    if failures:
        raise RuntimeError(f"{len(failures)} of {size} messages failed: the figures would not be comparable")
    return elapsed


def _received(body: str) -> dict[str, Any]:
    """A message as SQS ReceiveMessage returns it, on its first delivery."""
    now = str(int(time.time() * 1000))
    return {
        "MessageId": str(uuid.uuid4()),
        "ReceiptHandle": uuid.uuid4().hex,
        "Body": body,
        "MD5OfBody": hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
        "Attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": now,
            "SenderId": "AIDALOCALBENCH",
            "ApproximateFirstReceiveTimestamp": now,
        },
    }


def _seconds(values: list[float]) -> str:
    return ", ".join(f"{value:.2f}" for value in values) + " s"


if __name__ == "__main__":
    sys.exit(main())
