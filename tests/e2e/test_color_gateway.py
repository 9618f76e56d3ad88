"""The color app behind an ingress gateway: a real gateway Envoy splits real traffic by weight.

Four colorteller apps, two weighted virtual services (white:1/blue:1 and red:1/black:1), and a
virtual gateway routing /color1 and /color2 to them (shared/reference/demos.md, demo 1).
"""

from __future__ import annotations

from typing import Any

import pytest
from demo_meshes import COLOR_SERVICES, COLORS, create_color_app, set_gateway_port
from mesh_traffic import HttpClient, assert_split, count_answers
from procs import MeshplaneServer, free_port
from proxy_sync import published_config

pytestmark = pytest.mark.envoy

REQUESTS = 2000


def test_gateway_splits_each_service_by_weight(xds_mode: str, meshplane_xds: MeshplaneServer, api: Any,
                                               mesh_name: str, apps: Any, envoys: Any, measure: Any) -> None:
    colors = dict(zip(COLORS, apps.start(*COLORS), strict=True))
    port = [free_port()]
    create_color_app(api, mesh_name, colors, "colorapp-gw", port[0])

    def rebind() -> None:  # someone took the port between free_port() and Envoy's bind
        port[0] = free_port()
        set_gateway_port(api, mesh_name, "colorapp-gw", port[0])

    node_id = f"mesh/{mesh_name}/virtualGateway/colorapp-gw"
    gateway = envoys.gateway(meshplane_xds, node_id, xds_mode, rebind)
    listeners = published_config(meshplane_xds.endpoint, node_id)["LDS"]
    assert f"lds_ingress_0.0.0.0_{port[0]}" in listeners

    with HttpClient(port[0]) as client:
        for index, (service, pair) in enumerate(COLOR_SERVICES.items(), start=1):
            counts = count_answers(client, REQUESTS, f"/color{index}/tell")
            measure(f"{xds_mode} {service} split", dict(counts))
            # Only this service's two colors answer, and in the configured 1:1 ratio.
            assert_split(counts, {pair[0]: 1, pair[1]: 1})
        status, _ = client.get("/nothing-routes-here")
        assert status == 404
    assert gateway.process.alive()
