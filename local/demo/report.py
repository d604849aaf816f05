"""How the demo shows its outcomes: each record in full, then one table row per dispute.

Provider messages can carry e-mail addresses (a provider's refusal may name its support address),
so everything printed goes through `masked`: the service's own mask, `[REDACTED]`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TextIO

from dispute_gateway.redaction import redact

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
    "resolution",
    "provider_state",
    "resolved_amount",
    "resolved_at",
)
HEADER = ("dispute", "reference", "provider", "route", "status", "expected", "", "provider message")
_MESSAGE_WIDTH = 60
_SHORT_ID = 8


@dataclass(frozen=True)
class Row:
    """One dispute's line; `problems` are what went wrong besides its status (empty when fine)."""

    reference: str
    provider: str
    route: str  # api, sqs or s3: how it was filed
    status: str  # the status, and for a submitted dispute its resolution: "submitted/won"
    expected: str
    dispute_id: str = ""
    message: str = ""
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status == self.expected and not self.problems

    def cells(self) -> tuple[str, ...]:
        verdict = "ok" if self.ok else "UNEXPECTED"
        return (
            self.dispute_id[:_SHORT_ID] or "-",
            self.reference,
            self.provider,
            self.route,
            self.status,
            self.expected,
            verdict,
            _truncated(masked(self.message)),
        )


def row_from_record(
    reference: str, provider: str, route: str, expected: str, record: dict[str, Any] | None, problems: list[str]
) -> Row:
    record = record or {}
    if record and record.get("source") != route:
        problems = [*problems, f"recorded as filed by {record.get('source')}"]
    return Row(
        reference=reference,
        provider=provider,
        route=route,
        status=outcome(record),
        expected=expected,
        dispute_id=str(record.get("dispute_id", "")),
        message=provider_says(record),
        problems=tuple(problems),
    )


def outcome(record: dict[str, Any]) -> str:
    """The status, and what became of a submitted dispute: "submitted/won"."""
    status = str(record.get("status", "(no record)"))
    return f"{status}/{record['resolution']}" if record.get("resolution") else status


def provider_says(record: dict[str, Any]) -> str:
    """The provider's message; else our own error; else its case id (an acceptance may have no message)."""
    if record.get("provider_message"):
        return str(record["provider_message"])
    if record.get("error"):
        return f"error: {record['error']}"
    if record.get("provider_case_id"):
        return f"case {record['provider_case_id']}"
    return ""


def print_record(title: str, record: dict[str, Any] | None, out: TextIO) -> None:
    """A dispute record's public fields; anything else (a dead letter) as it is."""
    shown = record
    if record is not None and "dispute_id" in record:
        shown = {name: record[name] for name in RECORD_FIELDS if name in record}
    print(f"\n{title}:", file=out)
    print(masked(json.dumps(shown, indent=2, default=_number, ensure_ascii=False)), file=out)


def print_table(rows: list[Row], out: TextIO) -> None:
    lines = [HEADER, *(row.cells() for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER))]
    for line in lines:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip(), file=out)
    for row in rows:
        for problem in row.problems:
            print(f"  {row.reference}: {masked(problem)}", file=out)


def masked(text: str) -> str:
    """E-mail addresses hidden with the service's own mask, as in its log lines and API answers."""
    return redact(text)


def _truncated(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MESSAGE_WIDTH else text[: _MESSAGE_WIDTH - 1] + "…"


def _number(value: Any) -> Any:
    # DynamoDB numbers come back as Decimal.
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"cannot print {type(value).__name__}")
