"""Handlers over moto (in-process) and the provider sandboxes (real HTTP on loopback)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import boto3
import pytest

from tests.conftest import REGION, AwsResources, FakeLambdaContext, load_function, put_secret
from tests.sandboxes.iimmpact import Fault, IimmpactSandbox
from tests.sandboxes.repay import RepaySandbox


def cold_starter(function: str, defaults: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., ModuleType]:
    """Cold starts of `function` under `defaults`, each call's keyword arguments overriding them."""

    def cold_start(**environment: str) -> ModuleType:
        for name, value in {**defaults, **environment}.items():
            monkeypatch.setenv(name, value)
        return load_function(function)

    return cold_start


@pytest.fixture(scope="session")
def iimmpact_sandbox_server() -> Iterator[IimmpactSandbox]:
    with IimmpactSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def iimmpact_sandbox(iimmpact_sandbox_server: IimmpactSandbox) -> Iterator[IimmpactSandbox]:
    sandbox = iimmpact_sandbox_server
    original = (sandbox.api_key, sandbox.hmac_secret_b64)
    sandbox.reset()
    sandbox.latency = 0.0
    yield sandbox
    sandbox.rotate_credentials(*original)
    sandbox.reset()


@pytest.fixture
def iimmpact_app(
    aws: AwsResources, iimmpact_sandbox: IimmpactSandbox, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., ModuleType]:
    """A cold start of the iimmpact_report function wired to moto and the sandbox."""
    put_secret(
        aws.iimmpact_secret_id,
        {"api_key": iimmpact_sandbox.api_key, "hmac_secret": iimmpact_sandbox.hmac_secret_b64},
    )

    defaults = {
        "DISPUTES_TABLE": aws.table,
        "IIMMPACT_BASE_URL": iimmpact_sandbox.base_url,
        "IIMMPACT_SECRET_ID": aws.iimmpact_secret_id,
        "DEAD_LETTER_QUEUE_URL": aws.iimmpact_dlq_url,
        "QUEUE_MAX_RECEIVE_COUNT": "3",
        "PROVIDER_READ_TIMEOUT_SECONDS": "1",
    }
    return cold_starter("iimmpact_report", defaults, monkeypatch)


@pytest.fixture(scope="session")
def repay_sandbox_server() -> Iterator[RepaySandbox]:
    with RepaySandbox() as sandbox:
        yield sandbox


@pytest.fixture
def repay_sandbox(repay_sandbox_server: RepaySandbox) -> Iterator[RepaySandbox]:
    sandbox = repay_sandbox_server
    original = sandbox.api_key
    sandbox.reset()
    yield sandbox
    sandbox.rotate_credentials(original)
    sandbox.reset()


@pytest.fixture
def repay_app(
    aws: AwsResources, repay_sandbox: RepaySandbox, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., ModuleType]:
    """A cold start of the repay_dispute function wired to moto and the sandbox."""
    put_secret(aws.repay_secret_id, {"api_key": repay_sandbox.api_key, "origin": "merchant.example"})

    defaults = {
        "DISPUTES_TABLE": aws.table,
        "EVIDENCE_BUCKET": aws.evidence_bucket,
        "REPAY_BASE_URL": repay_sandbox.base_url,
        "REPAY_SECRET_ID": aws.repay_secret_id,
        "DEAD_LETTER_QUEUE_URL": aws.repay_dlq_url,
        "QUEUE_MAX_RECEIVE_COUNT": "3",
        "PROVIDER_READ_TIMEOUT_SECONDS": "1",
    }
    return cold_starter("repay_dispute", defaults, monkeypatch)


@pytest.fixture
def tracker_app(
    aws: AwsResources, repay_sandbox: RepaySandbox, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., ModuleType]:
    """A cold start of the outcome_tracker function for Repay, wired to moto and the sandbox."""
    put_secret(aws.repay_secret_id, {"api_key": repay_sandbox.api_key, "origin": "merchant.example"})

    defaults = {
        "DISPUTES_TABLE": aws.table,
        "REPAY_BASE_URL": repay_sandbox.base_url,
        "REPAY_SECRET_ID": aws.repay_secret_id,
        "OUTCOME_CHECK_INTERVAL_SECONDS": "0",
        "PROVIDER_READ_TIMEOUT_SECONDS": "1",
    }
    return cold_starter("outcome_tracker", defaults, monkeypatch)


