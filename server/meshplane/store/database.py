"""Opening the SQLite database: pragmas, per-thread connections, migrations.

WAL lets the API workers and the xDS process read while one writer commits. ``synchronous``
is NORMAL by default: a commit survives a crash or kill -9 of any meshplane process; a power
loss or kernel crash may lose the last transactions committed before the WAL was synced
(FULL syncs on every commit and loses nothing; see docs/durability.md).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from typing import TypeVar

import sqlite_utils

from meshplane.errors import ServiceUnavailableException
from meshplane.store.migrations import migrations

T = TypeVar("T")


def transaction(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    """Run ``fn`` in one ``BEGIN IMMEDIATE`` transaction on ``conn``: commit, or roll back on any error.

    The only place meshplane opens a write transaction.
    :raises ServiceUnavailableException: the database stayed locked past the busy timeout.
    """
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise ServiceUnavailableException("The database is busy; retry the request") from exc
        raise
    return result


def connect(path: str, *, synchronous: str = "NORMAL", busy_timeout_ms: int = 5000) -> sqlite3.Connection:
    """Open one connection in autocommit mode (the store issues BEGIN IMMEDIATE itself).

    :param path: database file path.
    :param synchronous: ``NORMAL`` or ``FULL``.
    :param busy_timeout_ms: how long a statement waits for a lock before SQLITE_BUSY.
    """
    conn = sqlite3.connect(
        path,
        isolation_level=None,
        check_same_thread=False,
        timeout=busy_timeout_ms / 1000,
        cached_statements=256,
    )
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def migrate(path: str) -> None:
    """Create or upgrade the schema of the database at ``path``; re-running is a no-op."""
    conn = connect(path)
    try:
        migrations.apply(sqlite_utils.Database(conn))
    finally:
        conn.close()


class ConnectionPool:
    """One connection per thread, opened lazily (sqlite3 connections must not be shared mid-transaction).

    Created after a worker process forks, never before, so no connection crosses a fork.
    """

    def __init__(self, path: str, *, synchronous: str = "NORMAL", busy_timeout_ms: int = 5000) -> None:
        self.path = path
        self._synchronous = synchronous
        self._busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def get(self) -> sqlite3.Connection:
        """This thread's connection."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, synchronous=self._synchronous, busy_timeout_ms=self._busy_timeout_ms)
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def close(self) -> None:
        """Close every connection this pool opened."""
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()
