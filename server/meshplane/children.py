"""The environment of the processes meshplane starts (the xDS process, its workers).

A child started with ``child_env()`` knows its parent's pid (``MESHPLANE_PARENT_PID``) and stops
(``stop_with_parent``) when that parent is gone: a parent killed with SIGKILL cannot stop its children, and an orphaned
xDS process would keep serving stale config from the port a restarted server needs.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time

PARENT_ENV = "MESHPLANE_PARENT_PID"


def child_env() -> dict[str, str]:
    """Our environment plus ``MESHPLANE_PARENT_PID`` naming this process."""
    return {**os.environ, PARENT_ENV: str(os.getpid())}


def stop_with_parent(parent_pid: int, grace_s: float = 10.0, poll_s: float = 0.5) -> None:
    """Watch (in a daemon thread) for ``parent_pid`` to go away; then SIGTERM this process, and
    leave at once if it is still running ``grace_s`` later. For processes whose parent stops them
    with a signal (API workers and their master, the xDS process and `meshplane serve`, xDS
    workers and their supervisor): if the parent dies without doing so, they stop."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(poll_s)
        logging.getLogger("meshplane").warning("parent process %d is gone; stopping", parent_pid)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(grace_s)
        os._exit(1)

    threading.Thread(target=watch, name="meshplane-parent-watch", daemon=True).start()
