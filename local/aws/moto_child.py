"""moto's server as a child of the local stack, which it never outlives.

    python local/aws/moto_child.py        # prints its port, then serves until stdin closes

Run as a script (not `-m`), so it needs no particular working directory. It binds port 0
and prints the port it got, so no other process can take the port between a choice and the
bind. It serves until its standard input closes: the parent closes it to stop the server,
and the kernel closes it when the parent dies in any way, even by SIGKILL, so no moto
server is ever left behind.
"""

from __future__ import annotations

import os
import signal
import sys

from moto.server import ThreadedMotoServer
from moto_fixes import apply as apply_moto_fixes  # a sibling module: this file runs as a script


def main() -> None:
    # Ctrl-C in a terminal reaches the whole process group; the parent decides when AWS goes away
    # (after its pollers and functions have stopped using it).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    apply_moto_fixes()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    print(port, flush=True)
    # Nobody reads stdout after the port: a later write could fill the pipe and block.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.stdin.buffer.read()
    # Everything moto holds is in memory and of no use once the parent is gone: no graceful
    # shutdown to wait for (werkzeug's would take up to half a second).
    os._exit(0)


if __name__ == "__main__":
    main()
