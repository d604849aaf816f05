"""How long the IIMMPACT worker takes for a batch of 10 messages against one, at a realistic provider latency.

The records of a batch are sent concurrently, so a batch of 10 should take about as long as one
message. Measured twice in one run, as the tests and the local stack run AWS:

- over in-process moto (`mock_aws`, as the unit and integration tests): moto's own work (its
  DynamoDB) runs in this process, under the same GIL as the worker's ten threads;
- over moto's server (the local stack: moto in its own process, over HTTP).

Either way the IIMMPACT sandbox answers over real HTTP after `--latency` seconds, every message
is a new report, and a message really sits on its queue (received, so its receipt handle and
receive count are SQS's). A batch and a single message are timed in turn, and the figure is the
median of the per-pair ratios, so that a busy machine slows both sides of a pair alike. Also
printed: the table writes per dispute. Prints figures; not a test.

    .venv/bin/python bench/iimmpact_batch.py [--pairs N] [--latency SECONDS]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import inspect
import json
import math
import os
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3

ROOT = Path(__file__).resolve().parent.parent
# Run as a script (`python bench/iimmpact_batch.py`): the repository root holds `local` and `tests`.
sys.path.insert(0, str(ROOT))

from local.aws.template import read_template  # noqa: E402
from local.providers import wiring  # noqa: E402
from local.runtime.functions import sqs_event, sqs_lambda_record  # noqa: E402
from local.stack import LocalStack  # noqa: E402
from tests.sandboxes.iimmpact import IimmpactSandbox  # noqa: E402

FUNCTION = "IimmpactReportFunction"
QUEUE = "IimmpactQueue"
BATCH = 10
TARGET = 1.3
REGION = "ap-southeast-1"
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
Invoke = Callable[[dict[str, Any]], dict[str, Any]]


class Context:
    """What the handler reads of Lambda's context."""

    function_name = "bench"
    function_version = "$LATEST"
    memory_limit_in_mb = 256
    invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:bench"
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pairs", type=int, default=7, help="timed (1 message, 10 messages) pairs (default 7)")
    parser.add_argument("--latency", type=float, default=0.3, help="sandbox answer latency in seconds (default 0.3)")
    arguments = parser.parse_args(argv)
    out = sys.stdout
    results = {}
    # The function logs every dispute (JSON lines on stdout, as on Lambda); only the figures are wanted here.
    with open(os.devnull, "w", encoding="utf-8") as devnull, contextlib.redirect_stdout(devnull):
        for name, environment in (("in-process moto", in_process), ("moto server", moto_server)):
            with IimmpactSandbox(latency=arguments.latency) as sandbox, environment(sandbox) as (invoke, queue, worker):
                results[name] = measure(invoke, queue, arguments.pairs)
                results[name] += (_writes_per_dispute(invoke, queue, worker),)
    for name, (ratios, singles, batches, (writes, capacity)) in results.items():
        ratio = statistics.median(ratios)
        verdict = "met" if ratio <= TARGET else "NOT met"
        print(
            f"IIMMPACT batch of {BATCH} vs 1 message at {arguments.latency * 1000:.0f} ms, over {name}: "
            f"{statistics.median(batches):.2f} s vs {statistics.median(singles):.2f} s -> {ratio:.2f}x "
            f"(median of {len(ratios)} pair ratios, {min(ratios):.2f}-{max(ratios):.2f}; target {TARGET}x {verdict}); "
            f"table writes per dispute: {writes:g} requests, {capacity:g} write capacity units",
            file=out,
        )
        # A second way: the whole of the batches' time against the whole of the singles'.
        print(f"    second way, total batch time / total single time: {sum(batches) / sum(singles):.2f}x", file=out)
    return 0


class FedQueue:
    """A queue the bench sends to and receives from as Lambda's poller would."""

    def __init__(self, sqs: Any, url: str, arn: str) -> None:
        self._sqs, self._url, self._arn = sqs, url, arn

    def event(self, size: int) -> dict[str, Any]:
        for _ in range(size):
            self._sqs.send_message(QueueUrl=self._url, MessageBody=json.dumps({"trxid": f"B-{uuid.uuid4().hex[:16]}"}))
        messages: list[dict[str, Any]] = []
        while len(messages) < size:
            messages += self._sqs.receive_message(
                QueueUrl=self._url,
                MaxNumberOfMessages=min(10, size - len(messages)),
                MessageSystemAttributeNames=["All"],
            ).get("Messages", [])
        self._received = messages
        return sqs_event([sqs_lambda_record(message, self._arn, REGION) for message in messages])

    def done(self) -> None:
        for message in self._received:
            self._sqs.delete_message(QueueUrl=self._url, ReceiptHandle=message["ReceiptHandle"])


def measure(invoke: Invoke, queue: FedQueue, pairs: int) -> tuple[list[float], list[float], list[float]]:
    def timed(size: int) -> float:
        event = queue.event(size)
        started = time.perf_counter()
        response = invoke(event)
        elapsed = time.perf_counter() - started
        queue.done()
        if response.get("batchItemFailures"):
            raise RuntimeError(f"{len(response['batchItemFailures'])} of {size} failed: figures not comparable")
        return elapsed

    timed(1)  # the first invocation reads the secret and opens connections: a cold start, not measured
    singles, batches = [], []
    for _ in range(pairs):
        singles.append(timed(1))
        batches.append(timed(BATCH))
    ratios = [batch / single for single, batch in zip(singles, batches, strict=True)]
    return ratios, singles, batches


