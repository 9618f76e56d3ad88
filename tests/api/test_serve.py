"""`meshplane serve`: configuration from flags and MESHPLANE_* variables, clean stop on signals."""

from __future__ import annotations

import signal

import pytest
import requests

from procs import MeshplaneServer, env_with_venv


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_stops_cleanly_on_signal(tmp_path, sig):
    server = MeshplaneServer(tmp_path / "s.db", tmp_path / "s.log")
    assert requests.get(server.endpoint + "/healthz", timeout=10).status_code == 200
    server.popen.send_signal(sig)  # the master only: it must stop its workers itself
    assert server.popen.wait(timeout=20) == 0
    server.stop()


def test_account_and_region_come_from_the_environment(tmp_path):
    env = env_with_venv({"MESHPLANE_ACCOUNT_ID": "210987654321", "MESHPLANE_REGION": "eu-west-1"})
    server = MeshplaneServer(tmp_path / "e.db", tmp_path / "e.log", env=env)
    try:
        mesh = requests.put(server.endpoint + "/v20190125/meshes", json={"meshName": "m"}, timeout=10).json()
        assert mesh["metadata"]["arn"] == "arn:aws:appmesh:eu-west-1:210987654321:mesh/m"
        assert mesh["metadata"]["meshOwner"] == "210987654321"
    finally:
        server.stop()


def test_flags_win_over_the_environment(tmp_path):
    env = env_with_venv({"MESHPLANE_REGION": "eu-west-1"})
    server = MeshplaneServer(tmp_path / "f.db", tmp_path / "f.log", "--region", "ap-south-1", env=env)
    try:
        mesh = requests.put(server.endpoint + "/v20190125/meshes", json={"meshName": "m"}, timeout=10).json()
        assert mesh["metadata"]["arn"].startswith("arn:aws:appmesh:ap-south-1:")
    finally:
        server.stop()