@dataclass
class ApiAnswer:
    status: int
    headers: dict[str, str]
    body: Any


class ApiClient:
    """Calls the API handler with API Gateway HTTP API (payload 2.0) events, as the service would."""

    def __init__(self, module: ModuleType) -> None:
        self.module = module

    def call(
        self,
        method: str,
        route: str,
        path: str | None = None,
        *,
        body: Any = None,
        headers: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
        path_parameters: dict[str, str] | None = None,
        raw_body: str | None = None,
        jwt_claims: dict[str, str] | None = None,
    ) -> ApiAnswer:
        """`jwt_claims`: a route behind the console's JWT authorizer, called with a token holding them."""
        from local.runtime.http_api import api_gateway_event
        from local.runtime.routes import IAM

        event = api_gateway_event(
            method,
            route,
            path or route,
            body=raw_body if raw_body is not None else (None if body is None else json.dumps(body)),
            headers=headers,
            query=query,
            path_parameters=path_parameters,
            authorization=IAM if jwt_claims is None else "ConsoleAuthorizer",
            jwt=None if jwt_claims is None else {"claims": jwt_claims, "scopes": ["openid"]},
        )
        return self.send(event)

    def send(self, event: dict[str, Any]) -> ApiAnswer:
        response = self.module.lambda_handler(event, FakeLambdaContext())
        text = response.get("body") or ""
        headers = {k.lower(): v for k, v in response.get("headers", {}).items()}
        parsed = json.loads(text) if text and "json" in headers.get("content-type", "json") else text or None
        return ApiAnswer(response["statusCode"], headers, parsed)


@pytest.fixture
def api(aws: AwsResources, monkeypatch: pytest.MonkeyPatch) -> ApiClient:
    """A cold start of the api function over moto."""
    from dispute_gateway.providers import provider_spec

    queues = {provider_spec(name).queue_url_variable: url for name, url in aws.queue_urls.items()}
    for name, value in {"DISPUTES_TABLE": aws.table, "EVIDENCE_BUCKET": aws.evidence_bucket, **queues}.items():
        monkeypatch.setenv(name, value)
    return ApiClient(load_function("api"))


# -- the event publisher: the table's stream in, a subscriber's queue out -----------------------
BUS = "disputes-bus"


class TableStream:
    """The disputes table's stream read as Lambda's event source mapping reads it: each call, the
    records written since the last one, shaped as the function's event."""

    def __init__(self, table: str) -> None:
        self._streams = boto3.client("dynamodbstreams")
        self.arn = boto3.client("dynamodb").describe_table(TableName=table)["Table"]["LatestStreamArn"]
        [shard] = self._streams.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"]
        self._iterator = self._streams.get_shard_iterator(
            StreamArn=self.arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]

    def batch(self) -> dict[str, Any]:
        from local.runtime.stream_poller import stream_lambda_record

        answer = self._streams.get_records(ShardIterator=self._iterator)
        self._iterator = answer["NextShardIterator"]
        return {"Records": [stream_lambda_record(record, self.arn, REGION) for record in answer["Records"]]}


class Subscriber:
    """An upstream team's rule on the bus (`source: dispute-gateway`) with an SQS queue as target."""

    def __init__(self) -> None:
        events, sqs = boto3.client("events"), boto3.client("sqs")
        self.queue_url = sqs.create_queue(QueueName="subscriber")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="every-change", EventBusName=BUS, EventPattern=json.dumps({"source": ["dispute-gateway"]}))
        events.put_targets(Rule="every-change", EventBusName=BUS, Targets=[{"Id": "queue", "Arn": arn}])

    def received(self) -> list[dict[str, Any]]:
        sqs, events = boto3.client("sqs"), []
        while messages := sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages"):
            for message in messages:
                events.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return events


@pytest.fixture
def stream(aws: AwsResources) -> TableStream:
    return TableStream(aws.table)


@pytest.fixture
def subscriber(aws: AwsResources) -> Subscriber:
    boto3.client("events").create_event_bus(Name=BUS)
    return Subscriber()


