"""A real PostgreSQL server for tests: Debian's binaries, a fresh cluster in a temporary directory.

The server listens on 127.0.0.1 at a free port (PostgreSQL cannot be given port 0, so a free port is
picked and the start retried with another one when it is taken meanwhile) and on a unix socket in its
own directory (never /var/run/postgresql). Clients log in over TCP as the role ``meshplane`` with a
random password (scram-sha-256); the tests' own administration (CREATE DATABASE, terminating
sessions) goes over the unix socket as the superuser ``postgres`` (trust). The password is never
written anywhere but into the URLs ``url()`` returns: the role is created from its SCRAM verifier.

As root, PostgreSQL refuses to run, so initdb and postgres then run as the ``postgres`` system user
the Debian package creates; the temporary directory is theirs, and every directory above it must be
traversable by that user (the default /tmp is).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import psycopg
from psycopg import sql

from procs import free_port

PG_ROOT = Path("/usr/lib/postgresql")
ROLE = "meshplane"
DATABASE = "meshplane"
SUPERUSER = "postgres"
# Database names tests may ask for: plain identifiers, so a URL needs no quoting.
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
# A start that failed with one of these is retried (another port, or once the old cluster's last
# processes are gone) rather than reported.
_RETRYABLE = ("could not bind", "Address already in use", "could not create any TCP/IP sockets",
              "pre-existing shared memory block", "lock file \"postmaster.pid\" already exists")


def server_bindir() -> Path:
    """The bin directory of the newest PostgreSQL installed under /usr/lib/postgresql (Debian's layout).

    Raises RuntimeError naming tests/ensure_postgresql.sh when there is none.
    """
    found = [path.parent for path in PG_ROOT.glob("*/bin/initdb") if path.parent.parent.name.isdigit()]
    if not found:
        raise RuntimeError(f"no PostgreSQL server under {PG_ROOT}: run `sh tests/ensure_postgresql.sh` "
                           "(installs Debian's postgresql package)")
    return max(found, key=lambda bindir: int(bindir.parent.name))


def _server_env() -> dict[str, str]:
    """The environment without PG* variables (PGPORT, PGDATA... would change what the server does)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env["LC_ALL"] = "C"
    return env


def _group_alive(pgid: int) -> bool:
    """Whether any process of group ``pgid`` still runs (zombies left to an init that does not reap
    them do not count: they hold no shared memory and no ports)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # exited meanwhile
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            return True
    return False


class DatabaseUrl(str):
    """A database URL whose repr shows no password (pytest's tracebacks print arguments' reprs)."""

    def __repr__(self) -> str:
        return "<postgresql database " + self.rsplit("/", 1)[-1] + ">"


class PostgresServer:
    """A PostgreSQL cluster of its own, started by the constructor, stopped (and removed) by ``stop()``.

    ``fast=True`` turns off fsync, synchronous_commit and full_page_writes, for suites that do not test
    durability: a ``kill9()`` then loses the commits of the last moments (synchronous_commit=off
    acknowledges a commit before its WAL is written), so tests that crash the server keep the default.
    ``port`` stays the same across ``kill9()``/``stop(cleanup=False)`` and ``start()``, and so do the
    data and the URLs. ``pid`` is the postmaster's while it runs, else None.
    """

    def __init__(self, *, fast: bool = False, max_connections: int = 200, timeout: float = 30.0) -> None:
        self.bindir = server_bindir()
        self.fast = fast
        self.max_connections = max_connections
        self.timeout = timeout
        self._password = secrets.token_hex(16)
        self._run_as = self._server_user()
        self.base = Path(tempfile.mkdtemp(prefix="meshplane-pg-"))
        self.datadir = self.base / "data"
        self.socket_dir = self.base / "socket"
        self.log_path = self.base / "postgres.log"
        self.port = 0
        self._popen: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        try:
            self._prepare_base()
            self._initdb()
            self._start(any_port=True)
            self._create_role_and_database()
        except BaseException:
            self.stop()
            raise

    def __repr__(self) -> str:  # no password in a repr (pytest prints fixtures' reprs on failures)
        return f"PostgresServer(port={self.port}, pid={self.pid}, base={str(self.base)!r})"

    def __enter__(self) -> PostgresServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what tests use -------------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        """The postmaster's PID while it runs."""
        if self._popen is None or self._popen.poll() is not None:
            return None
        return self._popen.pid

    @property
    def password(self) -> str:
        """The ``meshplane`` role's password (already in every ``url()``; never print it)."""
        return self._password

    def url(self, database: str = DATABASE) -> str:
        """``postgresql://meshplane:<password>@127.0.0.1:<port>/<database>``, as a :class:`DatabaseUrl`
        (its repr hides the password: pytest prints the arguments of every frame of a failure)."""
        return DatabaseUrl(f"postgresql://{ROLE}:{self._password}@127.0.0.1:{self.port}/{database}")

    def create_database(self, name: str) -> str:
        """A new empty database ``name`` (a plain lowercase identifier) owned by ``meshplane``; its URL.

        Copied from template0, so nothing an earlier test left in template1 reaches it.
        """
        if not _NAME.fullmatch(name):
            raise ValueError(f"database name must match {_NAME.pattern}: {name!r}")
        with self.admin_connect() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {} TEMPLATE template0").format(
                sql.Identifier(name), sql.Identifier(ROLE)))
        return self.url(name)

    @contextlib.contextmanager
    def temporary_database(self, label: str) -> Iterator[str]:
        """A fresh database named after ``label`` (a test or module name), its URL; dropped at the
        end (unless the server was left stopped: it goes with the server)."""
        name = f"t_{re.sub(r'[^a-z0-9_]+', '_', label.lower())[:40]}_{uuid.uuid4().hex[:8]}"
        url = self.create_database(name)
        try:
            yield url
        finally:
            try:
                self.drop_database(name)
            except psycopg.Error:
                pass

    def drop_database(self, name: str) -> None:
        """Drop ``name`` if it exists, ending its sessions first."""
        with self.admin_connect() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def terminate_sessions(self, database: str = DATABASE) -> int:
        """End every client session on ``database`` (pg_terminate_backend), as an administrator or a
        failover would; returns how many there were."""
        with self.admin_connect() as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()", (database,)).fetchall()
        return len(rows)

    def admin_connect(self, dbname: str = "postgres") -> psycopg.Connection[Any]:
        """An autocommit connection as the superuser over the unix socket (for test set-up only)."""
        return psycopg.connect(host=str(self.socket_dir), port=self.port, user=SUPERUSER, dbname=dbname,
                               autocommit=True, connect_timeout=5)

    def log(self) -> str:
        """The server's log so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self) -> None:
        """Start the cluster again after ``kill9()`` or ``stop(cleanup=False)``: same port, same data
        (after a kill -9, once crash recovery has replayed the WAL). Returns when it accepts sessions."""
        if self.pid is not None:
            raise RuntimeError("PostgreSQL is already running")
        if not self.datadir.is_dir():
            raise RuntimeError("the cluster was removed by stop(); use stop(cleanup=False) to start it again")
        self._start(any_port=False)

    def restart(self) -> None:
        """A fast shutdown (sessions are ended) and a start on the same port."""
        self.stop(cleanup=False)
        self.start()

    def kill9(self) -> None:
        """SIGKILL the postmaster and every backend (its whole process group), as a crash would, and
        wait until none is left. The data directory stays for ``start()``."""
        if self._popen is None:
            return
        self._kill_group()
        self._close_log()

    def stop(self, cleanup: bool = True, timeout: float = 15.0) -> None:
        """Fast shutdown (SIGINT to the postmaster, what ``pg_ctl stop -m fast`` sends: sessions are
        ended, a checkpoint written), SIGKILL after ``timeout``; then, unless ``cleanup`` is False,
        remove the temporary directory. Safe to call twice."""
        if self._popen is not None:
            if self._popen.poll() is None:
                self._popen.send_signal(signal.SIGINT)
                try:
                    self._popen.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    pass
            self._kill_group()  # whatever is left of the group (nothing, after a clean shutdown)
            self._close_log()
        if cleanup:
            shutil.rmtree(self.base, ignore_errors=True)

    # -- how ------------------------------------------------------------------------------------------

    @staticmethod
    def _server_user() -> pwd.struct_passwd | None:
        """The user initdb and postgres run as: the ``postgres`` system user when we are root."""
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam("postgres")
        except KeyError:
            raise RuntimeError("running as root, PostgreSQL needs the 'postgres' system user: "
                               "run `sh tests/ensure_postgresql.sh`") from None

    def _as_server_user(self) -> dict[str, Any]:
        """Popen arguments that drop to the server user (none when we are not root)."""
        if self._run_as is None:
            return {}
        return {"user": self._run_as.pw_uid, "group": self._run_as.pw_gid, "extra_groups": []}

    def _prepare_base(self) -> None:
        """The temporary directory, owned by the server user; fail early when it cannot reach it."""
        self.base.chmod(0o755)
        self.socket_dir.mkdir(mode=0o755)
        if self._run_as is None:
            return
        for path in (self.base, self.socket_dir):
            os.chown(path, self._run_as.pw_uid, self._run_as.pw_gid)
        for parent in self.base.parents:
            if not parent.stat().st_mode & 0o001:
                raise RuntimeError(f"{parent} is not traversable by the postgres user: "
                                   "point TMPDIR at a directory that is (e.g. /tmp)")

    def _initdb(self) -> None:
        """A fresh cluster: UTF8, C locale, superuser ``postgres``; trust on the unix socket only,
        scram-sha-256 over TCP from 127.0.0.1 (pg_hba.conf written here, nothing else admitted)."""
        argv = [str(self.bindir / "initdb"), "-D", str(self.datadir), "-U", SUPERUSER, "-E", "UTF8",
                "--locale=C", "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync",
                "--no-instructions"]
        with open(self.base / "initdb.log", "wb") as log:
            done = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, env=_server_env(),
                                  cwd=self.base, check=False, **self._as_server_user())
        if done.returncode != 0:
            text = (self.base / "initdb.log").read_text(errors="replace")
            raise RuntimeError(f"initdb exited with {done.returncode}:\n{text}")
        hba = self.datadir / "pg_hba.conf"
        hba.write_text("# tests/pgserver.py\n"
                       "local all all trust\n"
                       "host all all 127.0.0.1/32 scram-sha-256\n")
        if self._run_as is not None:
            os.chown(hba, self._run_as.pw_uid, self._run_as.pw_gid)

    def _argv(self) -> list[str]:
        settings = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.socket_dir),
            "max_connections": str(self.max_connections),
            "log_line_prefix": "%m [%p] %q%u@%d ",
        }
        if self.fast:
            settings.update(fsync="off", synchronous_commit="off", full_page_writes="off")
        argv = [str(self.bindir / "postgres"), "-D", str(self.datadir), "-p", str(self.port)]
        for name, value in settings.items():
            argv += ["-c", f"{name}={value}"]
        return argv

    def _start(self, any_port: bool) -> None:
        """Run postgres until it accepts sessions; retry a start that could not bind (with a new port
        when ``any_port``, else the same one) or found the previous cluster's processes still exiting."""
        deadline = time.monotonic() + self.timeout
        while True:
            if any_port:
                self.port = free_port("127.0.0.1")
            offset = self.log_path.stat().st_size if self.log_path.exists() else 0
            self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed by stop()/kill9()
            self._popen = subprocess.Popen(
                self._argv(), stdout=self._log, stderr=subprocess.STDOUT, env=_server_env(),
                cwd=self.base, start_new_session=True, **self._as_server_user())
            if self._wait_ready(deadline):
                return
            self._popen.wait()
            self._close_log()
            text = self.log()[offset:]
            if not any(marker in text for marker in _RETRYABLE) or time.monotonic() > deadline:
                raise RuntimeError(f"postgres exited with {self._popen.returncode}:\n{text}")
            time.sleep(0.1)

    def _wait_ready(self, deadline: float) -> bool:
        """Poll a superuser session until one opens (True) or the postmaster exits (False)."""
        assert self._popen is not None
        while self._popen.poll() is None:
            try:
                with self.admin_connect():
                    return True
            except psycopg.OperationalError:  # no socket yet, or "the database system is starting up"
                if time.monotonic() > deadline:
                    self._kill_group()
                    raise TimeoutError(f"PostgreSQL not ready within {self.timeout}s:\n{self.log()}") from None
                time.sleep(0.05)
        return False

    def _create_role_and_database(self) -> None:
        """Role ``meshplane`` (LOGIN, not a superuser) and its database ``meshplane``. The role is made
        from its SCRAM verifier, computed by libpq here, so the password reaches no server log even if
        the statement is logged."""
        with self.admin_connect() as conn:
            verifier = conn.pgconn.encrypt_password(self._password.encode(), ROLE.encode(), b"scram-sha-256")
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(ROLE), sql.Literal(verifier.decode())))
        self.create_database(DATABASE)

    def _kill_group(self) -> None:
        """SIGKILL the postmaster's process group, reap the postmaster, wait for the rest (bounded)."""
        if self._popen is None:
            return
        pgid = self._popen.pid
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._popen.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.02)

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
