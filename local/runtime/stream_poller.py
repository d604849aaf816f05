"""The DynamoDB stream event source mapping, played locally: read the table's stream, invoke the
function with batches of records in Lambda's shape, and checkpoint, retry, split or give up as
Lambda does.

A shard is read in order, and a child shard only once its parent has been read to its end, so the
changes of one item reach the function in the order they were made. A batch is BatchSize records,
or fewer once MaximumBatchingWindowInSeconds has passed since the first of them arrived. Then:

- the function succeeded: the checkpoint moves past the batch;
- with ReportBatchItemFailures, it answered with sequence numbers of the batch: the checkpoint
  moves to the lowest of them, and the records from there on are retried;
- it raised, or answered what Lambda cannot read (an identifier missing, empty or not in the
  batch): the whole batch failed; with BisectBatchOnFunctionError it is split in two and the
  halves are delivered in turn, a split not counting as a retry;
- once MaximumRetryAttempts retries have failed, or the batch's first records are older than
  MaximumRecordAgeInSeconds, they are given up: the on-failure destination (an SQS queue) gets a
  description of the batch (shard, sequence numbers, not the records) and the checkpoint moves on.

The retry count starts again whenever the checkpoint moves or the batch is split: each retried
batch gets the configured retries.

Where it differs from Lambda: one thread reads all the shards of a stream, one batch at a time
(Lambda works on the shards concurrently, and ParallelizationFactor batches per shard); a failed
batch is retried after a short pause rather than Lambda's back-off; FilterCriteria and tumbling
windows are not applied; checkpoints live as long as the poller, so a new local stack starts from
StartingPosition again.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError

from local.aws.template import StreamEventSource
from local.runtime.functions import LocalFunction, let_finish

log = logging.getLogger(__name__)

RETRY_ATTEMPTS_EXHAUSTED = "RetryAttemptsExhausted"
RECORD_AGE_EXCEEDED = "RecordAgeExceeded"
# What Lambda's DynamoDB events carry (moto's stream records say 1.0).
_EVENT_VERSION = "1.1"
_MAX_GET_RECORDS = 1000  # DynamoDB Streams returns at most 1000 records per GetRecords call
_UNLIMITED = -1
# Short waits keep stop() prompt; Lambda polls a shard about four times a second.
_POLL_INTERVAL_SECONDS = 0.1
_RETRY_PAUSE_SECONDS = 0.05
_ERROR_PAUSE_SECONDS = 0.5
_SHARD_REFRESH_SECONDS = 5.0


# -- records in Lambda's shape ----------------------------------------------------------------
def stream_lambda_record(record: dict[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    """One record of a DynamoDB stream event, from a GetRecords result, in the shape Lambda delivers.

    boto3 gives the creation time as a datetime and binary attributes as bytes; Lambda sends epoch
    seconds and base64. The region and ARN are the stack's: moto's records name us-east-1 and no ARN.
    """
    change = record["dynamodb"]
    dynamodb: dict[str, Any] = {}
    created = change.get("ApproximateCreationDateTime")
    if created is not None:
        dynamodb["ApproximateCreationDateTime"] = int(_epoch_seconds(created))
    for name in ("Keys", "NewImage", "OldImage"):
        if name in change:
            dynamodb[name] = _json_ready(change[name])
    for name in ("SequenceNumber", "SizeBytes", "StreamViewType"):
        if name in change:
            dynamodb[name] = change[name]
    lambda_record: dict[str, Any] = {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": _EVENT_VERSION,
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    }
    if "userIdentity" in record:  # deletions by TTL; the stream API spells the keys PrincipalId and Type
        identity = record["userIdentity"]
        lambda_record["userIdentity"] = {key[:1].lower() + key[1:]: value for key, value in identity.items()}
    return lambda_record


def stream_failure_record(
    batch: list[dict[str, Any]],
    *,
    shard_id: str,
    stream_arn: str,
    function_arn: str,
    condition: str,
    invoke_count: int,
    function_error: bool,
) -> dict[str, Any]:
    """What Lambda sends a stream event source's on-failure destination when it gives up `batch`.

    `invoke_count` is how often the batch, as given up, was invoked (0 when it was too old to be
    tried); `function_error` whether its last invocation raised rather than answered."""
    response: dict[str, Any] = {}
    if invoke_count:
        response = {"statusCode": 200, "executedVersion": "$LATEST"}
        if function_error:
            response["functionError"] = "Unhandled"
    first, last = batch[0]["dynamodb"], batch[-1]["dynamodb"]
    return {
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": function_arn,
            "condition": condition,
            "approximateInvokeCount": invoke_count,
        },
        "responseContext": response,
        "version": "1.0",
        "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "DDBStreamBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": first["SequenceNumber"],
            "endSequenceNumber": last["SequenceNumber"],
            "approximateArrivalOfFirstRecord": _iso_seconds(first.get("ApproximateCreationDateTime")),
            "approximateArrivalOfLastRecord": _iso_seconds(last.get("ApproximateCreationDateTime")),
            "batchSize": len(batch),
            "streamArn": stream_arn,
        },
    }


def _epoch_seconds(value: Any) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)


def _iso_seconds(value: Any) -> str | None:
    if value is None:
        return None
    return datetime.fromtimestamp(_epoch_seconds(value), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _json_ready(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, list | set):
        return [_json_ready(item) for item in value]
    return value


# -- the answer ----------------------------------------------------------------------------------
class Outcome(NamedTuple):
    """What became of one invocation, by Lambda's rules for streams."""

    failed_from: int | None  # index in the batch of the first record to retry; None: all done
    function_error: bool  # raised, or answered what Lambda cannot read: the whole batch failed


