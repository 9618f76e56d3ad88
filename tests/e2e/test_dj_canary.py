"""The DJ app canary: dj's sidecar Envoy splits jazz 90/10 across v1/v2, then 50/50 after one
UpdateRoute, without restarting (shared/reference/demos.md, demo 2).

The test plays the dj app: it sends to dj's egress listener (one-host mode) with
``Host: jazz.prod.svc.cluster.local`` (docs/translation.md, "Binding").
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from demo_meshes import DJ_APPS, JAZZ, METAL, create_dj_app, dj_node_id, set_route_weights
from mesh_traffic import HttpClient, assert_split, count_answers
from procs import MeshplaneServer
from proxy_sync import acked_versions, proxy_types, published_config, wait_synced

pytestmark = pytest.mark.envoy

REQUESTS = 2000


def route_weights(endpoint: str, node_id: str, service: str) -> dict[str, int]:
    """cluster -> weight of the first route of ``service``'s virtual host, as last published."""
    routes = published_config(endpoint, node_id)["RDS"]
    for config in routes.values():
        for host in config.get("virtualHosts", []):
            if service in host.get("domains", []):
                clusters = host["routes"][0]["route"]["weightedClusters"]["clusters"]
                return {c["name"]: int(c.get("weight", 0)) for c in clusters}
    raise AssertionError(f"no virtual host for {service} in {routes}")


def test_canary_split_follows_route_update_without_restart(xds_mode: str, meshplane_xds: MeshplaneServer, api: Any,
                                                           mesh_name: str, apps: Any, envoys: Any,
                                                           measure: Any) -> None:
    started = dict(zip(DJ_APPS, apps.start(*DJ_APPS), strict=True))
    create_dj_app(api, mesh_name, started)
    node_id = dj_node_id(mesh_name)
    dj = envoys.sidecar(meshplane_xds, node_id, xds_mode)
    pid = dj.pid
    endpoint = meshplane_xds.endpoint

    with HttpClient(dj.egress_port) as client:
        counts = count_answers(client, REQUESTS, "/", JAZZ)
        measure(f"{xds_mode} jazz split at 90/10", dict(counts))
        assert_split(counts, {"jazz-v1": 90, "jazz-v2": 10}, tolerance=0.03)
        metal = count_answers(client, 200, "/", METAL)
        assert set(metal) == {"metal-v1", "metal-v2"}, metal

        # The app's own listener: ingress reaches the dj app.
        with HttpClient(int(dj.ingress_port)) as ingress:
            assert ingress.get("/")[1] == "dj"

        before = proxy_types(endpoint, node_id)
        assert before is not None
        set_route_weights(api, mesh_name, "jazz-router", "jazz-route", {"jazz-v1": 50, "jazz-v2": 50})
        changed_at = time.monotonic()
        types = wait_synced(endpoint, node_id, timeout=10, not_acked={"RDS": acked_versions(before)["RDS"]})
        measure(f"{xds_mode} REST 200 -> RDS SYNCED seen via /proxies (s)", round(time.monotonic() - changed_at, 3))
        # A route change is an RDS-only change: nothing else was re-sent.
        for name in ("CDS", "EDS", "LDS"):
            assert types[name]["versionAcked"] == before[name]["versionAcked"], (name, before, types)
        assert sorted(route_weights(endpoint, node_id, JAZZ).values()) == [50, 50]

        counts = count_answers(client, REQUESTS, "/", JAZZ)
        measure(f"{xds_mode} jazz split at 50/50", dict(counts))
        assert_split(counts, {"jazz-v1": 50, "jazz-v2": 50}, tolerance=0.03)

    # Same Envoy all along: configuration arrived over the stream, not through a restart.
    assert dj.process.alive() and dj.pid == pid
