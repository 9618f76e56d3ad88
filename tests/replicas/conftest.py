"""Fixtures for the replica tests: several `meshplane serve` replicas over one PostgreSQL database.

Every replica is a real process on port 0; every database is fresh and dropped afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pgserver import PostgresServer
from replica_cluster import NODE_QUOTA, Cluster


@pytest.fixture(scope="module")
def module_db(postgres: PostgresServer, request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of a fresh database for the test module, dropped at its end."""
    with postgres.temporary_database(request.module.__name__) as url:
        yield url


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
