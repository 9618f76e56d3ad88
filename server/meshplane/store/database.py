"""Opening the database: the SQLite backend (pragmas, per-thread connections, group commit), and
:func:`open_pool` / :func:`migrate`, which pick the backend from the ``--db`` value (a file path:
SQLite; ``postgresql://...``: PostgreSQL, store/postgres.py). Both pools offer the same interface:
``get()`` (this thread's connection: ``execute``/``executemany``), ``write(fn, locks)``,
``order_revisions(conn)``, ``read_snapshot()``, ``data_version()``, ``close()``, ``dialect``,
``shared`` and ``IntegrityError``.

WAL lets the API workers and the xDS process read while one writer commits. ``synchronous``
is NORMAL by default: a commit survives a crash or kill -9 of any meshplane process; a power
loss or kernel crash may lose the last transactions committed before the WAL was synced
(FULL syncs on every commit and loses nothing; see docs/durability.md).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, Union

import sqlite_utils

from meshplane.errors import ServiceUnavailableException
from meshplane.store.migrations import migrations

if TYPE_CHECKING:
    from meshplane.store.postgres import PostgresPool

T = TypeVar("T")

log = logging.getLogger("meshplane.store")


def transaction(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    """Run ``fn`` in one ``BEGIN IMMEDIATE`` transaction on ``conn``: commit, or roll back on any error.

    The only place meshplane opens a write transaction; callers go through :meth:`ConnectionPool.write`,
    which queues writers first.
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


def connect(
    path: str, *, synchronous: str = "NORMAL", busy_timeout_ms: int = 5000, autocheckpoint: bool = True
) -> sqlite3.Connection:
    """Open one connection in autocommit mode (the store issues BEGIN IMMEDIATE itself).

    :param path: database file path.
    :param synchronous: ``NORMAL`` or ``FULL``.
    :param busy_timeout_ms: how long a statement waits for a lock before SQLITE_BUSY.
    :param autocheckpoint: let a commit that grows the WAL past 1,000 pages checkpoint it (with
        its fsyncs) before returning. A :class:`ConnectionPool` turns this off and checkpoints
        in a background thread instead, so no request pays for it.
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
    # After a checkpoint resets the WAL, truncate the file back to this size (bytes).
    conn.execute("PRAGMA journal_size_limit=67108864")
    if not autocheckpoint:
        conn.execute("PRAGMA wal_autocheckpoint=0")
    return conn


def first_line(exc: BaseException) -> str:
    """An error's first line, for a message or a log: database drivers add context lines (psycopg's
    never hold a password, but they are noise)."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def is_postgres(db: str) -> bool:
    """Whether ``db`` (the ``--db`` value) names a PostgreSQL database rather than a SQLite file."""
    return db.startswith(("postgresql://", "postgres://"))


def describe(db: str) -> str:
    """``db`` as it may be logged (a PostgreSQL URL without its password)."""
    if is_postgres(db):
        from meshplane.store.postgres import redact

        return redact(db)
    return db


def migrate(path: str) -> None:
    """Create or upgrade the schema of the database ``path`` (a SQLite file or a PostgreSQL URL);
    re-running is a no-op."""
    if is_postgres(path):
        from meshplane.store import migrations_pg

        migrations_pg.apply(path)
        return
    conn = connect(path)
    try:
        migrations.apply(sqlite_utils.Database(conn))
    finally:
        conn.close()


class Cursor(Protocol):
    """What a statement returns, in both backends."""

    rowcount: int

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Connection(Protocol):
    """A backend connection as the store uses it (sqlite3.Connection, or postgres.PgConnection)."""

    def execute(self, sql: str, params: Any = ..., /) -> Any: ...

    def executemany(self, sql: str, rows: Any, /) -> Any: ...


#: Either backend's pool (see the module docstring for the interface they share).
Pool = Union["ConnectionPool", "PostgresPool"]


def open_pool(db: str, *, synchronous: str = "NORMAL", busy_timeout_ms: int = 5000) -> Pool:
    """A pool over the database ``db``: SQLite for a path, PostgreSQL for a ``postgresql://`` URL.

    Opened lazily (the first ``get`` connects), so it may be created before a fork.
    """
    if is_postgres(db):
        from meshplane.store.postgres import PostgresPool

        return PostgresPool(db, busy_timeout_ms=busy_timeout_ms)
    return ConnectionPool(db, synchronous=synchronous, busy_timeout_ms=busy_timeout_ms)


