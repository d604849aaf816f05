"""Least privilege: each function has its own role granting exactly what its code and its event source use.

Checked on the transformed template, statement by statement: actions, resources and conditions.
What the code calls (layers/dispute_gateway/dispute_gateway):
- store.py: dynamodb GetItem, PutItem, UpdateItem on the table; Query on reference-index (API only);
- pipeline.py: sqs SendMessage to the worker's own dead-letter queue;
- disputes.py: sqs SendMessage to every provider's queue, a presigned S3 POST under the prefix of
  every provider that takes evidence (API);
- redrive.py: a provider queue's redrive policy, Receive/ChangeMessageVisibility/Delete on its
  dead-letter queue (API);
- evidence_links.py: presigned GETs under an evidence provider's prefix, ListObjectsV2 of a
  transaction's folder there (API);
- evidence.py, manifests.py: GetObject (Range, If-Match) under the worker's own provider's prefix,
  ListObjectsV2 of a folder there (the worker of a provider that takes evidence);
- secrets.py: secretsmanager GetSecretValue of the worker's own secret.
Besides: the SQS event source polls with the function's role (ReceiveMessage, DeleteMessage,
GetQueueAttributes on its queue), Lambda writes the function's logs (CreateLogStream,
PutLogEvents on its log group) and active tracing sends X-Ray segments.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.infrastructure.cfn import (
    EVIDENCE_BUCKET,
    ProviderBlock,
    arn_of,
    as_list,
    attached_policies,
    evidence_object_patterns,
    evidence_objects,
    functions,
    log_group_id_of,
    of_type,
    policy_statements,
    provider_blocks,
    ref,
    role_of,
)

# X-Ray's PutTraceSegments and PutTelemetryRecords support no resource-level permissions.
XRAY = ("ActiveTracing", ["xray:PutTelemetryRecords", "xray:PutTraceSegments"], ["*"], None)


def _logs(group: str) -> tuple[str, list[str], list[Any], None]:
    # A log group's Arn attribute ends in ":*": the group and its streams.
    return ("OwnLogGroup", ["logs:CreateLogStream", "logs:PutLogEvents"], [arn_of(group)], None)


def _records() -> tuple[str, list[str], list[Any], None]:
    return (
        "DisputeRecords",
        # ConditionCheckItem: a transaction that takes a transaction's live item checks its holder.
        ["dynamodb:ConditionCheckItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
        [arn_of("DisputesTable")],
        None,
    )


def _consume(queue: str) -> tuple[str, list[str], list[Any], None]:
    return (
        "ConsumeOwnQueue",
        # ChangeMessageVisibility: the worker delays a failed message's next delivery (CONTRACT section 11).
        ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"],
        [arn_of(queue)],
        None,
    )


Statement = tuple[str, list[str], list[Any], dict[str, Any] | None]


def _worker(block: ProviderBlock) -> list[Statement]:
    """What every provider's worker role grants; reading evidence, under its own prefix only, for a
    provider that takes it."""
    statements: list[Statement] = [
        _logs(block.log_group),
        XRAY,
        _consume(block.queue),
        ("UnprocessableMessages", ["sqs:SendMessage"], [arn_of(block.dead_letter_queue)], None),
        _records(),
        ("ProviderCredentials", ["secretsmanager:GetSecretValue"], [ref(block.secret)], None),
    ]
    if block.evidence_prefix is not None:
        statements += [
            ("ReadEvidence", ["s3:GetObject"], [evidence_objects(block.evidence_prefix)], None),
            (
                "ListEvidenceFolders",
                ["s3:ListBucket"],
                [arn_of(EVIDENCE_BUCKET)],
                {"StringLike": {"s3:prefix": f"{block.evidence_prefix}*"}},
            ),
        ]
    return statements


def _api(blocks: list[ProviderBlock]) -> list[Statement]:
    """The API's own statements, then one policy per provider block letting it queue disputes there
    and, for a provider that takes evidence, presign uploads under its prefix."""
    return [
        _logs("ApiLogGroup"),
        XRAY,
        _records(),
        (
            "DisputesOfATransaction",
            ["dynamodb:Query"],
            [{"Fn::Sub": "${DisputesTable.Arn}/index/reference-index"}],
            None,
        ),
        (
            "DisputesByStatusOrResolution",
            ["dynamodb:Query"],
            [{"Fn::Sub": f"${{DisputesTable.Arn}}/index/{name}-index"} for name in ("status", "resolution")],
            None,
        ),
        *[statement for block in sorted(blocks, key=lambda block: block.queue) for statement in _api_sends_to(block)],
    ]


def _api_sends_to(block: ProviderBlock) -> list[Statement]:
    """A provider's block lets the API queue disputes there, take a failed one's message back, and
    for a provider that takes evidence presign uploads and link to evidence under its prefix."""
    statements: list[Statement] = [("QueueDisputes", ["sqs:SendMessage"], [arn_of(block.queue)], None)]
    if block.evidence_prefix is not None:
        statements.append(("PresignEvidenceUploads", ["s3:PutObject"], [evidence_objects(block.evidence_prefix)], None))
    statements += [
        ("FindDeadLetterQueue", ["sqs:GetQueueAttributes"], [arn_of(block.queue)], None),
        (
            "TakeBackDeadLetters",
            [
                "sqs:ChangeMessageVisibility",
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
                "sqs:GetQueueUrl",
                "sqs:ReceiveMessage",
            ],
            [arn_of(block.dead_letter_queue)],
            None,
        ),
    ]
    if block.evidence_prefix is not None:
        statements += [
            ("LinkEvidence", ["s3:GetObject"], [evidence_objects(block.evidence_prefix)], None),
            (
                "ListEvidenceFolders",
                ["s3:ListBucket"],
                [arn_of("EvidenceBucket")],
                {"StringLike": {"s3:prefix": f"{block.evidence_prefix}*"}},
            ),
        ]
    return statements


def _tracker(resources: dict[str, Any], block: ProviderBlock, tracker: str) -> list[Statement]:
    """An outcome tracker reads the due disputes of the outcome index and writes their outcome."""
    return [
        _logs(log_group_id_of(resources, tracker)),
        XRAY,
        (
            "DisputesDueForACheck",
            ["dynamodb:Query"],
            [{"Fn::Sub": "${DisputesTable.Arn}/index/outcome-check-index"}],
            None,
        ),
        ("DisputeOutcomes", ["dynamodb:UpdateItem"], [arn_of("DisputesTable")], None),
        ("ProviderCredentials", ["secretsmanager:GetSecretValue"], [ref(block.secret)], None),
    ]


def _expected(resources: dict[str, Any]) -> dict[str, list[Statement]]:
    blocks = provider_blocks(resources)
    expected = {block.role: _worker(block) for block in blocks}
    expected |= {
        role_of(resources, block.tracker): _tracker(resources, block, block.tracker)
        for block in blocks
        if block.tracker is not None
    }
    return {**expected, role_of(resources, "ApiFunction"): _api(blocks), "EventPublisherRole": _publisher()}


def _publisher() -> list[Statement]:
    """The table's stream read by the event source, the bus written, the failures queue sent to."""
    return [
        _logs("EventPublisherLogGroup"),
        XRAY,
        (
            "ReadTableStream",
            ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"],
            [{"Fn::GetAtt": ["DisputesTable", "StreamArn"]}],
            None,
        ),
        ("PublishChanges", ["events:PutEvents"], [arn_of("DisputeEventBus")], None),
        ("GiveUpOnARecord", ["sqs:SendMessage"], [arn_of("EventPublisherFailuresQueue")], None),
    ]


