"""The test PostgreSQL server (tests/pgserver.py): real sessions over TCP, crash and restart, no secrets
in its logs."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import psycopg
import pytest

from pgserver import PostgresServer


def test_fresh_database_takes_a_table(pg_url: str, postgres: PostgresServer) -> None:
    parts = urlsplit(pg_url)
    assert (parts.hostname, parts.port, parts.username) == ("127.0.0.1", postgres.port, "meshplane")
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone() == (0,)
        conn.execute("CREATE TABLE item (id integer PRIMARY KEY, name text NOT NULL)")
        conn.execute("INSERT INTO item VALUES (1, 'one')")
        assert conn.execute("SELECT name FROM item").fetchall() == [("one",)]
        assert conn.execute("SELECT current_user, current_setting('fsync')").fetchone() == ("meshplane", "on")


def test_tcp_sessions_need_the_password(postgres: PostgresServer) -> None:
    wrong = postgres.url().replace(postgres.password, "not-the-password")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong, connect_timeout=5).close()


def test_kill9_and_start_keep_port_and_committed_rows() -> None:
    with PostgresServer() as server:
        first_pid, port = server.pid, server.port
        url = server.create_database("crash")
        with psycopg.connect(url) as conn:
            conn.execute("CREATE TABLE item (id integer PRIMARY KEY)")
            conn.execute("INSERT INTO item VALUES (1)")
        survivor = psycopg.connect(url)  # a session open across the crash
        server.kill9()
        assert server.pid is None
        with pytest.raises(psycopg.OperationalError):
            survivor.execute("SELECT 1")
        survivor.close()

        server.start()
        assert server.port == port and server.pid not in (None, first_pid)
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT id FROM item").fetchall() == [(1,)]

        server.restart()
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT count(*) FROM item").fetchone() == (1,)
        assert server.password not in server.log()
        assert server.password not in (server.base / "initdb.log").read_text()
        assert server.password not in repr(server)
        base = server.base
    assert not base.exists()


def test_fast_server_trades_durability() -> None:
    with PostgresServer(fast=True) as server, psycopg.connect(server.url()) as conn:
        settings = conn.execute("SELECT current_setting('fsync'), current_setting('synchronous_commit'),"
                                " current_setting('full_page_writes')").fetchone()
        assert settings == ("off", "off", "off")


def test_server_runs_unprivileged(postgres: PostgresServer) -> None:
    assert postgres.pid is not None
    assert os.stat(f"/proc/{postgres.pid}").st_uid != 0  # PostgreSQL refuses to run as root
    assert postgres.password not in postgres.log()
