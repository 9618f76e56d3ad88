"""App Mesh's hidden egress default on a real sidecar in App Mesh's own layout: under DROP_ALL,
TLS to ``*.amazonaws.com`` on 443 still reaches where the app was going; ``--no-aws-passthrough``
turns that off (docs/translation.md, "Egress filter").

That chain matches on the connection's original destination (port 443) and SNI, so it needs
real capture: Envoy, the app and its destinations run in a network namespace of their own with
App Mesh's REDIRECT rules (netns.py), Envoy reaching meshplane over a unix socket (the file
system crosses namespaces). The "AWS endpoint" is a local TLS server on 127.0.0.1:443 that
answers with the name it was asked for; the app (another user, so captured) connects to it as
it would to STS, and Envoy's egress listener either passes the connection on to that original
destination or closes it. The server's certificate is not checked: its answer proves who was
reached, and that the TLS went through untouched (the server saw the app's SNI).
"""

from __future__ import annotations

import datetime
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from demo_meshes import appmesh_client, http_listener
from netns import APP_UID, Namespace, unavailable
from procs import MeshplaneServer
from proxy_sync import wait_synced

from meshplane.bootstrap import envoy_bootstrap

pytestmark = [pytest.mark.envoy, pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))]

BACKEND = "backend.local"
BACKEND_PORT = 8080  # in the test's own namespace: nothing else binds there
STS = "sts.us-east-1.amazonaws.com"


@pytest.fixture(scope="module", params=["default", "no-aws-passthrough"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MeshplaneServer, str, bool]]:
    """`meshplane serve` with xDS on a unix socket: (server, socket path, passthrough on)."""
    passthrough = request.param == "default"
    tmp = tmp_path_factory.mktemp(f"aws-{request.param}")
    socket_dir = Path(tempfile.mkdtemp(prefix="mpa"))  # a unix socket path must stay short
    flags = [] if passthrough else ["--no-aws-passthrough"]
    # xds=False, then --xds-listen again (the last one wins): MeshplaneServer waits for a TCP port.
    server = MeshplaneServer(tmp / "m.db", tmp / "server.log", "--xds-listen", f"unix://{socket_dir}/xds.sock", *flags,
                             xds=False)
    try:
        server.wait_for_line(r"meshplane xDS listening on unix://")
        yield server, str(socket_dir / "xds.sock"), passthrough
    finally:
        server.stop()
        shutil.rmtree(socket_dir, ignore_errors=True)


@pytest.fixture
def namespace() -> Iterator[Namespace]:
    created = Namespace()
    try:
        yield created
    finally:
        created.delete()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for the stand-in AWS endpoint, and its key (files)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, STS)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("aws-cert")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_file), str(key_file)


def create_app_mesh(api: Any, mesh: str) -> str:
    """Mesh (DROP_ALL, the default) with node ``app`` whose one backend is ``backend`` on 127.0.0.1;
    returns the app's node id."""
    api.create_mesh(meshName=mesh)
    dns = {"dns": {"hostname": "127.0.0.1"}}
    api.create_virtual_node(meshName=mesh, virtualNodeName="backend",
                            spec={"listeners": http_listener(BACKEND_PORT), "serviceDiscovery": dns})
    api.create_virtual_service(meshName=mesh, virtualServiceName=BACKEND,
                               spec={"provider": {"virtualNode": {"virtualNodeName": "backend"}}})
    api.create_virtual_node(meshName=mesh, virtualNodeName="app", spec={
        "serviceDiscovery": dns, "backends": [{"virtualService": {"virtualServiceName": BACKEND}}]})
    return f"mesh/{mesh}/virtualNode/app"


def stats(namespace: Namespace, admin_url: str) -> dict[str, int]:
    """Envoy's counters about TLS inspection and the amazonaws chain."""
    text = namespace.get(f"{admin_url}/stats?filter=tls_inspector|egress.amazonaws")
    return {name: int(value) for name, _, value in (line.partition(": ") for line in text.splitlines()) if value.isdigit()}


def test_amazonaws_passes_through_under_drop_all_unless_switched_off(
        xds_mode: str, server: tuple[MeshplaneServer, str, bool], namespace: Namespace, envoys: Any, mesh_name: str,
        certificate: tuple[str, str], tmp_path: Path, measure: Any) -> None:
    meshplane, socket_path, passthrough = server
    node_id = create_app_mesh(appmesh_client(meshplane.endpoint), mesh_name)
    peers = [namespace.server(tmp_path / "tls-server.log", "tls-server", "443", *certificate),
             namespace.server(tmp_path / "http-server.log", "http-server", str(BACKEND_PORT), "backend")]
    try:
        # No local overrides: App Mesh's layout (egress on 15001 with original_dst), xDS over the socket.
        bootstrap = envoy_bootstrap(node_id, "127.0.0.1:1", admin_port=0, delta=xds_mode == "delta")
        xds = bootstrap["static_resources"]["clusters"][0]
        xds["type"] = "STATIC"
        xds["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"] = {"pipe": {"path": socket_path}}
        envoy = envoys.start(bootstrap, "app", wrapper=namespace.argv([]))
        wait_synced(meshplane.endpoint, node_id, timeout=30)

        # The stand-in endpoint answers any name to whoever reaches it (root is not captured).
        assert namespace.peer("tls", "127.0.0.1", "443", "other.example")["answer"] == "tls-server other.example"

        # The app's plain HTTP is captured and routed as before (an undeclared Host: the router's
        # 404), with no wait for TLS detection: the inspector only runs on port 443.
        declared = namespace.peer("http", "127.0.0.1", str(BACKEND_PORT), BACKEND, uid=APP_UID)
        assert (declared["status"], declared["body"]) == (200, "backend"), declared
        assert declared["seconds"] < 1.0, declared
        measure(f"plain HTTP egress, first request ({'with' if passthrough else 'without'} the inspector on 443), ms",
                round(declared["seconds"] * 1000, 1))
        assert namespace.peer("http", "127.0.0.1", str(BACKEND_PORT), "undeclared.local", uid=APP_UID)["status"] == 404

        aws = namespace.peer("tls", "127.0.0.1", "443", STS, uid=APP_UID)
        other = namespace.peer("tls", "127.0.0.1", "443", "other.example", uid=APP_UID)
        assert not other["ok"], other  # DROP_ALL: no chain for it, Envoy closes the connection
        counters = stats(namespace, envoy.admin_url)
        if passthrough:
            assert aws["ok"] and aws["answer"] == f"tls-server {STS}", aws
            assert counters["tcp.egress.amazonaws.downstream_cx_total"] == 1, counters
            # Both TLS connections were inspected; the HTTP ones to 8080 never were (else: tls_not_found).
            assert (counters["tls_inspector.sni_found"], counters["tls_inspector.tls_not_found"]) == (2, 0), counters
        else:
            assert not aws["ok"], aws
            assert counters == {}, counters
    finally:
        for peer in peers:
            peer.stop()
