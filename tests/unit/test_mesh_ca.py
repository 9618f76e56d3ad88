"""Mesh certificates (ACM without ACM): the mesh CA (stored encrypted, or the operator's
intermediate), the issuer (names, lifetimes, renewal), the SAN scheme, the SDS references
translate emits, and secrets redacted from config dumps."""

from __future__ import annotations

import base64
import datetime
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from envoy.extensions.transport_sockets.tls.v3 import secret_pb2
from google.protobuf.json_format import MessageToDict

from meshplane import pki
from meshplane.config import Config
from meshplane.pki.issuer import MeshIssuer, dns_names_of
from meshplane.pki.mesh_ca import MeshAuthority, load_mesh_ca
from meshplane.store import migrate
from meshplane.stream.dump import render_client_config
from meshplane.stream.snapshot import Snapshot
from meshplane.stream.types import LISTENER, SECRET
from meshplane.translate import MeshState, ProxyRef, build_proxy_config
from meshplane.translate.identity import node_dns_names

CERT = "meshplane-mesh-certificate"
TRUST = "meshplane-mesh-trust"
NODE = ProxyRef("demo", "virtualNode", "web")


def config_for(tmp_path: Path, **overrides: Any) -> Config:
    db = tmp_path / "m.db"
    migrate(str(db))
    return Config.from_env({}, db=str(db), **overrides)


def test_the_mesh_ca_is_created_once_and_its_key_is_stored_encrypted(tmp_path: Path) -> None:
    config = config_for(tmp_path)
    first, again = load_mesh_ca(config), load_mesh_ca(config)
    assert first.cert == again.cert and first.source == "generated"
    assert first.cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    with sqlite3.connect(config.db) as conn:
        cert, blob = conn.execute("SELECT cert, key FROM mesh_ca").fetchone()
    assert "BEGIN CERTIFICATE" in cert and b"PRIVATE KEY" not in bytes(blob)
    assert (tmp_path / "m.db.key").stat().st_mode & 0o777 == 0o600
    assert "PRIVATE" not in repr(first) and "BEGIN" not in repr(first)
    # Another key file cannot decrypt it: refused with a message naming the file, not the key.
    (tmp_path / "other.key").write_text("QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=\n")
    with pytest.raises(ValueError, match="does not decrypt with the key file .*other.key"):
        load_mesh_ca(Config.from_env({}, db=config.db, key_file=str(tmp_path / "other.key")))


def intermediate(tmp_path: Path) -> tuple[Path, Path, x509.Certificate]:
    """A root CA and an intermediate it signed: (chain file, intermediate key file, root)."""
    root = pki.create_ca("test root", days=30)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test intermediate")]))
            .issuer_name(root.cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=1)).not_valid_after(now + datetime.timedelta(days=5))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(root.key, hashes.SHA256()))
    chain, key_file = tmp_path / "ca.pem", tmp_path / "ca-key.pem"
    chain.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + root.cert_pem())
    pki.write_pem(key_file, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()), private=True)
    return chain, key_file, root.cert


def test_an_operator_intermediate_issues_and_its_chain_goes_with_each_leaf(tmp_path: Path) -> None:
    chain, key_file, root = intermediate(tmp_path)
    config = config_for(tmp_path, mesh_ca_cert=str(chain), mesh_ca_key=str(key_file))
    authority = load_mesh_ca(config)
    assert authority.source == str(chain) and [c.subject.rfc4514_string() for c in authority.chain] == ["CN=test intermediate"]
    issuer = MeshIssuer(authority, ttl_s=3600)
    secret = secret_of(issuer.secrets("n", NODE, ("web.demo.local",), (CERT, TRUST))[CERT])
    leaf, sent_intermediate = x509.load_pem_x509_certificates(secret.tls_certificate.certificate_chain.inline_bytes)
    leaf.verify_directly_issued_by(sent_intermediate)
    sent_intermediate.verify_directly_issued_by(root)
    bundle = secret_of(issuer.trust_entry).validation_context.trusted_ca.inline_bytes
    assert len(x509.load_pem_x509_certificates(bundle)) == 2
    with sqlite3.connect(config.db) as conn:
        assert conn.execute("SELECT count(*) FROM mesh_ca").fetchone()[0] == 0  # nothing generated


