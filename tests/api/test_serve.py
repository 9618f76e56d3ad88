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


@pytest.mark.parametrize("xds_workers", ["1", "2"])
def test_the_xds_processes_stop_when_serve_is_killed_with_sigkill(tmp_path, xds_workers):
    """SIGKILL leaves serve no chance to stop its children (API workers, the xDS process and its
    workers): they notice that their parent is gone and stop by themselves, freeing the ports."""
    import os
    import time
    from pathlib import Path

    env = env_with_venv({"MESHPLANE_XDS_WORKERS": xds_workers})
    server = MeshplaneServer(tmp_path / "k.db", tmp_path / "k.log", xds=True, env=env)
    try:
        children = [int(c) for c in Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()]
        xds = [c for c in children if b"xds" in Path(f"/proc/{c}/cmdline").read_bytes().split(b"\0")]
        # The xDS process, the replica runner and two API workers.
        assert len(xds) == 1 and len(children) == 4
        family = [*children, *map(int, Path(f"/proc/{xds[0]}/task/{xds[0]}/children").read_text().split())]
        assert len(family) == (4 if xds_workers == "1" else 6)
        os.kill(server.pid, signal.SIGKILL)  # serve only, not its process group
        deadline = time.monotonic() + 15
        alive = family
        while alive and time.monotonic() < deadline:
            time.sleep(0.1)
            alive = [pid for pid in family if _running(pid)]
        assert alive == [], f"still running after serve was killed: {alive}"
    finally:
        server.stop()  # the rest of the process group (the API workers)


def _running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie waiting for its (dead) parent to reap it."""
    from pathlib import Path

    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False
