"""Fixtures shared by every test folder: a live meshplane server and AWS clients for it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from pathlib import Path

import re
import uuid

import pytest

from clients import make_client
from pgserver import PostgresServer
from procs import MeshplaneServer

ACCOUNT = "111122223333"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite the translator golden files (tests/unit/testdata/out) instead of comparing",
    )


_MEASUREMENTS: list[str] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print what the tests measured with ``measure`` (also recorded as junit properties)."""
    if _MEASUREMENTS:
        terminalreporter.section("meshplane measurements")
        for line in _MEASUREMENTS:
            terminalreporter.write_line(line)


@pytest.fixture
def measure(request: pytest.FixtureRequest,
            record_property: Callable[[str, object], None]) -> Callable[[str, object], None]:
    """``measure(name, value)``: keep a measured figure in the test report and the run's summary."""

    def record(name: str, value: object) -> None:
        record_property(name, value)
        line = f"{request.node.name}: {name} = {value}"
        _MEASUREMENTS.append(line)
        print(line)

    return record


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MeshplaneServer]:
    """One `meshplane serve` process for the session (tests use unique mesh names)."""
    tmp = tmp_path_factory.mktemp("live")
    server = MeshplaneServer(tmp / "meshplane.db", tmp / "server.log")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def endpoint(live_server: MeshplaneServer) -> str:
    return live_server.endpoint


@pytest.fixture(scope="session")
def appmesh(endpoint: str):  # type: ignore[no-untyped-def]
    """A boto3 App Mesh client pointed at the live server (it parses with AWS's own model)."""
    return make_client(endpoint)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the session (tests/pgserver.py; fsync on), removed at the end.

    Tests that stop or kill it must start it again before they return; tests that crash it under
    load or change its settings should start a PostgresServer of their own.
    """
    server = PostgresServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(postgres: PostgresServer, request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of a fresh empty database, owned by the role ``meshplane``, dropped after the test."""
    with postgres.temporary_database(request.node.name) as url:
        yield url


@pytest.fixture
def make_db(tmp_path: Path, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """``make_db(backend, name)``: a fresh database of ``backend`` for this test: a SQLite file path,
    or the URL of a new PostgreSQL database on the session's server (started on first need)."""

    def make(backend: str, name: str = "db") -> str:
        if backend == "sqlite":
            return str(tmp_path / f"{name}.db")
        server: PostgresServer = request.getfixturevalue("postgres")
        slug = re.sub(r"[^a-z0-9_]+", "_", name.lower())[:30]
        return server.create_database(f"t_{slug}_{uuid.uuid4().hex[:8]}")

    return make


@pytest.fixture
def mesh_name(request: pytest.FixtureRequest) -> str:
    """A mesh name unique to the test."""
    slug = request.node.name.replace("[", "-").replace("]", "").replace("_", "-")[:48]
    return f"m-{slug}-{uuid.uuid4().hex[:8]}"