def read_answer(response: Any, sequence_numbers: list[str], *, reports_item_failures: bool) -> Outcome:
    """The outcome of an invocation that returned `response` for records with `sequence_numbers`.

    Without ReportBatchItemFailures the answer is ignored. With it, no answer or an empty or absent
    `batchItemFailures` is a success, and an identifier that is missing, empty or not in the batch
    fails the whole batch."""
    if not reports_item_failures or response is None:
        return Outcome(None, False)
    failures = response.get("batchItemFailures") if isinstance(response, dict) else ()
    if failures is None or failures == []:
        return Outcome(None, False)
    if not isinstance(failures, list):
        return Outcome(0, True)
    positions = {number: index for index, number in enumerate(sequence_numbers)}
    failed: list[int] = []
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not isinstance(identifier, str) or identifier not in positions:
            return Outcome(0, True)
        failed.append(positions[identifier])
    return Outcome(min(failed), False)


# -- the poller ----------------------------------------------------------------------------------
@dataclass
class _Shard:
    shard_id: str
    parent: str | None
    iterator: str | None = None  # None once the shard is closed and read to its end
    closed: bool = False
    last_read: str | None = None  # sequence number of the last record fetched
    pending: list[dict[str, Any]] = field(default_factory=list)  # fetched, not yet checkpointed
    window_ends: float = 0.0
    repeats_seen: bool = False  # records handed out again were dropped (and said so once)

    @property
    def finished(self) -> bool:
        return self.closed and not self.pending


