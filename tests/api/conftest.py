"""Fixtures for the API tests: a `meshplane serve --auth sigv4` server and its keys (test_auth.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from auth_helpers import AuthServer
from backends import BACKENDS
from procs import MeshplaneServer


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The storage backend of this run of the API suite: every test using the live server runs on both."""
    return str(request.param)


@pytest.fixture(scope="session")
def live_server(backend: str, tmp_path_factory: pytest.TempPathFactory,
                request: pytest.FixtureRequest) -> Iterator[MeshplaneServer]:
    """One `meshplane serve` per backend for the API suite (tests use unique mesh names)."""
    tmp = tmp_path_factory.mktemp(f"live-{backend}")
    if backend == "sqlite":
        db = str(tmp / "meshplane.db")
    else:
        db = request.getfixturevalue("postgres").create_database("live_api")
    server = MeshplaneServer(db, tmp / "server.log")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fresh_db(backend: str, make_db) -> str:  # type: ignore[no-untyped-def]
    """A new empty database of this run's backend."""
    return make_db(backend)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    """`meshplane serve --auth sigv4 --audit-log ...` over a fresh database (its first start creates the
    admin key file), for one test module."""
    tmp = tmp_path_factory.mktemp("auth")
    db, audit_log = tmp / "auth.db", tmp / "audit.log"
    server = MeshplaneServer(db, tmp / "server.log", "--auth", "sigv4", "--audit-log", str(audit_log))
    try:
        admin = json.loads(Path(str(db) + ".admin-key.json").read_text())
        yield AuthServer(server, db, audit_log, admin)
    finally:
        server.stop()
