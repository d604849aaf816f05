"""What the generating scripts share: write a document generated from the code, or with --check
fail when the committed one differs, so a document cannot drift from the code it describes."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def as_json(document: Any) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_or_check(path: Path, render: Callable[[], str], script: str) -> int:
    document = render()
    where = path.relative_to(ROOT)
    if "--check" in sys.argv:
        if not path.exists() or path.read_text(encoding="utf-8") != document:
            print(f"{where} is stale: run .venv/bin/python scripts/{script}", file=sys.stderr)
            return 1
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(document, encoding="utf-8")
    print(f"wrote {where}")
    return 0
