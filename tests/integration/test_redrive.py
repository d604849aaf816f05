"""scripts/redrive.py over moto: dead letters go back to the queue that dead-lettered them, body and
message attributes kept, and only once each is on its way."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.conftest import ROOT


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("redrive_script", ROOT / "scripts" / "redrive.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


redrive = _load()


@pytest.fixture
def sqs() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("sqs")


def _queue_with_dead_letters(sqs: Any, name: str) -> tuple[str, str]:
    dead = sqs.create_queue(QueueName=f"{name}-dead-letters")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 3})
    source = sqs.create_queue(QueueName=name, Attributes={"RedrivePolicy": policy})["QueueUrl"]
    return source, dead


def _all(sqs: Any, queue: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=queue, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=30
        ).get("Messages", [])
        if not messages:
            return found
        found += messages


def test_dead_letters_go_back_to_their_queue_with_their_attributes(sqs: Any) -> None:
    source, dead = _queue_with_dead_letters(sqs, "work")
    attributes = {
        "reason": {"DataType": "String", "StringValue": "not JSON"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
    }
    for number in range(23):  # more than two batches
        sqs.send_message(QueueUrl=dead, MessageBody=f"message {number}", MessageAttributes=attributes)

    assert redrive.main([dead]) == 0

    moved = _all(sqs, source)
    assert sorted(message["Body"] for message in moved) == sorted(f"message {n}" for n in range(23))
    assert all(message["MessageAttributes"] == attributes for message in moved)
    assert _all(sqs, dead) == []


def test_at_most_the_messages_asked_for(sqs: Any) -> None:
    source, dead = _queue_with_dead_letters(sqs, "work")
    for number in range(5):
        sqs.send_message(QueueUrl=dead, MessageBody=str(number))
    assert redrive.redrive(sqs, dead, source, most=3) == 3
    assert len(_all(sqs, source)) == 3
    assert len(_all(sqs, dead)) == 2


def test_the_target_is_asked_for_when_the_dead_letter_queue_serves_several(
    sqs: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    _source, dead = _queue_with_dead_letters(sqs, "work")
    arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 3})
    other = sqs.create_queue(QueueName="other", Attributes={"RedrivePolicy": policy})["QueueUrl"]
    sqs.send_message(QueueUrl=dead, MessageBody="x")

    assert redrive.main([dead]) == 1
    assert "name the target with --to" in capsys.readouterr().err
    assert redrive.main([dead, "--to", other]) == 0
    assert [message["Body"] for message in _all(sqs, other)] == ["x"]


def test_a_queue_that_is_no_dead_letter_queue_is_refused(sqs: Any, capsys: pytest.CaptureFixture[str]) -> None:
    lonely = sqs.create_queue(QueueName="lonely")["QueueUrl"]
    assert redrive.main([lonely]) == 1
    assert "is no queue's dead-letter queue" in capsys.readouterr().err
