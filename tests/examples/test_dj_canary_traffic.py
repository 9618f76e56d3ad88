"""terraform-examples/dj-app-canary end to end: applied with our provider, dj's sidecar is a real
Envoy, and the split it measures follows ``terraform apply -var jazz_weights=...``.

The example is applied unmodified; its variables point every node at 127.0.0.1 and at the port of
the backend app standing for it. The test plays the dj app: it sends to the egress listener of dj's
Envoy (one-host layout, ``meshplane.egress_port``) with ``Host: jazz.prod.svc.cluster.local``
(docs/translation.md, "Binding"). Changing the weights must reach that same Envoy over xDS as an
RDS-only update, with no restart.

The server, apps, Envoy and traffic helpers are tests/e2e's, reused as they are (see below).
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from procs import MeshplaneServer
from tf_workspace import Rest, Workspace

E2E = Path(__file__).resolve().parents[1] / "e2e"
sys.path.insert(0, str(E2E))  # backend_apps, demo_meshes, mesh_traffic, proxy_sync

from demo_meshes import JAZZ, METAL  # noqa: E402
from mesh_traffic import HttpClient, assert_split, count_answers  # noqa: E402
from proxy_sync import acked_versions, proxy_types, wait_synced  # noqa: E402


def _load_e2e_conftest() -> Any:
    """tests/e2e/conftest.py as a plain module: its fixtures (xDS server, apps, Envoys) are reused here.

    It cannot be imported as ``conftest`` (pytest keeps only the last conftest under that name).
    """
    spec = importlib.util.spec_from_file_location("e2e_conftest", E2E / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_e2e = _load_e2e_conftest()
meshplane_xds = _e2e.meshplane_xds  # module scope: `meshplane serve` with xDS, both on port 0
apps = _e2e.apps
envoys = _e2e.envoys

pytestmark = [pytest.mark.terraform, pytest.mark.envoy]

EXAMPLE = Path(__file__).resolve().parents[2] / "terraform-examples" / "dj-app-canary"
NODES = ("dj", "jazz-v1", "jazz-v2", "metal-v1", "metal-v2")
REQUESTS = 2000


@pytest.fixture(scope="module")
def endpoint(meshplane_xds: MeshplaneServer) -> str:
    """Overrides tests/conftest.py's: ``example_workspace`` and ``rest`` use this module's xDS server."""
    return meshplane_xds.endpoint


def test_terraform_weights_move_the_split_measured_through_djs_envoy(
        example_workspace: Workspace, rest: Rest, meshplane_xds: MeshplaneServer, mesh_name: str,
        apps: Any, envoys: Any, measure: Any) -> None:
    started = time.monotonic()
    ws = example_workspace
    shutil.copytree(EXAMPLE, ws.dir, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*", "README.md"))
    backends = dict(zip(NODES, apps.start(*NODES), strict=True))
    node_ports = ", ".join(f'"{name}" = {app.port}' for name, app in backends.items())
    ws.write(f'mesh_name     = "{mesh_name}"\nnode_hostname = "127.0.0.1"\nnode_ports    = {{ {node_ports} }}\n',
             "meshplane-test.auto.tfvars")
    ws.init()
    applied = ws.apply("-var", "jazz_weights={v1=90,v2=10}")
    assert "Resources: 15 added, 0 changed, 0 destroyed." in applied.out, applied

    node_id = json.loads(ws.run("output", "-json", "envoy_node_ids").out)["dj"]
    assert node_id == f"mesh/{mesh_name}/virtualNode/dj"
    dj = envoys.sidecar(meshplane_xds, node_id, "sotw")  # waits until CDS/EDS/LDS/RDS are SYNCED
    pid = dj.pid
    endpoint = meshplane_xds.endpoint

    with HttpClient(int(dj.ingress_port)) as ingress:
        assert ingress.get("/") == (200, "dj")  # the sidecar's ingress reaches the dj app

    with HttpClient(dj.egress_port) as client:
        counts = count_answers(client, REQUESTS, "/", JAZZ)
        measure("jazz split at terraform 90/10", dict(counts))
        assert_split(counts, {"jazz-v1": 90, "jazz-v2": 10}, tolerance=0.03)
        assert count_answers(client, 50, "/", METAL) == {"metal-v1": 50}  # metal_weights: default 100/0

        before = proxy_types(endpoint, node_id)
        assert before is not None
        applied = ws.apply("-var", "jazz_weights={v1=50,v2=50}")
        assert "Resources: 0 added, 1 changed, 0 destroyed." in applied.out, applied
        applied_at = time.monotonic()
        types = wait_synced(endpoint, node_id, timeout=10, not_acked={"RDS": acked_versions(before)["RDS"]})
        measure("terraform apply done -> RDS SYNCED (s)", round(time.monotonic() - applied_at, 3))
        for name in ("CDS", "EDS", "LDS"):  # a weight change is an RDS-only change
            assert types[name]["versionAcked"] == before[name]["versionAcked"], (name, before, types)

        counts = count_answers(client, REQUESTS, "/", JAZZ)
        measure("jazz split at terraform 50/50", dict(counts))
        assert_split(counts, {"jazz-v1": 50, "jazz-v2": 50}, tolerance=0.03)

    # The same Envoy all along: the new weights came over its stream, not through a restart.
    assert dj.process.alive() and dj.pid == pid

    destroyed = ws.destroy()
    assert re.search(r"Destroy complete! Resources: 15 destroyed\.", destroyed.out), destroyed
    assert rest.get(f"/meshes/{mesh_name}") is None
    measure("terraform", ", ".join(f"{cmd} {seconds:.1f}s" for cmd, seconds in ws.timings))
    measure("test body (s)", round(time.monotonic() - started, 1))
