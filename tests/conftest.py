"""Fixtures shared by every test layer: fake AWS credentials, moto, Lambda context, SQS events."""

from __future__ import annotations

import functools
import importlib.util
import io
import json
import logging
import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local.aws import moto_fixes

ROOT = Path(__file__).resolve().parent.parent

# Set before any test module imports the shared package: Powertools reads these when its
# Logger/Metrics are created, as Lambda's environment would be set before a cold start.
POWERTOOLS_ENVIRONMENT = {
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_SERVICE_NAME": "dispute-gateway",
    "POWERTOOLS_METRICS_NAMESPACE": "DisputeGateway",
}
os.environ.update(POWERTOOLS_ENVIRONMENT)
# In-process moto gets the corrections the embedded AWS gets: the workers write concurrently.
moto_fixes.apply()
REGION = "ap-southeast-1"
ACCOUNT = "123456789012"


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    for name, value in POWERTOOLS_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("POWERTOOLS_DEV", "false")


@pytest.fixture(autouse=True)
def fresh_caches() -> Iterator[None]:
    """Cached clients and secrets must not leak from one test's moto into the next."""
    from aws_lambda_powertools.utilities import parameters
    from aws_lambda_powertools.utilities.parameters import base

    from dispute_gateway.store import dispute_store

    def clear() -> None:
        parameters.clear_caches()
        base.DEFAULT_PROVIDERS.clear()
        dispute_store.cache_clear()

    clear()
    yield
    clear()


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """Everything the shared Powertools logger writes, through its real (redacting) formatter."""
    from dispute_gateway.observability import logger

    buffer = io.StringIO()
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    previous = handler.setStream(buffer)
    yield buffer
    handler.setStream(previous)


@dataclass
class AwsResources:
    """The table, the evidence bucket, and for every registered provider a queue, a dead-letter
    queue and a secret, by provider name."""

    table: str
    evidence_bucket: str
    queue_urls: dict[str, str]
    dead_letter_queue_urls: dict[str, str]
    secret_ids: dict[str, str]

    # The providers' own tests name their resources.
    iimmpact_queue_url = property(lambda self: self.queue_urls["iimmpact"])
    iimmpact_dlq_url = property(lambda self: self.dead_letter_queue_urls["iimmpact"])
    iimmpact_secret_id = property(lambda self: self.secret_ids["iimmpact"])
    repay_queue_url = property(lambda self: self.queue_urls["repay"])
    repay_dlq_url = property(lambda self: self.dead_letter_queue_urls["repay"])
    repay_secret_id = property(lambda self: self.secret_ids["repay"])

    def put_evidence(self, key: str, data: bytes, content_type: str | None = None) -> str:
        extra = {"ContentType": content_type} if content_type else {}
        response = boto3.client("s3").put_object(Bucket=self.evidence_bucket, Key=key, Body=data, **extra)
        return str(response["ETag"])

    def record(self, dispute_id: str) -> dict[str, Any] | None:
        from dispute_gateway.store import DisputeStore

        record = DisputeStore(self.table, boto3.client("dynamodb")).get(dispute_id)
        return record.model_dump(mode="json") if record else None

    def records(self) -> list[dict[str, Any]]:
        from boto3.dynamodb.types import TypeDeserializer

        from dispute_gateway.live import LIVE_ITEM_PREFIX

        items = boto3.client("dynamodb").scan(TableName=self.table)["Items"]
        deserializer = TypeDeserializer()
        # The dispute records, not the items that say which dispute holds a transaction.
        disputes = [item for item in items if not item["dispute_id"]["S"].startswith(LIVE_ITEM_PREFIX)]
        return [{k: deserializer.deserialize(v) for k, v in item.items()} for item in disputes]

    def only_record(self) -> dict[str, Any]:
        records = self.records()
        assert len(records) == 1, records
        return records[0]

    def dead_letters(self, queue_url: str) -> list[dict[str, Any]]:
        sqs = boto3.client("sqs")
        response = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
        )
        return [dict(message) for message in response.get("Messages", [])]