def _roles(resources: dict[str, Any]) -> dict[str, str]:
    """Each function -> its role."""
    return {function: role_of(resources, function) for function in functions(resources)}


def _statements(resources: dict[str, Any], role: str) -> list[dict[str, Any]]:
    (policy,) = resources[role]["Properties"]["Policies"]
    assert policy["PolicyDocument"]["Version"] == "2012-10-17"
    assert all(p["PolicyDocument"]["Version"] == "2012-10-17" for p in attached_policies(resources, role).values())
    return list(policy_statements(resources, role))


def _normalised(statement: dict[str, Any]) -> tuple[str, list[str], list[Any], dict[str, Any] | None]:
    assert statement["Effect"] == "Allow"
    assert set(statement) <= {"Sid", "Effect", "Action", "Resource", "Condition"}, statement
    return (
        statement["Sid"],
        sorted(as_list(statement["Action"])),
        as_list(statement["Resource"]),
        statement.get("Condition"),
    )


def test_each_function_has_its_own_role(resources):
    roles = _roles(resources)
    assert len(set(roles.values())) == len(roles)


def test_sam_generates_no_role(resources):
    # A generated role would carry AWSLambdaSQSQueueExecutionRole (receive/delete on every queue).
    assert set(of_type(resources, "AWS::IAM::Role")) == set(_roles(resources).values())
    assert not of_type(resources, "AWS::IAM::ManagedPolicy")
    # The one kind of policy outside a role: a provider block's, letting the API queue its disputes
    # (and presign uploads of its evidence).
    api_role = role_of(resources, "ApiFunction")
    for name, policy in of_type(resources, "AWS::IAM::Policy").items():
        assert policy["Properties"]["Roles"] == [ref(api_role)], name


