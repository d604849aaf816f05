"""Dispute Changed events end to end: the disputes table's stream, read as Lambda's DynamoDB event
source mapping reads it (batches, partial batch responses, bisection, retries, the on-failure
queue), feeds the event publisher, whose events reach a caller's subscription on the bus.

What every test holds the events to: exactly the changes of status or resolution the stream
records, once each and in the stream's order, except what was given up."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer

from local.aws.template import TEMPLATE, load_model, read_template
from local.providers import wiring
from local.runtime.functions import LocalFunction
from local.runtime.stream_poller import RECORD_AGE_EXCEEDED, RETRY_ATTEMPTS_EXHAUSTED, StreamPoller
from local.stack import LocalStack, wait_for
from tests.conftest import ROOT
from tests.e2e.conftest import quick_stack
from tests.e2e.helpers import IIMMPACT_QUEUE, TABLE, final_record
from tests.sandboxes.iimmpact import IimmpactSandbox

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

PUBLISHER = "EventPublisherFunction"
EVENT = "TableChanges"
FAILURES_QUEUE = "EventPublisherFailuresQueue"
PATTERN = {"source": ["dispute-gateway"], "detail-type": ["Dispute Changed"]}

Change = tuple[str, str, str | None]  # reference, status, previous status
Handler = Callable[[dict[str, Any], Any], Any]


class PublisherCrash(RuntimeError):
    pass


# -- what the stream holds, and what reached the subscriber -----------------------------------
def _stream_records(stack: LocalStack) -> list[dict[str, Any]]:
    """Every record of the table's stream, oldest first, read with a client of our own."""
    streams = stack.client("dynamodbstreams")
    stream_arn = _stream_arn(stack, TABLE)
    records: list[dict[str, Any]] = []
    for shard in streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        seen: dict[str, str] = {}  # sequence number -> event id
        while iterator:
            answer = streams.get_records(ShardIterator=iterator)
            # A page of nothing new ends the read too: a stream that numbered two records alike
            # hands the last one out again and again (see local/aws/moto_fixes.py).
            page = [r for r in answer["Records"] if r["dynamodb"]["SequenceNumber"] not in seen]
            for record in answer["Records"]:
                number = record["dynamodb"]["SequenceNumber"]
                assert seen.setdefault(number, record["eventID"]) == record["eventID"], f"{number} numbers two records"
            if not page:
                break
            records.extend(page)
            iterator = answer.get("NextShardIterator")
    return records


def _stream_arn(stack: LocalStack, table: str) -> str:
    arn = stack.client("dynamodb").describe_table(TableName=stack.ref(table))["Table"]["LatestStreamArn"]
    return str(arn)


def _image(record: dict[str, Any], name: str) -> dict[str, Any] | None:
    image = record["dynamodb"].get(name)
    if image is None:
        return None
    deserializer = TypeDeserializer()
    return {key: deserializer.deserialize(value) for key, value in image.items()}


def _change(record: dict[str, Any]) -> Change | None:
    """The change a caller is told of: a new status or resolution (creation included)."""
    old, new = _image(record, "OldImage"), _image(record, "NewImage")
    if not new or "status" not in new:
        return None
    if old and (old.get("status"), old.get("resolution")) == (new["status"], new.get("resolution")):
        return None
    return new["reference"], new["status"], old.get("status") if old else None


def _expected(stack: LocalStack, skipped: Collection[str] = ()) -> list[Change]:
    changes = [
        _change(record) for record in _stream_records(stack) if record["dynamodb"]["SequenceNumber"] not in skipped
    ]
    return [change for change in changes if change is not None]


def _published(events: list[dict[str, Any]]) -> list[Change]:
    return [(e["detail"]["reference"], e["detail"]["status"], e["detail"].get("previous_status")) for e in events]


