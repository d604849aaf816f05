"""The Repay worker's part of the stack: evidence bucket, its notification, queue, role and configuration."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import pytest

from local.aws.intrinsics import Scope, resolve
from local.aws.template import pseudo_parameters
from tests.infrastructure.cfn import (
    EVIDENCE_OBJECTS,
    arn_of,
    as_list,
    environment,
    event_source_mappings,
    granted,
    ref,
    role_statements,
    scoped_data_statements,
)

ROOT = Path(__file__).resolve().parents[2]

FUNCTION = "RepayDisputeFunction"
BUCKET = "EvidenceBucket"
QUEUE = "RepayQueue"
DEAD_LETTER_QUEUE = "RepayDeadLetterQueue"
BUCKET_NAME = "${AWS::StackName}-evidence-${AWS::AccountId}-${AWS::Region}"

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
# Actions whose statements must name this stack's resources.
# S3's rules for a bucket name that works with virtual-hosted addressing and TLS (no dots).
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")


def _bucket(resources: dict[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = resources[BUCKET]["Properties"]
    return properties


def _filter_rules(configuration: dict[str, Any]) -> dict[str, str]:
    # S3 accepts the rule names in any case.
    return {rule["Name"].lower(): rule["Value"] for rule in configuration["Filter"]["S3Key"]["Rules"]}


# -- the bucket ----------------------------------------------------------------------------------
def test_bucket_is_encrypted_private_owner_enforced_and_versioned(resources):
    bucket = _bucket(resources)
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    assert rule["BucketKeyEnabled"] is True
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert bucket["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}


def test_bucket_policy_refuses_every_request_without_tls(resources):
    policy = resources["EvidenceBucketPolicy"]["Properties"]
    assert policy["Bucket"] == ref(BUCKET)
    (statement,) = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert statement["Principal"] == "*"
    assert statement["Action"] == "s3:*"
    assert sorted(map(json.dumps, statement["Resource"])) == sorted(
        map(json.dumps, [arn_of(BUCKET), {"Fn::Sub": "${EvidenceBucket.Arn}/*"}])
    )
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_evidence_expires_and_abandoned_uploads_are_aborted(sam_template, resources):
    rules = _bucket(resources)["LifecycleConfiguration"]["Rules"]
    assert all(rule["Status"] == "Enabled" for rule in rules)
    (expiry,) = [rule for rule in rules if "ExpirationInDays" in rule]
    assert expiry["ExpirationInDays"] == ref("EvidenceRetentionDays")
    assert expiry["NoncurrentVersionExpiration"]["NoncurrentDays"] > 0
    assert expiry["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
    assert "Prefix" not in expiry and "Filter" not in expiry  # the whole bucket is evidence
    assert sam_template["Parameters"]["EvidenceRetentionDays"]["Default"] == 90


def test_bucket_notifies_the_repay_queue_of_new_manifests_only(resources):
    (configuration,) = _bucket(resources)["NotificationConfiguration"]["QueueConfigurations"]
    assert configuration["Event"] == "s3:ObjectCreated:*"
    assert _filter_rules(configuration) == {"prefix": "repay/", "suffix": "dispute.json"}
    assert configuration["Queue"] == arn_of(QUEUE)
    assert "RepayQueuePolicy" in as_list(resources[BUCKET]["DependsOn"])


def test_queue_policy_lets_only_this_stacks_bucket_send(resources):
    assert _bucket(resources)["BucketName"] == {"Fn::Sub": BUCKET_NAME}
    policy = resources["RepayQueuePolicy"]["Properties"]
    assert policy["Queues"] == [ref(QUEUE)]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Resource"] == arn_of(QUEUE)
    source_arn = statement["Condition"]["ArnEquals"]["aws:SourceArn"]
    assert source_arn == {"Fn::Sub": "arn:${AWS::Partition}:s3:::" + BUCKET_NAME}
    assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == ref("AWS::AccountId")


def _samconfig_stacks() -> list[tuple[str, str]]:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    # Each table but `version` is a config environment: [<env>.global.parameters] names its stack.
    environments = [value["global"]["parameters"] for value in config.values() if isinstance(value, dict)]
    return sorted({(parameters["stack_name"], parameters["region"]) for parameters in environments})


@pytest.mark.parametrize(("stack_name", "region"), _samconfig_stacks())
def test_bucket_name_is_valid_for_every_configured_stack(stack_name, region):
    scope = Scope(pseudo_parameters(region, "123456789012", stack_name))
    assert _BUCKET_NAME.match(resolve({"Fn::Sub": BUCKET_NAME}, scope))


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
def test_role_reads_evidence_under_repay_only(resources):
    assert granted(resources, FUNCTION, "s3:GetObject") == [EVIDENCE_OBJECTS]
    assert granted(resources, FUNCTION, "s3:ListBucket") == [arn_of(BUCKET)]
    (listing,) = [s for s in role_statements(resources, FUNCTION) if "s3:ListBucket" in as_list(s["Action"])]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": "repay/*"}}
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


def test_sample_s3_notifications_are_what_the_bucket_sends(resources):
    (configuration,) = _bucket(resources)["NotificationConfiguration"]["QueueConfigurations"]
    rules = _filter_rules(configuration)
    dev_bucket = resolve({"Fn::Sub": BUCKET_NAME}, Scope(pseudo_parameters(stack_name="dispute-gateway-dev")))
    event = json.loads((ROOT / "events/repay_dispute/sqs-s3-notification.json").read_text(encoding="utf-8"))
    notifications = [json.loads(record["body"])["Records"] for record in event["Records"]]
    s3_records = [s3_record for records in notifications for s3_record in records]
    assert len(s3_records) >= 2
    for s3_record in s3_records:
        assert s3_record["eventSource"] == "aws:s3"
        assert s3_record["eventName"].startswith("ObjectCreated:")
        assert s3_record["s3"]["bucket"]["name"] == dev_bucket
        # Keys arrive URL-encoded (spaces as "+"), as S3 sends them.
        key = unquote_plus(s3_record["s3"]["object"]["key"])
        assert key.startswith(rules["prefix"])
        assert key.endswith(rules["suffix"])