@pytest.fixture
def publisher(aws: AwsResources, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("DISPUTES_TABLE", aws.table)
    monkeypatch.setenv("EVENT_BUS_NAME", BUS)
    return load_function("event_publisher")


# -- a worker fed from its queue, as Lambda's SQS event source feeds it ----------------------------
class QueueFeed:
    """A worker fed from its real queue in moto: `deliver` receives what is visible (receive counts
    and receipt handles are SQS's own), invokes the worker and deletes what succeeded, as Lambda
    does. `delays` are the visibility time-outs the worker set, per message id; `elapse` plays the
    passing of time: every message it hid becomes visible again."""

    def __init__(self, queue_url: str, dead_letter_queue_url: str, app: ModuleType, max_receive_count: int) -> None:
        self.queue_url = queue_url
        self._sqs = boto3.client("sqs")
        self._app = app
        self._in_flight: dict[str, str] = {}  # message id -> its latest receipt handle
        self._delivering: dict[str, str] = {}  # receipt handle -> message id, of the batch being delivered
        self.delays: dict[str, list[int]] = {}
        attributes = self._sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]
        self.arn = attributes["QueueArn"]
        dead_letter_arn = self._sqs.get_queue_attributes(QueueUrl=dead_letter_queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        redrive = {"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": str(max_receive_count)}
        self._sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"RedrivePolicy": json.dumps(redrive)})
        # The worker's own SQS client, as its cold start made it: what it asks SQS is recorded.
        app.worker._delays._client.meta.events.register(
            "before-parameter-build.sqs.ChangeMessageVisibilityBatch", self._record_delays
        )

    def send(self, body: dict[str, Any] | str) -> str:
        raw = body if isinstance(body, str) else json.dumps(body)
        return str(self._sqs.send_message(QueueUrl=self.queue_url, MessageBody=raw)["MessageId"])

    def deliver(self) -> list[str]:
        """One batch of what is visible now; the ids of the messages that go back to the queue."""
        from local.runtime.functions import sqs_lambda_record

        messages = self._sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
        ).get("Messages", [])
        assert messages, "nothing to deliver"
        records = [sqs_lambda_record(message, self.arn, REGION) for message in messages]
        self._delivering = {message["ReceiptHandle"]: message["MessageId"] for message in messages}
        answer = self._app.lambda_handler({"Records": records}, FakeLambdaContext())
        failed = [failure["itemIdentifier"] for failure in answer["batchItemFailures"]]
        for message in messages:
            if message["MessageId"] in failed:
                self._in_flight[message["MessageId"]] = message["ReceiptHandle"]
            else:
                self._in_flight.pop(message["MessageId"], None)
                self._sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return failed

    def elapse(self) -> None:
        for handle in self._in_flight.values():
            self._sqs.change_message_visibility(QueueUrl=self.queue_url, ReceiptHandle=handle, VisibilityTimeout=0)

    def visible(self) -> int:
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"])

    def _record_delays(self, params: dict[str, Any], **_: Any) -> None:
        for entry in params["Entries"]:
            message_id = self._delivering.get(entry["ReceiptHandle"], entry["ReceiptHandle"])
            self.delays.setdefault(message_id, []).append(entry["VisibilityTimeout"])


@pytest.fixture
def store(aws: AwsResources) -> Any:
    """The disputes table, as the functions' domain code reads and writes it."""
    from dispute_gateway.store import DisputeStore

    return DisputeStore(aws.table, boto3.client("dynamodb"))


# -- a failed dispute, its message in the dead-letter queue ----------------------------------------
def waiting(queue_url: str) -> int:
    """Messages visible on the queue, counted without receiving them (a receive counts towards redrive)."""
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


@pytest.fixture
def feed(aws: AwsResources, iimmpact_app: Any) -> QueueFeed:
    """The IIMMPACT worker on its queue, whose first delivery is the last: a 503 fails the dispute."""
    return QueueFeed(aws.iimmpact_queue_url, aws.iimmpact_dlq_url, iimmpact_app(QUEUE_MAX_RECEIVE_COUNT="1"), 1)


def failed_dispute(aws: AwsResources, feed: QueueFeed, sandbox: IimmpactSandbox, body: dict[str, Any]) -> str:
    """A dispute recorded `failed`, its message moved by SQS to the dead-letter queue."""
    sandbox.inject(Fault(status=503))
    feed.send(body)
    assert feed.deliver() != []
    feed.elapse()
    # The next receive finds the message past maxReceiveCount: SQS moves it to the dead-letter queue.
    assert boto3.client("sqs").receive_message(QueueUrl=aws.iimmpact_queue_url).get("Messages") is None
    (record,) = [r for r in aws.records() if r["reference"] == body["trxid"]]
    assert record["status"] == "failed"
    return str(record["dispute_id"])
