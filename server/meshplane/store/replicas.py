"""Replicas sharing one database: their heartbeats (table ``replicas``), the leader's lock, and the
leader's job runs (table ``job_runs``), migration m006. Rows and locks only: what runs when is
meshplane/replicas/.

Leadership is a lock only one process can hold and that goes away with its holder: on PostgreSQL
a session advisory lock on a dedicated connection (it ends with the connection, so a replica
killed or cut off loses it as soon as PostgreSQL notices, which TCP keepalives bound); on SQLite,
whose file only one host uses, an exclusive ``flock`` of ``<db>-leader`` (the kernel drops it when
the process dies).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
from dataclasses import dataclass
from typing import Any

from meshplane.store.database import Connection, Pool, first_line, is_postgres

log = logging.getLogger("meshplane.store")


@dataclass(frozen=True)
class ReplicaRow:
    """One replica as it last reported itself."""

    id: str
    host: str
    pid: int
    api: str
    xds: str
    version: str
    started_at: float
    heartbeat_at: float
    leader: bool


@dataclass(frozen=True)
class JobRun:
    """One run of a leader job."""

    job: str
    replica: str
    started_at: float
    finished_at: float
    outcome: str


_UPSERT_REPLICA = (
    "INSERT INTO replicas (id, host, pid, api, xds, version, started_at, heartbeat_at, leader) "
    "VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT (id) DO UPDATE SET host=excluded.host, pid=excluded.pid, "
    "api=excluded.api, xds=excluded.xds, version=excluded.version, heartbeat_at=excluded.heartbeat_at, "
    "leader=excluded.leader"
)


class ReplicaRows:
    """The ``replicas`` and ``job_runs`` tables."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    def heartbeat(self, row: ReplicaRow) -> None:
        """Insert or refresh this replica's row (``heartbeat_at`` is the row's)."""
        values = (row.id, row.host, row.pid, row.api, row.xds, row.version, row.started_at, row.heartbeat_at,
                  int(row.leader))

        def txn(conn: Connection) -> None:
            conn.execute(_UPSERT_REPLICA, values)
            if row.leader:  # one leader shown at a time, even before the old one's row is reaped
                conn.execute("UPDATE replicas SET leader=0 WHERE leader=1 AND id<>?", (row.id,))

        self.pool.write(txn)

    def all(self) -> list[ReplicaRow]:
        """Every replica row, oldest first."""
        rows = self.pool.get().execute(
            "SELECT id, host, pid, api, xds, version, started_at, heartbeat_at, leader FROM replicas "
            "ORDER BY started_at, id"
        ).fetchall()
        return [ReplicaRow(str(r[0]), str(r[1]), int(r[2]), str(r[3]), str(r[4]), str(r[5]), float(r[6]),
                           float(r[7]), bool(r[8])) for r in rows]

    def leave(self, replica: str) -> None:
        """A replica stopping cleanly: its row goes, its streams are disconnected."""

        def txn(conn: Connection) -> None:
            conn.execute("UPDATE proxy_streams SET connected=0 WHERE connected=1 AND replica=?", (replica,))
            conn.execute("DELETE FROM replicas WHERE id=?", (replica,))

        self.pool.write(txn)

    def reap(self, dead_before: float) -> list[str]:
        """Remove the replicas whose last heartbeat is older than ``dead_before`` and mark their
        streams disconnected (their proxies reconnect elsewhere); returns their ids."""

        def txn(conn: Connection) -> list[str]:
            dead = [str(r[0]) for r in conn.execute(
                "SELECT id FROM replicas WHERE heartbeat_at<? ORDER BY id", (dead_before,)).fetchall()]
            for replica in dead:
                conn.execute("UPDATE proxy_streams SET connected=0 WHERE connected=1 AND replica=?", (replica,))
                conn.execute("DELETE FROM replicas WHERE id=?", (replica,))
            return dead

        return self.pool.write(txn)

    def record_run(self, run: JobRun, keep_after: float) -> None:
        """Append a job run; forget runs that started before ``keep_after``."""

        def txn(conn: Connection) -> None:
            conn.execute("INSERT INTO job_runs (job, replica, started_at, finished_at, outcome) VALUES (?,?,?,?,?)",
                         (run.job, run.replica, run.started_at, run.finished_at, run.outcome))
            conn.execute("DELETE FROM job_runs WHERE job=? AND started_at<?", (run.job, keep_after))

        self.pool.write(txn)

    def runs(self, job: str | None = None, limit: int = 100) -> list[JobRun]:
        """The newest job runs (of ``job``, or all), newest first."""
        sql = "SELECT job, replica, started_at, finished_at, outcome FROM job_runs"
        args: tuple[Any, ...] = ()
        if job is not None:
            sql += " WHERE job=?"
            args = (job,)
        rows = self.pool.get().execute(sql + " ORDER BY started_at DESC LIMIT ?", (*args, limit)).fetchall()
        return [JobRun(str(r[0]), str(r[1]), float(r[2]), float(r[3]), str(r[4])) for r in rows]


class LeaderLock:
    """The leader's lock on the database ``db``: :meth:`hold` takes it if free and tells whether
    this process holds it now; :meth:`release` gives it up.

    On PostgreSQL the lock lives on a connection of its own (never pooled: a pool would hand it to
    another thread, or a transaction-pooling proxy drop it), with TCP keepalives so a vanished
    leader's lock is freed within about 15 s.
    """

    def __init__(self, db: str) -> None:
        self.db = db
        self._conn: Any = None
        self._held = False
        self._fd: int | None = None

    def hold(self) -> bool:
        """Take the lock if it is free; True while this process holds it (checked, not assumed:
        a lost connection is a lost lock)."""
        if is_postgres(self.db):
            return self._hold_pg()
        return self._hold_file()

    def _hold_pg(self) -> bool:
        import psycopg

        from meshplane.store.postgres import LEADER_LOCK

        try:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(
                    self.db, autocommit=True, connect_timeout=5, keepalives=1, keepalives_idle=5,
                    keepalives_interval=2, keepalives_count=3,
                    # PostgreSQL's side of the same: a leader whose host vanished is dropped.
                    options="-c tcp_keepalives_idle=5 -c tcp_keepalives_interval=2 -c tcp_keepalives_count=3",
                )
            if self._held:
                self._conn.execute("SELECT 1")  # still connected: still ours
                return True
            (self._held,) = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (LEADER_LOCK,)).fetchone()
            return bool(self._held)
        except psycopg.Error as exc:
            log.warning("leader lock: %s", first_line(exc))
            self._close_pg()
            return False

    def _close_pg(self) -> None:
        self._held = False
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    def _hold_file(self) -> bool:
        if self._fd is None:
            self._fd = os.open(self.db + "-leader", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(self._fd)
                self._fd = None
                return False
        return True

    def release(self) -> None:
        """Give the lock up (closing the connection or file that holds it)."""
        self._close_pg()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def now() -> float:
    """The time stamps these tables hold."""
    return round(time.time(), 3)