@pytest.mark.parametrize(("cert_pem", "key_pem", "message"), [
    (b"junk", None, "--mesh-ca-cert .*no PEM certificate"),
    (None, b"junk", "--mesh-ca-key .*no unencrypted PEM private key"),
    ("leaf", None, "not a CA"),
    (None, "other", "is not the key of the first certificate"),
])
def test_bad_operator_ca_files_are_refused_naming_the_flag(tmp_path: Path, cert_pem: Any, key_pem: Any,
                                                           message: str) -> None:
    chain, key_file, _root = intermediate(tmp_path)
    ca = pki.create_ca()
    if cert_pem == "leaf":
        leaf = pki.issue_server(ca, ["x"])
        chain.write_bytes(leaf.cert_pem())
        pki.write_pem(key_file, leaf.key_pem(), private=True)
    elif cert_pem is not None:
        chain.write_bytes(cert_pem)
    if key_pem == "other":
        pki.write_pem(key_file, ca.key_pem(), private=True)
    elif key_pem is not None:
        key_file.write_bytes(key_pem)
    with pytest.raises(ValueError, match=message) as failure:
        load_mesh_ca(config_for(tmp_path, mesh_ca_cert=str(chain), mesh_ca_key=str(key_file)))
    assert "PRIVATE KEY" not in str(failure.value)


def test_config_checks_the_mesh_ca_flags() -> None:
    with pytest.raises(ValueError, match="--mesh-ca-cert and --mesh-ca-key go together"):
        Config.from_env({}, mesh_ca_cert="a.pem")
    with pytest.raises(ValueError, match="at least 10 seconds"):
        Config.from_env({}, mesh_cert_ttl=5)
    assert Config.from_env({"MESHPLANE_MESH_CERT_TTL": "3600"}).mesh_cert_ttl == 3600


def secret_of(entry: Any) -> secret_pb2.Secret:
    secret = secret_pb2.Secret()
    entry.any.Unpack(secret)
    return secret


def authority() -> MeshAuthority:
    ca = pki.create_ca("meshplane mesh CA")
    return MeshAuthority(ca.cert, ca.key, (), ca.cert_pem(), "generated")


def test_issued_certificates_carry_the_san_scheme_and_the_lifetime() -> None:
    ca = authority()
    issuer = MeshIssuer(ca, ttl_s=600, trust_domain="example.org", account_id="123456789012", region="eu-west-1")
    found = issuer.secrets("mesh/demo/virtualNode/web", NODE, ("web.demo.local", "web.internal"), (CERT, TRUST))
    assert sorted(found) == [CERT, TRUST]
    secret = secret_of(found[CERT])
    assert secret.name == CERT
    assert b"PRIVATE KEY" in secret.tls_certificate.private_key.inline_bytes
    cert = x509.load_pem_x509_certificate(secret.tls_certificate.certificate_chain.inline_bytes)
    cert.verify_directly_issued_by(ca.cert)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["web.demo.local", "web.internal"]
    assert sans.get_values_for_type(x509.UniformResourceIdentifier) == [
        "arn:aws:appmesh:eu-west-1:123456789012:mesh/demo/virtualNode/web",
        "spiffe://example.org/mesh/demo/virtualNode/web"]
    uses = list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    assert uses == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    assert (cert.not_valid_after_utc - datetime.datetime.now(datetime.timezone.utc)).total_seconds() == pytest.approx(600, abs=5)
    assert secret_of(found[TRUST]).validation_context.trusted_ca.inline_bytes == ca.bundle_pem
    # Reused while valid; only the trust bundle when no certificate is wanted (and then forgotten).
    assert issuer.secrets("mesh/demo/virtualNode/web", NODE, ("web.demo.local", "web.internal"), (CERT,))[CERT] is found[CERT]
    assert issuer.issued == 1
    assert list(issuer.secrets("mesh/demo/virtualNode/web", NODE, (), (TRUST,))) == [TRUST]
    assert issuer.certificate("mesh/demo/virtualNode/web") is None


