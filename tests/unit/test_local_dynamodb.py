"""The disputes table in the embedded AWS, written by concurrent workers as on DynamoDB: one of
two conditional writes at the same time wins, every change gets its own sequence number, and the
stream poller delivers a record once even if the stream hands it out again (what moto's stream
did when two writes took one number)."""

from __future__ import annotations

import threading
import time
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.models import table as moto_table

from local.aws import moto_fixes
from local.aws.template import StreamEventSource
from local.runtime.functions import LocalFunction
from local.runtime.stream_poller import StreamPoller

REGION = "eu-west-1"


@pytest.fixture
def disputes_table() -> Any:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        dynamodb.create_table(
            TableName="disputes",
            KeySchema=[{"AttributeName": "dispute_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "dispute_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        yield dynamodb


def _all_at_once(write: Any, count: int) -> None:
    writers = [threading.Thread(target=write, args=(n,)) for n in range(count)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()


def _slowed(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> None:
    """`owner.name` made slow, so that concurrent requests overlap inside moto as they do now and
    then when its server serves the workers' concurrent writes."""
    original = getattr(owner, name)

    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.2)
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, slow)


def test_of_conditional_writes_made_at_the_same_time_one_wins(
    monkeypatch: pytest.MonkeyPatch, disputes_table: Any
) -> None:
    moto_fixes.apply()
    # Between reading the item and writing it, moto evaluates the condition.
    _slowed(monkeypatch, moto_table, "get_filter_expression")
    won: list[int] = []

    def claim(n: int) -> None:
        try:
            disputes_table.put_item(
                TableName="disputes",
                Item={"dispute_id": {"S": "d-1"}, "claimed_by": {"N": str(n)}},
                ConditionExpression="attribute_not_exists(dispute_id)",
            )
            won.append(n)
        except disputes_table.exceptions.ConditionalCheckFailedException:
            pass

    _all_at_once(claim, 3)
    assert len(won) == 1
    item = disputes_table.get_item(TableName="disputes", Key={"dispute_id": {"S": "d-1"}})["Item"]
    assert item["claimed_by"] == {"N": str(won[0])}


def _stream_sequence_numbers(dynamodb: Any, table: str) -> list[str]:
    streams = boto3.client("dynamodbstreams", region_name=REGION)
    arn = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    (shard,) = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")
    answer = streams.get_records(ShardIterator=iterator["ShardIterator"])
    return [record["dynamodb"]["SequenceNumber"] for record in answer["Records"]]


def test_writes_made_at_the_same_time_get_distinct_sequence_numbers(
    monkeypatch: pytest.MonkeyPatch, disputes_table: Any
) -> None:
    moto_fixes.apply()
    # Between numbering a stream record and appending it, moto builds it.
    _slowed(monkeypatch, moto_table.StreamRecord, "__init__")

    def write(n: int) -> None:
        disputes_table.put_item(TableName="disputes", Item={"dispute_id": {"S": f"d-{n}"}})

    _all_at_once(write, 3)
    numbers = _stream_sequence_numbers(disputes_table, "disputes")
    assert len(numbers) == 3
    assert len(set(numbers)) == 3, numbers
    assert sorted(numbers, key=int) == numbers


# -- the poller, against a stream that hands its last record out again ---------------------------
class RepeatingStream:
    """A dynamodbstreams client whose one shard holds `records` and, like moto's stream after two
    writes took one number, answers a read past the last record with that record again."""

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = records
        self.reads = 0

    def describe_stream(self, **_: Any) -> dict[str, Any]:
        return {"StreamDescription": {"Shards": [{"ShardId": "shard-1"}]}}

    def get_shard_iterator(self, **_: Any) -> dict[str, Any]:
        return {"ShardIterator": "0"}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:
        self.reads += 1
        start = min(int(ShardIterator), len(self.records) - 1)
        page = self.records[start : start + Limit]
        return {"Records": page, "NextShardIterator": str(start + len(page))}


def _record(number: int) -> dict[str, Any]:
    image = {"dispute_id": {"S": f"d-{number}"}, "status": {"S": "submitted"}}
    return {
        "eventID": f"event-{number}",
        "eventName": "INSERT",
        "dynamodb": {"Keys": {"dispute_id": image["dispute_id"]}, "NewImage": image, "SequenceNumber": str(number)},
    }


def test_a_record_handed_out_again_is_delivered_once() -> None:
    stream = RepeatingStream([_record(100), _record(101)])
    delivered: list[str] = []

    def handler(event: dict[str, Any], context: Any) -> None:
        delivered.extend(record["dynamodb"]["SequenceNumber"] for record in event["Records"])

    source = StreamEventSource(
        logical_id="TableChanges",
        table="DisputesTable",
        batch_size=100,
        batching_window_seconds=0,
        starting_position="TRIM_HORIZON",
        function_response_types=("ReportBatchItemFailures",),
        bisect_batch_on_function_error=True,
        maximum_retry_attempts=3,
        maximum_record_age_seconds=-1,
        on_failure=None,
    )
    poller = StreamPoller(
        streams=stream,
        sqs=None,
        stream_arn="arn:aws:dynamodb:eu-west-1:123456789012:table/disputes/stream/label",
        source=source,
        function=LocalFunction("EventPublisherFunction", handler, 30, 128, REGION, "123456789012"),
        function_arn="arn:aws:lambda:eu-west-1:123456789012:function:publisher",
        region=REGION,
        batching_window_seconds=0,
        failure_queue_url=None,
    )
    poller.start()
    try:
        deadline = time.monotonic() + 10
        while stream.reads < 10 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        poller.stop(5)
    assert stream.reads >= 10  # the stream was read well past its end
    assert delivered == ["100", "101"]
    assert poller.checkpoints == {"shard-1": "101"}
