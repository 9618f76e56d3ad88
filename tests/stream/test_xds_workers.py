"""`meshplane serve --xds-workers 2`: several xDS processes on one port, each serving its own proxies.

Real server processes, real gRPC streams (the test ADS client), real kernel load spreading.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import requests
from adsclient import AdsClient, unpack, wait_until

from meshplane.stream import CLUSTER, LISTENER
from procs import MeshplaneServer

PROXIES = 12


def _node(name: str, port: int) -> dict:
    return {"virtualNodeName": name, "spec": {
        "listeners": [{"portMapping": {"port": port, "protocol": "http"}}],
        "serviceDiscovery": {"dns": {"hostname": f"{name}.local"}}}}


def _xds_processes(server: MeshplaneServer) -> tuple[int, list[int]]:
    """(the `meshplane xds` supervisor's pid, its workers' pids)."""
    def children(pid: int) -> list[int]:  # of every thread: the supervisor restarts from a thread
        return [int(p) for task in Path(f"/proc/{pid}/task").iterdir()
                for p in (task / "children").read_text().split()]

    for child in children(server.pid):
        if b"xds" in Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0"):
            return child, children(child)
    raise AssertionError("no meshplane xds process")


def _connected(endpoint: str) -> list[dict]:
    rows = requests.get(f"{endpoint}/meshplane/v1/proxies?mesh=m", timeout=10).json()["proxies"]
    return [r for r in rows if r["connected"]]


def test_workers_share_the_port_and_each_serves_its_own_proxies(tmp_path):
    server = MeshplaneServer(tmp_path / "w.db", tmp_path / "w.log", "--xds-workers", "2", xds=True)
    clients: list[AdsClient] = []
    try:
        api = server.endpoint + "/v20190125/meshes"
        assert requests.put(api, json={"meshName": "m"}, timeout=10).status_code == 200
        for i in range(PROXIES):
            assert requests.put(f"{api}/m/virtualNodes", json=_node(f"n{i}", 8000 + i), timeout=10).status_code == 200
        supervisor, workers = _xds_processes(server)
        assert len(workers) == 2
        for i in range(PROXIES):  # each its own TCP connection: the kernel spreads them
            client = AdsClient(server.xds_port, f"mesh/m/virtualNode/n{i}")
            clients.append(client)
            listeners = unpack(client.sync(CLUSTER, LISTENER)[LISTENER])
            ingress = listeners["lds_ingress_0.0.0.0_15000"]
            assert ingress.filter_chains[0].filter_chain_match.destination_port.value == 8000 + i

        def all_synced() -> list[dict]:
            rows = _connected(server.endpoint)
            synced = len(rows) == PROXIES and all(r["types"]["LDS"]["state"] == "SYNCED" for r in rows)
            return rows if synced else []

        rows = wait_until(all_synced, timeout=10, message="every proxy shown connected and SYNCED")
        assert len({r["stream"] for r in rows}) == PROXIES  # stream ids never collide across workers
        metrics = requests.get(server.endpoint + "/metrics", timeout=10).text
        wait_until(lambda: f"meshplane_xds_connected_proxies {PROXIES}.0" in
                   requests.get(server.endpoint + "/metrics", timeout=10).text, timeout=10,
                   message=f"the workers' metrics added up\n{metrics}")

        # A change reaches the proxy whichever worker holds its stream.
        body = _node("n5", 9005)
        body.pop("virtualNodeName")
        assert requests.put(f"{api}/m/virtualNodes/n5", json=body, timeout=10).status_code == 200
        while (update := clients[5].expect(timeout=10)).type_url != LISTENER:  # CDS comes first
            clients[5].ack(update)
        assert unpack(update)["lds_ingress_0.0.0.0_15000"].filter_chains[0].filter_chain_match \
            .destination_port.value == 9005

        # A worker that dies is replaced, on the same port, and new proxies are served.
        os.kill(workers[0], signal.SIGKILL)
        wait_until(lambda: len(_xds_processes(server)[1]) == 2 and workers[0] not in _xds_processes(server)[1],
                   timeout=15, message="the supervisor restarted the worker")
        for attempt in range(PROXIES):  # some connections may land on the restarting worker
            late = AdsClient(server.xds_port, f"mesh/m/virtualNode/n{attempt}")
            clients.append(late)
            try:
                assert LISTENER in late.sync(CLUSTER, LISTENER)
                break
            except AssertionError:
                time.sleep(0.5)
        else:
            raise AssertionError("no new stream was served after the worker restart")
    finally:
        for client in clients:
            client.close()
        server.stop()
    assert server.popen.returncode == 0
    for pid in [supervisor, *workers]:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
