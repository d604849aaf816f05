"""Writes (or with --check, verifies) docs/events/dispute-changed.json: the JSON schema of the
`Dispute Changed` event, generated from the publisher's model (CONTRACT section 10).

    .venv/bin/python scripts/event_schema.py [--check]
"""

from __future__ import annotations

import os
import sys

from generated import ROOT, as_json, write_or_check

DOCUMENT = ROOT / "docs" / "events" / "dispute-changed.json"


def render() -> str:
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    sys.path.insert(0, str(ROOT / "layers" / "dispute_gateway"))
    from dispute_gateway.events import event_schema

    return as_json(event_schema())


if __name__ == "__main__":
    sys.exit(write_or_check(DOCUMENT, render, "event_schema.py"))