def _settled(stack: LocalStack, poller: StreamPoller, timeout: float = 15) -> None:
    """Waits until the poller has checkpointed the last record of the stream."""

    def done() -> bool:
        records = _stream_records(stack)
        return bool(records) and records[-1]["dynamodb"]["SequenceNumber"] in poller.checkpoints.values()

    assert wait_for(done, timeout), (poller.checkpoints, poller.batches, poller.errors)


def _reference(record: dict[str, Any]) -> str | None:
    image = record["dynamodb"].get("NewImage") or record["dynamodb"].get("OldImage") or {}
    return image.get("reference", {}).get("S")


def _stream_sequence_number(records: list[dict[str, Any]], reference: str) -> str:
    (number,) = [r["dynamodb"]["SequenceNumber"] for r in records if _reference(r) == reference]
    return str(number)


def _put(stack: LocalStack, reference: str) -> None:
    """A dispute written straight to the table (the publisher is replaced where this is used)."""
    item = {"dispute_id": {"S": reference.lower()}, "reference": {"S": reference}, "status": {"S": "received"}}
    stack.client("dynamodb").put_item(TableName=stack.ref(TABLE), Item=item)


def _status(record: dict[str, Any]) -> str | None:
    return record["dynamodb"].get("NewImage", {}).get("status", {}).get("S")


def _recording(stack: LocalStack, batches: list[list[str]], wrapped: Handler | None = None) -> None:
    """Every batch the publisher is given (as sequence numbers) goes to `batches`; then `wrapped`
    (default: the publisher itself) answers."""
    function = stack.functions[PUBLISHER]
    inner = wrapped or function.handler

    def recording(event: dict[str, Any], context: Any) -> Any:
        batches.append([record["dynamodb"]["SequenceNumber"] for record in event["Records"]])
        return inner(event, context)

    function.handler = recording


def _file(stack: LocalStack, *references: str) -> None:
    entries = [{"Id": str(n), "MessageBody": json.dumps({"trxid": ref})} for n, ref in enumerate(references)]
    stack.client("sqs").send_message_batch(QueueUrl=stack.ref(IIMMPACT_QUEUE), Entries=entries)
    for reference in references:
        assert final_record(stack, reference, timeout=15)["status"] == "submitted"


