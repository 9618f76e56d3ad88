"""pki/: the development CA, certificate contents, file modes; Config.to_env; the bootstrap's TLS
and credential; certificate reload detection."""

from __future__ import annotations

import ipaddress
import json
import os
import ssl
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from meshplane import pki
from meshplane.bootstrap import envoy_bootstrap
from meshplane.config import Config
from meshplane.pki.reload import FileWatch, usable_pair


def test_ca_server_and_proxy_certificates_chain_and_name_what_they_should() -> None:
    ca = pki.create_ca()
    assert ca.cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    server = pki.issue_server(ca, ["meshplane.example", "127.0.0.1", "::1"])
    sans = server.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["meshplane.example"]
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1"),
                                                         ipaddress.ip_address("::1")]
    server.cert.verify_directly_issued_by(ca.cert)
    uses = server.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(uses) == [ExtendedKeyUsageOID.SERVER_AUTH]

    spiffe = pki.spiffe_id("example.org", "demo", "virtualNode", "web")
    assert spiffe == "spiffe://example.org/mesh/demo/virtualNode/web"
    proxy = pki.issue_client(ca, ["arn:aws:appmesh:us-east-1:111122223333:mesh/demo/virtualNode/web", spiffe], "web")
    proxy.cert.verify_directly_issued_by(ca.cert)
    assert pki.uri_sans(proxy.cert)[1] == spiffe
    assert "PRIVATE" not in repr(proxy) and "web" in repr(proxy)


def test_spiffe_ids_parse_only_proxy_shapes() -> None:
    assert pki.parse_spiffe("spiffe://td/mesh/m/virtualGateway/gw") == ("td", "m", "virtualGateway", "gw")
    for bad in ("spiffe://td/mesh/m/virtualRouter/r", "spiffe://td/ns/default/sa/x", "https://x/mesh/m/virtualNode/n",
                "spiffe://td/mesh//virtualNode/n", "spiffe://td/mesh/m/virtualNode/n/extra"):
        assert pki.parse_spiffe(bad) is None
    with pytest.raises(ValueError):
        pki.spiffe_id("td", "m", "virtualRouter", "r")


def test_write_pem_keeps_keys_private_and_files_load_as_a_pair(tmp_path: Path) -> None:
    ca = pki.create_ca()
    server = pki.issue_server(ca, ["localhost"])
    pki.write_pem(tmp_path / "k.pem", server.key_pem(), private=True)
    pki.write_pem(tmp_path / "c.pem", server.cert_pem())
    assert stat.S_IMODE(os.stat(tmp_path / "k.pem").st_mode) == 0o600
    assert usable_pair(str(tmp_path / "c.pem"), str(tmp_path / "k.pem"))
    other = pki.issue_server(ca, ["localhost"])
    pki.write_pem(tmp_path / "k2.pem", other.key_pem(), private=True)
    assert not usable_pair(str(tmp_path / "c.pem"), str(tmp_path / "k2.pem"))  # key of another cert
    assert pki.load(tmp_path / "c.pem", tmp_path / "k.pem").cert == server.cert


def test_file_watch_reports_each_replacement_once(tmp_path: Path) -> None:
    path = tmp_path / "c.pem"
    path.write_text("a")
    watch = FileWatch([str(path)])
    assert not watch.changed()
    pki.write_pem(path, b"bb")
    assert watch.changed()
    assert not watch.changed()
    path.unlink()
    assert watch.changed()


def test_dev_ca_command_writes_ca_server_and_proxy_files(tmp_path: Path) -> None:
    out = tmp_path / "certs"
    run = subprocess.run(
        [sys.executable, "-m", "meshplane", "tls", "dev-ca", "--dir", str(out), "--host", "localhost",
         "--host", "127.0.0.1", "--node", "mesh/demo/virtualNode/web", "--node", "mesh/demo@222233334444/virtualGateway/gw",
         "--trust-domain", "example.org", "--region", "eu-west-1"],
        capture_output=True, text=True, timeout=60, check=True)
    assert "PRIVATE KEY" not in run.stdout + run.stderr
    for name in ("ca-key.pem", "server-key.pem", "proxy-demo-virtualNode-web-key.pem"):
        assert stat.S_IMODE(os.stat(out / name).st_mode) == 0o600, name
    ca = x509.load_pem_x509_certificate((out / "ca.pem").read_bytes())
    web = x509.load_pem_x509_certificate((out / "proxy-demo-virtualNode-web.pem").read_bytes())
    web.verify_directly_issued_by(ca)
    assert pki.uri_sans(web) == ["arn:aws:appmesh:eu-west-1:111122223333:mesh/demo/virtualNode/web",
                                 "spiffe://example.org/mesh/demo/virtualNode/web"]
    gateway = x509.load_pem_x509_certificate((out / "proxy-demo_222233334444-virtualGateway-gw.pem").read_bytes())
    assert pki.uri_sans(gateway)[0] == "arn:aws:appmesh:eu-west-1:222233334444:mesh/demo/virtualGateway/gw"
    # A second run reuses the CA: certificates issued earlier stay valid.
    subprocess.run([sys.executable, "-m", "meshplane", "tls", "dev-ca", "--dir", str(out), "--host", "localhost"],
                   capture_output=True, timeout=60, check=True)
    assert (out / "ca.pem").read_bytes() == ca.public_bytes(serialization.Encoding.PEM)
    context = ssl.create_default_context(cafile=str(out / "ca.pem"))
    assert context.cert_store_stats()["x509_ca"] == 1


