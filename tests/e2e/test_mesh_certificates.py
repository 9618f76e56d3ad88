"""TLS without ACM on real Envoys: meshplane's mesh CA issues the certificates over SDS on the
ADS stream (docs/translation.md, "Mesh certificates (ACM)").

Two sidecars of a small mesh: ``server`` (a STRICT TLS listener naming an ACM certificate ARN, in
front of an app) and ``client`` (a backend default client policy trusting ACM and checking the
server's SAN). The client app's requests go client Envoy -> TLS -> server Envoy -> app. Checked
on the wire: a TLS handshake against the server sidecar's ingress verifies the issued chain
against the mesh CA and the SAN, and Envoy's /certs shows what it holds. Certificates live 10 s,
so the rotation test sees several of them while traffic flows.
"""

from __future__ import annotations

import base64
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from backend_apps import BackendApp
from conftest import Envoys
from cryptography import x509
from demo_meshes import appmesh_client
from mesh_traffic import HttpClient, one_shot_get
from procs import MeshplaneServer, free_port
from proxy_sync import CORE_TYPES, wait_synced

from meshplane.bootstrap import envoy_bootstrap

pytestmark = pytest.mark.envoy

TTL_S = 10
ACM_ARN = "arn:aws:acm:us-east-1:111122223333:certificate/0f0e0d0c-aaaa-bbbb-cccc-000000000001"
CA_ARN = "arn:aws:acm-pca:us-east-1:111122223333:certificate-authority/0f0e0d0c-aaaa-bbbb-cccc-000000000002"
WANTED = (*CORE_TYPES, "SDS")


@pytest.fixture(scope="module")
def sds_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MeshplaneServer]:
    """`meshplane serve` with xDS and 10-second mesh certificates."""
    tmp = tmp_path_factory.mktemp("meshplane-sds")
    server = MeshplaneServer(tmp / "meshplane.db", tmp / "meshplane.log", "--mesh-cert-ttl", f"{TTL_S}s", xds=True)
    try:
        yield server
    finally:
        server.stop()


class SmallMesh:
    """The two-node mesh and its running sidecars."""

    def __init__(self, server: MeshplaneServer, mesh: str, mode: str, envoys: Envoys, app: BackendApp) -> None:
        api = appmesh_client(server.endpoint)
        self.service = f"server.{mesh}.local"
        self.ingress_port = free_port()
        api.create_mesh(meshName=mesh)
        listener = {"portMapping": {"port": self.ingress_port, "protocol": "http"},
                    "tls": {"mode": "STRICT", "certificate": {"acm": {"certificateArn": ACM_ARN}}}}
        api.create_virtual_node(meshName=mesh, virtualNodeName="server", spec={
            "listeners": [listener], "serviceDiscovery": {"dns": {"hostname": "127.0.0.1"}}})
        api.create_virtual_service(meshName=mesh, virtualServiceName=self.service,
                                   spec={"provider": {"virtualNode": {"virtualNodeName": "server"}}})
        policy = {"tls": {"validation": {"trust": {"acm": {"certificateAuthorityArns": [CA_ARN]}},
                                         "subjectAlternativeNames": {"match": {"exact": [self.service]}}}}}
        api.create_virtual_node(meshName=mesh, virtualNodeName="client", spec={
            "backends": [{"virtualService": {"virtualServiceName": self.service}}],
            "backendDefaults": {"clientPolicy": policy}})
        self.server_id = f"mesh/{mesh}/virtualNode/server"
        self.client_id = f"mesh/{mesh}/virtualNode/client"
        delta = mode == "delta"
        address = str(server.xds_address)
        self.server_envoy = envoys.start(envoy_bootstrap(
            self.server_id, address, admin_port=0, ingress_port=self.ingress_port,
            app_address=f"127.0.0.1:{app.port}", delta=delta), "server")
        self.egress_port = free_port()
        self.client_envoy = envoys.start(envoy_bootstrap(
            self.client_id, address, admin_port=0, egress_port=self.egress_port, delta=delta), "client")
        # The server has no backends: it never asks for EDS.
        wait_synced(server.endpoint, self.server_id, timeout=30, wanted=("CDS", "LDS", "RDS", "SDS"))
        wait_synced(server.endpoint, self.client_id, timeout=30, wanted=WANTED)


def admin_certs(admin_url: str) -> list[dict[str, Any]]:
    """Envoy's /certs: the certificates its TLS contexts hold."""
    response = requests.get(f"{admin_url}/certs", timeout=5)
    response.raise_for_status()
    return response.json()["certificates"]


def handshake(port: int, server_name: str, cafile: Path) -> x509.Certificate:
    """A TLS handshake with 127.0.0.1:port verifying the chain against ``cafile`` and the name
    ``server_name`` in its SANs; returns the certificate the server presented."""
    context = ssl.create_default_context(cafile=str(cafile))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname=server_name) as tls:
            der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def mesh_ca_pem(server: MeshplaneServer) -> bytes:
    """The mesh CA certificate the server stored (public: what the trust bundle holds)."""
    import sqlite3

    db = next(a for a in server.popen.args if str(a).endswith(".db"))  # type: ignore[union-attr]
    with sqlite3.connect(db) as conn:
        return str(conn.execute("SELECT cert FROM mesh_ca").fetchone()[0]).encode()


