"""The folder `make serve` leaves for another terminal: an env file of the stack's names, and the
sample evidence the banner's commands upload.

It is named after the HTTP API's port, `$TMPDIR/dispute-gateway-serve-<port>/`, so that the README
can name it for the default port. Only the stack that holds the port writes there, so two stacks
never share it; one left behind by a stack that was killed is taken over. It goes when the stack
stops.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path


class FolderTaken(Exception):
    pass


def folder_for(port: int) -> Path:
    return Path(tempfile.gettempdir()) / f"dispute-gateway-serve-{port}"


@contextlib.contextmanager
def stack_folder(port: int) -> Iterator[Path]:
    """The port's folder, empty and this user's alone, until the stack stops."""
    path = folder_for(port)
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        _take_over(path)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _take_over(path: Path) -> None:
    # The temporary directory is shared by every user: a name known in advance could be someone
    # else's folder, or a link to elsewhere, planted to catch what this stack writes.
    status = path.lstat()
    if not stat.S_ISDIR(status.st_mode) or status.st_uid != os.getuid():
        raise FolderTaken(f"{path} is not a folder of yours: remove it, or choose another --port")
    for entry in path.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    path.chmod(0o700)
