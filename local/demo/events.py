"""What a subscriber to the service's bus saw: the demo subscribes as an upstream team would (a rule
on `source: dispute-gateway`, an SQS queue as its target), then prints each dispute's `Dispute
Changed` events in order and checks them against the record's history: one event per change.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, TextIO

from local.demo.report import masked
from local.stack import LocalStack

RULE = "demo-subscriber"
# As a subscriber writes it, from the contract (section 10). Not imported from the publisher's
# module: that would create its Logger now, bound to this terminal, before the demo sends the
# functions' log lines to a file.
PATTERN = {"source": ["dispute-gateway"], "detail-type": ["Dispute Changed"]}
_SHORT_ID = 8
Change = tuple[str, str | None, str]  # status, resolution, updated_at


def subscribe(stack: LocalStack) -> str:
    """The subscriber's queue URL."""
    return stack.subscribe(RULE, PATTERN)


def changes_by_dispute(events: list[dict[str, Any]]) -> dict[str, list[Change]]:
    """Each dispute's changes in the order they were made (its `updated_at`), each once: delivery is
    at least once, and a retried batch publishes a change again under a new event id."""
    changes: dict[str, set[Change]] = defaultdict(set)
    for event in events:
        detail = event["detail"]
        changes[detail["dispute_id"]].add((detail["status"], detail["resolution"], detail["updated_at"]))
    return {dispute_id: sorted(seen, key=lambda change: change[2]) for dispute_id, seen in changes.items()}


def expected_changes(record: dict[str, Any]) -> list[tuple[str, str | None]]:
    """The changes the record's history holds, as its events should tell them."""
    return [(str(entry["status"]), entry.get("resolution")) for entry in record.get("history", [])]


def all_published(records: dict[str, dict[str, Any]], changes: dict[str, list[Change]]) -> bool:
    return all(
        [(status, resolution) for status, resolution, _ in changes.get(record["dispute_id"], [])]
        == expected_changes(record)
        for record in records.values()
    )


def print_events(
    references: list[str], records: dict[str, dict[str, Any]], changes: dict[str, list[Change]], out: TextIO
) -> bool:
    """One line per dispute: its events in order. False when one does not match its history."""
    print(f"\nDispute Changed events, as the subscriber's queue received them (rule {RULE!r}):", file=out)
    matched = True
    for reference in references:
        record = records.get(reference)
        if record is None:
            continue  # a message that never became a dispute (the poison one): nothing to publish
        seen = changes.get(record["dispute_id"], [])
        told = [(status, resolution) for status, resolution, _ in seen]
        steps = " -> ".join(f"{status}/{resolution}" if resolution else status for status, resolution in told)
        verdict = "" if told == expected_changes(record) else "   UNEXPECTED: the history says otherwise"
        matched = matched and not verdict
        print(f"  {record['dispute_id'][:_SHORT_ID]}  {masked(reference):<24} {steps or '(none)'}{verdict}", file=out)
    return matched
