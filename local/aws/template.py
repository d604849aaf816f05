"""template.yaml as the local stack sees it: the SAM transform's output, reduced to what runs locally.

The model is read from the transformed CloudFormation (not the SAM source), so Globals, event
sources and defaults come out exactly as a deployment would get them. Parameters and
conditions are resolved here; references to resources are kept as written, since names, URLs
and ARNs only exist once the local stack has created the resources.
"""

from __future__ import annotations

import contextlib
import copy
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from samtranslator.metrics.method_decorator import MetricsMethodWrapperSingleton
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

from local.aws.buckets import BucketSpec, bucket_spec
from local.aws.cognito import UserPoolSpec, user_pool_specs
from local.aws.intrinsics import Scope, referenced_id, resolve
from local.aws.rules import EventRuleSpec, event_rule_spec
from local.runtime.routes import HttpRoute, http_routes, jwt_authorizers

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
DEFAULT_REGION = "ap-southeast-1"
# moto's default account, so ARNs built here match the ones the embedded AWS returns.
LOCAL_ACCOUNT = "123456789012"
LOCAL_STACK_NAME = "dispute-gateway-local"
_PACKAGE_BUCKET = "artifacts"


# -- reading and transforming -------------------------------------------------------------
def read_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """The SAM template as written; short-form tags (`!Ref`, `!Sub`...) become their long form."""
    template: dict[str, Any] = yaml_parse(path.read_text(encoding="utf-8"))
    return template


class _NoManagedPolicies:
    """Policy loader for the translator: the template names managed policies only by ARN,
    so no IAM lookup (and no AWS account) is needed."""

    def load(self) -> dict[str, str]:
        return {}


def as_packaged(template: dict[str, Any]) -> dict[str, Any]:
    """Point local code folders at S3, as `sam package` does, since the translator accepts only S3 URIs.

    The S3 key is the folder relative to the template, so the folder can be read back from it.
    """
    packaged = copy.deepcopy(template)
    for resource in packaged.get("Resources", {}).values():
        properties = resource.get("Properties") or {}
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str):
                properties[key] = f"s3://{_PACKAGE_BUCKET}/{properties[key].strip('/')}"
    return packaged


