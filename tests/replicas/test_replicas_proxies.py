"""Proxy status across replicas on one PostgreSQL database (issue 10, "Deliver" 4 and 6).

Replicas A and B serve xDS, C only the API. A real Envoy bootstrapped with both xDS addresses
(``envoy_bootstrap(..., xds="A,B")``) connects to one of them (the holder); every replica lists
the proxy with the holder's id, and answers its last-published config. kill -9 of the holder:
the Envoy moves its stream to the survivor, the status on every live replica shows the old stream
no longer connected (within 30 s) and the new one connected on the survivor, and a change written
on C reaches the Envoy through the survivor.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from replica_cluster import Cluster, wait_for

from meshplane.bootstrap import envoy_bootstrap
from procs import EnvoyProcess, free_port

pytestmark = pytest.mark.envoy

#: The types a node with no backends is sent (its one cluster, the local app, needs no EDS).
CORE_TYPES = ("CDS", "LDS", "RDS")
RECONNECT_LIMIT_S = 10.0  # kill -9 of the holder -> the Envoy's stream SYNCED on the survivor
NOT_CONNECTED_LIMIT_S = 30.0  # kill -9 of the holder -> its stream shown not connected
CHANGE_LIMIT_S = 5.0  # a write on C -> acknowledged by the Envoy on the survivor
BIND_ERRORS = ("address already in use", "cannot bind")
MESH = "status"
NODE = "web"
NODE_ID = f"mesh/{MESH}/virtualNode/{NODE}"
A, B, C = 0, 1, 2


@pytest.fixture
def cluster(pg_url: str, tmp_path: Path) -> Iterator[Cluster]:
    started = Cluster(pg_url, tmp_path, 3, xds=[True, True, False])
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def envoys(tmp_path: Path) -> Iterator[list[EnvoyProcess]]:
    """Envoys the test starts (appended to the list), stopped at teardown."""
    started: list[EnvoyProcess] = []
    try:
        yield started
    finally:
        for envoy in started:
            envoy.stop()


def node_spec(app_port: int) -> dict[str, Any]:
    return {"listeners": [{"portMapping": {"port": app_port, "protocol": "http"}}],
            "serviceDiscovery": {"dns": {"hostname": "127.0.0.1"}}}


def streams(cluster: Cluster, index: int) -> list[dict[str, Any]]:
    """The node's stream rows as replica ``index`` shows them."""
    return [p for p in cluster.proxies(index, MESH) if p["nodeId"] == NODE_ID]


def synced_on(rows: list[dict[str, Any]], replica: str) -> dict[str, Any] | None:
    """The one connected row of ``replica`` among ``rows`` when all its core types are SYNCED."""
    live = [r for r in rows if r["connected"] and r["replica"] == replica]
    if len(live) != 1 or live[0]["state"] != "connected":
        return None
    types = live[0]["types"]
    return live[0] if all(types.get(t, {}).get("state") == "SYNCED" for t in CORE_TYPES) else None


def start_envoy(cluster: Cluster, envoys: list[EnvoyProcess], workdir: Path) -> tuple[EnvoyProcess, int]:
    """An Envoy for NODE dialling A and B, waited for until one of them shows it SYNCED; returns
    it and the index of the replica holding its stream. A listener port taken between free_port()
    and Envoy's bind (the one unavoidable race) is retried with new ports."""
    xds = f"{cluster.servers[A].xds_address},{cluster.servers[B].xds_address}"
    last: list[Any] = [None]
    for attempt in range(3):
        bootstrap = envoy_bootstrap(NODE_ID, xds, admin_port=0, ingress_port=free_port(), egress_port=free_port(),
                                    app_address="127.0.0.1")
        envoy = EnvoyProcess(bootstrap, workdir, f"envoy-{attempt}")
        envoys.append(envoy)

        def check() -> tuple[str, int] | None:
            if not envoy.alive():
                raise AssertionError(f"envoy exited:\n{envoy.all_logs()}")
            rows = last[0] = streams(cluster, C)
            for holder in (A, B):
                if synced_on(rows, cluster.ids[holder]):
                    return "ok", holder
            errors = " ".join(str(r["types"].get("LDS", {}).get("error") or "") for r in rows if r["connected"])
            return ("bind", -1) if any(marker in errors.lower() for marker in BIND_ERRORS) else None

        outcome, holder = wait_for(check, 30, lambda: f"{NODE_ID} SYNCED on A or B (last: {last[0]})")
        if outcome == "ok":
            return envoy, holder
        envoy.stop()
        envoys.remove(envoy)
    raise AssertionError(f"{NODE_ID} never bound its listeners (last: {last[0]})")


