"""The API keeps the word of docs/openapi.json: Schemathesis, an OpenAPI-driven fuzzer, against the
local HTTP API on a free port, every check on and every phase (coverage, fuzzing, stateful).

It fails on a server error, a status code or a body the document does not list, a request the
document allows that the server refuses, and one it forbids that the server takes. The seed is
fixed so that a failure reproduces; SCHEMATHESIS_SEED=<n> (or `random`) searches elsewhere.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from local.stack import LocalStack
from tests.conftest import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

SCHEMATHESIS = Path(sys.executable).parent / "st"
CONFIG = Path(__file__).with_name("schemathesis.toml")
DEFAULT_SEED = "20261130"


def test_the_api_answers_as_its_openapi_document_says() -> None:
    seed = os.environ.get("SCHEMATHESIS_SEED", DEFAULT_SEED)
    with LocalStack(poll=False, http_port=0) as stack:
        command = [
            str(SCHEMATHESIS),
            "--config-file",
            str(CONFIG),
            "--no-color",
            "run",
            str(ROOT / "docs" / "openapi.json"),
            "--url",
            stack.api_url,
            "--checks",
            "all",
            "--workers",
            "2",
            *([] if seed == "random" else ["--seed", seed]),
        ]
        # The hooks keep generated valid bodies valid where the document cannot say how (see there).
        environment = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.e2e.schemathesis_hooks"}
        result = subprocess.run(command, capture_output=True, text=True, timeout=800, cwd=ROOT, env=environment)
    assert result.returncode == 0, result.stdout[-30000:] + result.stderr[-5000:]
    assert "No issues found" in result.stdout
