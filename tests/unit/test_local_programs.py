"""The local programs send the functions' log lines where the user chose (a file of the run's own by
default): that only works if no function Logger exists before they redirect stdout. And they find
the outcome trackers in the template, by what they read, not by name."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from local import logs
from local.aws.template import load_model
from local.logs import open_log
from local.serve.__main__ import _parser
from local.serve.files import FolderTaken, folder_for, stack_folder
from local.trackers import CHECK_INTERVAL_VARIABLE, check_interval_overrides, tracker_functions
from tests.conftest import ROOT


@pytest.mark.parametrize("program", ["local.demo.__main__", "local.serve.__main__"])
def test_importing_a_program_creates_no_logger_yet(program: str) -> None:
    probe = f"import sys, {program}; print('dispute_gateway.observability' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_a_run_never_truncates_another_runs_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    log, path = open_log("serve")
    log.close()
    # Named by the program, the time and the process: another process or another second, another file.
    assert path.parent == tmp_path and path.name.startswith("dispute-gateway-serve-")
    assert path.name.endswith(f"-{os.getpid()}.log")
    # Should a name come up twice, the file is refused rather than emptied.
    monkeypatch.setattr(logs, "default_log_path", lambda program: path)
    with pytest.raises(FileExistsError):
        open_log("serve")
    assert json.loads(path.read_text())["message"] == "serve started"


def test_a_named_log_is_appended_to_each_run_behind_its_own_first_line(tmp_path: Path) -> None:
    named = tmp_path / "mine.log"
    named.write_text("an earlier run's line\n")
    for _ in range(2):
        log, path = open_log("serve", named)
        log.close()
    assert path == named
    lines = named.read_text().splitlines()
    assert lines[0] == "an earlier run's line"
    assert [json.loads(line)["message"] for line in lines[1:]] == ["serve started", "serve started"]


def test_every_outcome_tracker_of_the_template_checks_every_open_dispute_locally() -> None:
    model = load_model()
    # In the template every scheduled function is a provider's outcome tracker.
    scheduled = {function for function, spec in model.functions.items() if spec.schedules}
    assert scheduled and set(tracker_functions(model)) == scheduled
    assert check_interval_overrides(0) == {function: {CHECK_INTERVAL_VARIABLE: "0"} for function in scheduled}


def test_serve_checks_every_open_dispute_every_few_seconds_unless_told_otherwise() -> None:
    defaults = _parser().parse_args([])
    assert (defaults.outcome_check_interval, defaults.schedule_period) == (0, 5)
    chosen = _parser().parse_args(["--outcome-check-interval", "900", "--schedule-period", "60"])
    assert (chosen.outcome_check_interval, chosen.schedule_period) == (900, 60)


def test_a_stacks_folder_is_taken_over_when_left_behind_and_refused_when_not_a_folder_of_ours(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    left = folder_for(3000)
    left.mkdir()
    (left / "env").write_text("API=http://127.0.0.1:3000\n")  # from a stack that was killed
    with stack_folder(3000) as folder:
        assert folder == left and list(folder.iterdir()) == []
        assert folder.stat().st_mode & 0o777 == 0o700
    assert not left.exists()

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    folder_for(3001).symlink_to(elsewhere)
    with pytest.raises(FolderTaken, match="not a folder of yours"), stack_folder(3001):
        pass
    assert elsewhere.exists()
