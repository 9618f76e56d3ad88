"""The PostgreSQL backend: the same pool interface as the SQLite one (database.ConnectionPool).

Several meshplane replicas share one PostgreSQL database. What changes against SQLite, and why:

* Connections come from a psycopg_pool ``ConnectionPool``; each thread keeps the one it took
  (autocommit, statements prepared after a few uses) until it breaks, so a read is one round trip.
* Writes run in ``BEGIN ... COMMIT`` at Read Committed. SQLite's single writer made every check in a
  write transaction (names, quotas, delete rules, clientTokens, versions) safe by itself; here a
  write first takes transaction-scoped advisory locks on what it touches (its mesh, or ``*`` for the
  account-wide mesh count), so two replicas writing one mesh take turns and the checks stay exact,
  while writes to different meshes run in parallel.
* The revisions feed must be read in commit order (a reader that saw revision 11 must never later
  find a 10 committed after it). So the last thing a write does before it commits is take one more
  advisory lock, the *feed lock*, and only then draw its revision numbers: revision order is commit
  order. The same statement sends ``NOTIFY meshplane_revisions`` (delivered at commit), which every
  replica's listener turns into a change of :meth:`PostgresPool.data_version`; the feed, not the
  notification, is the truth: a (re)connected listener, and a slow backup poll, bump it too, so a
  lost notification costs latency, never a change.
* A lost or refused connection is ``ServiceUnavailableException`` (503), never a 500; the broken
  connection is dropped and the pool reconnects on its own.

SQL is written once, in the subset both databases speak, with ``?`` placeholders; :class:`PgConnection`
turns them into psycopg's ``%s``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

import psycopg
import psycopg_pool

from meshplane.errors import ServiceUnavailableException
from meshplane.store.database import first_line

T = TypeVar("T")

log = logging.getLogger("meshplane.store")

#: The channel every write notifies on commit.
CHANNEL = "meshplane_revisions"
#: Advisory lock keys (64-bit) of the feed and of migrations; mesh locks hash their names.
FEED_LOCK = 0x6D657368_00000001
MIGRATION_LOCK = 0x6D657368_00000002
LEADER_LOCK = 0x6D657368_00000003
#: Seconds between two backup polls of the feed (a notification may be lost on reconnect).
BACKUP_POLL_S = 5.0
#: After a connection failed, for this long a thread waits only DOWN_WAIT_S for a connection
#: (then answers 503) instead of the busy timeout: the 503s of an outage come at once.
DOWN_MEMORY_S = 10.0
DOWN_WAIT_S = 0.5

_UNAVAILABLE = "The database is unavailable; retry the request"


def redact(url: str) -> str:
    """``url`` with its password replaced by ``***``: the only form of a database URL meshplane logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "postgresql://***"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = (parts.username or "") + ":***"
    return url.replace(parts.netloc, f"{user}@{netloc[-1]}", 1)


@functools.lru_cache(maxsize=1024)
def _to_psycopg(sql: str) -> str:
    """``?`` placeholders to ``%s`` (and a literal ``%`` to ``%%``): our SQL has no ``?`` in strings."""
    return sql.replace("%", "%%").replace("?", "%s")


class PgConnection:
    """One pooled connection with the small sqlite3-like surface the store uses
    (``execute``, ``executemany``; cursors with ``fetchone``/``fetchall``/``rowcount``)."""

    __slots__ = ("raw", "_owner", "in_write", "pipeline")

    def __init__(self, raw: psycopg.Connection[Any], owner: PostgresPool) -> None:
        self.raw = raw
        self._owner = owner
        self.in_write = False  # inside PostgresPool.write, which handles a lost connection itself
        self.pipeline: psycopg.Pipeline | None = None  # set while a write runs in pipeline mode

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        try:
            cursor = self.raw.execute(_to_psycopg(sql), tuple(params))
            return cursor if self.pipeline is None else _PipelinedCursor(cursor, self.pipeline)
        except psycopg.OperationalError as exc:
            if self.in_write:
                raise
            error = self._owner._unavailable(self, exc)
            if not self.raw.broken:
                raise error from None
        # The connection broke while idle (PostgreSQL restarted, a proxy closed it): a read is
        # safe to repeat once on a fresh one.
        return self._owner.get().execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = [tuple(r) for r in rows]
        if not rows:
            return
        try:
            with self.raw.cursor() as cur:
                cur.executemany(_to_psycopg(sql), rows)
        except psycopg.OperationalError as exc:
            if self.in_write:
                raise
            raise self._owner._unavailable(self, exc) from None