class _Ticket:
    """One queued write: its function, then its outcome."""

    __slots__ = ("fn", "result", "error", "done")

    def __init__(self, fn: Callable[[sqlite3.Connection], Any]) -> None:
        self.fn = fn
        self.result: Any = None
        self.error: BaseException | None = None
        self.done = threading.Event()

    def outcome(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.result


def _run_each(conn: sqlite3.Connection, batch: list[_Ticket]) -> None:
    """Each ticket's function in a SAVEPOINT of the open transaction: one that raises is undone alone."""
    for ticket in batch:
        conn.execute("SAVEPOINT write")
        try:
            ticket.result = ticket.fn(conn)
        except Exception as exc:
            conn.execute("ROLLBACK TO write")
            ticket.error = exc
        conn.execute("RELEASE write")


#: How often a pool's background thread checkpoints the WAL (seconds).
CHECKPOINT_INTERVAL_S = 0.25


class ConnectionPool:
    """One connection per thread, opened lazily (sqlite3 connections must not be shared mid-transaction).

    Created after a worker process forks, never before, so no connection crosses a fork. The pool's
    connections never checkpoint the WAL inside a commit; a daemon thread, started with the first
    connection and stopped by :meth:`close`, runs ``PRAGMA wal_checkpoint(PASSIVE)`` every
    ``CHECKPOINT_INTERVAL_S`` on a connection of its own instead (PASSIVE never waits for readers or
    writers, and a checkpoint with nothing new to copy costs microseconds). Durability does not
    depend on checkpoints: a commit is in the WAL, which is the database until it is copied back.
    """

    dialect = "sqlite"
    #: One host's file: no other host writes it (replicas need PostgreSQL).
    shared = False
    IntegrityError: type[Exception] = sqlite3.IntegrityError

    def __init__(self, path: str, *, synchronous: str = "NORMAL", busy_timeout_ms: int = 5000) -> None:
        self.path = path
        self._synchronous = synchronous
        self._busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        # Group commit (see write): the queue of writes, and the turn to run it.
        self._leader = threading.Lock()
        self._queue_lock = threading.Lock()
        self._pending: list[_Ticket] = []
        self._lock_file: int | None = None
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._checkpointer: threading.Thread | None = None

    def get(self) -> sqlite3.Connection:
        """This thread's connection."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, synchronous=self._synchronous, busy_timeout_ms=self._busy_timeout_ms,
                           autocheckpoint=False)
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
                if self._checkpointer is None:
                    self._stop.clear()
                    self._checkpointer = threading.Thread(
                        target=self._checkpoint_loop, name="meshplane-checkpoint", daemon=True
                    )
                    self._checkpointer.start()
        return conn

    def order_revisions(self, conn: sqlite3.Connection) -> None:
        """Nothing to do: SQLite has one writer at a time, so revision order is commit order."""

    @contextlib.contextmanager
    def read_snapshot(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection inside one read transaction: every read sees the same state."""
        conn = self.get()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def data_version(self) -> int:
        """``PRAGMA data_version``: changes when another connection commits (a cheap poll)."""
        (value,) = self.get().execute("PRAGMA data_version").fetchone()
        return int(value)

    def write(self, fn: Callable[[sqlite3.Connection], T], locks: Iterable[str] = ()) -> T:
        """Run ``fn`` in a write transaction and return its result once that transaction committed.

        ``locks`` (what the write touches, for PostgreSQL's advisory locks) need nothing here: a
        SQLite transaction holds the one write lock.

        Group commit: writers of this process queue their ``fn``; whichever thread gets the turn
        (the leader) runs every queued ``fn`` in one transaction, each inside a SAVEPOINT, so one
        that raises is rolled back alone and its caller gets the exception, and commits them
        together. Every caller returns only after the COMMIT: a result still means "on disk".
        Under load this turns N transactions (and N waits for the turn and the GIL) into one.
        Leaders of different processes take turns on an advisory lock file, woken the moment the
        previous one is done (SQLite's busy handler would poll with sleeps up to 100 ms); SQLite's
        own lock still guards against other programs.

        :raises ServiceUnavailableException: no turn came within the busy timeout (``fn`` did not run).
        """
        ticket = _Ticket(fn)
        with self._queue_lock:
            self._pending.append(ticket)
        if self._leader.acquire(timeout=self._busy_timeout_ms / 1000):
            try:
                if not ticket.done.is_set():
                    # Holding the turn and not done: the ticket is still queued; run the queue.
                    with self._queue_lock:
                        batch, self._pending = self._pending, []
                    self._run(batch)
            finally:
                self._leader.release()
        else:
            with self._queue_lock:
                if ticket in self._pending:
                    self._pending.remove(ticket)
                    raise ServiceUnavailableException("The database is busy; retry the request")
            ticket.done.wait()  # a leader took it and is committing it right now
        return ticket.outcome()

    def _run(self, batch: list[_Ticket]) -> None:
        if self._lock_file is None:
            self._lock_file = os.open(self.path + "-writer", os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self._lock_file, fcntl.LOCK_EX)  # releases the GIL while it waits
        try:
            if len(batch) == 1:
                ticket = batch[0]
                try:
                    ticket.result = transaction(self.get(), ticket.fn)
                except BaseException as exc:
                    ticket.error = exc
                return
            try:
                transaction(self.get(), lambda conn: _run_each(conn, batch))
            except BaseException as exc:  # the COMMIT (or BEGIN) failed: none of them happened
                for ticket in batch:
                    ticket.result, ticket.error = None, exc
        finally:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            for ticket in batch:
                ticket.done.set()

    def close(self) -> None:
        """Stop the checkpointer and close every connection this pool opened."""
        with self._lock:
            self._stop.set()
            if self._lock_file is not None:
                os.close(self._lock_file)
                self._lock_file = None
            checkpointer, self._checkpointer = self._checkpointer, None
            for conn in self._all:
                conn.close()
            self._all.clear()
        if checkpointer is not None and checkpointer is not threading.current_thread():
            checkpointer.join(timeout=5)
        self._local = threading.local()

    def _checkpoint_loop(self) -> None:
        conn = connect(self.path, synchronous=self._synchronous, busy_timeout_ms=self._busy_timeout_ms)
        try:
            while not self._stop.wait(CHECKPOINT_INTERVAL_S):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:  # e.g. the file was removed under us; try again later
                    log.warning("WAL checkpoint of %s failed: %s", self.path, exc)
        finally:
            conn.close()
