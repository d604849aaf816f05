"""`python -m local.serve` (make serve) as a developer runs it: a subprocess that prints where things
are, files disputes with the provider it was pointed at, and leaves no process behind."""

from __future__ import annotations

import argparse
import base64
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

import pytest
import requests

from local.serve.real_providers import ProviderConfigError, add_arguments, real_providers
from local.stack import wait_for
from tests.conftest import ROOT
from tests.sandboxes.iimmpact import IimmpactSandbox

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

READY_LINE = "Ctrl-C stops everything."
START_SECONDS = 30
STOP_SECONDS = 20
# Credentials of the "real" IIMMPACT: a sandbox that knows other ones than the local default.
REAL_KEY = "iimm_real_key"
REAL_SECRET = base64.b64encode(b"another secret of 32 bytes......").decode()


def _lines(stream: IO[str]) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line.rstrip("\n"))

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _read_until(lines: queue.Queue[str], last: str, timeout: float) -> list[str]:
    read: list[str] = []
    deadline = time.monotonic() + timeout
    while not read or read[-1] != last:
        try:
            read.append(lines.get(timeout=max(0.0, deadline - time.monotonic())))
        except queue.Empty:
            raise AssertionError("local.serve printed no banner:\n" + "\n".join(read)) from None
    return read


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(child) for child in text.split()]


def _gone(pid: int) -> bool:
    """Exited: no such process, or a zombie no one reaped yet (it runs nothing)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return bool(re.search(r"^State:\s+Z", status, re.MULTILINE))


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads child processes from /proc")
def test_serve_files_with_the_provider_it_is_given_and_stops_cleanly(tmp_path: Path) -> None:
    log_file = tmp_path / "serve.log"
    with IimmpactSandbox(REAL_KEY, REAL_SECRET) as provider:
        environment = {
            **os.environ,
            "IIMMPACT_BASE_URL": provider.base_url,
            "IIMMPACT_API_KEY": REAL_KEY,
            "IIMMPACT_HMAC_SECRET": REAL_SECRET,
        }
        command = [sys.executable, "-m", "local.serve", "--port", "0", "--batching-window", "0"]
        serve = subprocess.Popen(
            [*command, "--log-file", str(log_file)],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            lines = _lines(serve.stdout)  # type: ignore[arg-type]
            banner = "\n".join(_read_until(lines, READY_LINE, START_SECONDS))
            api = re.search(r"HTTP API\s+(http://127\.0\.0\.1:\d+)", banner)
            assert api is not None, banner
            assert f"REAL provider at {provider.base_url}" in banner
            assert "export AWS_ENDPOINT_URL=http://127.0.0.1:" in banner
            (moto,) = _children(serve.pid)

            dispute_id = _file_and_wait(api.group(1))
            assert provider.reports_for("T-SERVE-1") == 1  # signed with the credentials it was given

            serve.send_signal(signal.SIGINT)
            assert serve.wait(STOP_SECONDS) == 0
        finally:
            if serve.poll() is None:
                serve.kill()
                serve.wait()
    assert "SIGINT: stopped" in "\n".join(_drain(lines))
    assert _gone(moto)
    logged = [json.loads(line) for line in log_file.read_text().splitlines() if line.startswith("{")]
    # The functions' JSON log lines went to the file, each line of the dispute naming it (CONTRACT section 7).
    assert any(entry.get("dispute_id") == dispute_id for entry in logged), logged[-5:]


def _file_and_wait(api: str) -> str:
    request = {"provider": "iimmpact", "trxid": "T-SERVE-1"}
    answer = requests.post(f"{api}/disputes", json=request, timeout=10)
    assert answer.status_code == 202, answer.text
    location = answer.headers["location"]

    def submitted() -> bool:
        return requests.get(f"{api}{location}", timeout=10).json().get("status") == "submitted"

    assert wait_for(submitted, 15)
    return str(answer.json()["dispute_id"])


def _drain(lines: queue.Queue[str]) -> list[str]:
    drained = []
    while not lines.empty():
        drained.append(lines.get())
    return drained


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads processes from /proc")
def test_the_embedded_aws_does_not_outlive_a_killed_parent() -> None:
    script = "import time\nfrom local.aws.embedded import EmbeddedAws\naws = EmbeddedAws()\naws.start()\n"
    script += "print(aws.pid, flush=True)\ntime.sleep(60)\n"
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        moto = int(parent.stdout.readline())
        assert not _gone(moto)
    finally:
        parent.kill()  # SIGKILL: no handler, no atexit, nothing of the parent runs
        parent.wait()
    assert wait_for(lambda: _gone(moto), 10)


# -- choosing real providers, without a stack ------------------------------------------------------
def _choose(argv: list[str], environ: dict[str, str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return dict(real_providers(parser.parse_args(argv), environ))


def test_real_providers_come_from_variables_or_secret_files(tmp_path: Path) -> None:
    assert _choose([], {}) == {}
    environ = {
        "IIMMPACT_BASE_URL": "https://api.iimmpact.com/",
        "IIMMPACT_API_KEY": "k",
        "IIMMPACT_HMAC_SECRET": "AAAA",
    }
    wiring = _choose([], environ)["iimmpact"]
    assert (wiring.base_url, dict(wiring.secret_value)) == (
        "https://api.iimmpact.com",
        {"api_key": "k", "hmac_secret": "AAAA"},
    )
    # The functions share the process: the credentials leave its environment.
    assert environ == {"IIMMPACT_BASE_URL": "https://api.iimmpact.com/"}

    secret = tmp_path / "repay.json"
    secret.write_text(json.dumps({"api_key": "r", "origin": "shop.example"}))
    wiring = _choose(["--repay-url", "https://repay.cx", "--repay-secret-file", str(secret)], {})["repay"]
    assert (wiring.base_url_variable, wiring.secret_variable) == ("REPAY_BASE_URL", "REPAY_SECRET_ID")
    assert dict(wiring.secret_value) == {"api_key": "r", "origin": "shop.example"}


@pytest.mark.parametrize(
    ("argv", "environ", "complaint"),
    [
        ([], {"REPAY_BASE_URL": "https://repay.cx"}, "no credentials"),
        ([], {"REPAY_API_KEY": "r"}, "no base URL"),
        (["--iimmpact-url", "ftp://x"], {"IIMMPACT_API_KEY": "k", "IIMMPACT_HMAC_SECRET": "AAAA"}, "not a base URL"),
        (["--iimmpact-url", "https://x"], {"IIMMPACT_API_KEY": "k", "IIMMPACT_HMAC_SECRET": "not base64!"}, "Base64"),
        (["--iimmpact-url", "https://x"], {"IIMMPACT_API_KEY": "k"}, "lack hmac_secret"),
    ],
)
def test_half_a_real_provider_is_refused(argv: list[str], environ: dict[str, str], complaint: str) -> None:
    with pytest.raises(ProviderConfigError, match=complaint):
        _choose(argv, environ)
