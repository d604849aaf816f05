"""What `make serve` tells a person to type works when typed: the banner's commands, and the README's
local examples, run as they are by bash (with the AWS CLI when the machine has one, else
`tests/e2e/aws_cli.py` standing in for it) against two `local.serve` processes at once, each with
its own log file; a deal the sandbox settles shows as won within the banner's promise, and an
outage's failed dispute is dead-lettered and redriven into a filed one.

The only change made to a command: the README's examples name the default port's folder
(`dispute-gateway-serve-3000`), and these stacks run on free ports, so the port in that one path
is this stack's. Each command runs in a folder laid out as a clone (`.venv/bin/python`,
`scripts/`), as the README's readers run them.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from local.stack import wait_for
from tests.conftest import ROOT
from tests.e2e.test_serve import READY_LINE, START_SECONDS, STOP_SECONDS, _lines, _read_until

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(300),
    pytest.mark.skipif(not (shutil.which("bash") and shutil.which("curl")), reason="needs bash and curl"),
]

README_PORT = 3000
README_FOLDER = f"dispute-gateway-serve-{README_PORT}"
MARK = "<!-- tests/e2e/test_serve_commands.py: "
# The banner's examples: each its own transaction, none refused as a duplicate.
EXAMPLES = {"T-1002-api": "iimmpact", "T-1002": "iimmpact", "D-2": "repay", "D-2-upload": "repay"}
SETTLED_DEAL = "D-2"
# How long the schedule may take past its period: a tracker run, the stream, the HTTP round trip.
OUTCOME_SLACK_SECONDS = 10
STEP_SECONDS = 60
_NOT_PASSED = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL")


@dataclass
class Served:
    process: subprocess.Popen[str]
    lines: Any
    banner: str = ""

    @property
    def api(self) -> str:
        found = re.search(r"^  API=(\S+)$", self.banner, re.MULTILINE)
        assert found is not None, self.banner
        return found.group(1)

    @property
    def port(self) -> int:
        return int(self.api.rsplit(":", 1)[1])

    @property
    def log_file(self) -> Path:
        found = re.search(r"function logs\s+(\S+) \(JSON lines\)", self.banner)
        assert found is not None, self.banner
        return Path(found.group(1))

    def definitions(self) -> str:
        """The banner's variable definitions: the lines from its first assignment to its export."""
        shell = _banner_shell(self.banner)
        end = next(n for n, line in enumerate(shell) if line.startswith("export AWS_ENDPOINT_URL="))
        return "\n".join(shell[: end + 1])

    def commands(self) -> list[str]:
        shell = _banner_shell(self.banner)
        end = next(n for n, line in enumerate(shell) if line.startswith("export AWS_ENDPOINT_URL="))
        return [line for line in shell[end + 1 :] if line]


def _banner_shell(banner: str) -> list[str]:
    """The indented lines after "Try it", as typed (blank lines kept as paragraph breaks)."""
    tried = banner.split("\nTry it", 1)[1].split(f"\n{READY_LINE}", 1)[0]
    shell = [line[2:] if line.startswith("  ") else "" for line in tried.splitlines()]
    first = next(n for n, line in enumerate(shell) if line)
    return shell[first:]


def _readme_block(label: str) -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    after = readme.split(f"{MARK}{label}", 1)[1]
    return after.split("```bash\n", 1)[1].split("\n```", 1)[0].splitlines()


def _steps(commands: list[str]) -> list[str]:
    """The commands cut where a comment starts after a command: one step per example."""
    steps: list[list[str]] = []
    for line in commands:
        starts = line.startswith("#") and (not steps or not steps[-1][-1].startswith("#"))
        if starts or not steps:
            steps.append([])
        steps[-1].append(line)
    return ["\n".join(step) for step in steps]


@pytest.fixture
def shell_environment(tmp_path: Path) -> Iterator[tuple[dict[str, str], Path]]:
    """The environment and folder the commands run in: a private $TMPDIR shared with the stacks,
    a clone's `.venv/bin/python` and `scripts/`, and an `aws` command."""
    temporary = tmp_path / "tmp"
    clone = tmp_path / "clone"
    tools = tmp_path / "bin"
    for folder in (temporary, clone / ".venv" / "bin", tools):
        folder.mkdir(parents=True)
    # A link to the interpreter would lose its environment (Python finds it beside the link).
    _script(clone / ".venv" / "bin" / "python", f'exec {shlex.quote(sys.executable)} "$@"')
    (clone / "scripts").symlink_to(ROOT / "scripts")
    if shutil.which("aws") is None:
        _script(tools / "aws", f'exec {shlex.quote(sys.executable)} {ROOT / "tests" / "e2e" / "aws_cli.py"} "$@"')
    # What the banner exports must be what the AWS CLI uses: no profile, no other endpoint.
    environment = {name: value for name, value in os.environ.items() if not name.startswith(_NOT_PASSED)}
    environment.update(TMPDIR=str(temporary), PATH=f"{tools}{os.pathsep}{os.environ['PATH']}")
    yield environment, clone


