"""HTTPS on the API: boto3 over TLS with the dev CA, the https:// banner, and a certificate
replaced on disk served without a restart (and without failing requests meanwhile)."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import threading
import time
import http.client
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from meshplane import pki
from procs import MeshplaneServer


def _dev_ca(directory: Path) -> Path:
    subprocess.run([sys.executable, "-m", "meshplane", "tls", "dev-ca", "--dir", str(directory),
                    "--host", "localhost", "--host", "127.0.0.1"], check=True, capture_output=True, timeout=60)
    return directory


def _served_certificate(port: int) -> x509.Certificate:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw) as tls:
            der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


@pytest.fixture
def tls_server(tmp_path: Path):  # type: ignore[no-untyped-def]
    certs = _dev_ca(tmp_path / "certs")
    server = MeshplaneServer(tmp_path / "m.db", tmp_path / "server.log", "--api-tls-cert", str(certs / "server.pem"),
                             "--api-tls-key", str(certs / "server-key.pem"))
    try:
        yield server, certs
    finally:
        server.stop()


def test_boto3_over_https_with_the_dev_ca(tls_server) -> None:  # type: ignore[no-untyped-def]
    server, certs = tls_server
    assert server.endpoint.startswith("https://127.0.0.1:")
    import boto3
    from botocore.config import Config as BotoConfig

    client = boto3.client("appmesh", endpoint_url=server.endpoint, region_name="us-east-1",
                          aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret",
                          verify=str(certs / "ca.pem"), config=BotoConfig(retries={"max_attempts": 1}))
    client.create_mesh(meshName="tls-mesh")
    assert [m["meshName"] for m in client.list_meshes()["meshes"]] == ["tls-mesh"]
    # Plain HTTP on the TLS port gets nowhere.
    port = int(server.endpoint.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    with pytest.raises((http.client.HTTPException, OSError)):
        conn.request("GET", "/healthz")
        conn.getresponse()
    conn.close()


def _tcp_migrate_req() -> bool:
    try:
        return Path("/proc/sys/net/ipv4/tcp_migrate_req").read_text().strip() == "1"
    except OSError:
        return False


def test_replaced_certificate_is_served_without_restart_or_failed_requests(tls_server) -> None:  # type: ignore[no-untyped-def]
    """Workers are respawned one by one, the old one serving until the new one runs. A connection
    still queued on the old worker's socket when it closes is reset by the kernel unless
    net.ipv4.tcp_migrate_req=1 (Granian's advice; docs/security.md): a client that retries a reset
    connection once, as the SDKs do, never fails, and with the setting nothing fails at all."""
    server, certs = tls_server
    port = int(server.endpoint.rsplit(":", 1)[1])
    before = _served_certificate(port)
    context = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    stop = threading.Event()
    results: dict[str, Any] = {"ok": 0, "reset": [], "failed": []}

    def attempt() -> str | None:
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=context)
        try:
            conn.request("GET", "/healthz")
            status = conn.getresponse().status
            return None if status == 200 else f"status {status}"
        except (OSError, http.client.HTTPException) as exc:
            return repr(exc)
        finally:
            conn.close()

    def hammer() -> None:
        while not stop.is_set():
            error = attempt()
            if error is not None:
                results["reset"].append(error)
                error = attempt()  # one retry, as botocore does on a connection error
            if error is None:
                results["ok"] += 1
            else:
                results["failed"].append(error)
            time.sleep(0.01)

    thread = threading.Thread(target=hammer, daemon=True)
    thread.start()
    try:
        renewed = pki.issue_server(pki.load(certs / "ca.pem", certs / "ca-key.pem"), ["localhost", "127.0.0.1"])
        pki.write_pem(certs / "server-key.pem", renewed.key_pem(), private=True)
        pki.write_pem(certs / "server.pem", renewed.cert_pem())
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            if _served_certificate(port).serial_number == renewed.cert.serial_number:
                break
            time.sleep(0.2)
        else:
            pytest.fail(f"the renewed certificate was not served:\n{server.log()}")
        assert before.serial_number != renewed.cert.serial_number
        # Every worker is replaced (not only the first): new connections keep getting the new one.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "Stopped old worker-2" not in server.log():
            time.sleep(0.2)
        for _ in range(10):
            assert _served_certificate(port).serial_number == renewed.cert.serial_number
    finally:
        stop.set()
        thread.join(timeout=15)
    assert results["ok"] > 10
    assert results["failed"] == []
    if _tcp_migrate_req():
        assert results["reset"] == []
    else:
        assert len(results["reset"]) <= 2, results["reset"]  # at most one per respawned worker