def test_renewal_at_two_thirds_and_on_changed_names_runs_on_its_own_thread() -> None:
    renewed: list[dict[str, Any]] = []
    done = threading.Event()

    def on_rotated(entries: dict[str, Any]) -> None:
        renewed.append(entries)
        done.set()

    issuer = MeshIssuer(authority(), ttl_s=30, on_rotated=on_rotated)
    first = issuer.secrets("n", NODE, ("a.local",), (CERT,))[CERT]
    record = issuer.certificate("n")
    assert record is not None and record.renew_at == pytest.approx(record.not_after - 10, abs=2)
    assert issuer.renew_due() == {}  # not yet due
    later = issuer.renew_due(now=record.renew_at + 0.1)
    assert list(later) == ["n"] and later["n"] is not first
    # Changed names: the current certificate is still served, its successor issued in the background.
    stop = threading.Event()
    thread = issuer.start(stop)
    try:
        served = issuer.secrets("n", NODE, ("a.local", "b.local"), (CERT,))[CERT]
        assert served is later["n"]
        assert done.wait(10)
        names = x509.load_pem_x509_certificate(
            secret_of(renewed[0]["n"]).tls_certificate.certificate_chain.inline_bytes
        ).extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
        assert names == ["a.local", "b.local"]
    finally:
        stop.set()
        issuer.wake()
        thread.join(5)


def test_the_san_scheme_names_provided_services_and_service_discovery() -> None:
    state = MeshState.from_dict({
        "mesh_name": "demo",
        "virtual_nodes": {
            "web": {"service_discovery": {"dns": {"hostname": "web.internal"}}},
            "api-v1": {"service_discovery": {"aws_cloud_map": {"namespace_name": "prod.local", "service_name": "api"}}},
            "api-v2": {},
            "gw-only": {},
        },
        "virtual_services": {
            "web.demo.local": {"provider": {"virtual_node": {"virtual_node_name": "web"}}},
            "api.demo.local": {"provider": {"virtual_router": {"virtual_router_name": "api-router"}}},
            "ext.demo.local": {},
        },
        "routes": {"api-router": {"r": {"http_route": {"action": {"weighted_targets": [
            {"virtual_node": "api-v1", "weight": 1}, {"virtual_node": "api-v2", "weight": 1}]}}}}},
    })
    names = node_dns_names(state)
    assert names == {"web": ("web.demo.local", "web.internal"), "api-v1": ("api.demo.local", "api.prod.local"),
                     "api-v2": ("api.demo.local",), "gw-only": ()}
    assert dns_names_of(names, ProxyRef("demo", "virtualGateway", "web")) == ()


def test_acm_listener_references_the_mesh_certificate_over_ads() -> None:
    acm = {"acm": {"certificate_arn": "arn:aws:acm:us-east-1:111122223333:certificate/x"}}
    state = MeshState.from_dict({"mesh_name": "demo", "virtual_nodes": {"web": {
        "listeners": [{"port_mapping": {"port": 8080, "protocol": "http"}, "tls": {"mode": "STRICT", "certificate": acm}}],
        "service_discovery": {"dns": {"hostname": "127.0.0.1"}}}}})
    config = build_proxy_config(state, ProxyRef("demo", "virtualNode", "web"))
    assert config.diagnostics == () and config.secrets == (CERT,)
    listener = MessageToDict(config.listeners["lds_ingress_0.0.0.0_15000"], preserving_proto_field_name=True)
    context = listener["filter_chains"][0]["transport_socket"]["typed_config"]["common_tls_context"]
    assert context["tls_certificate_sds_secret_configs"] == [
        {"name": CERT, "sds_config": {"ads": {}, "resource_api_version": "V3"}}]
    # File certificates keep working as before: no mesh secret.
    file = {"file": {"certificate_chain": "/c.pem", "private_key": "/k.pem"}}
    state.virtual_nodes["web"]["listeners"][0]["tls"]["certificate"] = file  # type: ignore[index]
    assert build_proxy_config(state, ProxyRef("demo", "virtualNode", "web")).secrets == ()


def test_secrets_swap_in_place_and_config_dumps_redact_private_keys() -> None:
    issuer = MeshIssuer(authority(), ttl_s=60)
    found = issuer.secrets("n", NODE, (), (CERT, TRUST))
    snapshot = Snapshot({SECRET: found, LISTENER: {}})
    renewed = issuer.renew_due(now=1e12)["n"]
    swapped = snapshot.replaced(SECRET, {CERT: renewed})
    assert swapped.entries(SECRET)[CERT] is renewed and swapped.entries(SECRET)[TRUST] is found[TRUST]
    assert swapped.type_hash(SECRET) != snapshot.type_hash(SECRET)
    assert swapped.type_hash(LISTENER) == snapshot.type_hash(LISTENER)
    rendered = render_client_config(swapped.client_config())
    certificate = rendered["SDS"][CERT]["tlsCertificate"]
    assert certificate["privateKey"] == {"inlineString": "[redacted]"}
    assert base64.b64decode(certificate["certificateChain"]["inlineBytes"]).startswith(b"-----BEGIN CERTIFICATE")
    dump = json.dumps(rendered)
    assert base64.b64encode(b"-----BEGIN PRIVATE KEY")[:20].decode() not in dump and "PRIVATE KEY" not in dump


