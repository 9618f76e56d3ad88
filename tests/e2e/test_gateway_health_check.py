"""A virtual gateway listener's healthCheck, served by a real gateway Envoy: the health check path
is answered by the gateway itself (200; 503 once Envoy is told to fail health checks), every
other path still routes to the targets."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from demo_meshes import COLORS, create_color_app, http_listener
from mesh_traffic import HttpClient
from procs import MeshplaneServer, free_port

pytestmark = pytest.mark.envoy


def test_gateway_answers_its_listener_health_check(meshplane_xds: MeshplaneServer, api: Any, mesh_name: str,
                                                   apps: Any, envoys: Any) -> None:
    colors = dict(zip(COLORS, apps.start(*COLORS), strict=True))
    port = [free_port()]
    create_color_app(api, mesh_name, colors, "colorapp-gw", port[0])

    def set_listener() -> None:
        listener = http_listener(port[0])[0]
        listener["healthCheck"] = {"protocol": "http", "path": "/healthz", "port": port[0], "healthyThreshold": 2,
                                   "unhealthyThreshold": 2, "intervalMillis": 5000, "timeoutMillis": 2000}
        api.update_virtual_gateway(meshName=mesh_name, virtualGatewayName="colorapp-gw", spec={"listeners": [listener]})

    def rebind() -> None:
        port[0] = free_port()
        set_listener()

    set_listener()
    gateway = envoys.gateway(meshplane_xds, f"mesh/{mesh_name}/virtualGateway/colorapp-gw", "sotw", rebind)
    hits = sum(app.hits for app in colors.values())
    with HttpClient(port[0]) as client:
        assert client.get("/healthz") == (200, "")
        assert sum(app.hits for app in colors.values()) == hits  # answered by the gateway, not routed
        status, body = client.get("/color1/tell")
        assert status == 200 and body in ("white", "blue")
    requests.post(f"{gateway.process.admin_url}/healthcheck/fail", timeout=5).raise_for_status()
    with HttpClient(port[0]) as client:
        assert client.get("/healthz")[0] == 503  # draining: the load balancer stops sending
