"""Cloud Map discovery end to end: moto's server (real HTTP) as Cloud Map, meshplane polling it,
a real Envoy sending real requests to backends registered there (docs/translation.md, "Cloud Map").

Backends stand for instances: each listens on its own loopback address (127.0.0.2, 127.0.0.3)
and the same port, the virtual node's listener port, as App Mesh's instances did; Cloud Map
only knows their ``AWS_INSTANCE_IPV4``.
"""

from __future__ import annotations

import statistics
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from backend_apps import BackendApp
from cloud_map import CloudMap, aws_env
from demo_meshes import appmesh_client
from mesh_traffic import HttpClient, count_answers
from procs import MeshplaneServer, MotoServer, env_with_venv
from proxy_sync import acked_versions, proxy_streams, proxy_types, wait_for, wait_synced

pytestmark = pytest.mark.envoy

INTERVAL_S = 0.5
NAMESPACE = "apps.local"
SERVICE = "backend"
VIRTUAL_SERVICE = "backend.apps.local"
_no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture
def moto(tmp_path: Path) -> Iterator[list[MotoServer]]:
    """moto's server; the test may replace it (stop it, start another on the same port): the list
    holds the current one; the first and the current one are stopped at teardown."""
    current = [MotoServer(tmp_path / "moto-1.log")]
    first = current[0]
    try:
        yield current
    finally:
        for server in {id(s): s for s in (first, *current)}.values():
            server.stop()


@pytest.fixture
def server(tmp_path: Path, moto: list[MotoServer]) -> Iterator[MeshplaneServer]:
    """`meshplane serve` with xDS, polling moto's Cloud Map every 0.5 s (one xDS process, so
    the timing figures are one poller's)."""
    env = env_with_venv(aws_env(moto[0].endpoint))
    started = MeshplaneServer(tmp_path / "meshplane.db", tmp_path / "meshplane.log", "--cloudmap-interval",
                              str(INTERVAL_S), "--xds-workers", "1", xds=True, env=env)
    try:
        yield started
    finally:
        started.stop()


def envoy_endpoints(admin_url: str, cluster: str) -> set[str]:
    """The hosts Envoy holds for ``cluster`` (admin /clusters)."""
    text = _no_proxy.open(f"{admin_url}/clusters", timeout=5).read().decode()
    prefix = f"{cluster}::"
    return {line.split("::")[1] for line in text.splitlines()
            if line.startswith(prefix) and "::health_flags::" in line}


def wait_endpoints(admin_url: str, cluster: str, wanted: set[str], timeout: float = 10.0) -> float:
    """Poll Envoy until the cluster holds exactly ``wanted``; returns when (time.monotonic())."""
    last: list[set[str]] = [set()]

    def check() -> float | None:
        last[0] = envoy_endpoints(admin_url, cluster)
        return time.monotonic() if last[0] == wanted else None

    return wait_for(check, timeout, lambda: f"{cluster} to hold {wanted} (has {last[0]})", interval=0.01)


def diagnostics(endpoint: str, node_id: str) -> list[str]:
    streams = proxy_streams(endpoint, node_id)
    return list(streams[0]["diagnostics"]) if streams else []


