"""The committed OpenAPI document is the one the code generates."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def test_committed_openapi_document_is_current() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "openapi.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
