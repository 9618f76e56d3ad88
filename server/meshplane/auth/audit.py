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
    if "time" not in fields:
        fields["time"] = _now()
    data = _line(fields).encode()
    try:
        if not _path:
            out = sys.stdout.buffer
            with _lock:
                out.write(data)
                out.flush()
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


_encode = json.JSONEncoder(separators=(",", ":"), default=str).encode
_string = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]  # C, what json.dumps uses
_KEYS = {name: _string(name) + ":" for name in FIELDS}


_HEAD = "{" + ",".join(_KEYS[name] + "%s" for name in FIELDS)


def _line(fields: dict[str, Any]) -> str:
    """``fields`` as one JSON object on one line, FIELDS first (missing ones null), then the rest in
    the caller's order: json.dumps's output, written out directly (a line per write is on the hot path)."""
    get = fields.get
    head = _HEAD % tuple([_value(get(name)) for name in FIELDS])
    rest = [_string(name) + ":" + _value(value) for name, value in fields.items() if name not in _KEYS]
    return head + ("," + ",".join(rest) if rest else "") + "}\n"


def _value(value: Any) -> str:
    if value is None:
        return "null"
    if type(value) is str:
        return _string(value)
    if type(value) is int:
        return str(value)
    return _encode(value)


#: (epoch second, its formatted "YYYY-MM-DDTHH:MM:SS"): the lines of one second share it.
_second: tuple[int, str] = (-1, "")


def _now() -> str:
    global _second
    now = time.time()
    whole = int(now)
    second, text = _second
    if second != whole:
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
        _second = (whole, text)
    return f"{text}.{int(now % 1 * 1000):03d}Z"
