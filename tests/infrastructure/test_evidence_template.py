"""The evidence bucket (the core's) and how each provider that takes evidence hears of its manifests.

The bucket sends its events to EventBridge; each evidence provider's block subscribes its own queue
with a rule on the default bus and a queue policy letting that rule alone send (CONTRACT section 5:
the provider's queue is notified when an object whose key starts with its prefix and ends with its
manifest's name is created). Which providers, prefixes and manifests come from the registry.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import pytest
from moto.events.models import EventPattern

from dispute_gateway.providers import evidence_providers
from local.aws.intrinsics import Scope, resolve
from local.aws.template import pseudo_parameters
from tests.infrastructure.cfn import (
    EVIDENCE_BUCKET,
    ProviderBlock,
    arn_of,
    event_rules_to,
    of_type,
    provider_blocks,
    queue_policies_of,
    ref,
)

ROOT = Path(__file__).resolve().parents[2]
BUCKET_NAME = "${AWS::StackName}-evidence-${AWS::AccountId}-${AWS::Region}"
# S3's rules for a bucket name that works with virtual-hosted addressing and TLS (no dots).
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
EVIDENCE_PROVIDERS = sorted(evidence_providers())


def _bucket(resources: dict[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = resources[EVIDENCE_BUCKET]["Properties"]
    return properties


def _block(resources: dict[str, Any], name: str) -> ProviderBlock:
    (block,) = [block for block in provider_blocks(resources) if block.name == name]
    return block


def _rule(resources: dict[str, Any], name: str) -> tuple[str, dict[str, Any]]:
    """The provider's one rule putting events on its queue."""
    ((logical_id, rule),) = event_rules_to(resources, _block(resources, name).queue).items()
    return logical_id, rule


def _event(bucket: str, key: str, detail_type: str = "Object Created") -> dict[str, Any]:
    return {
        "version": "0",
        "id": "1",
        "detail-type": detail_type,
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2026-11-21T06:00:00Z",
        "region": "ap-southeast-1",
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {"version": "0", "bucket": {"name": bucket}, "object": {"key": key, "size": 2, "etag": "e"}},
    }


