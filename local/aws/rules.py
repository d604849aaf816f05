"""EventBridge rules of the template that match events (an `EventPattern`), as the local stack plays them.

The embedded AWS's EventBridge matches events against them and delivers to their SQS targets, as
EventBridge does: the S3 events of a bucket with EventBridge notifications, for instance, reach a
provider's queue through the provider's own rule. Only targets that are queues of the template are
delivered to; a rule's other targets (a function, another bus) are left out locally. Rules with a
`ScheduleExpression` are the scheduler's (see `local.runtime.scheduler`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from local.aws.intrinsics import referenced_id

# EventBridge's own bus, where AWS services (S3 among them) send their events.
DEFAULT_BUS = "default"


@dataclass(frozen=True)
class EventRuleSpec:
    logical_id: str
    pattern: dict[str, Any]  # as the template gives it: resource references are still intrinsics here
    queue_targets: tuple[tuple[str, str], ...]  # (target Id, logical id of the queue)
    bus: Any = None  # EventBusName as given (a name or an intrinsic); None: the default bus
    name: str | None = None  # Name, when the template fixes it
    enabled: bool = True


def event_rule_spec(logical_id: str, props: dict[str, Any], queues: set[str]) -> EventRuleSpec:
    """The spec of an AWS::Events::Rule with an EventPattern, from its (parameter-resolved) properties."""
    pattern = props["EventPattern"]
    if not isinstance(pattern, dict):
        raise ValueError(f"rule {logical_id}: EventPattern must be an object, not {pattern!r}")
    targets = tuple(
        (str(target["Id"]), queue)
        for target in props.get("Targets") or []
        if (queue := referenced_id(target.get("Arn"))) in queues
    )
    return EventRuleSpec(
        logical_id=logical_id,
        pattern=pattern,
        queue_targets=targets,
        bus=props.get("EventBusName"),
        name=props.get("Name") if isinstance(props.get("Name"), str) else None,
        # EventBridge's default state is ENABLED.
        enabled=str(props.get("State", "ENABLED")).upper() == "ENABLED",
    )
