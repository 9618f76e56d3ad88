"""The environment of the processes meshplane starts (the xDS process, its workers), and how they stop.

A child started with ``child_env()`` knows its parent's pid (``MESHPLANE_PARENT_PID``) and stops
(``stop_with_parent``) when that parent is gone: a parent killed with SIGKILL cannot stop its children, and an orphaned
xDS process would keep serving stale config from the port a restarted server needs.
``wake_main_thread_on_signals`` makes a stop signal reach its handler even when another thread takes it.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time

PARENT_ENV = "MESHPLANE_PARENT_PID"

#: Sent to the main thread only, to wake it (its handler does nothing): see wake_main_thread_on_signals.
WAKE_SIGNAL = signal.SIGURG

_wake_fds: tuple[int, int] | None = None


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


def wake_main_thread_on_signals() -> None:
    """Make each signal that has a Python handler run that handler at once, even while the main
    thread sleeps in an untimed wait (as a Granian worker does, in ``threading.Event.wait()``).

    Why: CPython runs Python signal handlers in the main thread only, when it next runs bytecode or
    a blocking call there fails with EINTR. A signal sent to a process may be taken by any of its
    threads. When two different signals arrive together (Ctrl-C sends SIGINT to the whole process
    group, and the parent sends its SIGTERM a moment later), the kernel wakes a second thread for
    the second one, and that thread can take both: the main thread's wait resumes as if nothing
    happened and the handlers never run (the worker then "refused to gracefully stop" and was
    killed 10 s later). Here the C-level handler also writes each signal's number to a pipe
    (``signal.set_wakeup_fd``); a daemon thread reads it and sends ``WAKE_SIGNAL`` to the main
    thread (a thread-directed signal: no other thread can take it), whose EINTR makes CPython run
    every handler that is due.

    Call it from the main thread. A forked child inherits the pipe (its signals then wake the
    parent's main thread, which finds nothing to do) and should call it again to get its own.
    """
    global _wake_fds
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)  # set_wakeup_fd's requirement: a full pipe must not block a handler
    main = threading.get_ident()
    signal.signal(WAKE_SIGNAL, lambda signum, frame: None)
    signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    if _wake_fds is not None:  # an earlier pipe (this process's, or inherited across fork)
        for fd in _wake_fds:
            os.close(fd)
    _wake_fds = (read_fd, write_fd)

    def relay() -> None:
        while True:
            try:
                numbers = os.read(read_fd, 256)
            except OSError:  # closed by a later call: that call's thread took over
                return
            if not numbers:
                return
            if any(number != WAKE_SIGNAL for number in numbers):
                try:
                    signal.pthread_kill(main, WAKE_SIGNAL)
                except OSError:  # the main thread is gone: the process is ending
                    return

    threading.Thread(target=relay, name="meshplane-signal-wake", daemon=True).start()


def exit_now(code: int = 0) -> None:
    """End this process after a clean stop without the interpreter's teardown.

    Tearing down every module of a process that imported gRPC, protobuf and the translator takes
    0.3-1 s of CPU (more on a busy machine), all of it after the work is saved: it would take most
    of the 3 s in which Ctrl-C must stop the server. Log handlers and standard streams are flushed
    first; callers have closed their databases and children.
    """
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed, or a broken pipe: nothing more to do with it
            pass
    os._exit(code)
