"""Fixtures for the replica tests: several `meshplane serve` replicas over one PostgreSQL database.

Every replica is a real process on port 0; every database is fresh and dropped afterwards.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from pgserver import PostgresServer
from replica_cluster import NODE_QUOTA, Cluster

_MEASUREMENTS: list[str] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print what the replica tests measured (they also record it as junit properties)."""
    if _MEASUREMENTS:
        terminalreporter.section("meshplane replica measurements")
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


@pytest.fixture(scope="module")
def module_db(postgres: PostgresServer, request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of a fresh database for the test module, dropped at its end."""
    slug = re.sub(r"[^a-z0-9_]+", "_", request.module.__name__.lower())[:40]
    name = f"t_{slug}_{uuid.uuid4().hex[:8]}"
    url = postgres.create_database(name)
    yield url
    try:
        postgres.drop_database(name)
    except psycopg.Error:  # the server was left stopped: it goes at session end
        pass


@pytest.fixture(scope="module")
def api_cluster(module_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Three replicas over one database, shared by the module (tests use their own meshes), with
    at most NODE_QUOTA virtual nodes per mesh."""
    cluster = Cluster(module_db, tmp_path_factory.mktemp("replicas"), 3,
                      env={"MESHPLANE_QUOTA_VIRTUALNODES": str(NODE_QUOTA)})
    try:
        yield cluster
    finally:
        cluster.stop()