class StreamPoller:
    """One DynamoDB stream event source of one function, on its own thread from `start` to `stop`."""

    def __init__(
        self,
        *,
        streams: Any,
        sqs: Any,
        stream_arn: str,
        source: StreamEventSource,
        function: LocalFunction,
        function_arn: str,
        region: str,
        batching_window_seconds: float,
        failure_queue_url: str | None,
    ) -> None:
        """`streams` is a dynamodbstreams client, `sqs` sends to `failure_queue_url` (the queue of the
        source's on-failure destination; None: what is given up is only logged)."""
        self.source = source
        self.function = function
        self.stream_arn = stream_arn
        self.batches = 0  # invocations made
        self.errors = 0  # invocations that raised
        self.item_failures = 0  # invocations answered with batch item failures
        self.given_up = 0  # batches given up (sent to the on-failure destination, when there is one)
        self.checkpoints: dict[str, str] = {}  # shard id -> sequence number of the last record done with
        self._streams = streams
        self._sqs = sqs
        self._function_arn = function_arn
        self._region = region
        self._window = batching_window_seconds
        self._failure_queue_url = failure_queue_url
        self._shards: dict[str, _Shard] = {}
        self._refresh_due = 0.0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"stream-poller-{source.logical_id}", daemon=True)

    @property
    def batching_window_seconds(self) -> float:
        return self._window

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> None:
        # The starting position is taken now, not when the thread first runs: with LATEST, a write
        # made right after the stack has started is read, as it would be once a mapping is enabled.
        self._refresh_shards(self.source.starting_position)
        self._thread.start()

    def stop(self, timeout: float) -> None:
        """Stop polling. An invocation under way is waited for, up to `timeout` seconds; records
        fetched and not yet checkpointed are left, as by a poller that went away."""
        self._stopping.set()
        if self._thread.is_alive():
            let_finish(self._thread, timeout, f"stream poller {self.source.logical_id}")

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                busy = self._poll()
            except (ClientError, BotoCoreError) as error:
                if self._stopping.is_set():
                    break
                log.warning("stream poller %s: AWS call failed: %s", self.source.logical_id, error)
                self._stopping.wait(_ERROR_PAUSE_SECONDS)
                continue
            if not busy:
                self._stopping.wait(_POLL_INTERVAL_SECONDS)

    def _poll(self) -> bool:
        """One read of every shard that may be read, and the batches that are ready; whether any came."""
        if time.monotonic() >= self._refresh_due:
            self._refresh_shards("TRIM_HORIZON")
        busy = False
        for shard in self._readable_shards():
            busy = self._read(shard) or busy
            if self._stopping.is_set():
                break
            if shard.pending and (
                len(shard.pending) >= self.source.batch_size or shard.closed or time.monotonic() >= shard.window_ends
            ):
                self._deliver(shard)
                busy = True
        return busy

    # -- shards ----------------------------------------------------------------------------------
    def _refresh_shards(self, position_of_new: str) -> None:
        """The stream's shards; one not seen before is read from `position_of_new` (the source's
        starting position for the shards there at start, the oldest record for those that come later)."""
        request: dict[str, Any] = {"StreamArn": self.stream_arn}
        while True:
            description = self._streams.describe_stream(**request)["StreamDescription"]
            for listed in description.get("Shards", []):
                shard_id = listed["ShardId"]
                if shard_id not in self._shards:
                    shard = _Shard(shard_id, listed.get("ParentShardId"))
                    shard.iterator = self._iterator(shard_id, position_of_new)
                    self._shards[shard_id] = shard
            last = description.get("LastEvaluatedShardId")
            if not last:
                break
            request["ExclusiveStartShardId"] = last
        self._refresh_due = time.monotonic() + _SHARD_REFRESH_SECONDS

    def _iterator(self, shard_id: str, position: str, after: str | None = None) -> str:
        request: dict[str, Any] = {"StreamArn": self.stream_arn, "ShardId": shard_id, "ShardIteratorType": position}
        if after is not None:
            request["SequenceNumber"] = after
        iterator: str = self._streams.get_shard_iterator(**request)["ShardIterator"]
        return iterator

    def _readable_shards(self) -> list[_Shard]:
        """Shards with something left to read or deliver whose parent (if still listed) is done."""
        return [
            shard
            for shard in self._shards.values()
            if not shard.finished and (shard.parent not in self._shards or self._shards[shard.parent].finished)
        ]

    def _read(self, shard: _Shard) -> bool:
        """Fetch up to what the batch has room for; whether any record came."""
        room = self.source.batch_size - len(shard.pending)
        if shard.closed or room <= 0 or shard.iterator is None:
            return False
        try:
            answer = self._streams.get_records(ShardIterator=shard.iterator, Limit=min(room, _MAX_GET_RECORDS))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ExpiredIteratorException":
                raise
            # Iterators last 15 minutes on AWS: take up again after the last record fetched.
            position = "AFTER_SEQUENCE_NUMBER" if shard.last_read else self.source.starting_position
            shard.iterator = self._iterator(shard.shard_id, position, shard.last_read)
            return False
        records = self._not_read_before(shard, answer.get("Records", []))
        shard.iterator = answer.get("NextShardIterator")
        shard.closed = shard.iterator is None
        if records:
            if not shard.pending:
                shard.window_ends = time.monotonic() + self._window
            shard.pending.extend(records)
            shard.last_read = records[-1]["dynamodb"]["SequenceNumber"]
        return bool(records)

    def _not_read_before(self, shard: _Shard, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """`records` without those at or before the last sequence number read from the shard.

        DynamoDB never hands a record out twice on the way forward; an emulator that numbered two
        records alike would, and a poller that took it again would deliver it in a loop."""
        if shard.last_read is None:
            return records
        last = int(shard.last_read)
        fresh = [record for record in records if int(record["dynamodb"]["SequenceNumber"]) > last]
        if len(fresh) < len(records) and not shard.repeats_seen:
            shard.repeats_seen = True
            log.warning(
                "stream poller %s: shard %s handed out records at or before %s again; not delivered twice",
                self.source.logical_id,
                shard.shard_id,
                shard.last_read,
            )
        return fresh

    # -- one batch, as Lambda handles it ----------------------------------------------------------
    def _deliver(self, shard: _Shard) -> None:
        """Deliver the shard's pending records until they are checkpointed or given up."""
        segments = [len(shard.pending)]  # sizes of the batches to deliver in turn: a split makes two
        retries = invocations = 0  # of the batch at the front, since it last changed
        function_error = False
        while segments and not self._stopping.is_set():
            size = segments[0]
            expired = self._expired(shard.pending[:size])
            if expired:
                self._give_up(shard, expired, RECORD_AGE_EXCEEDED, invocations, function_error)
                segments[0] -= expired
                if segments[0] == 0:
                    segments.pop(0)
                retries = invocations = 0
                continue
            outcome = self._invoke(shard.pending[:size])
            invocations += 1
            function_error = outcome.function_error
            if outcome.failed_from is None:
                self._checkpoint(shard, size)
                segments.pop(0)
                retries = invocations = 0
            elif outcome.function_error and self.source.bisect_batch_on_function_error and size > 1:
                half = (size + 1) // 2
                segments[0:1] = [half, size - half]
                retries = invocations = 0
            elif outcome.failed_from > 0:
                # The records before the first failure are done; the rest is a new batch.
                self._checkpoint(shard, outcome.failed_from)
                segments[0] = size - outcome.failed_from
                retries = invocations = 0
            else:
                retries += 1
                limit = self.source.maximum_retry_attempts
                if limit != _UNLIMITED and retries > limit:
                    self._give_up(shard, size, RETRY_ATTEMPTS_EXHAUSTED, invocations, function_error)
                    segments.pop(0)
                    retries = invocations = 0
                else:
                    self._stopping.wait(_RETRY_PAUSE_SECONDS)

    def _expired(self, batch: list[dict[str, Any]]) -> int:
        """How many of the first records of `batch` are older than MaximumRecordAgeInSeconds."""
        limit = self.source.maximum_record_age_seconds
        if limit == _UNLIMITED:
            return 0
        now = time.time()
        count = 0
        for record in batch:
            created = record["dynamodb"].get("ApproximateCreationDateTime")
            if created is None or now - _epoch_seconds(created) <= limit:
                break
            count += 1
        return count

    def _invoke(self, batch: list[dict[str, Any]]) -> Outcome:
        records = [stream_lambda_record(record, self.stream_arn, self._region) for record in batch]
        self.batches += 1
        try:
            response = self.function.invoke({"Records": records})
        except Exception:
            self.errors += 1
            log.exception("function %s failed; its batch of %d will be retried", self.function.name, len(batch))
            return Outcome(0, True)
        numbers = [record["dynamodb"]["SequenceNumber"] for record in records]
        outcome = read_answer(response, numbers, reports_item_failures=self.source.reports_batch_item_failures)
        if outcome.failed_from is not None and not outcome.function_error:
            self.item_failures += 1
        return outcome

    def _checkpoint(self, shard: _Shard, count: int) -> None:
        done, shard.pending[:count] = shard.pending[:count], []
        if done:
            self.checkpoints[shard.shard_id] = done[-1]["dynamodb"]["SequenceNumber"]

    def _give_up(self, shard: _Shard, count: int, condition: str, invocations: int, function_error: bool) -> None:
        batch = shard.pending[:count]
        self.given_up += 1
        numbers = f"{batch[0]['dynamodb']['SequenceNumber']}..{batch[-1]['dynamodb']['SequenceNumber']}"
        log.warning(
            "stream poller %s: %s; %d record(s) of shard %s given up (%s)",
            self.source.logical_id,
            condition,
            len(batch),
            shard.shard_id,
            numbers,
        )
        if self._failure_queue_url is not None:
            body = stream_failure_record(
                batch,
                shard_id=shard.shard_id,
                stream_arn=self.stream_arn,
                function_arn=self._function_arn,
                condition=condition,
                invoke_count=invocations,
                function_error=function_error,
            )
            self._sqs.send_message(QueueUrl=self._failure_queue_url, MessageBody=json.dumps(body))
        self._checkpoint(shard, count)