def _writes_per_dispute(invoke: Invoke, queue: FedQueue, worker: Any) -> tuple[float, float]:
    """The table writes of one batch, per dispute, seen by the worker's own DynamoDB client: write
    requests, and the write capacity units DynamoDB would charge for them (each item written, by
    the larger of its sizes before and after, in 1 KB units; twice that inside a transaction)."""
    writes: Counter[str] = Counter()
    units = 0
    client = worker._store._client
    reader = boto3.client("dynamodb", region_name=REGION, endpoint_url=client.meta.endpoint_url)

    def before(model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        writes.update([model.name])
        context["bench_items"] = _written_items(model.name, params)

    def after(context: dict[str, Any], **_: Any) -> None:
        nonlocal units
        for table, key, factor in context.get("bench_items", ()):
            item = reader.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item", key)
            units += factor * math.ceil(_item_size(item) / 1024)

    client.meta.events.register("before-parameter-build.dynamodb.*", before)
    client.meta.events.register("after-call.dynamodb.*", after)
    event = queue.event(BATCH)
    response = invoke(event)
    queue.done()
    if response.get("batchItemFailures"):
        raise RuntimeError(f"{len(response['batchItemFailures'])} of {BATCH} failed: writes not comparable")
    requests = sum(count for operation, count in writes.items() if operation in WRITES)
    return requests / BATCH, units / BATCH


def _written_items(operation: str, params: dict[str, Any]) -> list[tuple[str, dict[str, Any], int]]:
    """(table, key, capacity factor) of each item a write request writes."""
    key_of = _key_of
    if operation == "PutItem":
        return [(params["TableName"], key_of(params["Item"]), 1)]
    if operation in ("UpdateItem", "DeleteItem"):
        return [(params["TableName"], params["Key"], 1)]
    if operation == "TransactWriteItems":
        written = []
        for entry in params["TransactItems"]:
            (kind, action), *_ = entry.items()
            written.append((action["TableName"], key_of(action["Item"]) if kind == "Put" else action["Key"], 2))
        return written
    return []


def _key_of(item: dict[str, Any]) -> dict[str, Any]:
    return {"dispute_id": item["dispute_id"]}


def _item_size(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB counts it: attribute names and values, in bytes."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict[str, Any]) -> int:
    (kind, data), *_ = value.items()
    if kind == "S":
        return len(data.encode())
    if kind == "N":
        return len(data.strip("-").replace(".", "").lstrip("0")) // 2 + 2
    if kind == "B":
        return len(data)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + _value_size(element) for element in data)
    if kind == "M":
        return 3 + sum(1 + len(name.encode()) + _value_size(element) for name, element in data.items())
    return len(str(data))


@contextlib.contextmanager
def in_process(sandbox: IimmpactSandbox) -> Iterator[tuple[Invoke, FedQueue, Any]]:
    """The worker over moto's mock, with the table as the template declares it, and the local stack's
    corrections to moto (DynamoDB's requests atomic, as the tests have them)."""
    from moto import mock_aws

    from local.aws import moto_fixes

    moto_fixes.apply()

    environment = {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": REGION,
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "dispute-gateway",
        "POWERTOOLS_METRICS_NAMESPACE": "DisputeGateway",
    }
    saved = {name: os.environ.get(name) for name in (*environment, "AWS_ENDPOINT_URL")}
    os.environ.update(environment)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    try:
        with mock_aws():
            import boto3

            table = read_template()["Resources"]["DisputesTable"]["Properties"]
            boto3.client("dynamodb").create_table(
                TableName="disputes",
                BillingMode="PAY_PER_REQUEST",
                **{name: table[name] for name in ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes")},
                StreamSpecification={"StreamEnabled": True, **table["StreamSpecification"]},
            )
            sqs = boto3.client("sqs")
            url = sqs.create_queue(QueueName="iimmpact")["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            secret = {"api_key": sandbox.api_key, "hmac_secret": sandbox.hmac_secret_b64}
            os.environ.update(
                DISPUTES_TABLE="disputes",
                IIMMPACT_BASE_URL=sandbox.base_url,
                IIMMPACT_SECRET_ID=boto3.client("secretsmanager").create_secret(
                    Name="iimmpact", SecretString=json.dumps(secret)
                )["ARN"],
                DEAD_LETTER_QUEUE_URL=sqs.create_queue(QueueName="iimmpact-dlq")["QueueUrl"],
            )
            handler = _load("iimmpact_report")
            yield (lambda event: handler.lambda_handler(event, Context())), FedQueue(sqs, url, arn), handler.worker
    finally:
        for name, value in saved.items():
            os.environ.pop(name, None) if value is None else os.environ.__setitem__(name, value)


@contextlib.contextmanager
def moto_server(sandbox: IimmpactSandbox) -> Iterator[tuple[Invoke, FedQueue, Any]]:
    """The worker in the local stack: moto's server in its own process, the template's resources."""
    with LocalStack(providers=[wiring(sandbox)], poll=False) as stack:
        queue = FedQueue(stack.client("sqs"), stack.ref(QUEUE), stack.arn(QUEUE))
        worker = inspect.unwrap(stack.functions[FUNCTION].handler).__globals__["worker"]
        yield (lambda event: stack.invoke(FUNCTION, event) or {}), queue, worker


def _load(function: str) -> Any:
    """The function's handler module, imported as a cold start would (the environment read now)."""
    spec = importlib.util.spec_from_file_location(f"bench_{function}", ROOT / "functions" / function / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


if __name__ == "__main__":
    sys.exit(main())
