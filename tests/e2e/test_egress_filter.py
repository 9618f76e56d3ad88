"""The mesh egress filter on a real sidecar: DROP_ALL makes backends an allow-list, ALLOW_ALL
passes undeclared destinations through (docs/translation.md, "Egress filter").

The test plays the dj app sending to its egress listener (one-host mode). rock-v1 is a real app
behind a real virtual service (rock.prod.svc.cluster.local) that dj does not declare.
"""

from __future__ import annotations

from typing import Any

import pytest
from demo_meshes import DJ_APPS, JAZZ, ROCK, create_dj_app, dj_node_id
from mesh_traffic import HttpClient
from procs import MeshplaneServer
from proxy_sync import acked_versions, proxy_types, published_config, wait_synced

pytestmark = pytest.mark.envoy


def test_drop_all_blocks_undeclared_and_allow_all_passes_through(xds_mode: str, meshplane_xds: MeshplaneServer,
                                                                   api: Any, mesh_name: str, apps: Any,
                                                                   envoys: Any) -> None:
    started = dict(zip(DJ_APPS, apps.start(*DJ_APPS), strict=True))
    create_dj_app(api, mesh_name, started, jazz={"jazz-v1": 1})
    node_id = dj_node_id(mesh_name)
    dj = envoys.sidecar(meshplane_xds, node_id, xds_mode)
    endpoint = meshplane_xds.endpoint
    rock = started["rock-v1"]
    rock_address = f"127.0.0.1:{rock.port}"

    with HttpClient(dj.egress_port) as client:
        # DROP_ALL (the default): the declared backend works ...
        assert client.get("/", JAZZ) == (200, "jazz-v1")
        # ... an existing service dj did not declare, or a raw address, matches no virtual host.
        assert client.get("/", ROCK)[0] == 404
        assert client.get("/", rock_address)[0] == 404
        assert client.get("/", "anything.example")[0] == 404
        assert rock.hits == 0
        allow_all = f"cds_egress_{mesh_name}_mesh-allow-all"
        assert allow_all not in published_config(endpoint, node_id)["CDS"]

        before = proxy_types(endpoint, node_id)
        assert before is not None
        api.update_mesh(meshName=mesh_name, spec={"egressFilter": {"type": "ALLOW_ALL"}})
        wait_synced(endpoint, node_id, timeout=10, not_acked={"RDS": acked_versions(before)["RDS"]})
        assert allow_all in published_config(endpoint, node_id)["CDS"]

        # ALLOW_ALL: the Host names the destination and the dynamic forward proxy connects to it.
        assert client.get("/", rock_address) == (200, "rock-v1")
        assert rock.hits == 1
        # Declared backends still go through their routes.
        assert client.get("/", JAZZ) == (200, "jazz-v1")

        # Back to DROP_ALL: the passthrough is gone again.
        before = proxy_types(endpoint, node_id)
        assert before is not None
        api.update_mesh(meshName=mesh_name, spec={"egressFilter": {"type": "DROP_ALL"}})
        wait_synced(endpoint, node_id, timeout=10, not_acked={"RDS": acked_versions(before)["RDS"]})
        assert client.get("/", rock_address)[0] == 404
        assert rock.hits == 1
