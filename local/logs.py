"""Where a local program's function logs go: a file of each run's own, never truncated by another run.

Several stacks can run on one machine at once (a `make serve` per port, a `make demo`, the tests),
so the default file is new for each run: its name holds the time and the process id, and it is
created exclusively. A file the user names is appended to. Either way the run's first line says
which run it is (a JSON line, like the functions' own), so that a reader can tell runs apart.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO


def default_log_path(program: str, now: datetime | None = None) -> Path:
    """A file name no other run uses: the program, the time to the second, this process's id."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return Path(tempfile.gettempdir()) / f"dispute-gateway-{program}-{stamp}-{os.getpid()}.log"


def open_log(program: str, path: Path | None = None) -> tuple[TextIO, Path]:
    """The log file of this run and its path: `path` appended to, or a new default file."""
    if path is None:
        path = default_log_path(program)
        # "x": a file of that name already there belongs to another run, which must keep it.
        log = path.open("x", encoding="utf-8")
    else:
        log = path.open("a", encoding="utf-8")
    started = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    header = {"level": "INFO", "message": f"{program} started", "pid": os.getpid(), "timestamp": started}
    log.write(json.dumps(header) + "\n")
    log.flush()
    return log, path