def test_cloud_map_instances_reach_envoy_as_eds_only(server: MeshplaneServer, moto: list[MotoServer],
                                                     mesh_name: str, apps: Any, envoys: Any,
                                                     measure: Callable[[str, object], None]) -> None:
    one = apps.started["one"] = BackendApp("one", host="127.0.0.2")
    two = apps.started["two"] = BackendApp("two", host="127.0.0.3", port=one.port)
    port = one.port
    cloud = CloudMap(moto[0].endpoint, NAMESPACE)
    cloud.service(SERVICE)

    api = appmesh_client(server.endpoint)
    api.create_mesh(meshName=mesh_name)
    listeners = [{"portMapping": {"port": port, "protocol": "http"}}]
    discovery = {"awsCloudMap": {"namespaceName": NAMESPACE, "serviceName": SERVICE}}
    api.create_virtual_node(meshName=mesh_name, virtualNodeName="backend",
                            spec={"listeners": listeners, "serviceDiscovery": discovery})
    api.create_virtual_service(meshName=mesh_name, virtualServiceName=VIRTUAL_SERVICE,
                               spec={"provider": {"virtualNode": {"virtualNodeName": "backend"}}})
    api.create_virtual_node(meshName=mesh_name, virtualNodeName="front", spec={
        "serviceDiscovery": {"dns": {"hostname": "127.0.0.1"}},
        "backends": [{"virtualService": {"virtualServiceName": VIRTUAL_SERVICE}}]})
    # "other" reaches a DNS node only (an EDS cluster too: its hostname is an IP literal).
    api.create_virtual_node(meshName=mesh_name, virtualNodeName="plain", spec={
        "listeners": [{"portMapping": {"port": 9, "protocol": "http"}}],
        "serviceDiscovery": {"dns": {"hostname": "127.0.0.1"}}})
    api.create_virtual_service(meshName=mesh_name, virtualServiceName="plain.apps.local",
                               spec={"provider": {"virtualNode": {"virtualNodeName": "plain"}}})
    api.create_virtual_node(meshName=mesh_name, virtualNodeName="other", spec={
        "serviceDiscovery": {"dns": {"hostname": "127.0.0.1"}},
        "backends": [{"virtualService": {"virtualServiceName": "plain.apps.local"}}]})
    front_id, other_id = f"mesh/{mesh_name}/virtualNode/front", f"mesh/{mesh_name}/virtualNode/other"
    front = envoys.sidecar(server, front_id, "sotw", ingress=False)
    envoys.sidecar(server, other_id, "sotw", ingress=False)
    admin = front.process.admin_url
    cluster = f"cds_egress_{mesh_name}_backend_http_{port}"
    endpoint = server.endpoint
    wait_for(lambda: diagnostics(endpoint, front_id) == [f"Cloud Map {NAMESPACE}/{SERVICE}: no instances found"],
             10, lambda: f"no-instances diagnostic (have {diagnostics(endpoint, front_id)})")

    front_before = proxy_types(endpoint, front_id)
    other_before = proxy_types(endpoint, other_id)
    assert front_before is not None and other_before is not None

    # Register -> the endpoint arrives, traffic flows; each change timed from the Cloud Map call.
    delays: list[float] = []

    def change(action: Callable[[], None], wanted: set[str]) -> None:
        started = time.monotonic()
        action()
        delays.append(wait_endpoints(admin, cluster, wanted) - started)

    change(lambda: cloud.register(SERVICE, "i-one", ipv4="127.0.0.2", stage="blue"), {f"127.0.0.2:{port}"})
    with HttpClient(front.egress_port) as client:
        assert client.get("/", VIRTUAL_SERVICE) == (200, "one")
        change(lambda: cloud.register(SERVICE, "i-two", ipv4="127.0.0.3", stage="green"),
               {f"127.0.0.2:{port}", f"127.0.0.3:{port}"})
        assert set(count_answers(client, 40, "/", VIRTUAL_SERVICE)) == {"one", "two"}

        # Only EDS was sent, and only to the proxy that reaches the node.
        after = wait_synced(endpoint, front_id, wanted=("EDS",), not_acked={"EDS": acked_versions(front_before)["EDS"]})
        for kind in ("CDS", "LDS", "RDS"):
            assert after[kind]["versionAcked"] == front_before[kind]["versionAcked"], kind
            assert after[kind]["sentAt"] == front_before[kind]["sentAt"], kind
        assert proxy_types(endpoint, other_id) == other_before
        assert diagnostics(endpoint, front_id) == []

        # Deregister -> gone.
        change(lambda: cloud.deregister(SERVICE, "i-one"), {f"127.0.0.3:{port}"})
        assert set(count_answers(client, 10, "/", VIRTUAL_SERVICE)) == {"two"}

        # Health filter (default HEALTHY_OR_ELSE_ALL): an UNHEALTHY instance is left out while a
        # healthy one exists; with none healthy, all are served.
        change(lambda: cloud.register(SERVICE, "i-one", ipv4="127.0.0.2", stage="blue"),
               {f"127.0.0.2:{port}", f"127.0.0.3:{port}"})
        change(lambda: cloud.set_health(SERVICE, "i-two", "UNHEALTHY"), {f"127.0.0.2:{port}"})
        assert set(count_answers(client, 10, "/", VIRTUAL_SERVICE)) == {"one"}
        change(lambda: cloud.set_health(SERVICE, "i-one", "UNHEALTHY"), {f"127.0.0.2:{port}", f"127.0.0.3:{port}"})
        change(lambda: cloud.set_health(SERVICE, "i-one", "HEALTHY"), {f"127.0.0.2:{port}"})
        change(lambda: cloud.set_health(SERVICE, "i-two", "HEALTHY"), {f"127.0.0.2:{port}", f"127.0.0.3:{port}"})

        # Attribute filters select (a spec change: the new query is polled at once).
        api.update_virtual_node(meshName=mesh_name, virtualNodeName="backend", spec={
            "listeners": listeners,
            "serviceDiscovery": {"awsCloudMap": {**discovery["awsCloudMap"],
                                                 "attributes": [{"key": "stage", "value": "green"}]}}})
        wait_endpoints(admin, cluster, {f"127.0.0.3:{port}"})
        assert set(count_answers(client, 10, "/", VIRTUAL_SERVICE)) == {"two"}

        measure("cloud map change -> envoy, max (s)", round(max(delays), 3))
        measure("cloud map change -> envoy, median (s)", round(statistics.median(delays), 3))
        measure("cloud map changes timed", len(delays))
        assert max(delays) <= INTERVAL_S + 0.2, delays

        # Cloud Map unreachable: the last endpoints stay, and the status says how old they are.
        old = moto.pop()
        old.stop()
        stale = wait_for(lambda: [d for d in diagnostics(endpoint, front_id) if "last refreshed" in d], 15,
                         lambda: f"a staleness diagnostic (have {diagnostics(endpoint, front_id)})")
        assert stale[0].startswith(f"Cloud Map {NAMESPACE}/{SERVICE} (stage=green): last refreshed "), stale
        assert "error: Could not connect" in stale[0], stale
        assert client.get("/", VIRTUAL_SERVICE) == (200, "two")
        assert envoy_endpoints(admin, cluster) == {f"127.0.0.3:{port}"}

        # Cloud Map back (moto starts empty: the instances are registered again): fresh again.
        moto.append(MotoServer(old.log_path.with_name("moto-2.log"), port=old.port))
        cloud = CloudMap(moto[0].endpoint, NAMESPACE)
        cloud.service(SERVICE)
        cloud.register(SERVICE, "i-two", ipv4="127.0.0.3", stage="green")
        cloud.register(SERVICE, "i-three", ipv4="127.0.0.2", stage="green")
        wait_endpoints(admin, cluster, {f"127.0.0.2:{port}", f"127.0.0.3:{port}"}, timeout=20)
        wait_for(lambda: diagnostics(endpoint, front_id) == [], 10,
                 lambda: f"no diagnostics (have {diagnostics(endpoint, front_id)})")
        assert set(count_answers(client, 40, "/", VIRTUAL_SERVICE)) == {"one", "two"}
    assert two.hits > 0
