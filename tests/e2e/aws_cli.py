"""A stand-in for the few AWS CLI commands that `make serve`'s banner and the README's local examples
use, for a machine without the AWS CLI (the project installs none: CI may lack it).

    python tests/e2e/aws_cli.py --endpoint-url URL sqs send-message --queue-url Q --message-body B

The same arguments, the same calls through boto3, printed as the CLI prints them (JSON, or
`--output text`). Anything else is refused, so that a command new to the banner fails its test
here until it is added, rather than passing untried.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import boto3
import jmespath


def main(argv: list[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    client = boto3.client(arguments.service, endpoint_url=arguments.endpoint_url)
    if arguments.service == "s3":
        return _copy(client, arguments)
    if arguments.command == "send-message":
        answer = client.send_message(QueueUrl=arguments.queue_url, MessageBody=arguments.message_body)
    else:
        options: dict[str, Any] = {"QueueUrl": arguments.queue_url}
        for option, name in (
            ("max_number_of_messages", "MaxNumberOfMessages"),
            ("wait_time_seconds", "WaitTimeSeconds"),
            ("visibility_timeout", "VisibilityTimeout"),
            ("message_attribute_names", "MessageAttributeNames"),
            ("attribute_names", "MessageSystemAttributeNames"),
        ):
            if getattr(arguments, option) is not None:
                options[name] = getattr(arguments, option)
        answer = client.receive_message(**options)
    answer.pop("ResponseMetadata", None)
    _print(jmespath.search(arguments.query, answer) if arguments.query else answer, arguments.output)
    return 0


def _copy(client: Any, arguments: argparse.Namespace) -> int:
    if not arguments.destination.startswith("s3://") or arguments.source.startswith("s3://"):
        raise SystemExit("aws_cli.py copies a local file to S3 only")
    bucket, _, key = arguments.destination.removeprefix("s3://").partition("/")
    extra = {"ContentType": arguments.content_type} if arguments.content_type else {}
    client.put_object(Bucket=bucket, Key=key, Body=Path(arguments.source).read_bytes(), **extra)
    print(f"upload: {arguments.source} to {arguments.destination}")
    return 0


def _print(value: Any, output: str) -> None:
    if value is None or value == {}:
        return
    if output == "text":
        print("\t".join(map(str, value)) if isinstance(value, list) else value)
    else:
        print(json.dumps(value, indent=4, default=str))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aws")
    parser.add_argument("--endpoint-url")
    services = parser.add_subparsers(dest="service", required=True)
    sqs = services.add_parser("sqs").add_subparsers(dest="command", required=True)
    send = sqs.add_parser("send-message")
    send.add_argument("--queue-url", required=True)
    send.add_argument("--message-body", required=True)
    receive = sqs.add_parser("receive-message")
    receive.add_argument("--queue-url", required=True)
    receive.add_argument("--max-number-of-messages", type=int)
    receive.add_argument("--wait-time-seconds", type=int)
    receive.add_argument("--visibility-timeout", type=int)
    receive.add_argument("--message-attribute-names", nargs="+")
    receive.add_argument("--attribute-names", nargs="+")
    for command in (send, receive):
        command.add_argument("--query")
        command.add_argument("--output", choices=["json", "text"], default="json")
    s3 = services.add_parser("s3").add_subparsers(dest="command", required=True)
    copy = s3.add_parser("cp")
    copy.add_argument("source")
    copy.add_argument("destination")
    copy.add_argument("--content-type")
    return parser


if __name__ == "__main__":
    sys.exit(main())
