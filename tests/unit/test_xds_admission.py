"""auth/xds.py's admission decisions, in process (the end-to-end cases run in tests/stream/test_xds_tls.py)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import grpc
import pytest
from botocore.auth import EMPTY_SHA256_HASH, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from envoy.config.core.v3 import base_pb2

from meshplane import pki
from meshplane.auth.keys import KeyStore
from meshplane.auth.policy import Policy
from meshplane.auth.xds import TOKEN_HEADER, XdsAdmission, bootstrap_token, sign_hosts
from meshplane.config import Config
from meshplane.store import migrate
from meshplane.stream.admission import StreamOpening

NODE = "mesh/m/virtualNode/a"
ARN = "arn:aws:appmesh:us-east-1:111122223333:mesh/m/virtualNode/a"
DELTA = "/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources"


@pytest.fixture
def setup(tmp_path: Path) -> dict[str, Any]:
    db = str(tmp_path / "m.db")
    migrate(db)
    config = Config.from_env({}, db=db, auth="sigv4", audit_log=str(tmp_path / "audit.log"),
                             xds_listen="127.0.0.1:18000", xds_trust_domain="td")
    keys = KeyStore(config)
    admin = keys.create("admin", admin=True)
    return {"config": config, "keys": keys, "admin": admin, "admission": XdsAdmission(config, keys.get, 18000)}


def opening(node: str = NODE, metadata: Any = (), pem: bytes | None = None, protocol: str = "sotw") -> StreamOpening:
    return StreamOpening(base_pb2.Node(id=node), protocol, tuple(metadata),
                         {"x509_pem_cert": [pem]} if pem else {}, "ipv4:10.1.2.3:4000")


def test_default_sign_hosts_carry_the_port_and_drop_443() -> None:
    config = Config.from_env({}, xds_listen="127.0.0.1:0")
    assert sign_hosts(config, 15000)[:3] == ["127.0.0.1:15000", "localhost:15000", "[::1]:15000"]
    assert "localhost" in sign_hosts(config, 443)
    assert sign_hosts(Config.from_env({}, xds_sign_hosts="XDS.example:443, a:1"), 1) == ["xds.example:443", "a:1"]


def test_certificates_name_nodes_by_arn_or_spiffe_id_in_the_trust_domain(setup: dict[str, Any]) -> None:
    admission = setup["admission"]
    ca = pki.create_ca()
    by_spiffe = pki.issue_client(ca, ["spiffe://td/mesh/m/virtualNode/a"], "a").cert_pem()
    other_domain = pki.issue_client(ca, ["spiffe://elsewhere/mesh/m/virtualNode/a"], "a").cert_pem()
    by_arn = pki.issue_client(ca, [ARN], "a").cert_pem()
    assert admission(opening(pem=by_spiffe)) is None
    assert admission(opening(pem=by_arn)) is None
    refusal = admission(opening(node="mesh/m/virtualNode/b", pem=by_arn))
    assert refusal.code == grpc.StatusCode.PERMISSION_DENIED and ARN in refusal.message
    # A certificate naming no node (here: another trust domain) leaves the stream to its credentials.
    assert admission(opening(pem=other_domain)).code == grpc.StatusCode.UNAUTHENTICATED


def test_tokens_are_checked_against_key_node_and_expiry(setup: dict[str, Any]) -> None:
    admission, admin, keys = setup["admission"], setup["admin"], setup["keys"]
    good = bootstrap_token(admin.access_key_id, admin.secret, NODE)
    assert admin.secret not in good
    assert admission(opening(metadata=[(TOKEN_HEADER, good)])) is None
    for bad in ("nonsense", good.replace("Signature=", "Signature=0"), bootstrap_token(admin.access_key_id, "x", NODE),
                bootstrap_token("MPAKNOPE000000000000", admin.secret, NODE)):
        refusal = admission(opening(metadata=[(TOKEN_HEADER, bad)]))
        assert refusal.code == grpc.StatusCode.UNAUTHENTICATED, bad
    expiring = keys.create("soon", admin=True, expires_at=time.time() - 1)
    refusal = admission(opening(metadata=[(TOKEN_HEADER, bootstrap_token(expiring.access_key_id, expiring.secret, NODE))]))
    assert refusal.code == grpc.StatusCode.UNAUTHENTICATED and "ExpiredToken" in refusal.message


def test_delta_streams_are_signed_over_their_own_method_path(setup: dict[str, Any]) -> None:
    admission, admin = setup["admission"], setup["admin"]
    request = AWSRequest(method="POST", url=f"https://127.0.0.1:18000{DELTA}",
                         headers={"x-amz-content-sha256": EMPTY_SHA256_HASH})
    SigV4Auth(Credentials(admin.access_key_id, admin.secret), "appmesh", "us-east-1").add_auth(request)
    metadata = [(k.lower(), v) for k, v in request.headers.items() if k.lower() != "host"]
    assert admission(opening(metadata=metadata, protocol="delta")) is None
    assert admission(opening(metadata=metadata, protocol="sotw")).code == grpc.StatusCode.UNAUTHENTICATED


def test_policy_refusals_name_the_principal_action_and_node_and_are_audited(setup: dict[str, Any]) -> None:
    admission, keys = setup["admission"], setup["keys"]
    other = keys.create("other", policy=Policy.parse({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "appmesh:StreamAggregatedResources", "Resource": "arn:aws:appmesh:*:*:mesh/m/virtualNode/zzz"}]}))
    refusal = admission(opening(metadata=[(TOKEN_HEADER, bootstrap_token(other.access_key_id, other.secret, NODE))]))
    assert refusal.code == grpc.StatusCode.PERMISSION_DENIED
    assert f"perform: appmesh:StreamAggregatedResources on resource: {ARN}" in refusal.message
    audit = Path(setup["config"].audit_log).read_text()
    assert other.access_key_id in audit and '"outcome":"denied"' in audit and '"source":"10.1.2.3"' in audit
    assert other.secret not in audit
    bad_node = admission(opening(node="not-a-node", metadata=[(TOKEN_HEADER, "x")]))
    assert bad_node.code == grpc.StatusCode.PERMISSION_DENIED
