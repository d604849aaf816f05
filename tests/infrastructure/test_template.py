"""What the deployed stack relies on, checked on the CloudFormation that the SAM transform produces."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

FUNCTION = "IimmpactReportFunction"

# CONTRACT.md section 2: every variable whose "used by" names iimmpact_report (or "all").
IIMMPACT_REPORT_CONTRACT_ENV = {
    "DISPUTES_TABLE",
    "IIMMPACT_BASE_URL",
    "IIMMPACT_SECRET_ID",
    "DEAD_LETTER_QUEUE_URL",
}

# Actions whose statements must name their resources; "*" would reach other stacks' data.
SCOPED_ACTION_PREFIXES = ("dynamodb:", "secretsmanager:", "sqs:sendmessage")


def _of_type(resources: dict[str, Any], cfn_type: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in resources.items() if res["Type"] == cfn_type}


def _ref(name: str) -> dict[str, str]:
    return {"Ref": name}


def _arn_of(name: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [name, "Arn"]}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _env(resources: dict[str, Any], function: str) -> dict[str, Any]:
    return resources[function]["Properties"]["Environment"]["Variables"]


def _event_source_mappings(resources: dict[str, Any], function: str) -> list[dict[str, Any]]:
    mappings = _of_type(resources, "AWS::Lambda::EventSourceMapping").values()
    return [m["Properties"] for m in mappings if m["Properties"]["FunctionName"] == _ref(function)]


def _role_statements(resources: dict[str, Any], function: str) -> Iterator[dict[str, Any]]:
    role = resources[function]["Properties"]["Role"]["Fn::GetAtt"][0]
    for policy in resources[role]["Properties"].get("Policies", []):
        yield from _as_list(policy["PolicyDocument"]["Statement"])


def _granted(resources: dict[str, Any], function: str, action: str) -> list[Any]:
    """Resources of the function role's inline statements that allow `action`."""
    return [
        resource
        for statement in _role_statements(resources, function)
        if statement["Effect"] == "Allow" and action in _as_list(statement["Action"])
        for resource in _as_list(statement["Resource"])
    ]


def test_function_runs_python_313_on_arm64_with_the_shared_layer(resources):
    props = resources[FUNCTION]["Properties"]
    assert props["Runtime"] == "python3.13"
    assert props["Architectures"] == ["arm64"]
    assert props["Handler"] == "app.lambda_handler"
    assert props["TracingConfig"] == {"Mode": "Active"}

    layers = _of_type(resources, "AWS::Lambda::LayerVersion")
    assert len(layers) == 1
    (layer_id, layer) = next(iter(layers.items()))
    assert layer_id.startswith("SharedLayer")
    assert props["Layers"] == [_ref(layer_id)]
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]


def test_sam_builds_the_layer_for_python_313_on_arm64(sam_template):
    metadata = sam_template["Resources"]["SharedLayer"]["Metadata"]
    assert metadata["BuildMethod"] == "python3.13"
    assert metadata["BuildArchitecture"] == "arm64"


def test_queue_event_source_reports_partial_batch_failures(resources):
    (mapping,) = _event_source_mappings(resources, FUNCTION)
    assert mapping["EventSourceArn"] == _arn_of("IimmpactQueue")
    assert mapping["BatchSize"] == 10
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["ScalingConfig"]["MaximumConcurrency"] == _ref("IimmpactMaxConcurrency")


def test_maximum_concurrency_parameter_respects_the_sqs_minimum(sam_template, parameter_values):
    spec = sam_template["Parameters"]["IimmpactMaxConcurrency"]
    assert spec["MinValue"] == 2
    assert int(parameter_values["IimmpactMaxConcurrency"]) >= 2


def test_worker_knows_the_redrive_threshold_of_its_queue(resources):
    queue = resources["IimmpactQueue"]["Properties"]
    env = _env(resources, FUNCTION)
    assert queue["RedrivePolicy"]["maxReceiveCount"] == _ref("MaxReceiveCount")
    assert env["QUEUE_MAX_RECEIVE_COUNT"] == queue["RedrivePolicy"]["maxReceiveCount"]


def test_worker_dead_letter_queue_is_its_queue_redrive_target(resources):
    redrive_target = resources["IimmpactQueue"]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]
    assert redrive_target == _arn_of("IimmpactDeadLetterQueue")
    assert _env(resources, FUNCTION)["DEAD_LETTER_QUEUE_URL"] == _ref("IimmpactDeadLetterQueue")


def test_queue_visibility_timeout_is_six_times_the_function_timeout(resources):
    timeout = resources[FUNCTION]["Properties"]["Timeout"]
    assert resources["IimmpactQueue"]["Properties"]["VisibilityTimeout"] >= 6 * timeout


def test_dead_letter_queue_outlives_its_source_queue(resources):
    source = resources["IimmpactQueue"]["Properties"]
    dlq = resources["IimmpactDeadLetterQueue"]["Properties"]
    assert dlq["MessageRetentionPeriod"] == 1_209_600
    assert dlq["MessageRetentionPeriod"] > source.get("MessageRetentionPeriod", 345_600)
    assert source["SqsManagedSseEnabled"] is True
    assert dlq["SqsManagedSseEnabled"] is True


