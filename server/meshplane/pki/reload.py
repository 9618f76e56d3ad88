"""Noticing replaced certificate files, so servers pick up renewed certificates without a restart.

Certificate managers (cert-manager, SPIRE helpers, a cron'd ``certbot``) replace the files in
place or swap a symlink: :class:`FileWatch` compares each file's (device, inode, size, mtime)
with what it saw last, following symlinks on every check (never resolved once, so a swapped
Kubernetes secret mount is seen too). A change is only reported once the files form a usable
pair: a half-written renewal is never loaded.
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
from collections.abc import Callable, Sequence

log = logging.getLogger("meshplane.tls")

#: How often the API master checks its certificate files (seconds).
POLL_S = 1.0

Stamp = tuple[tuple[int, int, int, int] | None, ...]


def _stamp(paths: Sequence[str]) -> Stamp:
    stamps: list[tuple[int, int, int, int] | None] = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            stamps.append(None)
        else:
            stamps.append((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(stamps)


def usable_pair(cert: str, key: str, ca: str | None = None) -> bool:
    """Whether ``cert`` and ``key`` load as a matching pair (and ``ca``, if given, as CA certs)."""
    try:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        if ca:
            context.load_verify_locations(ca)
    except (OSError, ssl.SSLError, ValueError):
        return False
    return True


def require_pair(cert: str, key: str, ca: str | None = None, *, flag: str) -> None:
    """Check at start-up that ``cert``/``key`` (and ``ca``) load, naming the flag at fault.

    :raises ValueError: ``--<flag>-cert ...: <why>`` (the reason never quotes the key's contents).
    """
    for path, name in ((cert, f"--{flag}-cert"), (key, f"--{flag}-key"), (ca, "--xds-client-ca")):
        if path and not os.path.isfile(path):
            raise ValueError(f"{name} {path}: no such file")
    try:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
    except (ssl.SSLError, ValueError) as exc:
        raise ValueError(f"--{flag}-cert {cert} / --{flag}-key {key}: not a PEM certificate and its private key "
                         f"({exc.__class__.__name__}: {getattr(exc, 'reason', None) or exc})") from None
    if ca:
        try:
            context.load_verify_locations(ca)
        except (ssl.SSLError, ValueError) as exc:
            raise ValueError(f"--xds-client-ca {ca}: no PEM CA certificate ({exc.__class__.__name__})") from None


class FileWatch:
    """Reports when any of ``paths`` changed since the last report (or since construction)."""

    def __init__(self, paths: Sequence[str]) -> None:
        self.paths = tuple(paths)
        self._seen = _stamp(self.paths)
        self._lock = threading.Lock()

    def changed(self) -> bool:
        """True once per change of the files (cheap: a stat per file)."""
        now = _stamp(self.paths)
        with self._lock:
            if now == self._seen:
                return False
            self._seen = now
            return True


def watch_pair(cert: str, key: str, on_change: Callable[[], None], *, ca: str | None = None,
               stop: threading.Event | None = None, poll_s: float = POLL_S) -> threading.Thread:
    """Call ``on_change`` (from a daemon thread) each time the files changed and load as a usable
    pair; a broken intermediate state is logged and waited out."""
    files = FileWatch([p for p in (cert, key, ca) if p])
    stop = stop or threading.Event()

    def run() -> None:
        pending = False
        while not stop.wait(poll_s):
            fresh = files.changed()
            pending = pending or fresh
            if not pending:
                continue
            if usable_pair(cert, key, ca):
                pending = False
                log.info("TLS certificate files changed (%s); reloading", cert)
                on_change()
            elif fresh:  # said once per change, not once per poll
                log.warning("TLS certificate files %s / %s changed but do not load as a pair yet; "
                            "keeping the current certificate", cert, key)

    thread = threading.Thread(target=run, name="tls-watch", daemon=True)
    thread.start()
    return thread