def _matches(rule: dict[str, Any], bucket: str, event: dict[str, Any]) -> bool:
    """Whether EventBridge would send `event` to the rule's targets (moto's matcher, which the
    local stack uses too), the bucket's name resolved to `bucket`."""
    pattern = json.loads(json.dumps(rule["EventPattern"]).replace(json.dumps(ref(EVIDENCE_BUCKET)), json.dumps(bucket)))
    return EventPattern.load(json.dumps(pattern)).matches_event(event)


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
    assert policy["Bucket"] == ref(EVIDENCE_BUCKET)
    (statement,) = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert statement["Principal"] == "*"
    assert statement["Action"] == "s3:*"
    assert sorted(map(json.dumps, statement["Resource"])) == sorted(
        map(json.dumps, [arn_of(EVIDENCE_BUCKET), {"Fn::Sub": "${EvidenceBucket.Arn}/*"}])
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


def test_bucket_sends_its_events_to_eventbridge_and_notifies_no_one_directly(resources):
    """A provider subscribes with a rule of its own block: nothing in the bucket names a provider."""
    assert _bucket(resources)["NotificationConfiguration"] == {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}
    assert "DependsOn" not in resources[EVIDENCE_BUCKET]


def _samconfig_stacks() -> list[tuple[str, str]]:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    # Each table but `version` is a config environment: [<env>.global.parameters] names its stack.
    environments = [value["global"]["parameters"] for value in config.values() if isinstance(value, dict)]
    return sorted({(parameters["stack_name"], parameters["region"]) for parameters in environments})


@pytest.mark.parametrize(("stack_name", "region"), _samconfig_stacks())
def test_bucket_name_is_valid_for_every_configured_stack(resources, stack_name, region):
    assert _bucket(resources)["BucketName"] == {"Fn::Sub": BUCKET_NAME}
    scope = Scope(pseudo_parameters(region, "123456789012", stack_name))
    assert _BUCKET_NAME.match(resolve({"Fn::Sub": BUCKET_NAME}, scope))


# -- each evidence provider's subscription -------------------------------------------------------
def test_there_is_a_provider_that_takes_evidence():
    assert EVIDENCE_PROVIDERS


@pytest.mark.parametrize("name", EVIDENCE_PROVIDERS)
def test_providers_rule_takes_its_manifests_on_the_default_bus_to_its_queue(resources, name):
    place = evidence_providers()[name].evidence
    assert place is not None
    _, rule = _rule(resources, name)
    assert "EventBusName" not in rule  # S3 sends to the default bus only
    assert rule.get("State", "ENABLED") == "ENABLED"
    assert rule["EventPattern"] == {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {
            "bucket": {"name": [ref(EVIDENCE_BUCKET)]},
            # One field takes one filter: a wildcard says prefix and suffix at once.
            "object": {"key": [{"wildcard": f"{place.prefix}*{place.manifest}"}]},
        },
    }
    (target,) = rule["Targets"]
    assert target["Arn"] == arn_of(_block(resources, name).queue)
    assert set(target) == {"Id", "Arn"}  # the event as S3 sent it: no input transformation


@pytest.mark.parametrize("name", EVIDENCE_PROVIDERS)
def test_providers_queue_hears_of_an_object_whose_key_starts_with_its_prefix_and_ends_with_its_manifest(
    resources, name
):
    """CONTRACT section 5, evaluated as EventBridge matches events."""
    place = evidence_providers()[name].evidence
    assert place is not None
    _, rule = _rule(resources, name)
    bucket, prefix, manifest = "this-stacks-evidence", place.prefix, place.manifest
    for key in (f"{prefix}R-1/case1/{manifest}", f"{prefix}R 1/case 2/Квитанция/{manifest}", f"{prefix}x-{manifest}"):
        assert _matches(rule, bucket, _event(bucket, key)), key
    for key in (
        f"{prefix}R-1/case1/receipt.pdf",
        f"{prefix}R-1/case1/{manifest}.bak",
        f"other/{prefix}R-1/case1/{manifest}",
        f"R-1/case1/{manifest}",
    ):
        assert not _matches(rule, bucket, _event(bucket, key)), key
    assert not _matches(rule, bucket, _event("another-bucket", f"{prefix}R-1/c/{manifest}"))
    assert not _matches(rule, bucket, _event(bucket, f"{prefix}R-1/c/{manifest}", "Object Deleted"))


@pytest.mark.parametrize("name", EVIDENCE_PROVIDERS)
def test_providers_queue_policy_lets_only_its_rule_send(resources, name):
    block = _block(resources, name)
    rule_id, _ = _rule(resources, name)
    ((_, policy),) = queue_policies_of(resources, block.queue).items()
    assert policy["Queues"] == [ref(block.queue)]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Resource"] == arn_of(block.queue)
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": arn_of(rule_id)}}


def test_s3_events_go_to_evidence_providers_queues_only(resources):
    """No other rule matches S3's events, no queue of a provider without evidence hears of them, and
    no queue lets S3 itself send."""
    blocks = provider_blocks(resources)
    expected = {_rule(resources, block.name)[0] for block in blocks if block.evidence_prefix is not None}
    s3_rules = {
        name
        for name, rule in of_type(resources, "AWS::Events::Rule").items()
        if "aws.s3" in json.dumps(rule["Properties"].get("EventPattern", {}))
    }
    assert s3_rules == expected
    for block in blocks:
        if block.evidence_prefix is None:
            assert event_rules_to(resources, block.queue) == {}
            assert queue_policies_of(resources, block.queue) == {}
    principals = [
        statement["Principal"]
        for policy in of_type(resources, "AWS::SQS::QueuePolicy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert {"Service": "s3.amazonaws.com"} not in principals


# -- sample events -------------------------------------------------------------------------------
def _samples(resources: dict[str, Any], block: ProviderBlock) -> list[dict[str, Any]]:
    """The message bodies of the worker's sample events (events/<its code folder>/)."""
    folder = Path(resources[block.function]["Properties"]["Code"]["S3Key"]).name
    return [
        json.loads(record["body"])
        for path in sorted((ROOT / "events" / folder).glob("*.json"))
        for record in json.loads(path.read_text(encoding="utf-8"))["Records"]
    ]


@pytest.mark.parametrize("name", EVIDENCE_PROVIDERS)
def test_sample_manifest_events_are_what_the_bucket_and_the_rule_send(resources, name):
    block = _block(resources, name)
    place = evidence_providers()[name].evidence
    assert place is not None
    _, rule = _rule(resources, name)
    dev_bucket = resolve({"Fn::Sub": BUCKET_NAME}, Scope(pseudo_parameters(stack_name="dispute-gateway-dev")))
    bodies = _samples(resources, block)
    events = [body for body in bodies if body.get("source") == "aws.s3"]
    assert events, f"no sample of an EventBridge event in events/ for {name}'s worker"
    for event in events:
        assert _matches(rule, dev_bucket, event)
    # S3's own notifications, as queued before the bucket sent its events to EventBridge.
    for record in [record for body in bodies for record in body.get("Records", [])]:
        assert record["eventName"].startswith("ObjectCreated:")
        assert record["s3"]["bucket"]["name"] == dev_bucket
        key = unquote_plus(record["s3"]["object"]["key"])  # URL-encoded, spaces as "+"
        assert key.startswith(place.prefix) and key.endswith(place.manifest)
