"""Restarting meshplane under live traffic: the sidecar keeps serving from its last config, not one
request fails, and it is SYNCED again with the new process (same xDS port, same database) fast.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from demo_meshes import DJ_APPS, JAZZ, appmesh_client, create_dj_app, dj_node_id
from mesh_traffic import one_shot_get
from procs import MeshplaneServer
from proxy_sync import proxy_streams, wait_synced

pytestmark = pytest.mark.envoy

RATE = 20  # requests per second through the sidecar
RESYNC_LIMIT_S = 10.0


class Traffic:
    """A thread that GETs ``Host: JAZZ`` through the egress port at RATE/s, each request on a new
    connection (a failure cannot hide behind a keep-alive retry), recording every outcome."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.outcomes: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="traffic", daemon=True)

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                status, body = one_shot_get(self.port, "/", JAZZ, timeout=5)
                outcome = body if status == 200 else f"HTTP {status}: {body[:200]}"
            except OSError as error:
                outcome = f"{type(error).__name__}: {error}"
            self.outcomes.append((time.monotonic(), outcome))
            next_at += 1 / RATE
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def failures(self) -> list[tuple[float, str]]:
        return [(at, outcome) for at, outcome in self.outcomes if outcome != "jazz-v1"]


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[MeshplaneServer]]:
    """The meshplane processes this test starts (stopped at teardown if still running)."""
    started: list[MeshplaneServer] = []
    try:
        yield started
    finally:
        for server in started:
            server.stop()


def test_restart_under_traffic_drops_nothing_and_resyncs(xds_mode: str, tmp_path: Path, servers: list[MeshplaneServer],
                                                         mesh_name: str, apps: Any, envoys: Any,
                                                         measure: Any) -> None:
    db = tmp_path / "meshplane.db"
    first = MeshplaneServer(db, tmp_path / "first.log", xds=True)
    servers.append(first)
    api = appmesh_client(first.endpoint)
    started = dict(zip(DJ_APPS, apps.start(*DJ_APPS), strict=True))
    create_dj_app(api, mesh_name, started, jazz={"jazz-v1": 1})
    node_id = dj_node_id(mesh_name)
    dj = envoys.sidecar(first, node_id, xds_mode)
    pid = dj.pid

    with Traffic(int(dj.egress_port)) as traffic:
        time.sleep(0.5)
        stop_began = time.monotonic()
        assert first.stop() is not None
        down_s = time.monotonic() - stop_began
        spawned_wall, spawned = time.time(), time.monotonic()
        second = MeshplaneServer(db, tmp_path / "second.log", xds=True, xds_listen=str(first.xds_address))
        servers.append(second)
        listening_s = time.monotonic() - spawned
        assert second.xds_address == first.xds_address
        types = wait_synced(second.endpoint, node_id, timeout=30)
        seen_s = time.monotonic() - spawned
        # When the proxy acknowledged the last type, from the new process's spawn (same clock: time.time()).
        acked_s = max(float(t["ackedAt"]) for t in types.values()) - spawned_wall
        time.sleep(0.5)

    measure(f"{xds_mode} stop (SIGTERM until exit) s", round(down_s, 2))
    measure(f"{xds_mode} new process: xDS listening after s", round(listening_s, 2))
    measure(f"{xds_mode} resync: all types ACKed after spawn s", round(acked_s, 2))
    measure(f"{xds_mode} resync: SYNCED seen via /proxies after spawn s", round(seen_s, 2))
    measure(f"{xds_mode} requests during the test", len(traffic.outcomes))
    assert not traffic.failures(), traffic.failures()[:10]
    assert len(traffic.outcomes) >= RATE * (down_s + seen_s) * 0.5, "the traffic thread fell far behind"
    assert acked_s <= RESYNC_LIMIT_S, f"SYNCED {acked_s:.1f}s after the restart (limit {RESYNC_LIMIT_S}s)"
    streams = proxy_streams(second.endpoint, node_id)
    assert len(streams) == 1 and streams[0]["protocol"] == xds_mode
    assert dj.process.alive() and dj.pid == pid
