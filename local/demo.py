"""`make demo`: the service on this machine, disputes filed through its queue, the records printed.

Exits 0 when every dispute ends as expected. The functions' own log lines (JSON, as on
Lambda) go to a file, so that the records stay readable; `--logs` prints them instead.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from boto3.dynamodb.types import TypeDeserializer

from local.providers import iimmpact
from local.stack import LocalStack, wait_for
from tests.sandboxes.iimmpact import IimmpactSandbox

QUEUE = "IimmpactQueue"
TABLE = "DisputesTable"
# The request body and the status each dispute is expected to end in.
DISPUTES: list[tuple[dict[str, Any], str]] = [
    ({"trxid": "T-1001", "user_email": ["buyer@example.com"]}, "submitted"),
    ({"trxid": "REFUNDED-1"}, "rejected"),  # the sandbox answers Failed: refunded automatically
]
SETTLED = {"submitted", "rejected", "failed"}
WAIT_SECONDS = 60
RECORD_FIELDS = (
    "dispute_id",
    "provider",
    "reference",
    "source",
    "status",
    "attempts",
    "created_at",
    "updated_at",
    "provider_http_status",
    "provider_message",
    "provider_case_id",
    "error",
)
_EMAIL = re.compile(r"[^@\s\"']+@[^@\s\"']+\.[A-Za-z]{2,}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run Dispute Gateway locally and file a few disputes.")
    parser.add_argument("--logs", action="store_true", help="print the functions' log lines instead of saving them")
    arguments = parser.parse_args(argv)
    out = sys.stdout
    log_path = Path(tempfile.gettempdir()) / "dispute-gateway-demo.log"
    with contextlib.ExitStack() as resources:
        if not arguments.logs:
            log_file = resources.enter_context(log_path.open("w", encoding="utf-8"))
            # Lambda's stdout is its log: the functions' loggers bind to it when they are imported.
            resources.enter_context(contextlib.redirect_stdout(log_file))
        ok = run(out)
    if not arguments.logs:
        print(f"\nfunction logs: {log_path}", file=out)
    return 0 if ok else 1


def run(out: TextIO) -> bool:
    started = time.monotonic()
    with IimmpactSandbox() as sandbox, LocalStack(providers=[iimmpact(sandbox)]) as stack:
        print(f"embedded AWS (moto)  {stack.endpoint_url}", file=out)
        print(f"IIMMPACT sandbox     {sandbox.base_url}", file=out)
        print(f"table                {stack.ref(TABLE)}", file=out)
        print(f"queue                {stack.ref(QUEUE)}", file=out)
        for poller in stack.pollers:
            source = poller.source
            print(
                f"function             {poller.function.name} <- {source.queue} "
                f"(batch {source.batch_size}, window {source.batching_window_seconds:g} s)",
                file=out,
            )
        for body, _ in DISPUTES:
            stack.send_message(QUEUE, json.dumps(body))
        print(f"\nqueued {len(DISPUTES)} disputes; waiting for their records...", file=out)
        references = [str(body["trxid"]) for body, _ in DISPUTES]
        records = wait_for(lambda: _settled(stack, references), WAIT_SECONDS) or _records(stack)
    elapsed = time.monotonic() - started
    for reference in references:
        print(f"\n{reference}:", file=out)
        print(_masked(json.dumps(_public(records.get(reference)), indent=2, default=_number)), file=out)
    print(file=out)
    return _summary(records, out, elapsed)


def _records(stack: LocalStack) -> dict[str, dict[str, Any]]:
    deserializer = TypeDeserializer()
    items = stack.client("dynamodb").scan(TableName=stack.ref(TABLE), ConsistentRead=True)["Items"]
    records = [{name: deserializer.deserialize(value) for name, value in item.items()} for item in items]
    return {str(record["reference"]): record for record in records}


def _settled(stack: LocalStack, references: list[str]) -> dict[str, dict[str, Any]] | None:
    records = _records(stack)
    done = all(records.get(reference, {}).get("status") in SETTLED for reference in references)
    return records if done else None


def _public(record: dict[str, Any] | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {name: record[name] for name in RECORD_FIELDS if name in record}


def _number(value: Any) -> Any:
    # DynamoDB numbers come back as Decimal.
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"cannot print {type(value).__name__}")


def _masked(text: str) -> str:
    # Provider messages can carry e-mail addresses (IIMMPACT's refusals name its support address).
    return _EMAIL.sub("[e-mail]", text)


def _summary(records: dict[str, dict[str, Any]], out: TextIO, elapsed: float) -> bool:
    rows = [("reference", "status", "expected", "attempts", "http", "")]
    ok = True
    for body, expected in DISPUTES:
        record = records.get(str(body["trxid"]), {})
        status = str(record.get("status", "(none)"))
        ok = ok and status == expected
        mark = "ok" if status == expected else "UNEXPECTED"
        rows.append(
            (
                str(body["trxid"]),
                status,
                expected,
                str(record.get("attempts", "")),
                str(record.get("provider_http_status", "")),
                mark,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip(), file=out)
    print(
        f"\n{'all disputes ended as expected' if ok else 'some disputes did not end as expected'} ({elapsed:.1f} s)",
        file=out,
    )
    return ok


if __name__ == "__main__":
    sys.exit(main())
