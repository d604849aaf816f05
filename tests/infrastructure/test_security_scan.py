"""Data protection settings, and the checkov findings the template accepts: each with its reason.

`make security` runs checkov over template.yaml with zero failed checks; a check is skipped only
in the resource's Metadata, next to a one-line justification (checked here).
"""

from __future__ import annotations

import re

from tests.infrastructure.cfn import of_type, ref

# The checks skipped, by the kind of resource they are skipped for, and why (each resource's
# comment says it for that resource): every resource of that kind skips it, and no other does.
SKIPPED_FOR = {
    "CKV_AWS_18": "AWS::S3::Bucket",  # S3 access logs: CloudTrail data events instead
    "CKV_AWS_27": "AWS::SQS::Queue",  # SSE-SQS, which checkov does not recognise
    "CKV_AWS_115": "AWS::Serverless::Function",  # reserved concurrency
    "CKV_AWS_116": "AWS::Serverless::Function",  # Lambda DLQ (none is invoked asynchronously)
    "CKV_AWS_117": "AWS::Serverless::Function",  # VPC
    "CKV_AWS_119": "AWS::DynamoDB::Table",  # DynamoDB customer managed key
    "CKV_AWS_149": "AWS::SecretsManager::Secret",  # Secrets Manager customer managed key
    "CKV_AWS_158": "AWS::Logs::LogGroup",  # CloudWatch Logs customer managed key
    "CKV_AWS_173": "AWS::Serverless::Function",  # env var CMK
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
    expected = {check: set(of_type(sam_template["Resources"], kind)) for check, kind in SKIPPED_FOR.items()}
    assert found == expected


def test_state_is_encrypted_and_recoverable(resources):
    table = resources["DisputesTable"]["Properties"]
    assert table["SSESpecification"] == {"SSEEnabled": True}
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    for name, queue in of_type(resources, "AWS::SQS::Queue").items():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True, name
    (rule,) = resources["EvidenceBucket"]["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"


def test_every_log_group_expires(resources):
    groups = of_type(resources, "AWS::Logs::LogGroup")
    assert groups
    for group in groups.values():
        assert group["Properties"]["RetentionInDays"] == ref("LogRetentionDays")