def test_a_gateway_gets_the_mesh_certificate_and_trust_for_its_backends() -> None:
    acm = {"acm": {"certificate_arn": "arn:aws:acm:us-east-1:111122223333:certificate/x"}}
    trust = {"client_policy": {"tls": {"validation": {"trust": {"acm": {"certificate_authority_arns": ["arn:ca"]}}}}}}
    state = MeshState.from_dict({
        "mesh_name": "demo",
        "virtual_nodes": {"web": {"listeners": [{"port_mapping": {"port": 8080, "protocol": "http"}}],
                                  "service_discovery": {"dns": {"hostname": "127.0.0.1"}}}},
        "virtual_services": {"web.demo.local": {"provider": {"virtual_node": {"virtual_node_name": "web"}}}},
        "virtual_gateways": {"gw": {
            "listeners": [{"port_mapping": {"port": 8443, "protocol": "http"}, "tls": {"mode": "PERMISSIVE", "certificate": acm}}],
            "backend_defaults": trust}},
        "gateway_routes": {"gw": {"r": {"http_route": {"match": {"prefix": "/"}, "action": {
            "target": {"virtual_service": {"virtual_service_name": "web.demo.local"}}}}}}},
    })
    config = build_proxy_config(state, ProxyRef("demo", "virtualGateway", "gw"))
    assert config.secrets == (CERT, TRUST), config.diagnostics
    # PERMISSIVE keeps its plaintext chain next to the TLS one.
    listener = next(iter(config.listeners.values()))
    assert len(listener.filter_chains) == 2