def test_table_key_is_exactly_dispute_id(resources):
    table = resources["DisputesTable"]["Properties"]
    assert table["KeySchema"] == [{"AttributeName": "dispute_id", "KeyType": "HASH"}]
    assert {"AttributeName": "dispute_id", "AttributeType": "S"} in table["AttributeDefinitions"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["SSESpecification"] == {"SSEEnabled": True}
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_table_lists_disputes_of_a_transaction_by_reference(resources):
    table = resources["DisputesTable"]["Properties"]
    (index,) = [i for i in table["GlobalSecondaryIndexes"] if i["IndexName"] == "reference-index"]
    assert index["KeySchema"] == [
        {"AttributeName": "reference", "KeyType": "HASH"},
        {"AttributeName": "created_at", "KeyType": "RANGE"},
    ]
    assert index["Projection"] == {"ProjectionType": "ALL"}


def test_table_deletion_protection_only_in_prod(cfn, resources):
    assert cfn["Conditions"]["IsProd"] == {"Fn::Equals": [_ref("Stage"), "prod"]}
    protection = resources["DisputesTable"]["Properties"]["DeletionProtectionEnabled"]
    assert protection == {"Fn::If": ["IsProd", True, False]}


@pytest.mark.parametrize("name", sorted(IIMMPACT_REPORT_CONTRACT_ENV))
def test_contract_environment_variable_is_set(resources, name):
    assert _env(resources, FUNCTION).get(name) not in (None, "")


def test_contract_environment_variables_name_this_stacks_resources(resources):
    env = _env(resources, FUNCTION)
    assert env["DISPUTES_TABLE"] == _ref("DisputesTable")
    assert env["IIMMPACT_SECRET_ID"] == _ref("IimmpactSecret")
    assert env["IIMMPACT_BASE_URL"] == _ref("IimmpactBaseUrl")
    assert env["DEAD_LETTER_QUEUE_URL"] == _ref("IimmpactDeadLetterQueue")


def test_iimmpact_base_url_defaults_to_the_production_api(sam_template):
    assert sam_template["Parameters"]["IimmpactBaseUrl"]["Default"] == "https://api.iimmpact.com"


def test_role_grants_data_actions_on_named_resources_only(resources):
    checked = 0
    for statement in _role_statements(resources, FUNCTION):
        actions = [a.lower() for a in _as_list(statement["Action"])]
        if not any(a.startswith(SCOPED_ACTION_PREFIXES) for a in actions):
            continue
        checked += 1
        for resource in _as_list(statement["Resource"]):
            assert isinstance(resource, dict), f"{actions} on literal resource {resource!r}"
            assert "*" not in json.dumps(resource), f"{actions} on wildcard resource {resource!r}"
        assert not any("*" in a for a in actions), f"wildcard action in {actions}"
    assert checked >= 3


@pytest.mark.parametrize(
    ("action", "resource"),
    [
        ("dynamodb:GetItem", _arn_of("DisputesTable")),
        ("dynamodb:PutItem", _arn_of("DisputesTable")),
        ("dynamodb:UpdateItem", _arn_of("DisputesTable")),
        ("sqs:SendMessage", _arn_of("IimmpactDeadLetterQueue")),
        ("secretsmanager:GetSecretValue", _ref("IimmpactSecret")),
    ],
)
def test_role_grants_what_the_worker_needs(resources, action, resource):
    assert _granted(resources, FUNCTION, action) == [resource]


def test_log_group_belongs_to_the_function_and_expires(resources):
    (log_group,) = _of_type(resources, "AWS::Logs::LogGroup").values()
    assert log_group["Properties"]["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/${{{FUNCTION}}}"}
    assert log_group["Properties"]["RetentionInDays"] == _ref("LogRetentionDays")


def test_secret_placeholder_has_the_contract_shape(resources):
    secret = resources["IimmpactSecret"]["Properties"]
    assert json.loads(secret["SecretString"]) == {"api_key": "", "hmac_secret": ""}
    assert "GenerateSecretString" not in secret


def test_outputs_name_every_operator_facing_resource(cfn):
    assert {name: out["Value"] for name, out in cfn["Outputs"].items()} == {
        "DisputesTableName": _ref("DisputesTable"),
        "IimmpactQueueUrl": _ref("IimmpactQueue"),
        "IimmpactDeadLetterQueueUrl": _ref("IimmpactDeadLetterQueue"),
        "IimmpactSecretArn": _ref("IimmpactSecret"),
        "IimmpactReportFunctionName": _ref(FUNCTION),
    }


@pytest.mark.parametrize("event_file", sorted((ROOT / "events" / "iimmpact_report").glob("*.json")))
def test_sample_events_are_sqs_events_from_the_iimmpact_queue(event_file):
    records = json.loads(event_file.read_text(encoding="utf-8"))["Records"]
    assert records
    for record in records:
        assert record["eventSource"] == "aws:sqs"
        assert record["eventSourceARN"].endswith(":dispute-gateway-dev-iimmpact")
        assert int(record["attributes"]["ApproximateReceiveCount"]) >= 1
