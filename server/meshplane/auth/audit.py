"""The audit log: one JSON line per write and per refused request or stream.

Lines go to the file ``audit_log`` names (opened for appending; every process of the server
appends whole lines with one ``write`` each, so lines of different workers never interleave) or,
when it is empty, to standard output. Fields, in this order: ``time`` (UTC, ISO 8601 with
milliseconds), ``key_id``, ``key_name``, ``source`` (the client's address), ``action``, ``arn``,
``outcome`` (``allowed`` or ``denied``), ``reason`` (the error code and message of a refusal), then
whatever else the caller adds (``status``, ``method``, ``path``, ``protocol`` ...). Secrets never
reach it: callers pass none, and signatures are not recorded.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from typing import Any

from meshplane.config import Config

log = logging.getLogger("meshplane.audit")

FIELDS = ("time", "key_id", "key_name", "source", "action", "arn", "outcome", "reason")

_lock = threading.Lock()
_path: str = ""
_fd: int | None = None
_fd_pid: int | None = None


def configure(config: Config) -> None:
    """Send later records to ``config.audit_log`` (a file path; ``""``: standard output)."""
    global _path, _fd, _fd_pid
    with _lock:
        if _fd is not None and _fd_pid == os.getpid():
            os.close(_fd)
        _path, _fd, _fd_pid = config.audit_log, None, None


def record(**fields: Any) -> None:
    """Write one audit line made of ``fields`` (``time`` is filled in when absent).

    Never raises: a full disk or a removed directory is logged, and the request goes on.
    """
    fields.setdefault("time", _now())
    line = {name: fields.pop(name, None) for name in FIELDS}
    line.update(fields)
    data = (json.dumps(line, separators=(",", ":"), default=str) + "\n").encode()
    try:
        if not _path:
            with _lock:
                sys.stdout.buffer.write(data)
                sys.stdout.buffer.flush()
            return
        os.write(_file(), data)
    except (OSError, ValueError) as exc:
        log.error("cannot write the audit log %s: %s", _path or "<stdout>", exc)


def _file() -> int:
    """The audit file's descriptor in this process (re-opened after a fork)."""
    global _fd, _fd_pid
    with _lock:
        if _fd is None or _fd_pid != os.getpid():
            _fd = os.open(_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            _fd_pid = os.getpid()
        return _fd


def _now() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
