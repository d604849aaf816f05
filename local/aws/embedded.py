"""The embedded AWS: moto's server on loopback, in its own process or in a thread of this one.

Its own process is the default: the functions then share no interpreter (nor its GIL) with
the emulated services, as on AWS, and timings are not skewed by moto's own work. The child
never outlives this process, however it ends (see `local/aws/moto_child.py`).
"""

from __future__ import annotations

import select
import subprocess
import sys
import time
from pathlib import Path

import requests
from moto.server import ThreadedMotoServer

from local.aws import moto_fixes

_START_TIMEOUT_SECONDS = 30
_STOP_TIMEOUT_SECONDS = 10
_CHILD = Path(__file__).with_name("moto_child.py")


class EmbeddedAws:
    def __init__(self, *, separate_process: bool = True) -> None:
        self._separate_process = separate_process
        self._process: subprocess.Popen[bytes] | None = None
        self._thread_server: ThreadedMotoServer | None = None
        self.endpoint_url = ""

    def start(self) -> str:
        if self._separate_process:
            # Its stdin is a pipe held by this process only: see local/aws/moto_child.py.
            self._process = subprocess.Popen(
                [sys.executable, str(_CHILD)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
            self.endpoint_url = f"http://127.0.0.1:{self._child_port()}"
            self._wait_until_ready()
        else:
            moto_fixes.apply()
            self._thread_server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            self._thread_server.start()
            host, port = self._thread_server.get_host_and_port()
            self.endpoint_url = f"http://{host}:{port}"
        # moto's backends are process-wide: an earlier stack in that process may have left state.
        requests.post(f"{self.endpoint_url}/moto-api/reset", timeout=5).raise_for_status()
        return self.endpoint_url

    @property
    def pid(self) -> int | None:
        """The moto server's process id, when it runs in its own process."""
        return self._process.pid if self._process is not None else None

    def stop(self) -> None:
        if self._process is not None:
            process, self._process = self._process, None
            self._end(process)
        if self._thread_server is not None:
            self._thread_server.stop()
            self._thread_server = None

    @staticmethod
    def _end(process: subprocess.Popen[bytes]) -> None:
        """Closing its stdin stops the child; a signal only if it does not."""
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                pipe.close()
        try:
            process.wait(timeout=_STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.terminate()
            try:
                process.wait(timeout=_STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def _child_port(self) -> int:
        assert self._process is not None and self._process.stdout is not None
        ready, _, _ = select.select([self._process.stdout], [], [], _START_TIMEOUT_SECONDS)
        line = self._process.stdout.readline() if ready else b""
        if not line.strip().isdigit():
            code = self._process.poll()
            self.stop()
            raise RuntimeError(f"moto server did not start (exit code {code})")
        return int(line)

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(f"moto server exited at start (code {self._process.returncode})")
            try:
                requests.get(f"{self.endpoint_url}/moto-api/", timeout=1)
                return
            except requests.RequestException:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"moto server did not start within {_START_TIMEOUT_SECONDS} s")
