"""How the local stack reads the template's event rules and a bucket's notifications: what it then
creates on the embedded AWS, so that an upload reaches a queue as it would when deployed."""

from __future__ import annotations

from local.aws.buckets import bucket_spec
from local.aws.rules import event_rule_spec

PATTERN = {"source": ["aws.s3"], "detail": {"bucket": {"name": [{"Ref": "EvidenceBucket"}]}}}


def test_a_rule_delivers_to_the_templates_queues_among_its_targets_only() -> None:
    props = {
        "EventPattern": PATTERN,
        "Targets": [
            {"Id": "queue", "Arn": {"Fn::GetAtt": ["ProviderQueue", "Arn"]}},
            {"Id": "function", "Arn": {"Fn::GetAtt": ["SomeFunction", "Arn"]}},
            {"Id": "elsewhere", "Arn": "arn:aws:sqs:ap-southeast-1:123456789012:not-ours"},
        ],
    }
    rule = event_rule_spec("ManifestsRule", props, {"ProviderQueue", "OtherQueue"})
    assert rule.queue_targets == (("queue", "ProviderQueue"),)
    assert rule.pattern == PATTERN  # references are resolved once the resources exist
    assert (rule.bus, rule.name, rule.enabled) == (None, None, True)  # the default bus


def test_a_rule_keeps_its_bus_name_and_state() -> None:
    props = {"EventPattern": PATTERN, "EventBusName": {"Ref": "Bus"}, "Name": "fixed", "State": "DISABLED"}
    rule = event_rule_spec("Rule", props, set())
    assert (rule.bus, rule.name, rule.enabled, rule.queue_targets) == ({"Ref": "Bus"}, "fixed", False, ())


def test_a_bucket_sends_its_events_to_eventbridge_when_the_template_says_so() -> None:
    spec = bucket_spec(
        "EvidenceBucket", {"NotificationConfiguration": {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}}
    )
    assert spec.notification_configuration(lambda notification: "arn") == {"EventBridgeConfiguration": {}}
    assert bucket_spec("Quiet", {}).notification_configuration(lambda notification: "arn") is None


def test_a_bucket_notifying_a_queue_directly_still_does() -> None:
    queue_configuration = {
        "Event": "s3:ObjectCreated:*",
        "Queue": {"Fn::GetAtt": ["SomeQueue", "Arn"]},
        "Filter": {"S3Key": {"Rules": [{"Name": "Prefix", "Value": "in/"}]}},
    }
    spec = bucket_spec("Bucket", {"NotificationConfiguration": {"QueueConfigurations": [queue_configuration]}})
    assert spec.notification_configuration(lambda notification: f"arn:{notification.queue}") == {
        "QueueConfigurations": [
            {
                "QueueArn": "arn:SomeQueue",
                "Events": ["s3:ObjectCreated:*"],
                "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "in/"}]}},
            }
        ]
    }