def _script(path: Path, body: str) -> None:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def _start(arguments: list[str], environment: dict[str, str]) -> Served:
    command = [sys.executable, "-m", "local.serve", "--port", "0", *arguments]
    process = subprocess.Popen(
        command, cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    return Served(process, _lines(process.stdout))  # type: ignore[arg-type]


def _stop(served: Served) -> None:
    if served.process.poll() is None:
        served.process.send_signal(signal.SIGINT)
        try:
            served.process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            served.process.kill()
            served.process.wait()


def _run(script: str, environment: dict[str, str], folder: Path) -> str:
    result = subprocess.run(
        ["bash", "-c", f"set -euo pipefail\n{script}"],
        cwd=folder,
        env=environment,
        capture_output=True,
        text=True,
        timeout=STEP_SECONDS,
    )
    assert result.returncode == 0, f"{script}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    return result.stdout


def _records(api: str, reference: str) -> list[dict[str, Any]]:
    answer = requests.get(f"{api}/disputes", params={"reference": reference}, timeout=10)
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def _one(api: str, reference: str) -> dict[str, Any]:
    found = _records(api, reference)
    assert len(found) == 1, found
    return found[0]


def _submitted(api: str, references: list[str]) -> bool:
    return all([record["status"] for record in _records(api, reference)] == ["submitted"] for reference in references)


def test_two_stacks_and_every_command_the_banner_and_the_readme_give(
    shell_environment: tuple[dict[str, str], Path],
) -> None:
    environment, clone = shell_environment
    (outage_serve,) = _readme_block("the outage's make serve")
    outage_arguments = shlex.split(re.fullmatch(r'make serve SERVE_ARGS="([^"]*)"', outage_serve).group(1))  # type: ignore[union-attr]
    # The banner's stack keeps make serve's schedule and outcome defaults: the banner's promise is theirs.
    first = _start(["--retry-base-delay", "1", "--batching-window", "0"], environment)
    second = _start(outage_arguments, environment)
    try:
        for served in (first, second):
            served.banner = "\n".join(_read_until(served.lines, READY_LINE, START_SECONDS))
        _each_keeps_its_own_log(first, second)
        _the_readme_shows_the_banners_commands(first)
        _the_banners_commands_run_as_pasted(first, environment, clone)
        _the_readme_outage_runs_as_it_is(second, environment, clone)
    finally:
        for served in (first, second):
            _stop(served)
    for served in (first, second):
        assert served.process.returncode == 0
        assert not (Path(environment["TMPDIR"]) / f"dispute-gateway-serve-{served.port}").exists()
        assert served.log_file.exists()  # kept for reading after the stack is gone


def _each_keeps_its_own_log(first: Served, second: Served) -> None:
    assert first.log_file != second.log_file
    for served in (first, second):
        header = json.loads(served.log_file.read_text().splitlines()[0])
        assert (header["message"], header["pid"]) == ("serve started", served.process.pid)


def _the_readme_shows_the_banners_commands(served: Served) -> None:
    source = f'source "${{TMPDIR:-/tmp}}/{README_FOLDER}/env"'
    assert _readme_block("the banner's commands") == [source, *served.commands()]
    # The env file holds what the banner defines.
    folder = re.search(r"^SAMPLES=(\S+)$", served.definitions(), re.MULTILINE).group(1)  # type: ignore[union-attr]
    defined = [line for line in served.definitions().splitlines() if not line.startswith("#")]
    assert [line for line in (Path(folder) / "env").read_text().splitlines() if not line.startswith("#")] == defined


def _the_banners_commands_run_as_pasted(served: Served, environment: dict[str, str], clone: Path) -> None:
    definitions = served.definitions()
    outputs: dict[str, str] = {}
    settled_at = None
    for step in _steps(served.commands()):
        if "/_sandbox/deals/" in step:
            # A person waits for the dispute to be submitted, as the comment says; so does the test.
            assert wait_for(lambda: _submitted(served.api, list(EXAMPLES)), 30), [
                _records(served.api, reference) for reference in EXAMPLES
            ]
            settled_at = time.monotonic()
        outputs[step] = _run(f"{definitions}\n{step}", environment, clone)
    filed, read = (next(out for step, out in outputs.items() if marker in step) for marker in ("POST", "its record"))
    dispute_id = json.loads(filed.splitlines()[0])["dispute_id"]
    assert json.loads(read.splitlines()[0])["dispute_id"] == dispute_id
    assert "Dispute Changed" in next(out for step, out in outputs.items() if "SUBSCRIBER_QUEUE_URL" in step)
    assert "moved 0 messages" in next(out for step, out in outputs.items() if "redrive.py" in step)

    period = float(re.search(r"shows as won/lost within (\d+(?:\.\d+)?) s", served.banner).group(1))  # type: ignore[union-attr]
    assert settled_at is not None

    def won() -> dict[str, Any] | None:
        record = _one(served.api, SETTLED_DEAL)
        return record if record.get("resolution") == "won" else None

    record = wait_for(won, period + OUTCOME_SLACK_SECONDS)
    assert record is not None, _one(served.api, SETTLED_DEAL)
    assert time.monotonic() - settled_at <= period + OUTCOME_SLACK_SECONDS
    assert record["resolved_amount"] == "990.50"
    for reference, provider in EXAMPLES.items():
        assert (_one(served.api, reference)["provider"], _one(served.api, reference)["status"]) == (
            provider,
            "submitted",
        )
    assert requests.get(f"{served.api}/disputes", params={"status": "rejected"}, timeout=10).json()["items"] == []


def _the_readme_outage_runs_as_it_is(served: Served, environment: dict[str, str], clone: Path) -> None:
    block = "\n".join(_readme_block("the outage, run as it is"))
    assert block.count(README_FOLDER) == 1
    output = _run(block.replace(README_FOLDER, f"dispute-gateway-serve-{served.port}"), environment, clone)
    assert "moved 1 message from" in output, output
    record = _one(served.api, "T-3001")
    assert (record["status"], record["attempts"]) == ("submitted", 4)
    assert "failed" in [entry["status"] for entry in record["history"]]