def _template_copy(tmp_path: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    """template.yaml edited, as JSON beside links to the code folders (CodeUri is relative)."""
    template = read_template(TEMPLATE)
    edit(template)
    for folder in ("functions", "layers"):
        (tmp_path / folder).symlink_to(TEMPLATE.parent / folder, target_is_directory=True)
    copy = tmp_path / "template.json"
    copy.write_text(json.dumps(template, indent=2), encoding="utf-8")
    return copy


def _stream_event(template: dict[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = template["Resources"][PUBLISHER]["Properties"]["Events"][EVENT]["Properties"]
    return properties


@pytest.fixture
def windowed_stack(sandbox: IimmpactSandbox) -> Iterator[LocalStack]:
    """A 1 s batching window (the template's, for the stream): the changes of disputes filed
    together land in one batch, so that a failure has records before and after it.

    The queues keep the template's visibility time-outs: nothing here waits for SQS to hand a
    message out again, and the window applies to the SQS pollers too, which a 1 s visibility
    time-out would let hand a message filed here out again into its own batch."""
    with LocalStack(providers=[wiring(sandbox)], batching_window_override=1) as stack:
        yield stack


# -- (a) a caller's subscription ------------------------------------------------------------------
def test_each_change_of_status_reaches_a_subscriber_once_and_in_order(stack: LocalStack) -> None:
    subscriber = stack.subscribe("e2e-subscriber", PATTERN)
    elsewhere = stack.subscribe("e2e-other-source", {"source": ["another-service"]})
    delivered: list[dict[str, Any]] = []
    publisher = stack.functions[PUBLISHER].handler

    def keeping(event: dict[str, Any], context: Any) -> Any:
        delivered.extend(event["Records"])
        return publisher(event, context)

    stack.functions[PUBLISHER].handler = keeping
    _file(stack, "T-EVT-1")
    (poller,) = stack.stream_pollers
    _settled(stack, poller)

    events = stack.events(subscriber)
    record = final_record(stack, "T-EVT-1", timeout=1)
    assert _published(events) == [("T-EVT-1", "submitting", None), ("T-EVT-1", "submitted", "submitting")]
    assert _published(events) == _expected(stack)
    first, last = events
    assert {e["source"] for e in events} == {"dispute-gateway"}
    assert {e["detail-type"] for e in events} == {"Dispute Changed"}
    assert "previous_status" not in first["detail"]
    assert {e["detail"]["dispute_id"] for e in events} == {record["dispute_id"]}
    assert last["detail"]["provider"] == "iimmpact"
    assert last["detail"]["resolution"] == record["resolution"] == "untracked"
    assert last["detail"]["attempts"] == record["attempts"] == 1
    assert last["detail"]["updated_at"] == record["updated_at"]
    # Another look finds the same events (they stay on the queue); a pattern that does not match gets none.
    assert stack.events(subscriber) == events
    assert stack.events(elsewhere) == []
    assert (poller.errors, poller.item_failures, poller.given_up) == (0, 0, 0)

    # Lambda's DynamoDB record shape, as in the function's sample event.
    sample = json.loads((ROOT / "events/event_publisher/dynamodb-stream.json").read_text())["Records"][1]
    modify = next(r for r in delivered if r["eventName"] == "MODIFY")
    assert set(modify) == set(sample)
    assert set(modify["dynamodb"]) == set(sample["dynamodb"])
    assert modify["eventSourceARN"] == poller.stream_arn == _stream_arn(stack, TABLE)
    assert modify["awsRegion"] == stack.model.region
    assert isinstance(modify["dynamodb"]["ApproximateCreationDateTime"], int)
    assert delivered[0]["eventName"] == "INSERT"


# -- (b) the function's answer is honoured --------------------------------------------------------
def test_a_reported_item_failure_is_retried_from_that_record(windowed_stack: LocalStack) -> None:
    stack = windowed_stack
    subscriber = stack.subscribe("e2e-subscriber", PATTERN)
    publisher = stack.functions[PUBLISHER].handler
    failed: list[str] = []

    def failing_once(event: dict[str, Any], context: Any) -> Any:
        """The first change to submitted (of either dispute) fails once: what came before it is
        published, it and what follows it are not, and it is reported."""
        records = event["Records"]
        target = next((n for n, record in enumerate(records) if _status(record) == "submitted"), None)
        if failed or target is None:
            return publisher(event, context)
        failed.append(records[target]["dynamodb"]["SequenceNumber"])
        if target:
            publisher({"Records": records[:target]}, context)
        return {"batchItemFailures": [{"itemIdentifier": failed[0]}]}

    batches: list[list[str]] = []
    _recording(stack, batches, failing_once)
    _file(stack, "T-RETRY-1", "T-RETRY-2")
    (poller,) = stack.stream_pollers
    _settled(stack, poller)

    assert _published(stack.events(subscriber)) == _expected(stack)
    (sequence_number,) = failed
    failing = next(n for n, batch in enumerate(batches) if sequence_number in batch)
    position = batches[failing].index(sequence_number)
    before, after = batches[failing][:position], batches[failing][position + 1 :]
    # Both disputes' changes came in one batch (the window): the failure has changes on either side,
    # among them the other dispute's change to submitted, published after the retried one.
    assert before and after, batches
    # The checkpoint moved to the failed record: the retry starts there, with what followed it, and
    # what was before it (published) is not delivered again.
    assert batches[failing + 1] == [sequence_number, *after]
    assert not set(before) & {number for batch in batches[failing + 1 :] for number in batch}
    assert (poller.item_failures, poller.errors, poller.given_up) == (1, 0, 0)


def test_a_batch_whose_invocation_raised_is_split_and_retried_in_order(windowed_stack: LocalStack) -> None:
    stack = windowed_stack
    subscriber = stack.subscribe("e2e-subscriber", PATTERN)
    publisher = stack.functions[PUBLISHER].handler
    crashes: list[int] = []

    def crashing_once(event: dict[str, Any], context: Any) -> Any:
        if not crashes:
            crashes.append(len(event["Records"]))
            raise PublisherCrash("the publisher crashed before publishing anything")
        return publisher(event, context)

    batches: list[list[str]] = []
    _recording(stack, batches, crashing_once)
    _file(stack, "T-SPLIT-1", "T-SPLIT-2")
    (poller,) = stack.stream_pollers
    _settled(stack, poller)

    assert _published(stack.events(subscriber)) == _expected(stack)
    # BisectBatchOnFunctionError: the failed batch comes back as its first half, then its second.
    crashed, first_half, *_ = batches
    half = (len(crashed) + 1) // 2
    assert first_half == crashed[:half]
    if len(crashed) > 1:
        assert batches[2] == crashed[half:]
    assert (poller.errors, poller.given_up) == (1, 0)


# -- (c) given up, after the retries ---------------------------------------------------------------
MAX_RETRIES = 2


@pytest.fixture
def few_retries_stack(tmp_path: Path, sandbox: IimmpactSandbox) -> Iterator[LocalStack]:
    def edit(template: dict[str, Any]) -> None:
        _stream_event(template)["MaximumRetryAttempts"] = MAX_RETRIES

    copy = _template_copy(tmp_path, edit)
    with quick_stack([wiring(sandbox)], template=copy) as stack:
        yield stack


def test_a_record_that_keeps_failing_goes_to_the_failures_queue_and_the_stream_moves_on(
    few_retries_stack: LocalStack,
) -> None:
    stack = few_retries_stack
    subscriber = stack.subscribe("e2e-subscriber", PATTERN)
    publisher = stack.functions[PUBLISHER].handler
    poison: list[str] = []

    def failing_on_poison(event: dict[str, Any], context: Any) -> Any:
        """Raises whenever the batch holds the change that makes T-POISON submitted."""
        for record in event["Records"]:
            if _reference(record) == "T-POISON" and _status(record) == "submitted":
                poison[:] = [record["dynamodb"]["SequenceNumber"]]
                raise PublisherCrash("this change cannot be published")
        return publisher(event, context)

    batches: list[list[str]] = []
    _recording(stack, batches, failing_on_poison)
    _file(stack, "T-POISON")
    (poller,) = stack.stream_pollers
    assert poller.source.maximum_retry_attempts == MAX_RETRIES
    assert wait_for(lambda: poller.given_up == 1, 15), batches
    # The stream moves on: a dispute filed afterwards is published.
    _file(stack, "T-AFTER")
    _settled(stack, poller)

    (sequence_number,) = poison
    assert _published(stack.events(subscriber)) == _expected(stack, skipped={sequence_number})
    assert ("T-POISON", "submitted", "submitting") not in _published(stack.events(subscriber))
    assert ("T-AFTER", "submitted", "submitting") in _published(stack.events(subscriber))
    # Split down to the record alone (splits are not retries), which is then tried 1 + MAX_RETRIES times.
    alone = [batch for batch in batches if batch == [sequence_number]]
    assert len(alone) == 1 + MAX_RETRIES

    failures = stack.client("sqs").receive_message(QueueUrl=stack.ref(FAILURES_QUEUE), MaxNumberOfMessages=10)
    (message,) = failures["Messages"]
    failure = json.loads(message["Body"])
    assert failure["requestContext"]["condition"] == RETRY_ATTEMPTS_EXHAUSTED
    assert failure["requestContext"]["functionArn"] == stack.arn(PUBLISHER)
    assert failure["requestContext"]["approximateInvokeCount"] == 1 + MAX_RETRIES
    assert failure["responseContext"]["functionError"] == "Unhandled"
    assert failure["version"] == "1.0"
    info = failure["DDBStreamBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == (
        sequence_number,
        sequence_number,
        1,
    )
    assert info["streamArn"] == poller.stream_arn
    assert info["shardId"] in poller.checkpoints
    assert info["approximateArrivalOfFirstRecord"] == info["approximateArrivalOfLastRecord"]


# -- (d) the template's settings ---------------------------------------------------------------------
BATCH_SIZE = 3
WINDOW = 2
RETRIES = 1
RECORD_AGE = 120


@pytest.fixture
def changed_template(tmp_path: Path) -> Path:
    def edit(template: dict[str, Any]) -> None:
        event = _stream_event(template)
        assert (event["BatchSize"], event["MaximumBatchingWindowInSeconds"]) != (BATCH_SIZE, WINDOW)
        assert event["MaximumRetryAttempts"] != RETRIES
        event.update(
            BatchSize=BATCH_SIZE,
            MaximumBatchingWindowInSeconds=WINDOW,
            MaximumRetryAttempts=RETRIES,
            MaximumRecordAgeInSeconds=RECORD_AGE,
            BisectBatchOnFunctionError=False,
        )

    return _template_copy(tmp_path, edit)


def test_the_stream_poller_follows_the_template(changed_template: Path) -> None:
    (source,) = load_model(changed_template).functions[PUBLISHER].stream_sources
    assert (source.batch_size, source.batching_window_seconds) == (BATCH_SIZE, WINDOW)
    assert (source.maximum_retry_attempts, source.maximum_record_age_seconds) == (RETRIES, RECORD_AGE)
    assert not source.bisect_batch_on_function_error
    assert (source.table, source.on_failure, source.starting_position) == (
        "DisputesTable",
        FAILURES_QUEUE,
        "TRIM_HORIZON",
    )

    with LocalStack(template=changed_template) as stack:
        (poller,) = stack.stream_pollers
        assert (poller.source, poller.batching_window_seconds) == (source, WINDOW)
        batches: list[list[str]] = []

        def failing_on_seven(event: dict[str, Any], context: Any) -> Any:
            if any(_reference(record) == "T-DRIFT-7" for record in event["Records"]):
                raise PublisherCrash("T-DRIFT-7 cannot be published")
            return {"batchItemFailures": []}

        _recording(stack, batches, failing_on_seven)
        # Written straight to the table, ten changes within the window: batches of BatchSize.
        for n in range(10):
            _put(stack, f"T-DRIFT-{n}")
        _settled(stack, poller)
        records = _stream_records(stack)

    # Batches of three; the one holding T-DRIFT-7 is tried 1 + RETRIES times, not split, then given up whole.
    assert max(len(batch) for batch in batches) == BATCH_SIZE, batches
    seventh = _stream_sequence_number(records, "T-DRIFT-7")
    failing = [batch for batch in batches if seventh in batch]
    assert len(failing) == 1 + RETRIES and all(batch == failing[0] for batch in failing), batches
    assert (poller.given_up, poller.errors) == (1, 1 + RETRIES)


def test_subscribe_needs_exactly_one_event_bus(tmp_path: Path) -> None:
    def edit(template: dict[str, Any]) -> None:
        template["Resources"]["SecondBus"] = {"Type": "AWS::Events::EventBus", "Properties": {"Name": "second-bus"}}

    with LocalStack(template=_template_copy(tmp_path, edit), poll=False) as stack:
        assert stack.ref("SecondBus") == "second-bus"
        with pytest.raises(LookupError, match="one AWS::Events::EventBus"):
            stack.subscribe("e2e-subscriber", PATTERN)


# -- record age, and shards moto does not make -----------------------------------------------------
@pytest.fixture
def short_lived_template(tmp_path: Path) -> Path:
    """Records older than a second are given up (AWS's minimum is 60 s; locally it is not checked),
    and retries are unlimited, so only the age stops them."""

    def edit(template: dict[str, Any]) -> None:
        event = _stream_event(template)
        event["MaximumRecordAgeInSeconds"] = 1
        del event["MaximumRetryAttempts"]

    return _template_copy(tmp_path, edit)


def test_a_record_older_than_the_maximum_age_is_given_up(short_lived_template: Path) -> None:
    with LocalStack(template=short_lived_template, batching_window_override=0) as stack:
        (poller,) = stack.stream_pollers
        assert poller.source.maximum_retry_attempts == -1

        def failing_on_old(event: dict[str, Any], context: Any) -> Any:
            if any(_reference(record) == "T-OLD" for record in event["Records"]):
                raise PublisherCrash("T-OLD cannot be published")
            return {}

        batches: list[list[str]] = []
        _recording(stack, batches, failing_on_old)
        _put(stack, "T-OLD")
        assert wait_for(lambda: poller.given_up == 1, 10)
        # Written after: young enough, and delivered.
        _put(stack, "T-YOUNG")
        _settled(stack, poller)
        old, young = (_stream_sequence_number(_stream_records(stack), ref) for ref in ("T-OLD", "T-YOUNG"))
        failures = stack.client("sqs").receive_message(QueueUrl=stack.ref(FAILURES_QUEUE), MaxNumberOfMessages=10)

    assert batches[-1] == [young]
    (message,) = failures["Messages"]
    failure = json.loads(message["Body"])
    assert failure["requestContext"]["condition"] == RECORD_AGE_EXCEEDED
    assert failure["requestContext"]["approximateInvokeCount"] >= 1
    assert failure["DDBStreamBatchInfo"]["startSequenceNumber"] == old
    assert poller.given_up == 1 and poller.errors >= 2  # retried until too old


class _TwoShards:
    """A dynamodbstreams client whose stream has a closed parent shard and an open child (listed
    first), as DynamoDB has after a split; moto's streams have one shard that never closes."""

    def __init__(self) -> None:
        self.records = {"parent": self._records(1, 2), "child": self._records(3, 4)}

    @staticmethod
    def _records(*numbers: int) -> list[dict[str, Any]]:
        return [
            {
                "eventID": f"e{n}",
                "eventName": "INSERT",
                "dynamodb": {"Keys": {"dispute_id": {"S": "d"}}, "SequenceNumber": str(n), "SizeBytes": 1},
            }
            for n in numbers
        ]

    def describe_stream(self, StreamArn: str, **_: Any) -> dict[str, Any]:
        shards = [{"ShardId": "child", "ParentShardId": "parent"}, {"ShardId": "parent"}]
        return {"StreamDescription": {"StreamArn": StreamArn, "Shards": shards}}

    def get_shard_iterator(self, ShardId: str, **_: Any) -> dict[str, Any]:
        return {"ShardIterator": f"{ShardId}:0"}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:
        shard, start = ShardIterator.split(":")
        records = self.records[shard][int(start) : int(start) + Limit]
        end = int(start) + len(records)
        if shard == "parent" and end == len(self.records[shard]):
            return {"Records": records}  # closed, and read to its end: no next iterator
        return {"Records": records, "NextShardIterator": f"{shard}:{end}"}


def test_a_child_shard_is_read_after_its_parent() -> None:
    (source,) = load_model().functions[PUBLISHER].stream_sources
    delivered: list[str] = []

    def handler(event: dict[str, Any], context: Any) -> Any:
        delivered.extend(record["dynamodb"]["SequenceNumber"] for record in event["Records"])
        return {}

    function = LocalFunction(
        "publisher", handler, timeout_seconds=3, memory_mb=128, region="ap-southeast-1", account="1"
    )
    poller = StreamPoller(
        streams=_TwoShards(),
        sqs=None,
        stream_arn="arn:aws:dynamodb:ap-southeast-1:1:table/t/stream/1",
        source=source,
        function=function,
        function_arn="arn:aws:lambda:ap-southeast-1:1:function:publisher",
        region="ap-southeast-1",
        batching_window_seconds=0,
        failure_queue_url=None,
    )
    poller.start()
    try:
        assert wait_for(lambda: poller.checkpoints.get("child") == "4", 5), delivered
    finally:
        poller.stop(5)
    assert delivered == ["1", "2", "3", "4"]
    assert poller.checkpoints == {"parent": "2", "child": "4"}