def test_role_grants_exactly_its_statements(resources):
    expected = _expected(resources)
    assert set(expected) == set(_roles(resources).values())
    for role, statements in expected.items():
        assert [_normalised(statement) for statement in _statements(resources, role)] == statements, role


def test_role_has_no_managed_policy_and_no_boundary_escape(resources):
    for role in _roles(resources).values():
        props = resources[role]["Properties"]
        assert "ManagedPolicyArns" not in props
        assert set(props) == {"Description", "AssumeRolePolicyDocument", "Policies"}


def test_only_lambda_assumes_the_role(resources):
    for role in _roles(resources).values():
        (statement,) = resources[role]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert statement == {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }


@pytest.mark.parametrize("role", ["every role"])
def test_no_wildcard_resource_but_xray(resources, role):
    for statement in [s for role in _roles(resources).values() for s in _statements(resources, role)]:
        actions = as_list(statement["Action"])
        assert not any("*" in action for action in actions), actions
        for resource in as_list(statement["Resource"]):
            if resource == "*":
                assert all(action.startswith("xray:") for action in actions), actions
                continue
            assert isinstance(resource, dict), f"{actions} on literal resource {resource!r}"
            # The allowed patterns: an evidence provider's objects, and a log group's own ":*".
            if resource in evidence_object_patterns():
                continue
            assert "*" not in json.dumps(resource), f"{actions} on wildcard resource {resource!r}"


def test_function_writes_only_its_own_log_group(resources):
    for function in functions(resources):
        (logs,) = [s for s in _statements(resources, role_of(resources, function)) if s["Sid"] == "OwnLogGroup"]
        assert logs["Resource"] == arn_of(log_group_id_of(resources, function))
        # No logs:CreateLogGroup: the group is the stack's (with its retention), never Lambda's.
        actions = {a for s in _statements(resources, role_of(resources, function)) for a in as_list(s["Action"])}
        assert "logs:CreateLogGroup" not in actions


def test_secrets_are_read_only_by_their_own_worker(resources):
    readers = {
        secret: sorted(
            role
            for role in set(_roles(resources).values())
            for statement in _statements(resources, role)
            if "secretsmanager:GetSecretValue" in as_list(statement["Action"])
            and ref(secret) in as_list(statement["Resource"])
        )
        for secret in of_type(resources, "AWS::SecretsManager::Secret")
    }
    assert readers == {
        block.secret: sorted([block.role, *([role_of(resources, block.tracker)] if block.tracker else [])])
        for block in provider_blocks(resources)
    }


def test_worker_consumes_only_the_queue_its_event_source_polls(resources):
    for block in provider_blocks(resources):
        mappings = [
            m["Properties"]
            for m in of_type(resources, "AWS::Lambda::EventSourceMapping").values()
            if m["Properties"]["FunctionName"] == ref(block.function)
        ]
        polled = [mapping["EventSourceArn"] for mapping in mappings]
        (consume,) = [s for s in _statements(resources, block.role) if s["Sid"] == "ConsumeOwnQueue"]
        assert as_list(consume["Resource"]) == polled


def test_api_role_reads_no_secret_and_reads_only_evidence_and_dead_letters(resources):
    statements = _statements(resources, role_of(resources, "ApiFunction"))
    assert not [a for s in statements for a in as_list(s["Action"]) if a.startswith("secretsmanager:")]
    reads = [
        s for s in statements if any(a.startswith(("s3:Get", "s3:List", "sqs:Receive")) for a in as_list(s["Action"]))
    ]
    dead_letter_queues = {json.dumps(arn_of(block.dead_letter_queue)) for block in provider_blocks(resources)}
    for statement in reads:
        for resource in as_list(statement["Resource"]):
            assert (
                resource in (*evidence_object_patterns(), arn_of("EvidenceBucket"))
                or json.dumps(resource) in dead_letter_queues
            )