def test_meshplane_xds_refuses_bad_mesh_ca_files_and_parses_ttl_durations(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from meshplane.cli import main
    from meshplane.pki.cli import Duration

    (tmp_path / "ca.pem").write_text("not a certificate")
    (tmp_path / "ca-key.pem").write_text("not a key")
    result = CliRunner().invoke(main, ["xds", "--db", str(tmp_path / "x.db"), "--xds-listen", "127.0.0.1:0",
                                       "--mesh-ca-cert", str(tmp_path / "ca.pem"),
                                       "--mesh-ca-key", str(tmp_path / "ca-key.pem")])
    assert result.exit_code != 0
    assert "--mesh-ca-cert" in str(result.exception) + result.output
    result = CliRunner().invoke(main, ["xds", "--mesh-cert-ttl", "soon"])
    assert result.exit_code == 2 and "not a duration" in result.output
    assert [Duration().convert(v, None, None) for v in ("86400", "24h", "90m", "10s", "2d")] == [
        86400, 86400, 5400, 10, 172800]


def fleet_state(weight: int, nodes: int) -> MeshState:
    """``nodes`` alike client nodes (an ACM listener, ACM trust, one backend behind a router)."""
    acm = {"acm": {"certificate_arn": "arn:aws:acm:us-east-1:111122223333:certificate/x"}}
    trust = {"client_policy": {"tls": {"validation": {"trust": {"acm": {"certificate_authority_arns": ["arn:ca"]}}}}}}
    dns = {"dns": {"hostname": "127.0.0.1"}}
    virtual_nodes: dict[str, Any] = {
        "a": {"listeners": [{"port_mapping": {"port": 9080, "protocol": "http"}}], "service_discovery": dns},
        "b": {"listeners": [{"port_mapping": {"port": 9080, "protocol": "http"}}], "service_discovery": dns},
    }
    for i in range(nodes):
        virtual_nodes[f"client-{i}"] = {
            "listeners": [{"port_mapping": {"port": 8080, "protocol": "http"}, "tls": {"mode": "STRICT", "certificate": acm}}],
            "backend_defaults": trust, "service_discovery": dns,
            "backends": [{"virtual_service": {"virtual_service_name": "svc.local"}}]}
    targets = [{"virtual_node": "a", "weight": weight}, {"virtual_node": "b", "weight": 100 - weight}]
    return MeshState.from_dict({
        "mesh_name": "demo", "mesh_spec": {}, "virtual_nodes": virtual_nodes,
        "virtual_routers": {"r": {"listeners": [{"port_mapping": {"port": 9080, "protocol": "http"}}]}},
        "routes": {"r": {"route": {"http_route": {"match": {"prefix": "/"}, "action": {"weighted_targets": targets}}}}},
        "virtual_services": {"svc.local": {"provider": {"virtual_router": {"virtual_router_name": "r"}}}},
    })


def test_each_proxy_has_its_own_certificate_but_shares_the_rest_through_changes_and_renewals(tmp_path: Path) -> None:
    from envoy.config.core.v3 import base_pb2

    from meshplane.propagate import PersistentStatus, Propagator
    from meshplane.stream import CLUSTER, ENDPOINT, ROUTE, SnapshotCache
    from meshplane.translate.deps import revision_keys

    cache = SnapshotCache(epoch="e")
    propagator = Propagator(config_for(tmp_path), cache, PersistentStatus())
    try:
        propagator._states["demo"] = fleet_state(50, 3)  # as loaded from the store
        nodes = [f"mesh/demo/virtualNode/client-{i}" for i in range(3)]
        for node in nodes:
            propagator.on_first_request(node, base_pb2.Node(id=node))
        first = [cache.get(node) for node in nodes]  # each built alone, as its proxy connected
        assert all(snapshot is not None for snapshot in first)
        certificates = [snapshot.entries(SECRET)[CERT] for snapshot in first]
        assert len({entry.version for entry in certificates}) == 3  # one certificate each

        def change(weight: int) -> list[Any]:
            propagator._states["demo"] = fleet_state(weight, 3)
            propagator.apply({"demo": set(revision_keys("route", "route", "r"))}, reload=False)
            return [cache.get(node) for node in nodes]

        # A route change rebuilds them in one pass: every type but the proxy's own (its certificate;
        # its ingress cluster and route, named after the node) is one set shared by all.
        before = change(10)
        for snapshot, entry in zip(before, certificates):
            assert snapshot.entries(SECRET)[CERT] is entry
        assert len({id(snapshot.type_set(SECRET)) for snapshot in before}) == 3
        for type_url in (ENDPOINT, LISTENER):
            assert before[0].type_set(type_url) is before[1].type_set(type_url) is before[2].type_set(type_url)
        assert before[0].entries(SECRET)[TRUST] is before[1].entries(SECRET)[TRUST] is before[2].entries(SECRET)[TRUST]

        # The next one: only RDS changes; each proxy keeps its other type sets, certificate included.
        after = change(20)
        for old, new in zip(before, after):
            assert new is not old and new.type_hash(ROUTE) != old.type_hash(ROUTE)
            for type_url in (CLUSTER, ENDPOINT, LISTENER, SECRET):
                assert new.type_set(type_url) is old.type_set(type_url)
        assert after[0].type_set(LISTENER) is after[2].type_set(LISTENER)

        # A rebuild that changes nothing keeps the very snapshots: nothing to push or store.
        propagator._configs_to_save.clear()
        assert all(again is snapshot for again, snapshot in zip(change(20), after))
        assert propagator._configs_to_save == {}

        # A renewal swaps the certificate set alone, and the config dump shows the new one.
        issuer = propagator.issuer()
        assert issuer is not None
        renewed = issuer.renew_due(now=1e12)
        assert set(renewed) == set(nodes)
        propagator._on_certificates_renewed(renewed)
        for node, old in zip(nodes, after):
            new = cache.get(node)
            assert new is not None and new.entries(SECRET)[CERT] is renewed[node]
            assert new.entries(SECRET)[TRUST] is old.entries(SECRET)[TRUST]
            for type_url in (CLUSTER, ENDPOINT, LISTENER, ROUTE):
                assert new.type_set(type_url) is old.type_set(type_url)
            dumped = render_client_config(new.client_config())["SDS"][CERT]["tlsCertificate"]["certificateChain"]
            assert base64.b64decode(dumped["inlineBytes"]) == secret_of(renewed[node]).tls_certificate.certificate_chain.inline_bytes
    finally:
        propagator.stop_issuer()
        propagator.store.close()
