"""The embedded AWS: moto's server on loopback, in its own process or in a thread of this one.

Its own process is the default: the functions then share no interpreter (nor its GIL) with
the emulated services, as on AWS, and timings are not skewed by moto's own work.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import requests
from moto.server import ThreadedMotoServer

_START_TIMEOUT_SECONDS = 30


class EmbeddedAws:
    def __init__(self, *, separate_process: bool = True) -> None:
        self._separate_process = separate_process
        self._process: subprocess.Popen[bytes] | None = None
        self._thread_server: ThreadedMotoServer | None = None
        self.endpoint_url = ""

    def start(self) -> str:
        if self._separate_process:
            port = _free_port()
            self._process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            self.endpoint_url = f"http://127.0.0.1:{port}"
            self._wait_until_ready()
        else:
            self._thread_server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            self._thread_server.start()
            host, port = self._thread_server.get_host_and_port()
            self.endpoint_url = f"http://{host}:{port}"
        # moto's backends are process-wide: an earlier stack in that process may have left state.
        requests.post(f"{self.endpoint_url}/moto-api/reset", timeout=5).raise_for_status()
        return self.endpoint_url

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        if self._thread_server is not None:
            self._thread_server.stop()
            self._thread_server = None

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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
