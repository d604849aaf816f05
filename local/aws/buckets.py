"""S3 buckets of the template as the local stack sees them, and the API requests that recreate them.

Only what changes how the service behaves locally is reproduced: the bucket, its default
encryption, versioning, public access block, ownership, and notifications (to queues, and to
EventBridge, whose rules the local stack creates from the template too). Lifecycle rules and
bucket policies are left out: moto stores them but never applies them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from local.aws.intrinsics import referenced_id

# The filter rule names S3 knows; it accepts them in any case, moto only in lower case.
_FILTER_RULES = ("prefix", "suffix")


@dataclass(frozen=True)
class QueueNotification:
    """One QueueConfiguration: objects whose key matches `prefix` and `suffix` notify `queue` of `event`."""

    queue: str  # logical id of the queue
    event: str  # e.g. s3:ObjectCreated:*
    prefix: str | None = None
    suffix: str | None = None

    def request(self, queue_arn: str) -> dict[str, Any]:
        """The QueueConfiguration of PutBucketNotificationConfiguration."""
        configuration: dict[str, Any] = {"QueueArn": queue_arn, "Events": [self.event]}
        rules = [{"Name": name, "Value": value} for name, value in (("prefix", self.prefix), ("suffix", self.suffix))]
        rules = [rule for rule in rules if rule["Value"] is not None]
        if rules:
            configuration["Filter"] = {"Key": {"FilterRules": rules}}
        return configuration


@dataclass(frozen=True)
class BucketSpec:
    logical_id: str
    name: str | None  # BucketName, when the template fixes it
    # The remaining settings as CloudFormation spells them; None when the template leaves them out.
    encryption: dict[str, Any] | None = None
    versioning_status: str | None = None
    public_access_block: dict[str, Any] | None = None
    ownership_controls: dict[str, Any] | None = None
    queue_notifications: tuple[QueueNotification, ...] = ()
    # NotificationConfiguration.EventBridgeConfiguration.EventBridgeEnabled: every event to the default bus.
    eventbridge: bool = False

    def notification_configuration(self, queue_arn: Callable[[QueueNotification], str]) -> dict[str, Any] | None:
        """PutBucketNotificationConfiguration's configuration (`queue_arn`: each notification's
        queue's ARN); None when the bucket notifies nothing."""
        configuration: dict[str, Any] = {}
        if self.queue_notifications:
            configuration["QueueConfigurations"] = [n.request(queue_arn(n)) for n in self.queue_notifications]
        if self.eventbridge:
            configuration["EventBridgeConfiguration"] = {}  # S3's API enables it by its presence
        return configuration or None

    def configuration_requests(self, name: str) -> list[tuple[str, dict[str, Any]]]:
        """(S3 client method, keyword arguments) that give bucket `name` this spec's settings."""
        requests: list[tuple[str, dict[str, Any]]] = []
        if self.encryption:
            rules = [_encryption_rule(rule) for rule in self.encryption.get("ServerSideEncryptionConfiguration", [])]
            requests.append(("put_bucket_encryption", {"ServerSideEncryptionConfiguration": {"Rules": rules}}))
        if self.versioning_status:
            requests.append(("put_bucket_versioning", {"VersioningConfiguration": {"Status": self.versioning_status}}))
        if self.public_access_block:
            # Same field names in CloudFormation and in the API.
            block = {name: _flag(value) for name, value in self.public_access_block.items()}
            requests.append(("put_public_access_block", {"PublicAccessBlockConfiguration": block}))
        if self.ownership_controls:
            requests.append(("put_bucket_ownership_controls", {"OwnershipControls": self.ownership_controls}))
        return [(method, {"Bucket": name, **arguments}) for method, arguments in requests]


def bucket_spec(logical_id: str, props: dict[str, Any]) -> BucketSpec:
    """The spec of an AWS::S3::Bucket from its (parameter-resolved) CloudFormation properties."""
    configuration = props.get("NotificationConfiguration") or {}
    notifications = configuration.get("QueueConfigurations") or []
    eventbridge = (configuration.get("EventBridgeConfiguration") or {}).get("EventBridgeEnabled", False)
    return BucketSpec(
        logical_id=logical_id,
        name=props.get("BucketName"),
        encryption=props.get("BucketEncryption"),
        versioning_status=(props.get("VersioningConfiguration") or {}).get("Status"),
        public_access_block=props.get("PublicAccessBlockConfiguration"),
        ownership_controls=props.get("OwnershipControls"),
        queue_notifications=tuple(_queue_notification(logical_id, item) for item in notifications),
        eventbridge=_flag(eventbridge),
    )


def _queue_notification(bucket: str, props: dict[str, Any]) -> QueueNotification:
    queue = referenced_id(props.get("Queue"))
    if queue is None:
        raise ValueError(f"bucket {bucket}: a QueueConfiguration's Queue is not a !GetAtt of a queue of the template")
    rules: dict[str, str] = {}
    for rule in ((props.get("Filter") or {}).get("S3Key") or {}).get("Rules") or []:
        name = str(rule["Name"]).lower()
        if name not in _FILTER_RULES:
            raise ValueError(f"bucket {bucket}: unknown S3 key filter rule {rule['Name']!r}")
        rules[name] = str(rule["Value"])
    return QueueNotification(
        queue=queue, event=str(props["Event"]), prefix=rules.get("prefix"), suffix=rules.get("suffix")
    )


def _encryption_rule(rule: dict[str, Any]) -> dict[str, Any]:
    # CloudFormation's ServerSideEncryptionByDefault is the API's ApplyServerSideEncryptionByDefault.
    converted: dict[str, Any] = {}
    if "ServerSideEncryptionByDefault" in rule:
        converted["ApplyServerSideEncryptionByDefault"] = rule["ServerSideEncryptionByDefault"]
    if "BucketKeyEnabled" in rule:
        converted["BucketKeyEnabled"] = _flag(rule["BucketKeyEnabled"])
    return converted


def _flag(value: Any) -> bool:
    # A boolean property may arrive as a string, e.g. from a parameter.
    return value if isinstance(value, bool) else str(value).lower() == "true"
