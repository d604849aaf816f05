"""The HTTP API's part of the stack (CONTRACT section 6): routes, IAM authorization, stage, role, configuration.

SAM renders an HttpApi as one AWS::ApiGatewayV2::Api whose OpenAPI `Body` holds every route
(no AWS::ApiGatewayV2::Route resources): IAM authorization is the `AWS_IAM` security scheme
(`x-amazon-apigateway-authtype: awsSigv4`) required by each operation, which API Gateway's
import turns into the route's AuthorizationType AWS_IAM. The operator console's routes are the
exception, tested in test_console_template.py: its page is public, its /ops routes take a JWT.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from local import api_samples
from local.runtime.routes import IAM, NO_AUTHORIZATION, http_routes
from tests.infrastructure.cfn import (
    arn_of,
    as_list,
    environment,
    event_source_mappings,
    evidence_object_patterns,
    granted,
    of_type,
    provider_blocks,
    ref,
    role_statements,
    scoped_data_statements,
)

ROOT = Path(__file__).resolve().parents[2]

FUNCTION = "ApiFunction"
# SnapStart runs published versions only: API Gateway invokes the alias AutoPublishAlias makes.
ALIAS = "ApiFunctionAliaslive"
API = "HttpApi"
CONTRACT_ROUTES = {
    ("POST", "/disputes"),
    ("GET", "/disputes/{dispute_id}"),
    ("GET", "/disputes"),
    ("POST", "/evidence-uploads"),
}
# For machines and scripts too: retry a failed dispute (issue 21).
MACHINE_ROUTES = CONTRACT_ROUTES | {("POST", "/disputes/{dispute_id}/retry")}
# Every other method of a machine path reaches the function too, which answers 405 with Allow.
IAM_ROUTES = MACHINE_ROUTES | {("ANY", path) for _, path in MACHINE_ROUTES}
CONSOLE_PAGE_ROUTES = {("GET", "/console"), ("GET", "/console/{name}")}
OPS_ROUTES = {
    ("GET", "/ops/me"),
    ("GET", "/ops/overview"),
    ("GET", "/ops/disputes"),
    ("GET", "/ops/disputes/{dispute_id}"),
    ("POST", "/ops/disputes/{dispute_id}/retry"),
    ("ANY", "/ops/{proxy+}"),
}
ROUTES = IAM_ROUTES | CONSOLE_PAGE_ROUTES | OPS_ROUTES
_ANY_METHOD = "x-amazon-apigateway-any-method"
# CONTRACT.md section 2: every variable whose "used by" names api (or "all").
API_CONTRACT_ENV = {
    "DISPUTES_TABLE",
    "EVIDENCE_BUCKET",
    "IIMMPACT_QUEUE_URL",
    "REPAY_QUEUE_URL",
    "EVIDENCE_MAX_FILES",
    "EVIDENCE_MAX_FILE_BYTES",
    "EVIDENCE_MAX_TOTAL_BYTES",
}
REFERENCE_INDEX = {"Fn::Sub": "${DisputesTable.Arn}/index/reference-index"}
OPERATOR_INDEXES = [{"Fn::Sub": f"${{DisputesTable.Arn}}/index/{name}-index"} for name in ("status", "resolution")]
DATA_PREFIXES = ("dynamodb:", "sqs:", "s3:", "secretsmanager:", "kms:")
# API Gateway stops waiting for a Lambda integration after 30 s.
INTEGRATION_TIMEOUT_SECONDS = 30


def _body(resources: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = resources[API]["Properties"]["Body"]
    return body


def _operations(resources: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        ("ANY" if method == _ANY_METHOD else method.upper(), path): operation
        for path, operations in _body(resources)["paths"].items()
        for method, operation in operations.items()
    }


def _stage(resources: dict[str, Any]) -> dict[str, Any]:
    (stage,) = of_type(resources, "AWS::ApiGatewayV2::Stage").values()
    properties: dict[str, Any] = stage["Properties"]
    return properties


# -- routes and their authorization ----------------------------------------------------------------
def test_the_routes_are_the_contract_routes_retry_and_the_console(resources):
    assert set(_operations(resources)) == ROUTES


def test_iam_is_api_gateways_sigv4_scheme(resources):
    assert list(of_type(resources, "AWS::ApiGatewayV2::Api")) == [API]
    schemes = _body(resources)["components"]["securitySchemes"]
    assert schemes["AWS_IAM"]["x-amazon-apigateway-authtype"] == "awsSigv4"
    # An import warning (e.g. an ignored security setting) fails the deployment instead of dropping it.
    assert resources[API]["Properties"]["FailOnWarnings"] is True


@pytest.mark.parametrize(("method", "path"), sorted(IAM_ROUTES))
def test_every_machine_route_requires_aws_iam(resources, method, path):
    assert _operations(resources)[(method, path)]["security"] == [{"AWS_IAM": []}]


def test_no_route_is_defined_outside_the_authorized_body(resources):
    # A Route resource would bypass the body's security; SAM generates none, and none may be added
    # without IAM authorization.
    for route in of_type(resources, "AWS::ApiGatewayV2::Route").values():
        assert route["Properties"].get("AuthorizationType") == "AWS_IAM"


@pytest.mark.parametrize(("method", "path"), sorted(ROUTES))
def test_every_route_proxies_to_the_api_function_with_payload_2(resources, method, path):
    integration = _operations(resources)[(method, path)]["x-amazon-apigateway-integration"]
    assert integration["type"] == "aws_proxy"
    assert integration["payloadFormatVersion"] == "2.0"
    assert f"/functions/${{{ALIAS}}}/invocations" in integration["uri"]["Fn::Sub"]
    assert resources[ALIAS]["Properties"]["FunctionName"] == ref(FUNCTION)


def test_api_gateway_may_invoke_the_function_on_these_routes_only(resources):
    permissions = [
        p["Properties"]
        for p in of_type(resources, "AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] in (ref(FUNCTION), ref(ALIAS))
    ]
    # Only the alias: $LATEST (no snapshot) is never invoked by the API.
    assert {json.dumps(p["FunctionName"]) for p in permissions} == {json.dumps(ref(ALIAS))}
    assert {p["Principal"] for p in permissions} == {"apigateway.amazonaws.com"}
    arns = [p["SourceArn"]["Fn::Sub"] for p in permissions]
    assert all(arn[1] == {"__ApiId__": ref(API), "__Stage__": "*"} for arn in arns)
    # A path parameter becomes "*" in the permission's ARN.
    suffixes = {re.sub(r"^.*\$\{__Stage__\}/", "", arn[0]) for arn in arns}
    wildcard_parameters = {(method, re.sub(r"\{[^}]+\}", "*", path)) for method, path in ROUTES}
    assert suffixes == {("*" if method == "ANY" else method) + path for method, path in wildcard_parameters}


def test_the_local_stack_reads_the_same_routes(resources):
    # As local/template.py does: a route through an alias runs the alias's function.
    aliases = {
        alias_id: alias["Properties"]["FunctionName"]["Ref"]
        for alias_id, alias in of_type(resources, "AWS::Lambda::Alias").items()
    }
    routes = http_routes(API, _body(resources), aliases)
    assert {(route.method, route.path) for route in routes} == ROUTES
    assert {(route.method, route.path) for route in routes if route.authorization == IAM} == IAM_ROUTES
    assert {(route.function, route.authorization, route.payload_format_version) for route in routes} == {
        (FUNCTION, IAM, "2.0"),
        (FUNCTION, NO_AUTHORIZATION, "2.0"),
        (FUNCTION, "ConsoleAuthorizer", "2.0"),
    }


# -- stage: throttling and access log --------------------------------------------------------------
def test_default_stage_throttles_every_route(sam_template, resources):
    stage = _stage(resources)
    assert stage["ApiId"] == ref(API)
    assert stage["StageName"] == "$default"
    assert stage["AutoDeploy"] is True
    assert stage["DefaultRouteSettings"] == {
        "ThrottlingBurstLimit": ref("ApiThrottleBurst"),
        "ThrottlingRateLimit": ref("ApiThrottleRate"),
    }
    assert sam_template["Parameters"]["ApiThrottleBurst"]["Default"] == 50
    assert sam_template["Parameters"]["ApiThrottleRate"]["Default"] == 20


def test_access_log_is_json_of_request_facts_only(resources):
    settings = _stage(resources)["AccessLogSettings"]
    assert settings["DestinationArn"] == arn_of("HttpApiAccessLogGroup")
    fields = json.loads(settings["Format"])
    values = set(fields.values())
    for variable in ("requestId", "routeKey", "status", "integrationLatency"):
        assert f"$context.{variable}" in values
    # Bodies, headers and query strings can carry e-mail addresses (CONTRACT section 7).
    assert not re.search(r"body|header|querystring|\$input|\$request\.", settings["Format"], re.IGNORECASE)


def test_access_log_group_expires(resources):
    group = resources["HttpApiAccessLogGroup"]["Properties"]
    assert group["RetentionInDays"] == ref("LogRetentionDays")


# -- the function --------------------------------------------------------------------------------
def test_function_code_timeout_and_memory(resources):
    props = resources[FUNCTION]["Properties"]
    assert props["Code"]["S3Key"] == "functions/api"
    assert (ROOT / "functions" / "api" / "app.py").is_file()
    assert props["Timeout"] == 15 < INTEGRATION_TIMEOUT_SECONDS
    assert props["MemorySize"] == 512


@pytest.mark.parametrize("name", sorted(API_CONTRACT_ENV))
def test_contract_environment_variable_is_set(resources, name):
    assert environment(resources, FUNCTION).get(name) not in (None, "")


def test_contract_environment_variables_name_this_stacks_resources(resources):
    env = environment(resources, FUNCTION)
    assert env["DISPUTES_TABLE"] == ref("DisputesTable")
    assert env["EVIDENCE_BUCKET"] == ref("EvidenceBucket")
    assert env["IIMMPACT_QUEUE_URL"] == ref("IimmpactQueue")
    assert env["REPAY_QUEUE_URL"] == ref("RepayQueue")
    assert env["UPLOAD_URL_EXPIRY_SECONDS"] == "900"


@pytest.mark.parametrize("name", ["EVIDENCE_MAX_FILES", "EVIDENCE_MAX_FILE_BYTES", "EVIDENCE_MAX_TOTAL_BYTES"])
def test_evidence_limits_are_every_evidence_workers(resources, name):
    # An upload the API presigns must pass the worker's checks (CONTRACT section 5); a provider's
    # own stricter limits are in its spec, applied by both.
    workers = [block.function for block in provider_blocks(resources) if block.evidence_prefix is not None]
    assert workers
    for worker in workers:
        assert environment(resources, FUNCTION)[name] == environment(resources, worker)[name], worker
    assert environment(resources, FUNCTION)[name]["Ref"].startswith("EvidenceMax")


# -- the function's role ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("action", "resources_granted"),
    [
        ("dynamodb:ConditionCheckItem", [arn_of("DisputesTable")]),
        ("dynamodb:GetItem", [arn_of("DisputesTable")]),
        ("dynamodb:PutItem", [arn_of("DisputesTable")]),
        ("dynamodb:UpdateItem", [arn_of("DisputesTable")]),
        ("dynamodb:Query", [REFERENCE_INDEX, *OPERATOR_INDEXES]),
    ],
)
def test_role_grants_exactly_what_the_api_needs(resources, action, resources_granted):
    assert granted(resources, FUNCTION, action) == resources_granted


def test_role_may_presign_uploads_under_every_evidence_providers_prefix_and_nowhere_else(resources):
    presigned = granted(resources, FUNCTION, "s3:PutObject")
    assert sorted(map(json.dumps, presigned)) == sorted(map(json.dumps, evidence_object_patterns()))


def test_role_may_link_evidence_under_every_evidence_providers_prefix_and_nowhere_else(resources):
    linked = granted(resources, FUNCTION, "s3:GetObject")
    assert sorted(map(json.dumps, linked)) == sorted(map(json.dumps, evidence_object_patterns()))


def test_role_may_queue_disputes_to_every_providers_queue_and_no_other(resources):
    queues = sorted(block.queue for block in provider_blocks(resources))
    assert granted(resources, FUNCTION, "sqs:SendMessage") == [arn_of(queue) for queue in queues]


def test_role_takes_back_dead_letters_of_every_provider_and_of_nothing_else(resources):
    blocks = sorted(provider_blocks(resources), key=lambda block: block.queue)
    dead_letter_queues = [arn_of(block.dead_letter_queue) for block in blocks]
    for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueUrl"):
        assert granted(resources, FUNCTION, action) == dead_letter_queues
    # Each queue's redrive policy, which names its dead-letter queue, and the queue's retention.
    assert granted(resources, FUNCTION, "sqs:GetQueueAttributes") == [
        arn for block in blocks for arn in (arn_of(block.queue), arn_of(block.dead_letter_queue))
    ]


def test_every_providers_queue_is_where_the_api_looks_for_it(resources):
    """`{NAME}_QUEUE_URL` when the API sets it, else PROVIDER_QUEUE_URL_PREFIX + the provider's name:
    a provider's block needs no line in the API's configuration."""
    from dispute_gateway.providers import provider_spec

    variables = environment(resources, FUNCTION)
    prefix = variables["PROVIDER_QUEUE_URL_PREFIX"]["Fn::Sub"]
    assert prefix == "https://sqs.${AWS::Region}.${AWS::URLSuffix}/${AWS::AccountId}/${AWS::StackName}-"
    for block in provider_blocks(resources):
        own = variables.get(provider_spec(block.name).queue_url_variable)
        assert own in (None, ref(block.queue))
        assert resources[block.queue]["Properties"]["QueueName"] == {"Fn::Sub": "${AWS::StackName}-" + block.name}


def test_role_grants_no_other_data_action(resources):
    actions = {
        action
        for statement in role_statements(resources, FUNCTION)
        for action in as_list(statement["Action"])
        if action.lower().startswith(DATA_PREFIXES)
    }
    assert actions == {
        "dynamodb:ConditionCheckItem",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:Query",
        "sqs:SendMessage",
        "s3:PutObject",
        "s3:GetObject",
        "s3:ListBucket",
        # A failed dispute's retry: its dead-letter queue found, its message taken back.
        "sqs:GetQueueAttributes",
        "sqs:GetQueueUrl",
        "sqs:ReceiveMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:DeleteMessage",
    }


def test_role_names_its_resources_without_wildcards(resources):
    assert scoped_data_statements(resources, FUNCTION) >= 4


def test_role_has_no_managed_policy(resources):
    # Logging and tracing are granted inline (test_roles.py): the managed policies reach every log group.
    role = resources[FUNCTION]["Properties"]["Role"]["Fn::GetAtt"][0]
    assert "ManagedPolicyArns" not in resources[role]["Properties"]


# -- SnapStart -----------------------------------------------------------------------------------
def test_snapstart_restores_published_versions_behind_the_alias(sam_template, resources):
    props = resources[FUNCTION]["Properties"]
    assert props["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    source = sam_template["Resources"][FUNCTION]["Properties"]
    assert source["AutoPublishAlias"] == "live"
    # Without it a change of environment or layer alone would publish no version, and the alias
    # would keep serving the old configuration.
    assert source["AutoPublishAliasAllProperties"] is True
    (version,) = of_type(resources, "AWS::Lambda::Version").values()
    assert version["Properties"]["FunctionName"] == ref(FUNCTION)
    assert resources[ALIAS]["Properties"]["Name"] == "live"


@pytest.mark.parametrize("function", ["IimmpactReportFunction", "RepayDisputeFunction"])
def test_queue_workers_run_without_snapstart(resources, function):
    # Queue-driven: a cold start delays a batch, not a caller; a snapshot would add its cache and
    # restore charges and an alias for nothing.
    assert "SnapStart" not in resources[function]["Properties"]
    # So their SQS event sources invoke the function itself ($LATEST), not an alias.
    assert [mapping["FunctionName"] for mapping in event_source_mappings(resources, function)] == [ref(function)]


# -- sample events -------------------------------------------------------------------------------
def test_there_is_a_sample_event_for_every_machine_route_and_each_kind_of_console_route(resources):
    committed = {path.name for path in (ROOT / "events" / "api").glob("*.json")}
    assert committed == set(api_samples.SAMPLES)
    events = [api_samples.build(name) for name in committed]
    route_keys = {event["routeKey"] for event in events}
    assert route_keys <= {f"{method} {path}" for method, path in ROUTES}
    assert {f"{method} {path}" for method, path in MACHINE_ROUTES} <= route_keys
    # The page (no authorizer), an /ops route read by a viewer and one an operator acts on.
    assert {"GET /console", "GET /ops/disputes", "POST /ops/disputes/{dispute_id}/retry"} <= route_keys
    claims = [event["requestContext"].get("authorizer", {}).get("jwt", {}).get("claims") for event in events]
    assert {c["cognito:groups"] for c in claims if c} == {"[dispute-viewers]", "[dispute-operators]"}


@pytest.mark.parametrize("name", sorted(api_samples.SAMPLES))
def test_sample_event_is_what_the_local_api_builds(name):
    # Regenerate with `python -m local.api_samples` when the helper changes.
    committed = (ROOT / "events" / "api" / name).read_text(encoding="utf-8")
    assert committed == api_samples.render(api_samples.build(name))
    event = json.loads(committed)
    assert event["version"] == "2.0"
    assert event["requestContext"]["routeKey"] == event["routeKey"]
    route = _route_of(event["routeKey"])
    if route in IAM_ROUTES:
        assert set(event["requestContext"]["authorizer"]["iam"]) >= {"accessKey", "accountId", "userArn", "userId"}
    elif route in OPS_ROUTES:
        assert set(event["requestContext"]["authorizer"]) == {"jwt"}
        assert event["headers"]["authorization"].startswith("Bearer ")
    else:
        assert "authorizer" not in event["requestContext"] and "authorization" not in event["headers"]


def _route_of(route_key: str) -> tuple[str, str]:
    method, path = route_key.split(" ", 1)
    return method, path
