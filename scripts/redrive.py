"""Move the messages of a dead-letter queue back to the queue they came from, in AWS or locally.

    .venv/bin/python scripts/redrive.py DEAD_LETTER_QUEUE_URL [--to QUEUE_URL] [--max-messages N]
    make redrive QUEUE=DEAD_LETTER_QUEUE_URL [TO=QUEUE_URL]

Plain SQS calls (ReceiveMessage, SendMessageBatch, DeleteMessageBatch), each message's body and
message attributes kept, so it works wherever SQS does: in AWS with the usual credentials
(profile, environment, role), and against the local stack with AWS_ENDPOINT_URL, which boto3
honours. The local stack needs it: its embedded AWS (moto) has no message-move tasks
(`aws sqs start-message-move-task` answers 500 there); in AWS that command does the same job.

Without --to, the target is the one queue whose redrive policy names this dead-letter queue
(ListDeadLetterSourceQueues). A message is deleted only once its copy is on the target: a failure
in between leaves it in both, which is safe, since the service files a request once however often
it arrives. A moved message is a new message: SQS counts its receives from zero again.
Needs only boto3 (any of the project's environments has it).
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoRegionError

_BATCH = 10  # SQS's most messages per receive and per batch call
# Hidden from other receivers while being moved; back in the dead-letter queue if this script dies.
_HOLD_SECONDS = 60
# Long polling asks every SQS server: a short poll can answer nothing while messages wait.
_WAIT_SECONDS = 2
_AWS_QUEUE_HOST = re.compile(r"^https://sqs\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?/")
# System attributes a sender may set (SendMessage's MessageSystemAttributes).
_KEPT_SYSTEM = ("AWSTraceHeader",)


class RedriveError(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/redrive.py",
        description="Move a dead-letter queue's messages back to their queue (AWS, or AWS_ENDPOINT_URL).",
    )
    parser.add_argument("dead_letter_queue", metavar="DEAD_LETTER_QUEUE_URL")
    parser.add_argument("--to", metavar="QUEUE_URL", help="the target (default: the queue that dead-lettered them)")
    parser.add_argument("--max-messages", type=int, metavar="N", help="move at most N messages (default: all)")
    arguments = parser.parse_args(argv)
    if arguments.max_messages is not None and arguments.max_messages < 1:
        parser.error("--max-messages must be at least 1")
    try:
        sqs = boto3.client("sqs", region_name=_region(arguments.dead_letter_queue))
        target = arguments.to or source_queue(sqs, arguments.dead_letter_queue)
        moved = redrive(sqs, arguments.dead_letter_queue, target, arguments.max_messages)
    except RedriveError as error:
        print(f"redrive: {error}", file=sys.stderr)
        return 1
    except NoRegionError:
        print("redrive: no AWS region: set AWS_DEFAULT_REGION (an AWS queue URL names its own)", file=sys.stderr)
        return 1
    except (ClientError, BotoCoreError) as error:
        print(f"redrive: SQS refused: {error}", file=sys.stderr)
        return 1
    print(f"moved {moved} message{'' if moved == 1 else 's'} from {arguments.dead_letter_queue} to {target}")
    return 0


def source_queue(sqs: Any, dead_letter_queue: str) -> str:
    """The one queue whose redrive policy sends its dead letters to `dead_letter_queue`."""
    sources: list[str] = []
    for page in sqs.get_paginator("list_dead_letter_source_queues").paginate(QueueUrl=dead_letter_queue):
        sources += page.get("queueUrls", [])
    if not sources:
        raise RedriveError(f"{dead_letter_queue} is no queue's dead-letter queue: name the target with --to")
    if len(sources) > 1:
        several = ", ".join(sources)
        raise RedriveError(f"{dead_letter_queue} takes the dead letters of {several}: name the target with --to")
    return sources[0]


def redrive(sqs: Any, dead_letter_queue: str, target: str, most: int | None = None) -> int:
    """Move messages from `dead_letter_queue` to `target` until it is empty (or `most` moved); how many."""
    moved = 0
    fifo = target.endswith(".fifo")
    while most is None or moved < most:
        wanted = _BATCH if most is None else min(_BATCH, most - moved)
        messages = sqs.receive_message(
            QueueUrl=dead_letter_queue,
            MaxNumberOfMessages=wanted,
            VisibilityTimeout=_HOLD_SECONDS,
            WaitTimeSeconds=_WAIT_SECONDS,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            break
        entries = [_copy(str(number), message, fifo) for number, message in enumerate(messages)]
        sent = sqs.send_message_batch(QueueUrl=target, Entries=entries)
        failed = sent.get("Failed", [])
        done = [messages[int(entry["Id"])] for entry in sent.get("Successful", [])]
        if done:
            deletions = [{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(done)]
            deleted = sqs.delete_message_batch(QueueUrl=dead_letter_queue, Entries=deletions)
            if deleted.get("Failed"):
                # Sent but not deleted: it would be moved again by the next run (a duplicate, harmless).
                reasons = "; ".join(f"{item.get('Code')}: {item.get('Message')}" for item in deleted["Failed"])
                raise RedriveError(f"moved {moved + len(done)}, but some are still in the dead-letter queue: {reasons}")
        moved += len(done)
        if failed:
            reasons = "; ".join(f"{item.get('Code')}: {item.get('Message')}" for item in failed)
            raise RedriveError(f"moved {moved}; {target} refused {len(failed)}: {reasons}")
    return moved


def _copy(entry_id: str, message: dict[str, Any], fifo: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {"Id": entry_id, "MessageBody": message["Body"]}
    if message.get("MessageAttributes"):
        entry["MessageAttributes"] = {name: _attribute(value) for name, value in message["MessageAttributes"].items()}
    system = message.get("Attributes", {})
    kept = {name: {"DataType": "String", "StringValue": system[name]} for name in _KEPT_SYSTEM if name in system}
    if kept:
        entry["MessageSystemAttributes"] = kept
    if fifo:
        entry["MessageGroupId"] = system.get("MessageGroupId", "redrive")
        entry["MessageDeduplicationId"] = system.get("MessageDeduplicationId", message["MessageId"])
    return entry


def _attribute(value: dict[str, Any]) -> dict[str, Any]:
    # SQS answers list fields it reserves for later use; it refuses them in a send.
    return {key: value[key] for key in ("DataType", "StringValue", "BinaryValue") if key in value}


def _region(queue_url: str) -> str | None:
    """An AWS queue URL names its region; a local one does not (AWS_DEFAULT_REGION then)."""
    match = _AWS_QUEUE_HOST.match(queue_url)
    return match.group(1) if match else None


if __name__ == "__main__":
    sys.exit(main())
