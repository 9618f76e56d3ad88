"""Read what is left of a request body before the answer leaves, so the connection stays usable.

Many answers come before the body is read: an unknown path, a bad query parameter, a refused
signature, a body over the 1 MiB limit (``app.MAX_BODY_BYTES``). Granian cannot reuse such a
connection (body bytes still to come would be parsed as the next request), so it closed it, with
unread data, which resets it: a client still sending its body got a broken pipe instead of the
400, and one that had sent everything found its keep-alive connection dead on its next call (every
time for bodies over ~30 KB, and for small ones whenever the body arrived after the answer was
ready: one in three when headers and body travel in separate packets, about one in 500 with
clients that send them together). Reading and discarding the rest first, within bounds, leaves
Granian a connection it keeps.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

#: Read at most this much of a body the app left unread; beyond it the answer says
#: ``Connection: close`` (a client sending that much to an API answered with an error may get a
#: reset: reading it all would hold a WSGI thread for no one's benefit).
MAX_DRAIN_BYTES = 8 * 1024 * 1024
#: ... and for at most this long (a client trickling its body would otherwise hold the thread).
MAX_DRAIN_SECONDS = 5.0
_CHUNK = 64 * 1024

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class DrainRequestBody:
    """WSGI middleware: after ``app`` answered, read what remains of the request body, then let
    the answer go (``start_response`` is passed on only then, with ``Connection: close`` added when
    the rest was too large or too slow to read)."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        declared = _declared_length(environ)
        if declared == 0:  # nothing can be left unread: the common GET costs one lookup
            return self.app(environ, start_response)
        answer: list[Any] = []
        keep_alive: list[bool] = []  # set once drained: later calls go straight through

        def deferred(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
            if keep_alive:
                return start_response(status, _closing(headers, keep_alive[0]), exc_info)  # type: ignore[no-any-return]
            answer[:] = [status, headers, exc_info]
            return _no_write

        result = self.app(environ, deferred)
        keep_alive.append(drain(environ["wsgi.input"], declared))
        if answer:  # Flask always answers before returning; WSGI lets an app wait for its first chunk
            status, headers, exc_info = answer
            start_response(status, _closing(headers, keep_alive[0]), exc_info)
        return result


def _closing(headers: list[tuple[str, str]], keep_alive: bool) -> list[tuple[str, str]]:
    if keep_alive:
        return headers
    return [*(h for h in headers if h[0].lower() != "connection"), ("Connection", "close")]


def drain(stream: Any, declared: int | None) -> bool:
    """Read ``stream`` to its end; False (stopping early) when that would pass the bounds above,
    or when the client went away. ``declared``: the Content-Length, None when chunked."""
    if declared is not None and declared > MAX_DRAIN_BYTES:
        return False
    deadline = time.monotonic() + MAX_DRAIN_SECONDS
    total = 0
    try:
        while total <= MAX_DRAIN_BYTES:
            chunk = stream.read(_CHUNK)
            if not chunk:
                return True
            total += len(chunk)
            if time.monotonic() > deadline:
                return False
    except (OSError, RuntimeError, ValueError):  # the client went away mid-body
        return False
    return False


def _declared_length(environ: dict[str, Any]) -> int | None:
    """Content-Length as a number; None when the length is unknown (chunked, or unparsable)."""
    if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return None
    raw = environ.get("CONTENT_LENGTH") or "0"
    try:
        return max(int(raw), 0)
    except ValueError:
        return None


def _no_write(data: bytes) -> None:
    raise RuntimeError("DrainRequestBody: write() is not supported; return the body instead")