class _PipelinedCursor:
    """A cursor of a statement sent in pipeline mode: its results (rows, ``rowcount``) are waited
    for only when asked for, so statements whose results nobody reads cost no round trip."""

    __slots__ = ("_cursor", "_pipeline")

    def __init__(self, cursor: psycopg.Cursor[Any], pipeline: psycopg.Pipeline) -> None:
        self._cursor = cursor
        self._pipeline = pipeline

    def fetchone(self) -> Any:
        return self._cursor.fetchone()  # psycopg syncs the pipeline to fetch

    def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    @property
    def rowcount(self) -> int:
        self._pipeline.sync()  # rowcount is only known once the result arrived
        return self._cursor.rowcount


class PostgresPool:
    """Connections to one PostgreSQL database, with the interface of the SQLite pool.

    :param url: ``postgresql://user:password@host:port/db?sslmode=...`` (libpq's environment,
        ``PGPASSWORD`` and ``~/.pgpass`` apply as usual).
    :param busy_timeout_ms: how long a statement waits for a lock, and a thread for a connection,
        before the request gets 503.
    :param max_size: connections this process may hold.
    """

    dialect = "postgresql"
    #: Several hosts may use this database at once (replicas).
    shared = True
    IntegrityError: type[Exception] = psycopg.IntegrityError

    def __init__(self, url: str, *, busy_timeout_ms: int = 5000, max_size: int = 32, **_: Any) -> None:
        self.path = url
        self.url = url
        self._timeout_s = busy_timeout_ms / 1000
        self._options = f"-c lock_timeout={int(busy_timeout_ms)} -c idle_in_transaction_session_timeout=60000"
        self._pool = psycopg_pool.ConnectionPool(
            url, min_size=1, max_size=max_size, open=False, timeout=self._timeout_s,
            kwargs={"autocommit": True, "prepare_threshold": 5, "options": self._options,
                    "connect_timeout": max(2, int(self._timeout_s))},
            reconnect_timeout=0,  # keep trying forever: PostgreSQL may be down for a while
            name="meshplane",
        )
        self._opened = False
        self._down_at = 0.0  # time.monotonic() when a connection last failed (0: it did not)
        self._open_lock = threading.Lock()
        self._local = threading.local()
        self._changes = 0
        self._listener: threading.Thread | None = None
        self._stop = threading.Event()

    # -- connections ----------------------------------------------------------------------------

    def _ensure_open(self) -> None:
        if not self._opened:
            with self._open_lock:
                if not self._opened:
                    self._pool.open(wait=False)
                    self._opened = True

    def get(self) -> PgConnection:
        """This thread's connection (taken from the pool on first use, or after the last one broke).

        :raises ServiceUnavailableException: no connection within the busy timeout.
        """
        conn: PgConnection | None = getattr(self._local, "conn", None)
        if conn is not None and not conn.raw.closed:
            return conn
        self._ensure_open()
        # While PostgreSQL is known to be down, a request waiting the whole busy timeout for a
        # connection only delays its 503: wait briefly (the pool keeps reconnecting meanwhile).
        down = time.monotonic() - self._down_at < DOWN_MEMORY_S
        try:
            raw = self._pool.getconn(timeout=DOWN_WAIT_S if down else self._timeout_s)
        except psycopg.OperationalError as exc:  # PoolTimeout is one
            self._down_at = time.monotonic()
            if not down:
                log.warning("no PostgreSQL connection: %s", first_line(exc))
            raise ServiceUnavailableException(_UNAVAILABLE) from None
        self._down_at = 0.0
        conn = PgConnection(raw, self)
        self._local.conn = conn
        return conn

    def _unavailable(self, conn: PgConnection, exc: Exception) -> ServiceUnavailableException:
        """Give back a connection that failed (the pool checks it and replaces it if broken)."""
        if getattr(self._local, "conn", None) is conn:
            self._local.conn = None
        with contextlib.suppress(Exception):
            self._pool.putconn(conn.raw)
        if isinstance(exc, psycopg.errors.LockNotAvailable):
            return ServiceUnavailableException("The database is busy; retry the request")
        if conn.raw.broken:
            self._down_at = time.monotonic()
        log.warning("PostgreSQL: %s", first_line(exc))
        return ServiceUnavailableException(_UNAVAILABLE)

    def write(self, fn: Callable[[Any], T], locks: Iterable[str] = ()) -> T:
        """Run ``fn(conn)`` in one transaction after taking the advisory ``locks`` (sorted, so two
        writers never wait on each other in a circle); commit, or roll back on any error.

        :raises ServiceUnavailableException: PostgreSQL is unreachable, or a lock stayed taken past
            the busy timeout (``fn``'s changes are then not committed).
        """
        ordered = sorted(set(locks))
        for attempt in (1, 2):
            conn = self.get()
            conn.in_write = True
            committing = False
            try:
                # Pipeline mode: a statement waits for PostgreSQL's answer only when its result is
                # read. BEGIN and the locks go out with the first read, and the tail of the write
                # (feed lock, revisions, clientToken, COMMIT) in one round trip: the feed lock is
                # held for PostgreSQL's own work and the commit's flush, not for client round trips.
                with conn.raw.pipeline() as pipeline:
                    conn.pipeline = pipeline
                    with conn.raw.transaction():
                        for key in ordered:
                            conn.raw.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (key,))
                        result = fn(conn)
                        committing = True  # leaving the block sends COMMIT
                return result
            except psycopg.OperationalError as exc:
                broken = conn.raw.broken
                error = self._unavailable(conn, exc)
                # The connection broke before COMMIT was sent (typically: it broke while idle,
                # PostgreSQL restarted): PostgreSQL rolled the transaction back, so running the
                # write once more on a fresh connection cannot apply anything twice. After COMMIT
                # was sent the outcome is unknown: the client gets 503 (and may retry with its
                # clientToken).
                if committing or not broken or attempt == 2:
                    raise error from None
            finally:
                conn.in_write = False
                conn.pipeline = None
        raise AssertionError("unreachable")

    def order_revisions(self, conn: PgConnection) -> None:
        """Called by a write just before it appends to the revisions feed: wait for the feed lock
        (held to commit, so revision order is commit order) and notify the listeners at commit."""
        conn.execute("SELECT pg_advisory_xact_lock(?), pg_notify(?, '')", (FEED_LOCK, CHANNEL))

    @contextlib.contextmanager
    def read_snapshot(self) -> Iterator[PgConnection]:
        """A connection inside one REPEATABLE READ transaction: every read sees the same state."""
        conn = self.get()
        conn.in_write = True
        try:
            with conn.raw.transaction():
                conn.raw.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                yield conn
        except psycopg.OperationalError as exc:
            raise self._unavailable(conn, exc) from None
        finally:
            conn.in_write = False

    def close(self) -> None:
        """Stop the listener and close every connection."""
        self._stop.set()
        listener, self._listener = self._listener, None
        if listener is not None and listener is not threading.current_thread():
            listener.join(timeout=5)
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            self._local.conn = None
        if self._opened:
            self._pool.close(timeout=2)
            self._opened = False
        self._local = threading.local()

    # -- changes ----------------------------------------------------------------------------------

    def data_version(self) -> int:
        """A number that changes after another connection's write (the SQLite pool's
        ``PRAGMA data_version``): notifications on the feed channel, each (re)connection of the
        listener, and every BACKUP_POLL_S seconds. The listener starts on the first call."""
        if self._listener is None:
            with self._open_lock:
                if self._listener is None:
                    self._stop.clear()
                    self._listener = threading.Thread(target=self._listen, name="meshplane-listen", daemon=True)
                    self._listener.start()
        return self._changes

    def _listen(self) -> None:
        delay = 0.2
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    # LISTEN is in effect: whatever was written before is read by the catch-up the
                    # caller does when this number changes; whatever comes after is notified.
                    self._changes += 1
                    delay = 0.2
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=BACKUP_POLL_S):
                            self._changes += 1
                            if self._stop.is_set():
                                break
                        self._changes += 1  # the backup poll
            except psycopg.Error as exc:
                if self._stop.is_set():
                    return
                log.warning("PostgreSQL listener: %s; reconnecting in %.1fs", first_line(exc), delay)
                self._stop.wait(delay)
                delay = min(5.0, delay * 2)


def connect_direct(url: str) -> psycopg.Connection[Any]:
    """A connection outside the pool, autocommit (migrations)."""
    return psycopg.connect(url, autocommit=True, connect_timeout=5)
