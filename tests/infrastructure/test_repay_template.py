"""The Repay worker's part of the stack: its queue, role and configuration (the evidence bucket and
how each evidence provider hears of its manifests: test_evidence_template.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.infrastructure.cfn import (
    EVIDENCE_BUCKET,
    arn_of,
    as_list,
    environment,
    event_source_mappings,
    evidence_objects,
    evidence_prefixes,
    granted,
    ref,
    role_statements,
    scoped_data_statements,
)

ROOT = Path(__file__).resolve().parents[2]

FUNCTION = "RepayDisputeFunction"
BUCKET = EVIDENCE_BUCKET
QUEUE = "RepayQueue"
DEAD_LETTER_QUEUE = "RepayDeadLetterQueue"

# CONTRACT.md section 2: every variable whose "used by" names repay_dispute (or "all").
REPAY_DISPUTE_CONTRACT_ENV = {
    "DISPUTES_TABLE",
    "EVIDENCE_BUCKET",
    "REPAY_BASE_URL",
    "REPAY_SECRET_ID",
    "DEAD_LETTER_QUEUE_URL",
    "EVIDENCE_MAX_FILES",
    "EVIDENCE_MAX_FILE_BYTES",
    "EVIDENCE_MAX_TOTAL_BYTES",
}


# -- the queues ----------------------------------------------------------------------------------
def test_worker_knows_the_redrive_threshold_and_dead_letter_queue(resources):
    redrive = resources[QUEUE]["Properties"]["RedrivePolicy"]
    env = environment(resources, FUNCTION)
    assert redrive["maxReceiveCount"] == ref("MaxReceiveCount")
    assert env["QUEUE_MAX_RECEIVE_COUNT"] == redrive["maxReceiveCount"]
    assert redrive["deadLetterTargetArn"] == arn_of(DEAD_LETTER_QUEUE)
    assert env["DEAD_LETTER_QUEUE_URL"] == ref(DEAD_LETTER_QUEUE)


def test_queue_visibility_timeout_is_six_times_the_function_timeout(resources):
    function = resources[FUNCTION]["Properties"]
    assert function["Timeout"] == 300
    assert function["MemorySize"] == 512
    assert resources[QUEUE]["Properties"]["VisibilityTimeout"] >= 6 * function["Timeout"]


def test_dead_letter_queue_outlives_its_source_and_accepts_redrives_from_it_only(resources):
    source = resources[QUEUE]["Properties"]
    dlq = resources[DEAD_LETTER_QUEUE]["Properties"]
    assert dlq["MessageRetentionPeriod"] == 1_209_600
    assert dlq["MessageRetentionPeriod"] > source.get("MessageRetentionPeriod", 345_600)
    assert source["SqsManagedSseEnabled"] is True
    assert dlq["SqsManagedSseEnabled"] is True
    assert source["QueueName"] == {"Fn::Sub": "${AWS::StackName}-repay"}
    assert dlq["RedriveAllowPolicy"] == {
        "redrivePermission": "byQueue",
        "sourceQueueArns": [
            {"Fn::Sub": "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${AWS::StackName}-repay"}
        ],
    }


def test_queue_event_source_batches_and_reports_partial_failures(sam_template, resources):
    (mapping,) = event_source_mappings(resources, FUNCTION)
    assert mapping["EventSourceArn"] == arn_of(QUEUE)
    assert mapping["BatchSize"] == 5
    assert mapping["MaximumBatchingWindowInSeconds"] == 5
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["ScalingConfig"]["MaximumConcurrency"] == ref("RepayMaxConcurrency")
    assert sam_template["Parameters"]["RepayMaxConcurrency"]["MinValue"] == 2


# -- the function's role and configuration ---------------------------------------------------------
def test_role_reads_evidence_under_its_own_prefix_only(resources):
    prefix = evidence_prefixes()["repay"]
    assert granted(resources, FUNCTION, "s3:GetObject") == [evidence_objects(prefix)]
    assert granted(resources, FUNCTION, "s3:ListBucket") == [arn_of(BUCKET)]
    (listing,) = [s for s in role_statements(resources, FUNCTION) if "s3:ListBucket" in as_list(s["Action"])]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": f"{prefix}*"}}
    s3_actions = {a for s in role_statements(resources, FUNCTION) for a in as_list(s["Action"]) if a.startswith("s3:")}
    assert s3_actions == {"s3:GetObject", "s3:ListBucket"}


def test_role_grants_data_actions_on_this_stacks_resources_only(resources):
    assert scoped_data_statements(resources, FUNCTION) >= 5


@pytest.mark.parametrize(
    ("action", "resource"),
    [
        ("dynamodb:GetItem", arn_of("DisputesTable")),
        ("dynamodb:PutItem", arn_of("DisputesTable")),
        ("dynamodb:UpdateItem", arn_of("DisputesTable")),
        ("sqs:SendMessage", arn_of(DEAD_LETTER_QUEUE)),
        ("secretsmanager:GetSecretValue", ref("RepaySecret")),
    ],
)
def test_role_grants_what_the_worker_needs(resources, action, resource):
    assert granted(resources, FUNCTION, action) == [resource]


@pytest.mark.parametrize("name", sorted(REPAY_DISPUTE_CONTRACT_ENV))
def test_contract_environment_variable_is_set(resources, name):
    assert environment(resources, FUNCTION).get(name) not in (None, "")


def test_contract_environment_variables_name_this_stacks_resources(sam_template, resources):
    env = environment(resources, FUNCTION)
    assert env["DISPUTES_TABLE"] == ref("DisputesTable")
    assert env["EVIDENCE_BUCKET"] == ref(BUCKET)
    assert env["REPAY_BASE_URL"] == ref("RepayBaseUrl")
    assert env["REPAY_SECRET_ID"] == ref("RepaySecret")
    assert sam_template["Parameters"]["RepayBaseUrl"]["Default"] == "https://repay.cx"


@pytest.mark.parametrize(
    ("variable", "parameter", "default"),
    [
        ("EVIDENCE_MAX_FILES", "EvidenceMaxFiles", 10),
        ("EVIDENCE_MAX_FILE_BYTES", "EvidenceMaxFileBytes", 10 * 1024 * 1024),
        ("EVIDENCE_MAX_TOTAL_BYTES", "EvidenceMaxTotalBytes", 100 * 1024 * 1024),
    ],
)
def test_evidence_limits_come_from_one_stack_parameter(sam_template, resources, variable, parameter, default):
    # The API function (CONTRACT section 2) must check uploads against the same values.
    assert environment(resources, FUNCTION)[variable] == ref(parameter)
    assert sam_template["Parameters"][parameter]["Default"] == default


def test_secret_placeholder_has_the_contract_shape(resources):
    secret = resources["RepaySecret"]["Properties"]
    assert json.loads(secret["SecretString"]) == {"api_key": "", "origin": ""}
    assert "GenerateSecretString" not in secret


# -- sample events -------------------------------------------------------------------------------
@pytest.mark.parametrize("event_file", sorted((ROOT / "events" / "repay_dispute").glob("*.json")))
def test_sample_events_are_sqs_events_from_the_repay_queue(event_file):
    records = json.loads(event_file.read_text(encoding="utf-8"))["Records"]
    assert records
    for record in records:
        assert record["eventSource"] == "aws:sqs"
        assert record["eventSourceARN"].endswith(":dispute-gateway-dev-repay")
        assert int(record["attributes"]["ApproximateReceiveCount"]) >= 1