def test_proxy_status_and_config_on_every_replica_and_failover(
        cluster: Cluster, envoys: list[EnvoyProcess], tmp_path: Path, measure: Callable[[str, object], None]) -> None:
    api = cluster.clients[C]
    api.create_mesh(meshName=MESH)
    api.create_virtual_node(meshName=MESH, virtualNodeName=NODE, spec=node_spec(free_port()))

    started = time.monotonic()
    envoy, holder = start_envoy(cluster, envoys, tmp_path / "envoy")
    measure("envoy_synced_s", round(time.monotonic() - started, 2))
    survivor = B if holder == A else A
    holder_id, survivor_id = cluster.ids[holder], cluster.ids[survivor]

    # Every replica, the one without the stream included, shows it on the holder, and answers its config.
    for index in (A, B, C):
        row = synced_on(streams(cluster, index), holder_id)
        assert row is not None, streams(cluster, index)
        response = requests.get(f"{cluster.servers[index].endpoint}/meshplane/v1/proxies/{NODE_ID}/config", timeout=5)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["nodeId"] == NODE_ID
        assert any(body["resources"].values()), body

    killed_at = time.monotonic()
    cluster.servers[holder].kill9()

    last: list[Any] = [None]

    def moved() -> dict[str, Any] | None:
        rows = last[0] = streams(cluster, C)
        return synced_on(rows, survivor_id)

    on_survivor = wait_for(moved, RECONNECT_LIMIT_S, lambda: f"the stream on {survivor_id} (last: {last[0]})")
    measure("reconnected_to_survivor_s", round(time.monotonic() - killed_at, 2))
    assert envoy.alive()
    acked = on_survivor["types"]["CDS"]["versionAcked"]  # versions are the survivor's own from here
    # Until the dead holder's heartbeat is REPLICA_DEAD_S old, its stream row still reads as
    # connected (a node id may be shared by many Envoys, so a new stream elsewhere proves nothing
    # about the old one): recorded, not asserted.
    measure("dead_holder_stream_state_at_reconnect",
            [r["state"] for r in (last[0] or []) if r["replica"] == holder_id])

    # A change written on C (which serves no xDS) reaches the Envoy through the survivor.
    changed_at = time.monotonic()
    new_port = free_port()
    api.update_virtual_node(meshName=MESH, virtualNodeName=NODE, spec=node_spec(new_port))

    def acked_new() -> dict[str, Any] | None:
        row = last[0] = synced_on(streams(cluster, C), survivor_id)
        return row if row and row["types"]["CDS"].get("versionAcked") not in (None, acked) else None

    wait_for(acked_new, CHANGE_LIMIT_S, lambda: f"a new CDS version acknowledged (last: {last[0]})")
    measure("change_on_c_acked_via_survivor_s", round(time.monotonic() - changed_at, 2))
    clusters = requests.get(f"{envoy.admin_url}/config_dump", params={"resource": "dynamic_active_clusters"},
                            timeout=5).text
    assert f'"port_value": {new_port}' in clusters, clusters  # the local app's cluster, in Envoy itself

    def holder_not_connected() -> bool:
        for index in (survivor, C):
            rows = last[0] = streams(cluster, index)
            old = [r for r in rows if r["replica"] == holder_id]
            if not old or any(r["connected"] or r["state"] not in ("reconnecting", "disconnected") for r in old):
                return False
            if synced_on(rows, survivor_id) is None:
                return False
        return True

    wait_for(holder_not_connected, NOT_CONNECTED_LIMIT_S, lambda: f"{holder_id}'s stream not connected (last: {last[0]})")
    measure("dead_holder_stream_not_connected_s", round(time.monotonic() - killed_at, 2))
    measure("dead_holder_stream_state", [r["state"] for r in streams(cluster, C) if r["replica"] == holder_id])
    for index in (survivor, C):
        response = requests.get(f"{cluster.servers[index].endpoint}/meshplane/v1/proxies/{NODE_ID}/config", timeout=5)
        assert response.status_code == 200, response.text
