"""The committed documents generated from the code (the OpenAPI document, the event's schema) are
the ones the code generates now."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.parametrize("script", ["openapi.py", "event_schema.py"])
def test_committed_document_is_current(script: str) -> None:
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / script), "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
