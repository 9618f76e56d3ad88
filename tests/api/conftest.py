"""Fixtures for the API tests: a `meshplane serve --auth sigv4` server and its keys (test_auth.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from auth_helpers import AuthServer
from procs import MeshplaneServer


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
