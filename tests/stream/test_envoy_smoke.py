"""The real Envoy 1.40 against XdsServer, over SotW and delta ADS: traffic flows and follows changes.

Listener -> RouteConfiguration (RDS) -> EDS cluster -> a local http.server. Then: new endpoints
plus a changed cluster, a cluster-only change (Envoy re-warms it: it needs a fresh CLA), and a
make-before-break swap to another cluster.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from adsclient import wait_until
from procs import BIN, Process, env_with_venv
from stream_resources import make_cla, make_cluster, make_listener, make_route, make_snapshot

from meshplane.stream import CLUSTER, LISTENER, MemoryStatusSink, SnapshotCache, XdsServer

pytestmark = pytest.mark.envoy

_base_ids = itertools.count(1)
_no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def envoy_binary() -> str:
    found = shutil.which("envoy", path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    return found or str(BIN / "envoy")


def free_port() -> int:
    """A port that was free a moment ago. Envoy must be *given* its listener port (it comes in LDS),
    so this is the one unavoidable bind race; the test retries once if Envoy cannot bind it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Backend:
    """An http.server on 127.0.0.1:0 that answers every GET with ``name``."""

    def __init__(self, name: str) -> None:
        body = name.encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def bootstrap(node_id: str, xds_port: int, api_type: str) -> dict[str, object]:
    ads = {"ads": {}, "resource_api_version": "V3"}
    return {
        "node": {"id": node_id, "cluster": "smoke"},
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
        "dynamic_resources": {
            "ads_config": {
                "api_type": api_type, "transport_api_version": "V3", "set_node_on_first_message_only": True,
                "grpc_services": [{"envoy_grpc": {"cluster_name": "xds_cluster"}}],
            },
            "cds_config": ads,
            "lds_config": ads,
        },
        "static_resources": {"clusters": [{
            "name": "xds_cluster", "type": "STATIC", "connect_timeout": "1s",
            "typed_extension_protocol_options": {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}},  # gRPC needs HTTP/2
            }},
            "load_assignment": {"cluster_name": "xds_cluster", "endpoints": [{"lb_endpoints": [{"endpoint": {
                "address": {"socket_address": {"address": "127.0.0.1", "port_value": xds_port}}}}]}]},
        }]},
    }


def get(url: str) -> str | None:
    """The body of a 200 answer, else None."""
    try:
        with _no_proxy.open(url, timeout=2) as response:
            return response.read().decode() if response.status == 200 else None
    except (urllib.error.URLError, OSError):
        return None


def snapshot(listen: int, route_to: str, clusters: dict[str, tuple[int, float]]):  # type: ignore[no-untyped-def]
    """Listener on ``listen`` -> route to ``route_to``; clusters {name: (backend port, timeout)}."""
    return make_snapshot(
        clusters=[make_cluster(name, connect_timeout=timeout) for name, (_, timeout) in clusters.items()],
        endpoints=[make_cla(name, [("127.0.0.1", port)]) for name, (port, _) in clusters.items()],
        listeners=[make_listener("ingress", listen, "routes")],
        routes=[make_route("routes", route_to)],
    )


@pytest.fixture
def backends() -> Iterator[dict[str, Backend]]:
    started = {name: Backend(name) for name in ("A", "B")}
    try:
        yield started
    finally:
        for backend in started.values():
            backend.stop()


@pytest.mark.parametrize("api_type", ["GRPC", "DELTA_GRPC"])
def test_envoy_serves_traffic_and_follows_every_change(api_type: str, backends: dict[str, Backend],
                                                       tmp_path: Path) -> None:
    node_id = f"smoke-{api_type.lower()}"
    cache, sink = SnapshotCache(), MemoryStatusSink()
    server = XdsServer(cache, sink)
    xds_port = server.start()
    envoy = None
    a, b = backends["A"].port, backends["B"].port
    try:
        listen = free_port()
        cache.set_snapshot(node_id, snapshot(listen, "web", {"web": (a, 1.0)}))
        config = tmp_path / "envoy.json"
        config.write_text(json.dumps(bootstrap(node_id, xds_port, api_type)))
        admin_file = tmp_path / "admin.txt"
        envoy = Process([envoy_binary(), "-c", str(config), "--disable-hot-restart", "--concurrency", "1",
                         "--base-id", str(os.getpid() * 100 + next(_base_ids)),
                         "--admin-address-path", str(admin_file), "-l", "info"],
                        tmp_path / "envoy.log", env=env_with_venv())

        def listener_bind_failed() -> bool:
            streams = sink.node(node_id)
            error = streams[0]["types"][LISTENER]["error"] if streams else None
            return bool(error) and "bind" in error.lower()

        def serves(body: str) -> bool:
            return get(f"http://127.0.0.1:{listen}/") == body

        retried = False

        def first_traffic() -> bool:
            nonlocal listen, retried
            if not retried and listener_bind_failed():  # the port was taken in between: retry once
                retried = True
                listen = free_port()
                cache.set_snapshot(node_id, snapshot(listen, "web", {"web": (a, 1.0)}))
            return serves("A")

        wait_until(first_traffic, timeout=30, message=f"traffic through Envoy\n{envoy.log()}")
        wait_until(lambda: all(t["state"] == "SYNCED" for t in sink.node(node_id)[0]["types"].values()),
                   message=f"every type to be SYNCED: {sink.node(node_id)}")

        # New endpoints and a changed cluster at once: traffic moves to B.
        cache.set_snapshot(node_id, snapshot(listen, "web", {"web": (b, 2.0)}))
        wait_until(lambda: serves("B"), timeout=10, message="traffic to follow the new endpoints")

        # A cluster-only change: Envoy ACKs CDS only once the re-warmed cluster got a fresh CLA.
        changed = snapshot(listen, "web", {"web": (b, 3.0)})
        cache.set_snapshot(node_id, changed)
        cds_version = changed.version(CLUSTER, cache.epoch)

        def cds_synced() -> bool:
            cds = sink.node(node_id)[0]["types"][CLUSTER]
            return cds["state"] == "SYNCED" and cds["version_acked"] == cds_version

        wait_until(cds_synced, timeout=5, message="the changed cluster to finish warming")
        assert serves("B")

        # Make before break: route to a new cluster web2 and drop web in the same snapshot.
        final = snapshot(listen, "web2", {"web2": (a, 1.0)})
        cache.set_snapshot(node_id, final)
        wait_until(lambda: serves("A"), timeout=10, message="traffic to follow the new route")

        def everything_synced() -> bool:
            types = sink.node(node_id)[0]["types"]
            return all(t["state"] == "SYNCED" for t in types.values()) and \
                types[CLUSTER]["version_acked"] == final.version(CLUSTER, cache.epoch)

        wait_until(everything_synced, timeout=10, message="the old cluster to be removed")
        admin = admin_file.read_text().strip()
        clusters = _no_proxy.open(f"http://{admin}/clusters", timeout=5).read().decode()
        assert "web2::" in clusters and "\nweb::" not in clusters
    finally:
        if envoy is not None:
            envoy.stop()
        server.stop(0)
