"""Reading the transformed CloudFormation: resources by type, references, environment, role, log group."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


def of_type(resources: dict[str, Any], cfn_type: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in resources.items() if res["Type"] == cfn_type}


def ref(name: str) -> dict[str, str]:
    return {"Ref": name}


def arn_of(name: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [name, "Arn"]}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def environment(resources: dict[str, Any], function: str) -> dict[str, Any]:
    variables: dict[str, Any] = resources[function]["Properties"]["Environment"]["Variables"]
    return variables


def event_source_mappings(resources: dict[str, Any], function: str) -> list[dict[str, Any]]:
    mappings = of_type(resources, "AWS::Lambda::EventSourceMapping").values()
    return [m["Properties"] for m in mappings if m["Properties"]["FunctionName"] == ref(function)]


def role_statements(resources: dict[str, Any], function: str) -> Iterator[dict[str, Any]]:
    """The statements of the function role's own policy, then of the policies attached to the role
    (a provider's block lets the API send to its queue)."""
    yield from policy_statements(resources, resources[function]["Properties"]["Role"]["Fn::GetAtt"][0])


def policy_statements(resources: dict[str, Any], role: str) -> Iterator[dict[str, Any]]:
    for policy in resources[role]["Properties"].get("Policies", []):
        yield from as_list(policy["PolicyDocument"]["Statement"])
    for policy in attached_policies(resources, role).values():
        yield from as_list(policy["PolicyDocument"]["Statement"])


def attached_policies(resources: dict[str, Any], role: str) -> dict[str, dict[str, Any]]:
    """AWS::IAM::Policy resources attached to `role`, by logical id (their properties)."""
    return {
        name: policy["Properties"]
        for name, policy in sorted(of_type(resources, "AWS::IAM::Policy").items())
        if ref(role) in policy["Properties"].get("Roles", [])
    }


def granted(resources: dict[str, Any], function: str, action: str) -> list[Any]:
    """Resources of the function role's inline statements that allow `action`."""
    return [
        resource
        for statement in role_statements(resources, function)
        if statement["Effect"] == "Allow" and action in as_list(statement["Action"])
        for resource in as_list(statement["Resource"])
    ]


def role_of(resources: dict[str, Any], function: str) -> str:
    """Logical id of the function's execution role."""
    role: str = resources[function]["Properties"]["Role"]["Fn::GetAtt"][0]
    return role


def log_group_id_of(resources: dict[str, Any], function: str) -> str:
    """Logical id of the log group the function's LoggingConfig sends its logs to."""
    group: str = resources[function]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
    return group


def log_group_of(resources: dict[str, Any], function: str) -> dict[str, Any]:
    """The properties of the function's log group: the one its LoggingConfig names, itself named
    /aws/lambda/<FunctionName> (where Lambda logs by default), so either way the logs land there."""
    group: dict[str, Any] = resources[log_group_id_of(resources, function)]["Properties"]
    function_name = resources[function]["Properties"]["FunctionName"]["Fn::Sub"]
    assert group["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/{function_name}"}
    return group


EVIDENCE_BUCKET = "EvidenceBucket"
DATA_ACTION_PREFIXES = ("dynamodb:", "sqs:", "s3:", "secretsmanager:", "kms:")


def evidence_objects(prefix: str) -> dict[str, str]:
    """The evidence bucket's objects under `prefix` (a provider's evidence), as a policy names them."""
    return {"Fn::Sub": f"${{{EVIDENCE_BUCKET}.Arn}}/{prefix}*"}


def evidence_prefixes() -> dict[str, str]:
    """Where each provider that takes evidence keeps it, by provider name (from the registry)."""
    from dispute_gateway.providers import evidence_providers

    return {name: spec.evidence.prefix for name, spec in evidence_providers().items() if spec.evidence is not None}


def evidence_object_patterns() -> list[dict[str, str]]:
    """The one kind of wildcard resource a role may name: an evidence provider's objects."""
    return [evidence_objects(prefix) for prefix in evidence_prefixes().values()]


def scoped_data_statements(resources: dict[str, Any], function: str) -> int:
    """Asserts every data action of the function's role names this stack's resources, no wildcard
    (the one pattern allowed: the evidence bucket's objects under a provider's prefix); returns how many."""
    checked = 0
    for statement in role_statements(resources, function):
        actions = [a.lower() for a in as_list(statement["Action"])]
        if not any(a.startswith(DATA_ACTION_PREFIXES) for a in actions):
            continue
        checked += 1
        assert statement["Effect"] == "Allow"
        assert not any("*" in a for a in actions), f"wildcard action in {actions}"
        for resource in as_list(statement["Resource"]):
            assert isinstance(resource, dict), f"{actions} on literal resource {resource!r}"
            allowed = resource in evidence_object_patterns()
            written = json.dumps(resource if not allowed else arn_of(EVIDENCE_BUCKET))
            assert "*" not in written, f"{actions} on wildcard resource {resource!r}"
    return checked


def functions(resources: dict[str, Any]) -> list[str]:
    """Logical ids of every function of the stack."""
    return sorted(of_type(resources, "AWS::Lambda::Function"))


def source_queues(resources: dict[str, Any]) -> list[str]:
    """Logical ids of the queues a function consumes (an SQS event source mapping)."""
    mappings = of_type(resources, "AWS::Lambda::EventSourceMapping").values()
    arns = [m["Properties"]["EventSourceArn"] for m in mappings]
    queues = of_type(resources, "AWS::SQS::Queue")
    return sorted(
        arn["Fn::GetAtt"][0] for arn in arns if isinstance(arn, dict) and arn.get("Fn::GetAtt", [None])[0] in queues
    )


def dead_letter_queues(resources: dict[str, Any]) -> list[str]:
    """Logical ids of the queues some queue's redrive policy moves messages to."""
    return sorted(
        {
            queue["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
            for queue in of_type(resources, "AWS::SQS::Queue").values()
            if "RedrivePolicy" in queue["Properties"]
        }
    )


@dataclass(frozen=True)
class ProviderBlock:
    """A provider's resources, found in the template from its spec's variable names alone."""

    name: str
    function: str  # its worker: the function that names the provider's secret and polls its queue
    queue: str  # what the worker's event source polls
    dead_letter_queue: str  # the queue's redrive target
    secret: str
    log_group: str
    role: str
    tracker: str | None  # its outcome tracker: the function that names the secret and runs on a schedule
    evidence_prefix: str | None  # where its evidence lives, when it takes evidence


def event_rules_to(resources: dict[str, Any], queue: str) -> dict[str, dict[str, Any]]:
    """The EventBridge rules matching events (not schedules) that put them on `queue`, by logical id."""
    return {
        name: rule["Properties"]
        for name, rule in of_type(resources, "AWS::Events::Rule").items()
        if "EventPattern" in rule["Properties"]
        and any(target["Arn"] == arn_of(queue) for target in rule["Properties"].get("Targets", []))
    }


def queue_policies_of(resources: dict[str, Any], queue: str) -> dict[str, dict[str, Any]]:
    """The AWS::SQS::QueuePolicy resources that apply to `queue`, by logical id (their properties)."""
    return {
        name: policy["Properties"]
        for name, policy in of_type(resources, "AWS::SQS::QueuePolicy").items()
        if ref(queue) in policy["Properties"]["Queues"]
    }


def scheduled(resources: dict[str, Any], function: str) -> bool:
    """Whether an EventBridge rule targets the function."""
    return any(
        target["Arn"] == arn_of(function)
        for rule in of_type(resources, "AWS::Events::Rule").values()
        for target in rule["Properties"].get("Targets", [])
    )


def provider_blocks(resources: dict[str, Any]) -> list[ProviderBlock]:
    """One block per registered provider (an AssertionError if the template lacks one)."""
    from dispute_gateway.providers import registry

    blocks = []
    for spec in registry().values():
        reading = [
            name
            for name, function in of_type(resources, "AWS::Lambda::Function").items()
            if spec.secret_variable in function["Properties"].get("Environment", {}).get("Variables", {})
        ]
        (function,) = [name for name in reading if event_source_mappings(resources, name)]
        trackers = [name for name in reading if scheduled(resources, name)]
        assert len(trackers) == (1 if spec.tracks_outcomes else 0), (spec.name, trackers)
        (mapping,) = event_source_mappings(resources, function)
        queue = mapping["EventSourceArn"]["Fn::GetAtt"][0]
        variables = environment(resources, function)
        blocks.append(
            ProviderBlock(
                name=spec.name,
                function=function,
                queue=queue,
                dead_letter_queue=resources[queue]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][
                    0
                ],
                secret=variables[spec.secret_variable]["Ref"],
                log_group=log_group_id_of(resources, function),
                role=role_of(resources, function),
                tracker=trackers[0] if trackers else None,
                evidence_prefix=spec.evidence.prefix if spec.evidence is not None else None,
            )
        )
    return blocks
