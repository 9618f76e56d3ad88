"""Import into a running server with a real Envoy connected: one push, traffic unaffected.

The DJ app runs with dj's sidecar sending to jazz (100% jazz-v1). An import (POST /meshplane/v1/import,
onConflict=replace) of the mesh's own export, with jazz moved to 100% jazz-v2 and twenty new nodes and
services added, is written in one transaction: Envoy receives one update per xDS type at most, and
every request made while it happens is answered 200.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from typing import Any

import pytest
import requests
from demo_meshes import DJ_APPS, JAZZ, create_dj_app, dj_node_id
from mesh_traffic import HttpClient
from procs import MeshplaneServer
from proxy_sync import wait_for

pytestmark = pytest.mark.envoy


def update_counts(admin_url: str) -> dict[str, int]:
    """Envoy's successful xDS updates per subscription (``cluster_manager.cds``, each ``rds.<route config>``)."""
    text = requests.get(f"{admin_url}/stats", params={"filter": r"\.update_success$"}, timeout=5).text
    return {name: int(value) for name, value in re.findall(r"^(\S+): (\d+)$", text, re.M)
            if any(t in name for t in (".cds.", ".lds.", ".rds."))}


def test_import_while_envoy_runs_is_one_push(xds_mode: str, meshplane_xds: MeshplaneServer, api: Any,
                                             mesh_name: str, apps: Any, envoys: Any) -> None:
    started = dict(zip(DJ_APPS, apps.start(*DJ_APPS), strict=True))
    create_dj_app(api, mesh_name, started, jazz={"jazz-v1": 100, "jazz-v2": 0})
    dj = envoys.sidecar(meshplane_xds, dj_node_id(mesh_name), xds_mode)
    endpoint = meshplane_xds.endpoint
    with HttpClient(dj.egress_port) as client:
        assert client.get("/", JAZZ) == (200, "jazz-v1")

    doc = requests.get(f"{endpoint}/meshplane/v1/export", params={"mesh": mesh_name}, timeout=10).json()
    route = next(r for r in doc["resources"] if r.get("routeName") == "jazz-route")
    for target in route["spec"]["httpRoute"]["action"]["weightedTargets"]:
        target["weight"] = 100 if target["virtualNode"] == "jazz-v2" else 0
    listener = [{"portMapping": {"port": 8080, "protocol": "http"}}]
    for i in range(20):
        doc["resources"].append({"kind": "virtualNode", "meshName": mesh_name, "virtualNodeName": f"extra-{i}",
                                 "spec": {"listeners": listener, "serviceDiscovery": {"dns": {"hostname": "127.0.0.1"}}}})
        doc["resources"].append({"kind": "virtualService", "meshName": mesh_name,
                                 "virtualServiceName": f"extra-{i}.local",
                                 "spec": {"provider": {"virtualNode": {"virtualNodeName": f"extra-{i}"}}}})
    before = update_counts(dj.process.admin_url)

    answers: Counter[str] = Counter()
    stop = threading.Event()

    def traffic() -> None:
        with HttpClient(dj.egress_port) as c:
            while not stop.is_set():
                status, body = c.get("/", JAZZ)
                answers[f"{status} {body}"] += 1

    thread = threading.Thread(target=traffic)
    thread.start()
    try:
        answer = requests.post(f"{endpoint}/meshplane/v1/import", data=json.dumps(doc).encode(),
                               params={"onConflict": "replace"}, timeout=30)
        assert answer.status_code == 200, answer.text
        assert answer.json()["totals"] == {"created": 40, "unchanged": 13, "replaced": 1, "skipped": 0}
        wait_for(lambda: answers["200 jazz-v2"] >= 20, 15, lambda: f"jazz-v2 to answer (so far {answers})")
    finally:
        stop.set()
        thread.join(timeout=10)
    assert set(answers) <= {"200 jazz-v1", "200 jazz-v2"}, answers  # nothing failed meanwhile
    after = update_counts(dj.process.admin_url)
    pushes = {name: after[name] - before.get(name, 0) for name in after}
    # one update at most per subscription (the weights live in RDS; one route config carries jazz)
    assert all(n <= 1 for n in pushes.values()), pushes
    assert any(n == 1 for name, n in pushes.items() if ".rds." in name), pushes
