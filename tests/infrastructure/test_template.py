"""What the deployed stack relies on, checked on the CloudFormation that the SAM transform produces."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.infrastructure.cfn import (
    arn_of,
    environment,
    event_source_mappings,
    functions,
    granted,
    log_group_of,
    of_type,
    provider_blocks,
    ref,
    scoped_data_statements,
)

ROOT = Path(__file__).resolve().parents[2]

# The IIMMPACT worker's own checks; every function's are for `functions(resources)` (the Repay- and
# API-specific checks are in test_repay_template.py and test_api_template.py).
FUNCTION = "IimmpactReportFunction"

# CONTRACT.md section 2: every variable whose "used by" names iimmpact_report (or "all").
IIMMPACT_REPORT_CONTRACT_ENV = {
    "DISPUTES_TABLE",
    "IIMMPACT_BASE_URL",
    "IIMMPACT_SECRET_ID",
    "DEAD_LETTER_QUEUE_URL",
}

# Actions whose statements must name their resources; "*" would reach other stacks' data.


def test_function_runs_python_313_on_arm64_with_the_shared_layer(resources):
    layers = of_type(resources, "AWS::Lambda::LayerVersion")
    assert len(layers) == 1
    (layer_id, layer) = next(iter(layers.items()))
    assert layer_id.startswith("SharedLayer")
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    for function in functions(resources):
        props = resources[function]["Properties"]
        assert props["Runtime"] == "python3.13"
        assert props["Architectures"] == ["arm64"]
        assert props["Handler"] == "app.lambda_handler"
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert props["Layers"] == [ref(layer_id)]


def test_sam_builds_the_layer_for_python_313_on_arm64(sam_template):
    metadata = sam_template["Resources"]["SharedLayer"]["Metadata"]
    assert metadata["BuildMethod"] == "python3.13"
    assert metadata["BuildArchitecture"] == "arm64"


def test_queue_event_source_reports_partial_batch_failures(resources):
    (mapping,) = event_source_mappings(resources, FUNCTION)
    assert mapping["EventSourceArn"] == arn_of("IimmpactQueue")
    assert mapping["BatchSize"] == 10
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["ScalingConfig"]["MaximumConcurrency"] == ref("IimmpactMaxConcurrency")


def test_maximum_concurrency_parameter_respects_the_sqs_minimum(sam_template, parameter_values):
    spec = sam_template["Parameters"]["IimmpactMaxConcurrency"]
    assert spec["MinValue"] == 2
    assert int(parameter_values["IimmpactMaxConcurrency"]) >= 2


def test_worker_knows_the_redrive_threshold_of_its_queue(resources):
    queue = resources["IimmpactQueue"]["Properties"]
    env = environment(resources, FUNCTION)
    assert queue["RedrivePolicy"]["maxReceiveCount"] == ref("MaxReceiveCount")
    assert env["QUEUE_MAX_RECEIVE_COUNT"] == queue["RedrivePolicy"]["maxReceiveCount"]


def test_worker_dead_letter_queue_is_its_queue_redrive_target(resources):
    redrive_target = resources["IimmpactQueue"]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]
    assert redrive_target == arn_of("IimmpactDeadLetterQueue")
    assert environment(resources, FUNCTION)["DEAD_LETTER_QUEUE_URL"] == ref("IimmpactDeadLetterQueue")


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


def test_final_records_expire_through_the_tables_ttl(sam_template, resources):
    table = resources["DisputesTable"]["Properties"]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    parameter = sam_template["Parameters"]["RecordRetentionDays"]
    assert (parameter["Default"], parameter["MinValue"]) == (400, 0)  # 0: kept for ever
    for logical_id in functions(resources):
        assert environment(resources, logical_id)["RECORD_RETENTION_DAYS"] == ref("RecordRetentionDays")


def test_table_deletion_protection_only_in_prod(cfn, resources):
    assert cfn["Conditions"]["IsProd"] == {"Fn::Equals": [ref("Stage"), "prod"]}
    protection = resources["DisputesTable"]["Properties"]["DeletionProtectionEnabled"]
    assert protection == {"Fn::If": ["IsProd", True, False]}


@pytest.mark.parametrize("name", sorted(IIMMPACT_REPORT_CONTRACT_ENV))
def test_contract_environment_variable_is_set(resources, name):
    assert environment(resources, FUNCTION).get(name) not in (None, "")


def test_contract_environment_variables_name_this_stacks_resources(resources):
    env = environment(resources, FUNCTION)
    assert env["DISPUTES_TABLE"] == ref("DisputesTable")
    assert env["IIMMPACT_SECRET_ID"] == ref("IimmpactSecret")
    assert env["IIMMPACT_BASE_URL"] == ref("IimmpactBaseUrl")
    assert env["DEAD_LETTER_QUEUE_URL"] == ref("IimmpactDeadLetterQueue")


def test_iimmpact_base_url_defaults_to_the_production_api(sam_template):
    assert sam_template["Parameters"]["IimmpactBaseUrl"]["Default"] == "https://api.iimmpact.com"


def test_role_grants_data_actions_on_named_resources_only(resources):
    assert scoped_data_statements(resources, FUNCTION) >= 3


@pytest.mark.parametrize(
    ("action", "resource"),
    [
        ("dynamodb:GetItem", arn_of("DisputesTable")),
        ("dynamodb:PutItem", arn_of("DisputesTable")),
        ("dynamodb:UpdateItem", arn_of("DisputesTable")),
        ("sqs:SendMessage", arn_of("IimmpactDeadLetterQueue")),
        ("secretsmanager:GetSecretValue", ref("IimmpactSecret")),
    ],
)
def test_role_grants_what_the_worker_needs(resources, action, resource):
    assert granted(resources, FUNCTION, action) == [resource]


def test_log_group_belongs_to_the_function_and_expires(resources):
    for function in functions(resources):
        assert log_group_of(resources, function)["RetentionInDays"] == ref("LogRetentionDays")


def test_every_log_group_belongs_to_a_function_or_the_api_access_log(resources):
    # The one other log group, the HTTP API's access log, is checked in test_api_template.py.
    assert len(of_type(resources, "AWS::Logs::LogGroup")) == len(functions(resources)) + 1
    assert "HttpApiAccessLogGroup" in resources


def test_secret_placeholder_has_the_contract_shape(resources):
    secret = resources["IimmpactSecret"]["Properties"]
    assert json.loads(secret["SecretString"]) == {"api_key": "", "hmac_secret": ""}
    assert "GenerateSecretString" not in secret


def test_outputs_name_every_operator_facing_resource(cfn, resources):
    outputs = {name: out["Value"] for name, out in cfn["Outputs"].items()}
    core = {
        "DisputesTableName": ref("DisputesTable"),
        "EvidenceBucketName": ref("EvidenceBucket"),
        "ApiUrl": {"Fn::Sub": "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/"},
        "ApiFunctionName": ref("ApiFunction"),
        "AlarmTopicArn": ref("AlarmTopic"),
        "DashboardUrl": {
            "Fn::Sub": "https://${AWS::Region}.console.aws.amazon.com/cloudwatch/home"
            "?region=${AWS::Region}#dashboards:name=${Dashboard}"
        },
        "DisputeEventBusName": ref("DisputeEventBus"),
        "DisputeEventBusArn": {"Fn::GetAtt": ["DisputeEventBus", "Arn"]},
        # Every provider's queue: this prefix and the provider's name.
        "ProviderQueueUrlPrefix": {
            "Fn::Sub": "https://sqs.${AWS::Region}.${AWS::URLSuffix}/${AWS::AccountId}/${AWS::StackName}-"
        },
        # The operator console, its users and its sign-in (test_console_template.py).
        "ConsoleUrl": {"Fn::Sub": "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/console"},
        "ConsoleUserPoolId": ref("ConsoleUserPool"),
        "ConsoleClientId": ref("ConsoleClient"),
        "ConsoleSignInUrl": {"Fn::Sub": "https://${ConsoleSignInDomain}.auth.${AWS::Region}.amazoncognito.com"},
    }
    assert {name: outputs[name] for name in core} == core
    # The others name a provider's queue, dead-letter queue, secret or worker.
    named = [
        ref(resource)
        for block in provider_blocks(resources)
        for resource in (block.queue, block.dead_letter_queue, block.secret, block.function)
    ]
    assert all(value in named for name, value in outputs.items() if name not in core)


@pytest.mark.parametrize("event_file", sorted((ROOT / "events" / "iimmpact_report").glob("*.json")))
def test_sample_events_are_sqs_events_from_the_iimmpact_queue(event_file):
    records = json.loads(event_file.read_text(encoding="utf-8"))["Records"]
    assert records
    for record in records:
        assert record["eventSource"] == "aws:sqs"
        assert record["eventSourceARN"].endswith(":dispute-gateway-dev-iimmpact")
        assert int(record["attributes"]["ApproximateReceiveCount"]) >= 1


def test_every_worker_retries_on_the_templates_schedule(resources):
    for block in provider_blocks(resources):
        variables = environment(resources, block.function)
        assert variables["QUEUE_MAX_RECEIVE_COUNT"] == ref("MaxReceiveCount")
        assert variables["RETRY_BASE_DELAY_SECONDS"] == ref("RetryBaseDelaySeconds")
        assert variables["RETRY_MAX_DELAY_SECONDS"] == ref("RetryMaxDelaySeconds")
