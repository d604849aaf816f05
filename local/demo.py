"""`make demo`: the service on this machine, disputes filed through each route, the records printed.

IIMMPACT disputes go through its queue and through the HTTP API (POST /disputes, then GET it
back and list it by reference); Repay disputes through a command on the Repay queue (evidence
uploaded first) and through an S3 upload (evidence, then dispute.json, whose notification
reaches the Repay queue).

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
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from boto3.dynamodb.types import TypeDeserializer

from local import samples
from local.demo_api import ApiFiling
from local.providers import iimmpact, repay
from local.stack import LocalStack, wait_for
from tests.sandboxes.iimmpact import IimmpactSandbox
from tests.sandboxes.repay import RepaySandbox

QUEUE = "IimmpactQueue"
REPAY_QUEUE = "RepayQueue"
BUCKET = "EvidenceBucket"
TABLE = "DisputesTable"


@dataclass(frozen=True)
class Filing:
    """One dispute of the demo: its record's `reference`, the status it should end in, how it is filed."""

    reference: str
    expected: str
    file: Callable[[LocalStack], None]


def _iimmpact_message(body: dict[str, Any]) -> Callable[[LocalStack], None]:
    def file(stack: LocalStack) -> None:
        stack.send_message(QUEUE, json.dumps(body))

    return file


def _upload(stack: LocalStack, key: str, body: bytes, content_type: str) -> None:
    stack.client("s3").put_object(Bucket=stack.ref(BUCKET), Key=key, Body=body, ContentType=content_type)


def _repay_command(stack: LocalStack) -> None:
    # Evidence first: the command only names it.
    _upload(stack, "repay/D-77/cmd1/receipt.pdf", samples.pdf("Receipt for deal D-77: 1000 paid"), "application/pdf")
    command = {
        "deal_id": "D-77",
        "new_amount": "1000",
        "evidence": [{"key": "repay/D-77/cmd1/receipt.pdf", "content_type": "application/pdf"}],
    }
    stack.send_message(REPAY_QUEUE, json.dumps(command))


def _repay_upload(stack: LocalStack) -> None:
    folder = "repay/D-78/case1"
    _upload(stack, f"{folder}/receipt.png", samples.png(), "image/png")
    # A Cyrillic name: Repay takes Latin names only, so the worker transliterates it.
    _upload(stack, f"{folder}/Квитанция №1.pdf", samples.pdf("Bank statement, deal D-78"), "application/pdf")
    # Written last: its notification files the dispute with whatever the folder holds by then.
    _upload(stack, f"{folder}/dispute.json", json.dumps({"new_amount": "250.5"}).encode(), "application/json")


FILINGS = [
    Filing("T-1001", "submitted", _iimmpact_message({"trxid": "T-1001", "user_email": ["buyer@example.com"]})),
    # The sandbox answers Failed: refunded automatically.
    Filing("REFUNDED-1", "rejected", _iimmpact_message({"trxid": "REFUNDED-1"})),
    Filing("D-77", "submitted", _repay_command),
    Filing("D-78", "submitted", _repay_upload),
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
    # Powertools warns on every API answer that published no metric (a lookup); pytest ignores it too.
    warnings.filterwarnings("ignore", "No application metrics to publish")
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
    with (
        IimmpactSandbox() as sandbox,
        RepaySandbox() as repay_sandbox,
        LocalStack(providers=[iimmpact(sandbox), repay(repay_sandbox)]) as stack,
    ):
        print(f"embedded AWS (moto)  {stack.endpoint_url}", file=out)
        print(f"IIMMPACT sandbox     {sandbox.base_url}", file=out)
        print(f"Repay sandbox        {repay_sandbox.base_url}", file=out)
        print(f"table                {stack.ref(TABLE)}", file=out)
        print(f"evidence bucket      {stack.ref(BUCKET)}", file=out)
        for queue in (QUEUE, REPAY_QUEUE):
            print(f"queue                {stack.ref(queue)}", file=out)
        for poller in stack.pollers:
            source = poller.source
            print(
                f"function             {poller.function.name} <- {source.queue} "
                f"(batch {source.batch_size}, window {source.batching_window_seconds:g} s)",
                file=out,
            )
        routes = [route.route_key for spec in stack.model.functions.values() for route in spec.http_routes]
        print(f"HTTP API             {', '.join(routes)}", file=out)
        api = ApiFiling()
        for filing in FILINGS:
            filing.file(stack)
        api.file(stack)
        references = [filing.reference for filing in FILINGS] + ([api.reference] if api.filed else [])
        print(f"\nfiled {len(references)} disputes; waiting for their records...", file=out)
        records = wait_for(lambda: _settled(stack, references), WAIT_SECONDS) or _records(stack)
        api.follow(stack, WAIT_SECONDS)
    elapsed = time.monotonic() - started
    for reference in references:
        # The API's dispute as GET /disputes/{dispute_id} answers it; the others as stored.
        record = _public(api.record if reference == api.reference and api.record else records.get(reference))
        print(f"\n{reference}:", file=out)
        print(_masked(json.dumps(record, indent=2, default=_number)), file=out)
    if not api.ready:
        print("\nHTTP API: api not ready (ApiFunction answers nothing yet); its dispute is skipped", file=out)
    print(file=out)
    return _summary(records, api, out, elapsed)


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


def _summary(records: dict[str, dict[str, Any]], api: ApiFiling, out: TextIO, elapsed: float) -> bool:
    header = ("reference", "provider", "source", "status", "expected", "attempts", "http", "provider_case_id", "")
    rows: list[tuple[str, ...]] = [header]
    ok = True
    for filing in [*FILINGS, api]:
        record = records.get(filing.reference, {})
        status = str(record.get("status", "(none)"))
        good = api.ok if filing is api else status == filing.expected
        ok = ok and good
        rows.append(
            (
                filing.reference,
                *(str(record.get(name, "")) for name in ("provider", "source")),
                status,
                filing.expected,
                *(str(record.get(name, "")) for name in ("attempts", "provider_http_status", "provider_case_id")),
                (api.outcome if filing is api else "") or ("ok" if good else "UNEXPECTED"),
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
