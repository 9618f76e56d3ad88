"""Overload answers: 429 TooManyRequestsException past the rate limit, 503 when the database stays locked."""

from __future__ import annotations

import sqlite3

import requests

from procs import MeshplaneServer, env_with_venv

P = "/v20190125"


def test_requests_past_the_rate_limit_get_429(tmp_path):
    env = env_with_venv({"MESHPLANE_RATE_LIMIT": "2", "MESHPLANE_WORKERS": "1"})
    server = MeshplaneServer(tmp_path / "r.db", tmp_path / "r.log", env=env)
    try:
        statuses = [requests.get(f"{server.endpoint}{P}/meshes", timeout=10) for _ in range(6)]
        throttled = [r for r in statuses if r.status_code == 429]
        assert throttled, [r.status_code for r in statuses]
        assert throttled[0].headers["x-amzn-ErrorType"] == "TooManyRequestsException"
        assert requests.get(f"{server.endpoint}/healthz", timeout=10).status_code == 200
    finally:
        server.stop()


def test_a_write_that_cannot_get_the_lock_gets_503_and_changes_nothing(tmp_path):
    db = tmp_path / "b.db"
    env = env_with_venv({"MESHPLANE_BUSY_TIMEOUT_MS": "200"})
    server = MeshplaneServer(db, tmp_path / "b.log", env=env)
    holder = sqlite3.connect(db, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another writer holds the database
        r = requests.put(f"{server.endpoint}{P}/meshes", json={"meshName": "busy"}, timeout=10)
        assert r.status_code == 503
        assert r.headers["x-amzn-ErrorType"] == "ServiceUnavailableException"
        holder.execute("ROLLBACK")
        assert requests.get(f"{server.endpoint}{P}/meshes", timeout=10).json()["meshes"] == []
        assert requests.put(f"{server.endpoint}{P}/meshes", json={"meshName": "busy"}, timeout=10).status_code == 200
    finally:
        holder.close()
        server.stop()
