"""The local programs send the functions' log lines where the user chose (a file by default):
that only works if no function Logger exists before they redirect stdout."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.parametrize("program", ["local.demo.__main__", "local.serve.__main__"])
def test_importing_a_program_creates_no_logger_yet(program: str) -> None:
    probe = f"import sys, {program}; print('dispute_gateway.observability' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
