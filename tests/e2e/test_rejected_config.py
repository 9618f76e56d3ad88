"""A config the API accepts but Envoy rejects: the proxy shows ERROR with Envoy's own message in
/meshplane/v1/proxies, keeps serving its last good config, and a fixed input brings it back.

The input: a route whose ``path.regex`` uses a lookahead. The API stores any 1..255-character
regex (App Mesh does too); Envoy compiles route regexes with RE2, which has no lookarounds, so
it NACKs the RouteConfiguration.
"""

from __future__ import annotations

from typing import Any

import pytest
from demo_meshes import DJ_APPS, JAZZ, create_dj_app, dj_node_id
from mesh_traffic import HttpClient, count_answers
from procs import MeshplaneServer
from proxy_sync import acked_versions, proxy_types, wait_state, wait_synced

pytestmark = pytest.mark.envoy

RE2_REJECTS = "/(?=jazz).*"


def route_spec(target: str, match: dict[str, Any]) -> dict[str, Any]:
    return {"httpRoute": {"match": match, "action": {"weightedTargets": [{"virtualNode": target, "weight": 1}]}}}


def test_nacked_route_shows_error_and_old_config_keeps_serving(xds_mode: str, meshplane_xds: MeshplaneServer,
                                                                api: Any, mesh_name: str, apps: Any,
                                                                envoys: Any, measure: Any) -> None:
    started = dict(zip(DJ_APPS, apps.start(*DJ_APPS), strict=True))
    create_dj_app(api, mesh_name, started, jazz={"jazz-v1": 1})
    node_id = dj_node_id(mesh_name)
    dj = envoys.sidecar(meshplane_xds, node_id, xds_mode)
    endpoint = meshplane_xds.endpoint

    with HttpClient(dj.egress_port) as client:
        assert count_answers(client, 20, "/", JAZZ) == {"jazz-v1": 20}
        good = proxy_types(endpoint, node_id)
        assert good is not None

        # One UpdateRoute that both moves jazz to v2 and carries a regex RE2 cannot compile.
        api.update_route(meshName=mesh_name, virtualRouterName="jazz-router", routeName="jazz-route",
                         spec=route_spec("jazz-v2", {"path": {"regex": RE2_REJECTS}}))
        types = wait_state(endpoint, node_id, "RDS", "ERROR", timeout=10)
        error = types["RDS"]["error"]
        measure(f"{xds_mode} Envoy's NACK", error)
        assert error and "invalid perl operator: (?=" in error, types["RDS"]  # RE2's own words
        assert types["RDS"]["versionAcked"] == good["RDS"]["versionAcked"]
        for name in ("CDS", "EDS", "LDS"):
            assert types[name]["state"] == "SYNCED", types

        # The proxy still serves the last configuration it accepted: 100% jazz-v1 on every path.
        assert count_answers(client, 20, "/", JAZZ) == {"jazz-v1": 20}
        assert count_answers(client, 5, "/jazz/x", JAZZ) == {"jazz-v1": 5}

        # Fixing the input brings it back to SYNCED, on the new config.
        api.update_route(meshName=mesh_name, virtualRouterName="jazz-router", routeName="jazz-route",
                         spec=route_spec("jazz-v2", {"prefix": "/"}))
        fixed = wait_synced(endpoint, node_id, timeout=10, not_acked={"RDS": acked_versions(good)["RDS"]})
        assert fixed["RDS"]["error"] is None
        assert count_answers(client, 20, "/", JAZZ) == {"jazz-v2": 20}
    assert dj.process.alive()
