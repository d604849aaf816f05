"""Creating the template's tables (with their streams), queues, event buses, buckets and secrets on the
embedded AWS, and answering `!Ref` / `!GetAtt` for them once they exist."""

from __future__ import annotations

import json
import uuid
from typing import Any, Protocol

from local.aws.buckets import BucketSpec, QueueNotification
from local.aws.cognito import CreatedPool, create_user_pool
from local.aws.intrinsics import as_text, is_resolved, resolve
from local.aws.rules import DEFAULT_BUS, EventRuleSpec
from local.aws.template import QueueSpec, StackModel

# S3 refuses a LocationConstraint naming its default region.
_S3_DEFAULT_REGION = "us-east-1"
_MAX_BUCKET_NAME = 63
_MAX_RULE_NAME = 64


class ClientFactory(Protocol):
    def client(self, service: str) -> Any: ...


class LocalResources:
    """The stack's resources on the endpoint `clients` point at, by logical id."""

    def __init__(
        self, model: StackModel, clients: ClientFactory, *, visibility_timeout_override: int | None = None
    ) -> None:
        self._model = model
        self._clients = clients
        self._visibility_override = visibility_timeout_override
        # CloudFormation names unnamed resources <stack>-<logical id>-<random>; the random part
        # also keeps caches keyed by name (clients, stores) from reaching an earlier local stack.
        self._suffix = uuid.uuid4().hex[:12].upper()
        self.refs: dict[str, str] = {}
        self.attributes: dict[tuple[str, str], str] = {}
        self.user_pools: dict[str, CreatedPool] = {}

    # -- intrinsics ------------------------------------------------------------------------------
    def ref(self, logical_id: str) -> str | None:
        return self.refs.get(logical_id)

    def get_att(self, logical_id: str, attribute: str) -> str | None:
        return self.attributes.get((logical_id, attribute))

    def resolve(self, value: Any, what: str) -> Any:
        """`value` with every intrinsic resolved; an error naming `what` if one cannot be."""
        resolved = resolve(value, self._model.scope.with_resources(self.ref, self.get_att))
        if not is_resolved(resolved):
            raise ValueError(f"{what}: cannot resolve {json.dumps(resolved)} locally")
        return resolved

    # -- creation --------------------------------------------------------------------------------
    def create_all(self) -> None:
        self._create_tables()
        self._create_queues()
        self._create_event_buses()
        self._create_buckets()
        # Before the buckets notify: their first events find the rules that route them.
        self._create_event_rules()
        self._configure_bucket_notifications()
        self._create_secrets()
        self._create_user_pools()
        for logical_id, function in self._model.functions.items():
            name = function.name or self._generated_name(logical_id)
            self.refs[logical_id] = name
            self.attributes[(logical_id, "Arn")] = (
                f"arn:aws:lambda:{self._model.region}:{self._model.account}:function:{name}"
            )

    def _generated_name(self, logical_id: str, limit: int | None = None) -> str:
        """As CloudFormation names an unnamed resource; shortened to `limit`, the random part kept."""
        stem = f"{self._model.stack_name}-{logical_id}"
        if limit is not None:
            stem = stem[: limit - len(self._suffix) - 1]
        return f"{stem}-{self._suffix}"

    def _create_tables(self) -> None:
        dynamodb = self._clients.client("dynamodb")
        for logical_id, table in self._model.tables.items():
            name = table.name or self._generated_name(logical_id)
            # On-demand billing, as the template's tables: no throughput to give.
            request: dict[str, Any] = {
                "TableName": name,
                "BillingMode": "PAY_PER_REQUEST",
                "KeySchema": table.key_schema,
                "AttributeDefinitions": table.attribute_definitions,
            }
            if table.global_secondary_indexes:
                request["GlobalSecondaryIndexes"] = [_index(index) for index in table.global_secondary_indexes]
            if table.local_secondary_indexes:
                request["LocalSecondaryIndexes"] = [_index(index) for index in table.local_secondary_indexes]
            if table.stream_view_type is not None:
                # CloudFormation's StreamSpecification has no StreamEnabled: DynamoDB's API needs it.
                request["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": table.stream_view_type}
            description = dynamodb.create_table(**request)["TableDescription"]
            self.refs[logical_id] = name
            self.attributes[(logical_id, "Arn")] = description["TableArn"]
            if table.stream_view_type is not None:
                self.attributes[(logical_id, "StreamArn")] = description["LatestStreamArn"]
            if table.time_to_live_attribute is not None:
                # As CloudFormation does; moto records it (it does not remove expired items).
                dynamodb.update_time_to_live(
                    TableName=name,
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": table.time_to_live_attribute},
                )

    def _create_queues(self) -> None:
        sqs = self._clients.client("sqs")
        for queue in _dead_letter_queues_first(self._model.queues):
            name = queue.name or self._generated_name(queue.logical_id) + (".fifo" if queue.fifo else "")
            attributes = self._queue_attributes(queue)
            url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            self.refs[queue.logical_id] = url
            self.attributes.update(
                {
                    (queue.logical_id, "Arn"): arn,
                    (queue.logical_id, "QueueName"): name,
                    (queue.logical_id, "QueueUrl"): url,
                }
            )

    def _queue_attributes(self, queue: QueueSpec) -> dict[str, str]:
        values = self.resolve(queue.attributes, f"queue {queue.logical_id}")
        attributes = {
            name: json.dumps(value) if isinstance(value, dict) else as_text(value) for name, value in values.items()
        }
        visibility = self._visibility_override if self._visibility_override is not None else queue.visibility_timeout
        if visibility is not None:
            attributes["VisibilityTimeout"] = str(visibility)
        if queue.fifo:
            attributes["FifoQueue"] = "true"
        if queue.dead_letter_queue is not None:
            target = self.get_att(queue.dead_letter_queue, "Arn")
            if target is None:
                raise ValueError(
                    f"queue {queue.logical_id}: its dead-letter queue {queue.dead_letter_queue} is unknown"
                )
            policy = {"deadLetterTargetArn": target, "maxReceiveCount": queue.max_receive_count}
            attributes["RedrivePolicy"] = json.dumps(policy)
        return attributes

    def _create_event_buses(self) -> None:
        events = self._clients.client("events")
        for logical_id, bus in self._model.event_buses.items():
            arn = events.create_event_bus(Name=bus.name)["EventBusArn"]
            self.refs[logical_id] = bus.name
            self.attributes.update({(logical_id, "Arn"): arn, (logical_id, "Name"): bus.name})

    def _create_buckets(self) -> None:
        s3 = self._clients.client("s3")
        for logical_id, bucket in self._model.buckets.items():
            # CloudFormation's generated names are lower case too: S3 refuses capitals.
            name = bucket.name or self._generated_name(logical_id).lower()[:_MAX_BUCKET_NAME]
            request: dict[str, Any] = {"Bucket": name}
            if self._model.region != _S3_DEFAULT_REGION:
                request["CreateBucketConfiguration"] = {"LocationConstraint": self._model.region}
            s3.create_bucket(**request)
            for method, arguments in bucket.configuration_requests(name):
                getattr(s3, method)(**arguments)
            self.refs[logical_id] = name
            self.attributes.update(
                {
                    (logical_id, "Arn"): f"arn:aws:s3:::{name}",
                    (logical_id, "DomainName"): f"{name}.s3.amazonaws.com",
                    (logical_id, "RegionalDomainName"): f"{name}.s3.{self._model.region}.amazonaws.com",
                }
            )

    def _create_event_rules(self) -> None:
        """The template's event-matching rules on the embedded AWS's EventBridge, with their queue targets."""
        events = self._clients.client("events")
        for rule in self._model.event_rules.values():
            name = rule.name or self._generated_name(rule.logical_id, _MAX_RULE_NAME)
            bus = self.resolve(rule.bus, f"rule {rule.logical_id}") if rule.bus is not None else DEFAULT_BUS
            pattern = self.resolve(rule.pattern, f"rule {rule.logical_id}")
            arn = events.put_rule(
                Name=name,
                EventBusName=bus,
                EventPattern=json.dumps(pattern),
                State="ENABLED" if rule.enabled else "DISABLED",
            )["RuleArn"]
            targets = [{"Id": target, "Arn": self._queue_arn(rule, queue)} for target, queue in rule.queue_targets]
            if targets:
                events.put_targets(Rule=name, EventBusName=bus, Targets=targets)
            self.refs[rule.logical_id] = name
            self.attributes[(rule.logical_id, "Arn")] = arn

    def _queue_arn(self, rule: EventRuleSpec, queue: str) -> str:
        arn = self.get_att(queue, "Arn")
        if arn is None:
            raise ValueError(f"rule {rule.logical_id}: {queue} is not a queue of the template")
        return arn

    def _configure_bucket_notifications(self) -> None:
        """Once the queues and rules exist. Like S3, moto then sends each queue notified directly an
        s3:TestEvent message (none through EventBridge)."""
        s3 = self._clients.client("s3")
        for logical_id, bucket in self._model.buckets.items():
            configuration = bucket.notification_configuration(lambda n, b=bucket: self._notified_queue(b, n))
            if configuration is not None:
                s3.put_bucket_notification_configuration(
                    Bucket=self.refs[logical_id], NotificationConfiguration=configuration
                )

    def _notified_queue(self, bucket: BucketSpec, notification: QueueNotification) -> str:
        queue_arn = self.get_att(notification.queue, "Arn")
        if queue_arn is None:
            raise ValueError(f"bucket {bucket.logical_id}: {notification.queue} is not a queue of the template")
        return queue_arn

    def _create_secrets(self) -> None:
        secrets = self._clients.client("secretsmanager")
        for logical_id, secret in self._model.secrets.items():
            request: dict[str, Any] = {"Name": secret.name or self._generated_name(logical_id)}
            if secret.secret_string is not None:
                request["SecretString"] = self.resolve(secret.secret_string, f"secret {logical_id}")
            if secret.description is not None:
                request["Description"] = self.resolve(secret.description, f"secret {logical_id}")
            arn = secrets.create_secret(**request)["ARN"]
            self.refs[logical_id] = arn
            self.attributes[(logical_id, "Id")] = arn

    def _create_user_pools(self) -> None:
        cognito = self._clients.client("cognito-idp")
        for logical_id, spec in self._model.user_pools.items():
            name = str(spec.properties.get("UserPoolName") or self._generated_name(logical_id))
            created = create_user_pool(cognito, spec, name, self._model.region)
            self.user_pools[logical_id] = created
            self.refs[logical_id] = created.pool_id
            self.attributes.update(
                {
                    (logical_id, "Arn"): f"arn:aws:cognito-idp:{self._model.region}:{self._model.account}"
                    f":userpool/{created.pool_id}",
                    (logical_id, "ProviderName"): f"cognito-idp.{self._model.region}.amazonaws.com/{created.pool_id}",
                    (
                        logical_id,
                        "ProviderURL",
                    ): f"https://cognito-idp.{self._model.region}.amazonaws.com/{created.pool_id}",
                }
            )
            self.refs.update(created.client_ids)
            self.refs.update(spec.groups)
            self.refs.update(created.domains)

    def put_secret(self, logical_id: str, value: dict[str, Any]) -> None:
        self._clients.client("secretsmanager").put_secret_value(
            SecretId=self.refs[logical_id], SecretString=json.dumps(value)
        )


def _attribute(value: Any) -> str:
    # Policies are JSON documents in the template; SQS takes them as strings.
    return json.dumps(value) if isinstance(value, dict | list) else as_text(value)


def _index(index: dict[str, Any]) -> dict[str, Any]:
    # A throughput setting would be refused next to on-demand billing.
    return {key: value for key, value in index.items() if key != "ProvisionedThroughput"}


def _dead_letter_queues_first(queues: dict[str, QueueSpec]) -> list[QueueSpec]:
    """Queues in an order where every dead-letter queue exists before the queues that redrive to it."""
    ordered: list[QueueSpec] = []
    placed: set[str] = set()
    pending = list(queues.values())
    while pending:
        ready = [q for q in pending if q.dead_letter_queue is None or q.dead_letter_queue in placed]
        if not ready:
            names = ", ".join(q.logical_id for q in pending)
            raise ValueError(f"queues whose dead-letter queue is not a queue of the template: {names}")
        ordered.extend(ready)
        placed.update(q.logical_id for q in ready)
        pending = [q for q in pending if q.logical_id not in placed]
    return ordered