def default_parameters(template: dict[str, Any], overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Every template parameter at its default, unless overridden."""
    values = {name: spec["Default"] for name, spec in template.get("Parameters", {}).items() if "Default" in spec}
    unknown = set(overrides or {}) - set(template.get("Parameters", {}))
    if unknown:
        raise ValueError(f"unknown template parameters: {', '.join(sorted(unknown))}")
    values.update(overrides or {})
    return values


def pseudo_parameters(
    region: str = DEFAULT_REGION, account: str = LOCAL_ACCOUNT, stack_name: str | None = None
) -> dict[str, str]:
    values = {
        "AWS::Region": region,
        "AWS::Partition": "aws",
        "AWS::AccountId": account,
        "AWS::URLSuffix": "amazonaws.com",
    }
    if stack_name is not None:
        values["AWS::StackName"] = stack_name
    return values


@contextlib.contextmanager
def _environment_variable(name: str, value: str) -> Iterator[None]:
    previous = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


def sam_transform(
    template: dict[str, Any], parameter_values: Mapping[str, Any], region: str = DEFAULT_REGION
) -> dict[str, Any]:
    """The CloudFormation template the SAM transform makes of `template` (no AWS account needed)."""
    # The translator builds a boto3 session for the pseudo parameters; it must find a region.
    with _environment_variable("AWS_DEFAULT_REGION", region):
        result: dict[str, Any] = transform(as_packaged(template), dict(parameter_values), _NoManagedPolicies())
    # The translator records metrics on a process-wide object; unpublished, the next transform's
    # replacement would warn about them when the old one is collected.
    MetricsMethodWrapperSingleton.get_instance().publish()
    return result


# -- the model ------------------------------------------------------------------------------
@dataclass(frozen=True)
class TableSpec:
    logical_id: str
    name: str | None  # TableName, when the template fixes it
    key_schema: list[dict[str, str]]
    attribute_definitions: list[dict[str, str]]
    global_secondary_indexes: list[dict[str, Any]] = field(default_factory=list)
    local_secondary_indexes: list[dict[str, Any]] = field(default_factory=list)
    # StreamSpecification's StreamViewType (NEW_AND_OLD_IMAGES...); None when the table has no stream.
    stream_view_type: str | None = None
    # TimeToLiveSpecification's attribute, when enabled.
    time_to_live_attribute: str | None = None


@dataclass(frozen=True)
class QueueSpec:
    logical_id: str
    name: str | None  # QueueName, when the template fixes it
    visibility_timeout: int | None
    dead_letter_queue: str | None  # logical id of the RedrivePolicy's target
    max_receive_count: int | None
    fifo: bool = False
    # Other CloudFormation properties that map to SQS queue attributes, as given.
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SecretSpec:
    logical_id: str
    name: str | None
    secret_string: str | None  # the template's placeholder value
    description: str | None = None


@dataclass(frozen=True)
class SqsEventSource:
    logical_id: str
    queue: str  # logical id of the queue
    batch_size: int
    batching_window_seconds: float
    function_response_types: tuple[str, ...]
    maximum_concurrency: int | None
    enabled: bool = True

    @property
    def reports_batch_item_failures(self) -> bool:
        return "ReportBatchItemFailures" in self.function_response_types


@dataclass(frozen=True)
class StreamEventSource:
    """A DynamoDB stream event source mapping (a SAM `DynamoDB` event), with Lambda's defaults for
    what the template leaves out. -1 for the retries or the record age means no limit: a failing
    record is then retried until the stream trims it."""

    logical_id: str
    table: str  # logical id of the table whose stream is read
    batch_size: int
    batching_window_seconds: float
    starting_position: str  # TRIM_HORIZON or LATEST
    function_response_types: tuple[str, ...]
    bisect_batch_on_function_error: bool
    maximum_retry_attempts: int
    maximum_record_age_seconds: int
    on_failure: str | None  # logical id of the SQS queue that is told of the records given up
    enabled: bool = True

    @property
    def reports_batch_item_failures(self) -> bool:
        return "ReportBatchItemFailures" in self.function_response_types


@dataclass(frozen=True)
class EventBusSpec:
    logical_id: str
    name: str  # Name (required by CloudFormation), parameters resolved


@dataclass(frozen=True)
class ScheduleSpec:
    """An EventBridge rule that invokes a function on a schedule (a SAM `Schedule` event).

    Only `rate(...)` expressions are run locally. A `cron(...)` expression is kept, so the model
    still lists the schedule, but not run: the local stack has no cron evaluator and would
    rather skip it (with a warning) than fire it at times EventBridge would not. A target's
    constant `Input` is sent as EventBridge sends it; `InputPath` and `InputTransformer` are not
    applied.
    """

    logical_id: str  # the AWS::Events::Rule
    expression: str  # as deployed, parameters resolved
    rate_seconds: int | None  # the period of a rate(...) expression; None for cron(...)
    enabled: bool = True
    name: str | None = None  # Name, when the template fixes it
    # The target's constant Input: EventBridge sends this JSON instead of its scheduled event.
    input: str | None = None


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_dir: Path
    handler: str
    timeout_seconds: int
    memory_mb: int
    # Values as the template gives them: resource references are still intrinsics here.
    environment: dict[str, Any]
    event_sources: tuple[SqsEventSource, ...] = ()
    http_routes: tuple[HttpRoute, ...] = ()  # HttpApi events: the routes that invoke it
    name: str | None = None  # FunctionName, when the template fixes it
    schedules: tuple[ScheduleSpec, ...] = ()  # EventBridge rules whose targets include it
    stream_sources: tuple[StreamEventSource, ...] = ()  # DynamoDB streams that invoke it


@dataclass(frozen=True)
class StackModel:
    region: str
    account: str
    stack_name: str
    parameters: dict[str, Any]
    scope: Scope  # parameters, pseudo parameters and conditions, for the stack's second pass
    tables: dict[str, TableSpec]
    queues: dict[str, QueueSpec]
    secrets: dict[str, SecretSpec]
    buckets: dict[str, BucketSpec]
    functions: dict[str, FunctionSpec]
    event_buses: dict[str, EventBusSpec] = field(default_factory=dict)
    # Rules that match events (not the schedules, which are their functions'), by logical id.
    event_rules: dict[str, EventRuleSpec] = field(default_factory=dict)
    user_pools: dict[str, UserPoolSpec] = field(default_factory=dict)
    # The HTTP APIs' JWT authorizers by name, as written (issuer and audience name resources).
    jwt_authorizers: dict[str, dict[str, Any]] = field(default_factory=dict)


# Event source mapping defaults, as documented for AWS::Lambda::EventSourceMapping: SQS, then streams.
_DEFAULT_BATCH_SIZE = 10
_DEFAULT_STREAM_BATCH_SIZE = 100
_UNLIMITED = -1  # a stream source's retries and record age, when the template sets none
_DEFAULT_TIMEOUT = 3
_DEFAULT_MEMORY = 128
# EventBridge's rate syntax: the unit is singular for 1 and plural above (rate(1 hours) is refused).
_RATE = re.compile(r"rate\((?P<value>[1-9][0-9]*) (?P<unit>minute|hour|day)(?P<plural>s?)\)")
_CRON = re.compile(r"cron\(.+\)")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_QUEUE_ATTRIBUTES = (
    *("DelaySeconds", "MaximumMessageSize", "MessageRetentionPeriod", "ReceiveMessageWaitTimeSeconds"),
    *("ContentBasedDeduplication", "SqsManagedSseEnabled", "RedriveAllowPolicy"),
)


def load_model(
    path: Path = TEMPLATE,
    parameter_overrides: Mapping[str, Any] | None = None,
    *,
    region: str = DEFAULT_REGION,
    account: str = LOCAL_ACCOUNT,
    stack_name: str = LOCAL_STACK_NAME,
) -> StackModel:
    """The resources of `path` the local stack creates and runs, parameters at their defaults unless overridden."""
    template = read_template(path)
    parameters = default_parameters(template, parameter_overrides)
    cfn = sam_transform(template, {**parameters, **pseudo_parameters(region, account)}, region)
    scope = Scope({**parameters, **pseudo_parameters(region, account, stack_name)}, cfn.get("Conditions", {}))
    resources = {
        logical_id: {**resource, "Properties": resolve(resource.get("Properties") or {}, scope)}
        for logical_id, resource in cfn["Resources"].items()
        if _included(resource, scope)
    }
    by_type = _by_type(resources)
    functions = {
        logical_id: _function(logical_id, properties, path.parent, by_type)
        for logical_id, properties in by_type.get("AWS::Lambda::Function", {}).items()
        if "S3Key" in (properties.get("Code") or {})
    }
    return StackModel(
        region=region,
        account=account,
        stack_name=stack_name,
        parameters=parameters,
        scope=scope,
        tables={lid: _table(lid, props) for lid, props in by_type.get("AWS::DynamoDB::Table", {}).items()},
        queues={lid: _queue(lid, props) for lid, props in by_type.get("AWS::SQS::Queue", {}).items()},
        secrets={lid: _secret(lid, props) for lid, props in by_type.get("AWS::SecretsManager::Secret", {}).items()},
        buckets={lid: bucket_spec(lid, props) for lid, props in by_type.get("AWS::S3::Bucket", {}).items()},
        functions=functions,
        event_buses={lid: _event_bus(lid, props) for lid, props in by_type.get("AWS::Events::EventBus", {}).items()},
        event_rules={
            lid: event_rule_spec(lid, props, set(by_type.get("AWS::SQS::Queue", {})))
            for lid, props in by_type.get("AWS::Events::Rule", {}).items()
            if "EventPattern" in props
        },
        user_pools=user_pool_specs(by_type),
        jwt_authorizers={
            name: authorizer
            for api in by_type.get("AWS::ApiGatewayV2::Api", {}).values()
            for name, authorizer in jwt_authorizers(api.get("Body") or {}).items()
        },
    )


def _included(resource: dict[str, Any], scope: Scope) -> bool:
    condition = resource.get("Condition")
    return condition is None or resolve({"Fn::If": [condition, True, False]}, scope) is not False


def _by_type(resources: dict[str, dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    grouped: dict[str, dict[str, dict[str, Any]]] = {}
    for logical_id, resource in resources.items():
        grouped.setdefault(resource["Type"], {})[logical_id] = resource["Properties"]
    return grouped


def _table(logical_id: str, props: dict[str, Any]) -> TableSpec:
    return TableSpec(
        logical_id=logical_id,
        name=props.get("TableName"),
        key_schema=props["KeySchema"],
        attribute_definitions=props["AttributeDefinitions"],
        global_secondary_indexes=props.get("GlobalSecondaryIndexes", []),
        local_secondary_indexes=props.get("LocalSecondaryIndexes", []),
        stream_view_type=(props.get("StreamSpecification") or {}).get("StreamViewType"),
        time_to_live_attribute=_time_to_live_attribute(props.get("TimeToLiveSpecification")),
    )


def _time_to_live_attribute(specification: Any) -> str | None:
    if not isinstance(specification, dict) or specification.get("Enabled") not in (True, "true", "True"):
        return None
    attribute = specification.get("AttributeName")
    return attribute if isinstance(attribute, str) else None


def _event_bus(logical_id: str, props: dict[str, Any]) -> EventBusSpec:
    name = props.get("Name")
    if not isinstance(name, str):
        raise ValueError(f"event bus {logical_id}: Name {name!r} cannot be resolved locally")
    return EventBusSpec(logical_id, name)


def _queue(logical_id: str, props: dict[str, Any]) -> QueueSpec:
    redrive = props.get("RedrivePolicy") or {}
    max_receive = redrive.get("maxReceiveCount")
    return QueueSpec(
        logical_id=logical_id,
        name=props.get("QueueName"),
        visibility_timeout=int(props["VisibilityTimeout"]) if "VisibilityTimeout" in props else None,
        dead_letter_queue=referenced_id(redrive.get("deadLetterTargetArn")),
        max_receive_count=int(max_receive) if max_receive is not None else None,
        fifo=str(props.get("FifoQueue", "false")).lower() == "true",
        attributes={name: props[name] for name in _QUEUE_ATTRIBUTES if name in props},
    )


def _secret(logical_id: str, props: dict[str, Any]) -> SecretSpec:
    return SecretSpec(logical_id, props.get("Name"), props.get("SecretString"), props.get("Description"))


def _function(
    logical_id: str, props: dict[str, Any], base: Path, by_type: dict[str, dict[str, dict[str, Any]]]
) -> FunctionSpec:
    mappings = by_type.get("AWS::Lambda::EventSourceMapping", {})
    queues = by_type.get("AWS::SQS::Queue", {})
    apis = by_type.get("AWS::ApiGatewayV2::Api", {})
    aliases = {
        alias: function
        for kind in ("AWS::Lambda::Alias", "AWS::Lambda::Version")
        for alias, alias_props in by_type.get(kind, {}).items()
        if (function := referenced_id(alias_props.get("FunctionName"))) is not None
    }
    routes = [route for api, props in apis.items() for route in http_routes(api, props.get("Body") or {}, aliases)]
    schedules = tuple(
        _schedule(rule_id, rule, target)
        for rule_id, rule in by_type.get("AWS::Events::Rule", {}).items()
        if "ScheduleExpression" in rule and (target := _target_of(rule, logical_id, aliases)) is not None
    )
    own_mappings = {
        mapping_id: mapping
        for mapping_id, mapping in mappings.items()
        if referenced_id(mapping.get("FunctionName")) == logical_id
    }
    sources = tuple(
        _sqs_source(mapping_id, mapping)
        for mapping_id, mapping in own_mappings.items()
        if referenced_id(mapping.get("EventSourceArn")) in queues
    )
    tables = by_type.get("AWS::DynamoDB::Table", {})
    stream_sources = tuple(
        _stream_source(mapping_id, mapping, table, tables[table], queues)
        for mapping_id, mapping in own_mappings.items()
        if (table := _streamed_table(mapping.get("EventSourceArn"), tables)) is not None
    )
    return FunctionSpec(
        logical_id=logical_id,
        code_dir=base / props["Code"]["S3Key"],
        handler=props["Handler"],
        timeout_seconds=int(props.get("Timeout", _DEFAULT_TIMEOUT)),
        memory_mb=int(props.get("MemorySize", _DEFAULT_MEMORY)),
        environment=dict((props.get("Environment") or {}).get("Variables") or {}),
        event_sources=sources,
        http_routes=tuple(route for route in routes if route.function == logical_id),
        # A name built from another resource's attribute is only known once that exists: generated instead.
        name=props.get("FunctionName") if isinstance(props.get("FunctionName"), str) else None,
        schedules=schedules,
        stream_sources=stream_sources,
    )


def _sqs_source(logical_id: str, props: dict[str, Any]) -> SqsEventSource:
    queue = referenced_id(props["EventSourceArn"])
    assert queue is not None
    concurrency = (props.get("ScalingConfig") or {}).get("MaximumConcurrency")
    return SqsEventSource(
        logical_id=logical_id,
        queue=queue,
        batch_size=int(props.get("BatchSize", _DEFAULT_BATCH_SIZE)),
        batching_window_seconds=float(props.get("MaximumBatchingWindowInSeconds", 0)),
        function_response_types=tuple(props.get("FunctionResponseTypes", ())),
        maximum_concurrency=int(concurrency) if concurrency is not None else None,
        enabled=str(props.get("Enabled", "true")).lower() == "true",
    )


def _streamed_table(reference: Any, tables: dict[str, dict[str, Any]]) -> str | None:
    """The table of `!GetAtt Table.StreamArn`, when `reference` is that for a table of the template."""
    target = reference.get("Fn::GetAtt") if isinstance(reference, dict) and len(reference) == 1 else None
    parts = target.split(".", 1) if isinstance(target, str) else target
    if isinstance(parts, list) and len(parts) == 2 and parts[1] == "StreamArn" and parts[0] in tables:
        return str(parts[0])
    return None


def _stream_source(
    logical_id: str,
    props: dict[str, Any],
    table: str,
    table_props: dict[str, Any],
    queues: dict[str, dict[str, Any]],
) -> StreamEventSource:
    # CloudFormation would refuse these; refused here too rather than run something else locally.
    if not (table_props.get("StreamSpecification") or {}).get("StreamViewType"):
        raise ValueError(f"event source {logical_id}: table {table} has no StreamSpecification")
    if props.get("StartingPosition") not in ("TRIM_HORIZON", "LATEST"):
        raise ValueError(f"event source {logical_id}: StartingPosition must be TRIM_HORIZON or LATEST for a stream")
    destination = ((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
    on_failure = referenced_id(destination) if destination is not None else None
    if destination is not None and on_failure not in queues:
        raise ValueError(
            f"event source {logical_id}: on-failure destination {destination!r} is not an SQS queue of the"
            " template (the only destination the local stack sends to)"
        )
    return StreamEventSource(
        logical_id=logical_id,
        table=table,
        batch_size=int(props.get("BatchSize", _DEFAULT_STREAM_BATCH_SIZE)),
        batching_window_seconds=float(props.get("MaximumBatchingWindowInSeconds", 0)),
        starting_position=str(props["StartingPosition"]),
        function_response_types=tuple(props.get("FunctionResponseTypes", ())),
        bisect_batch_on_function_error=str(props.get("BisectBatchOnFunctionError", "false")).lower() == "true",
        maximum_retry_attempts=int(props.get("MaximumRetryAttempts", _UNLIMITED)),
        maximum_record_age_seconds=int(props.get("MaximumRecordAgeInSeconds", _UNLIMITED)),
        on_failure=on_failure,
        enabled=str(props.get("Enabled", "true")).lower() == "true",
    )


def schedule_rate_seconds(expression: str) -> int | None:
    """The period of an EventBridge `rate(...)` expression in seconds; None for a `cron(...)` one.

    Anything else, or a rate EventBridge would refuse (`rate(0 minutes)`, `rate(5 minute)`),
    is an error here rather than a deployment failure later.
    """
    if _CRON.fullmatch(expression):
        return None
    match = _RATE.fullmatch(expression)
    if match is None:
        raise ValueError(f"{expression!r} is neither rate(N minute|minutes|hour|hours|day|days) nor cron(...)")
    value = int(match["value"])
    if (value == 1) == bool(match["plural"]):
        raise ValueError(f"{expression!r}: the unit is singular for 1 and plural for more")
    return value * _UNIT_SECONDS[match["unit"]]


def _target_of(rule: dict[str, Any], function: str, aliases: dict[str, str]) -> dict[str, Any] | None:
    """The rule's target that invokes `function`, directly or through one of its aliases or versions."""
    for target in rule.get("Targets") or []:
        named = referenced_id(target.get("Arn"))
        if named is not None and aliases.get(named, named) == function:
            return dict(target)
    return None


def _schedule(logical_id: str, props: dict[str, Any], target: dict[str, Any]) -> ScheduleSpec:
    expression = props["ScheduleExpression"]
    if not isinstance(expression, str):
        raise ValueError(f"rule {logical_id}: ScheduleExpression {expression!r} cannot be resolved locally")
    given = target.get("Input")
    return ScheduleSpec(
        logical_id=logical_id,
        expression=expression,
        rate_seconds=schedule_rate_seconds(expression),
        # EventBridge's default state is ENABLED; SAM writes DISABLED for `Enabled: false`.
        enabled=str(props.get("State", "ENABLED")).upper() != "DISABLED",
        name=props.get("Name") if isinstance(props.get("Name"), str) else None,
        input=given if isinstance(given, str) else None,
    )