@functools.cache
def _disputes_table_shape() -> dict[str, Any]:
    """Keys, indexes and stream as the template declares them, so tests query the indexes deployed."""
    from local.aws.template import read_template

    properties = read_template()["Resources"]["DisputesTable"]["Properties"]
    return {
        **{name: properties[name] for name in ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes")},
        "StreamSpecification": {"StreamEnabled": True, **properties["StreamSpecification"]},
    }


@pytest.fixture
def aws() -> Iterator[AwsResources]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb")
        dynamodb.create_table(TableName="disputes", BillingMode="PAY_PER_REQUEST", **_disputes_table_shape())
        from dispute_gateway.providers import provider_names

        sqs, secrets = boto3.client("sqs"), boto3.client("secretsmanager")
        boto3.client("s3").create_bucket(Bucket="evidence", CreateBucketConfiguration={"LocationConstraint": REGION})
        names = provider_names()
        yield AwsResources(
            table="disputes",
            evidence_bucket="evidence",
            queue_urls={name: sqs.create_queue(QueueName=name)["QueueUrl"] for name in names},
            dead_letter_queue_urls={name: sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"] for name in names},
            secret_ids={name: secrets.create_secret(Name=name, SecretString="{}")["ARN"] for name in names},
        )


def put_secret(secret_id: str, value: dict[str, Any]) -> None:
    boto3.client("secretsmanager").put_secret_value(SecretId=secret_id, SecretString=json.dumps(value))


class FakeLambdaContext:
    function_name = "test-function"
    function_version = "$LATEST"
    memory_limit_in_mb = 256
    invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:test-function"

    def __init__(self, remaining_ms: int = 60_000) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self._remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self._remaining_ms


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


def sqs_record(body: str, *, receive_count: int = 1, message_id: str | None = None, queue: str = "queue") -> dict:
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": "handle-" + uuid.uuid4().hex,
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": "1700000000000",
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": "1700000000001",
        },
        "messageAttributes": {},
        "md5OfBody": "0" * 32,
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}",
        "awsRegion": REGION,
    }


def sqs_event(*records: dict) -> dict:
    return {"Records": list(records)}


def s3_notification(bucket: str, key: str, etag: str, event_name: str = "ObjectCreated:Put") -> dict[str, Any]:
    """One record of an S3 event notification; S3 URL-encodes the key (spaces as '+')."""
    from urllib.parse import quote_plus

    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": REGION,
        "eventTime": "2026-11-21T06:00:00.000Z",
        "eventName": event_name,
        "s3": {
            "s3SchemaVersion": "1.0",
            "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
            "object": {"key": quote_plus(key, safe="/"), "size": 20, "eTag": etag.strip('"'), "sequencer": "0A1B"},
        },
    }


def object_created(
    bucket: str, key: str, etag: str, *, detail_type: str = "Object Created", reason: str = "PutObject"
) -> dict[str, Any]:
    """The EventBridge event S3 sends for a new object, as a rule puts it on a queue (the message
    body): the key as stored, not URL-encoded."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": "aws.s3",
        "account": ACCOUNT,
        "time": "2026-11-21T06:00:00Z",
        "region": REGION,
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {"key": key, "size": 20, "etag": etag.strip('"'), "sequencer": "0A1B"},
            "request-id": "R",
            "requester": ACCOUNT,
            "source-ip-address": "192.0.2.1",
            "reason": reason,
        },
    }


def deliver(app: Any, body: dict[str, Any] | str, *, receive_count: int = 1, message_id: str = "m-1") -> list[str]:
    """One SQS delivery to a worker; returns the ids of the messages that go back to the queue."""
    raw = body if isinstance(body, str) else json.dumps(body)
    event = sqs_event(sqs_record(raw, receive_count=receive_count, message_id=message_id))
    response = app.lambda_handler(event, FakeLambdaContext())
    return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]


def load_function(name: str) -> ModuleType:
    """Import functions/<name>/app.py afresh, as a cold start would, with the current environment."""
    path = ROOT / "functions" / name / "app.py"
    module_name = f"function_{name}_app"
    sys.modules.pop(module_name, None)
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module
