"""Fixtures shared by every test folder: a live meshplane server and AWS clients for it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import uuid

import pytest

from clients import make_client
from procs import MeshplaneServer

ACCOUNT = "111122223333"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite the translator golden files (tests/unit/testdata/out) instead of comparing",
    )


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


@pytest.fixture
def mesh_name(request: pytest.FixtureRequest) -> str:
    """A mesh name unique to the test."""
    slug = request.node.name.replace("[", "-").replace("]", "").replace("_", "-")[:48]
    return f"m-{slug}-{uuid.uuid4().hex[:8]}"