def test_acm_listener_and_acm_trust_talk_tls_with_issued_certificates(xds_mode: str, sds_server: MeshplaneServer,
                                                                     mesh_name: str, envoys: Envoys,
                                                                     tmp_path: Path) -> None:
    app = BackendApp("secured")
    try:
        mesh = SmallMesh(sds_server, mesh_name, xds_mode, envoys, app)
        # The client app -> client Envoy -> TLS (issued certificate, SAN checked) -> server Envoy -> app.
        with HttpClient(mesh.egress_port) as client:
            assert client.get("/", mesh.service) == (200, "secured")
        assert app.hits == 1

        # On the wire: the server sidecar presents a chain that verifies against the mesh CA, for
        # the virtual service name it provides (and only over TLS: plaintext gets nothing).
        cafile = tmp_path / "mesh-ca.pem"
        cafile.write_bytes(mesh_ca_pem(sds_server))
        cert = handshake(mesh.ingress_port, mesh.service, cafile)
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert set(sans.get_values_for_type(x509.DNSName)) == {mesh.service, "127.0.0.1"}
        assert f"spiffe://meshplane.local/mesh/{mesh_name}/virtualNode/server" in sans.get_values_for_type(
            x509.UniformResourceIdentifier)
        lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
        assert lifetime.total_seconds() <= TTL_S + 60  # issued for TTL_S (plus the clock-skew allowance)
        with pytest.raises(ssl.SSLCertVerificationError):
            handshake(mesh.ingress_port, "other.example", cafile)
        with pytest.raises(OSError):
            one_shot_get(mesh.ingress_port, "/", timeout=2)

        # Envoy's own view: the server holds the issued certificate, the client the mesh CA.
        server_certs = admin_certs(mesh.server_envoy.admin_url)
        chains = [c for entry in server_certs for c in entry.get("cert_chain", [])]
        assert any(int(c["serial_number"], 16) == cert.serial_number for c in chains)
        client_certs = admin_certs(mesh.client_envoy.admin_url)
        cas = [c for entry in client_certs for c in entry.get("ca_cert", [])]
        ca = x509.load_pem_x509_certificate(cafile.read_bytes())
        assert cas and all(int(c["serial_number"], 16) == ca.serial_number for c in cas)

        # The stored config dump shows the secret, never its key.
        dump = requests.get(f"{sds_server.endpoint}/meshplane/v1/proxies/{mesh.server_id}/config", timeout=5).text
        marker = base64.b64encode(b"-----BEGIN PRIVATE KEY")[:20].decode()  # bytes fields render as base64
        assert "meshplane-mesh-certificate" in dump and "[redacted]" in dump
        assert "PRIVATE KEY" not in dump and marker not in dump
    finally:
        app.stop()


def test_certificates_rotate_under_traffic_without_a_failed_request(sds_server: MeshplaneServer, mesh_name: str,
                                                                   envoys: Envoys, tmp_path: Path) -> None:
    app = BackendApp("rotating")
    try:
        mesh = SmallMesh(sds_server, mesh_name, "sotw", envoys, app)
        cafile = tmp_path / "mesh-ca.pem"
        cafile.write_bytes(mesh_ca_pem(sds_server))
        serials = {handshake(mesh.ingress_port, mesh.service, cafile).serial_number}
        failures: list[str] = []
        sent = 0
        deadline = time.monotonic() + TTL_S * 1.6  # past two renewals (each at 2/3 of 10 s)
        with HttpClient(mesh.egress_port) as client:
            while time.monotonic() < deadline:
                for _ in range(20):  # a kept-alive connection ...
                    status, body = client.get("/", mesh.service)
                    sent += 1
                    if (status, body) != (200, "rotating"):
                        failures.append(f"{status} {body[:80]}")
                status, body = one_shot_get(mesh.egress_port, "/", mesh.service)  # ... and new ones
                sent += 1
                if (status, body) != (200, "rotating"):
                    failures.append(f"{status} {body[:80]}")
                serials.add(handshake(mesh.ingress_port, mesh.service, cafile).serial_number)
                time.sleep(0.05)
        assert failures == [], f"{len(failures)} of {sent} requests failed: {failures[:5]}"
        assert len(serials) >= 3, f"expected renewals every ~{TTL_S * 2 / 3:.1f}s, saw serials {serials}"
        types = wait_synced(sds_server.endpoint, mesh.server_id, timeout=10, wanted=("CDS", "LDS", "RDS", "SDS"))
        assert types["SDS"]["state"] == "SYNCED"
        print(f"{sent} requests, 0 failed, {len(serials)} certificates served")
    finally:
        app.stop()
