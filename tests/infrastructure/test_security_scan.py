"""Data protection settings, and the checkov findings the template accepts: each with its reason.

`make security` runs checkov over template.yaml with zero failed checks; a check is skipped only
in the resource's Metadata, next to a one-line justification (checked here).
"""

from __future__ import annotations

import re

import pytest

from tests.infrastructure.cfn import of_type, ref

# The checks skipped somewhere, and why (each resource's comment says it for that resource).
EXPECTED_SKIPS = {
    "CKV_AWS_18": {"EvidenceBucket"},  # S3 access logs: CloudTrail data events instead
    "CKV_AWS_27": {"IimmpactQueue", "IimmpactDeadLetterQueue", "RepayQueue", "RepayDeadLetterQueue"},  # SSE-SQS
    "CKV_AWS_115": {"IimmpactReportFunction", "RepayDisputeFunction", "ApiFunction"},  # reserved concurrency
    "CKV_AWS_116": {"IimmpactReportFunction", "RepayDisputeFunction", "ApiFunction"},  # Lambda DLQ
    "CKV_AWS_117": {"IimmpactReportFunction", "RepayDisputeFunction", "ApiFunction"},  # VPC
    "CKV_AWS_119": {"DisputesTable"},  # DynamoDB customer managed key
    "CKV_AWS_149": {"IimmpactSecret", "RepaySecret"},  # Secrets Manager customer managed key
    "CKV_AWS_158": {"IimmpactReportLogGroup", "RepayDisputeLogGroup", "ApiLogGroup", "HttpApiAccessLogGroup"},
    "CKV_AWS_173": {"IimmpactReportFunction", "RepayDisputeFunction", "ApiFunction"},  # env var CMK
}


def _skips(sam_template):
    for name, resource in sam_template["Resources"].items():
        for skip in ((resource.get("Metadata") or {}).get("checkov") or {}).get("skip", []):
            yield name, skip


def test_every_skip_says_why(sam_template):
    for name, skip in _skips(sam_template):
        assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]), (name, skip)
        assert len(skip.get("comment", "")) >= 40, f"{name}: {skip['id']} needs a justification"


def test_only_the_reviewed_checks_are_skipped(sam_template):
    found: dict[str, set[str]] = {}
    for name, skip in _skips(sam_template):
        found.setdefault(skip["id"], set()).add(name)
    assert found == EXPECTED_SKIPS


def test_state_is_encrypted_and_recoverable(resources):
    table = resources["DisputesTable"]["Properties"]
    assert table["SSESpecification"] == {"SSEEnabled": True}
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    for name, queue in of_type(resources, "AWS::SQS::Queue").items():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True, name
    (rule,) = resources["EvidenceBucket"]["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"


@pytest.mark.parametrize(
    "group", ["IimmpactReportLogGroup", "RepayDisputeLogGroup", "ApiLogGroup", "HttpApiAccessLogGroup"]
)
def test_every_log_group_expires(resources, group):
    assert set(of_type(resources, "AWS::Logs::LogGroup")) == {
        "IimmpactReportLogGroup",
        "RepayDisputeLogGroup",
        "ApiLogGroup",
        "HttpApiAccessLogGroup",
    }
    assert resources[group]["Properties"]["RetentionInDays"] == ref("LogRetentionDays")