def test_config_to_env_round_trips_every_field() -> None:
    config = Config.from_env({}, debounce_ms=7, api_tls_cert="/c.pem", api_tls_key="/k.pem", region="eu-west-1")
    config.quotas["meshes"] = 3
    env = config.to_env()
    assert env["MESHPLANE_API_TLS_CERT"] == "/c.pem" and env["MESHPLANE_QUOTA_MESHES"] == "3"
    assert Config.from_env(env) == config


def test_config_rejects_half_a_tls_pair() -> None:
    with pytest.raises(ValueError, match="api-tls-key"):
        Config.from_env({}, api_tls_cert="/c.pem")
    with pytest.raises(ValueError, match="xds-client-ca"):
        Config.from_env({}, xds_client_ca="/ca.pem")


def test_bootstrap_tls_and_credential() -> None:
    doc = envoy_bootstrap("mesh/m/virtualNode/a", "xds.example:443", tls_ca="/ca.pem", client_cert="/c.pem",
                          client_key="/k.pem", credential="MESHPLANE-XDS-HMAC-SHA256 Credential=K, Signature=00")
    cluster = doc["static_resources"]["clusters"][0]
    context = cluster["transport_socket"]["typed_config"]
    assert context["sni"] == "xds.example"
    assert context["common_tls_context"]["validation_context"]["match_typed_subject_alt_names"] == [
        {"san_type": "DNS", "matcher": {"exact": "xds.example"}}]
    assert context["common_tls_context"]["tls_certificates"][0]["private_key"] == {"filename": "/k.pem"}
    service = doc["dynamic_resources"]["ads_config"]["grpc_services"][0]
    assert service["initial_metadata"][0]["key"] == "x-meshplane-credential"
    plain = envoy_bootstrap("mesh/m/virtualNode/a")
    assert "transport_socket" not in json.dumps(plain) and "initial_metadata" not in json.dumps(plain)
    with pytest.raises(ValueError, match="tls-ca"):
        envoy_bootstrap("mesh/m/virtualNode/a", client_cert="/c.pem", client_key="/k.pem")


def test_envoy_bootstrap_command_derives_the_credential_without_writing_the_secret() -> None:
    secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
    run = subprocess.run(
        [sys.executable, "-m", "meshplane", "envoy-bootstrap", "--node-id", "mesh/m/virtualNode/a", "--tls-ca", "/ca.pem"],
        capture_output=True, text=True, timeout=60, check=True,
        env={**os.environ, "MESHPLANE_ACCESS_KEY_ID": "MPAKEXAMPLE000000000", "MESHPLANE_SECRET_ACCESS_KEY": secret})
    assert secret not in run.stdout
    assert "Credential=MPAKEXAMPLE000000000, Signature=" in run.stdout
    assert "envoy.transport_sockets.tls" in run.stdout


def test_start_up_refuses_tls_files_that_do_not_load(tmp_path: Path) -> None:
    from meshplane.pki.reload import require_pair

    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(ValueError, match="--api-tls-cert .*: no such file"):
        require_pair(str(tmp_path / "missing.pem"), str(junk), flag="api-tls")
    with pytest.raises(ValueError, match="not a PEM certificate and its private key"):
        require_pair(str(junk), str(junk), flag="xds-tls")
    run = subprocess.run(
        [sys.executable, "-m", "meshplane", "serve", "--db", str(tmp_path / "m.db"), "--api-listen", "127.0.0.1:0",
         "--xds-listen", "off", "--api-tls-cert", str(junk), "--api-tls-key", str(junk)],
        capture_output=True, text=True, timeout=60)
    assert run.returncode == 1 and "meshplane: --api-tls-cert" in run.stderr and "Traceback" not in run.stderr
