"""xDS over TLS and mutual TLS, and who may subscribe as which node (admission), end to end:
`meshplane serve` with `meshplane tls dev-ca` certificates, real Envoys, and a grpcio client that
signs like App Mesh's Envoy (botocore's SigV4Auth on the synthetic POST, headers as metadata).

Two servers: one with mutual TLS (client certificates name the nodes), one with TLS + SigV4
keys (signatures and the bootstrap credential).
"""

from __future__ import annotations

import datetime
import json
import queue
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import grpc
import pytest
import requests
from botocore.auth import EMPTY_SHA256_HASH, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config as BotoConfig
from botocore.credentials import Credentials
from cryptography import x509
from envoy.config.core.v3 import base_pb2
from envoy.service.discovery.v3 import discovery_pb2
from polling import wait_for
from procs import EnvoyProcess, MeshplaneServer

from meshplane import pki
from meshplane.auth.keys import KeyStore
from meshplane.auth.policy import Policy
from meshplane.auth.xds import bootstrap_token
from meshplane.bootstrap import envoy_bootstrap
from meshplane.config import Config
from meshplane.store import migrate

pytestmark = pytest.mark.envoy

MESH = "tlsmesh"
NODE_A = f"mesh/{MESH}/virtualNode/a"
NODE_B = f"mesh/{MESH}/virtualNode/b"
ARN_A = f"arn:aws:appmesh:us-east-1:111122223333:{NODE_A}"
ADS = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources"
CDS = "type.googleapis.com/envoy.config.cluster.v3.Cluster"


# -- helpers --------------------------------------------------------------------------------------
def dev_ca(directory: Path) -> Path:
    subprocess.run([sys.executable, "-m", "meshplane", "tls", "dev-ca", "--dir", str(directory), "--host", "localhost",
                    "--host", "127.0.0.1", "--node", NODE_A, "--node", NODE_B, "--trust-domain", "test.local"],
                   check=True, capture_output=True, timeout=60)
    return directory


def appmesh(endpoint: str, ca: Path, key_id: str = "AKIDEXAMPLE", secret: str = "secret") -> Any:
    return boto3.client("appmesh", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=key_id,
                        aws_secret_access_key=secret, verify=str(ca), config=BotoConfig(retries={"max_attempts": 1}))


def create_mesh(client: Any) -> None:
    client.create_mesh(meshName=MESH)
    client.create_virtual_node(meshName=MESH, virtualNodeName="a", spec={})
    client.create_virtual_node(meshName=MESH, virtualNodeName="b", spec={
        "listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}],
        "serviceDiscovery": {"dns": {"hostname": "b.local"}}})


def streams(server: MeshplaneServer, node_id: str, auth: Any = None, ca: Path | None = None) -> list[dict[str, Any]]:
    response = requests.get(f"{server.endpoint}/meshplane/v1/proxies", params={"mesh": MESH}, timeout=5,
                            auth=auth, verify=str(ca) if ca else True)
    response.raise_for_status()
    return [p for p in response.json()["proxies"] if p["nodeId"] == node_id]


def synced(server: MeshplaneServer, node_id: str, **kwargs: Any) -> dict[str, Any] | None:
    for stream in streams(server, node_id, **kwargs):
        types = stream["types"]
        if stream["connected"] and all(types.get(t, {}).get("state") == "SYNCED" for t in ("CDS", "LDS")):
            return stream
    return None


def envoy(tmp: Path, name: str, node_id: str, port: int, **tls: Any) -> EnvoyProcess:
    doc = envoy_bootstrap(node_id, f"127.0.0.1:{port}", admin_port=0, **tls)
    return EnvoyProcess(doc, tmp / name, name=name, level="info")


def open_stream(port: int, node_id: str, *, metadata: list[tuple[str, str]] | None = None,
                credentials: grpc.ChannelCredentials | None = None, server_name: str = "127.0.0.1") -> Any:
    """One SotW stream asking for CDS: the first response, or the grpc.RpcError that ended it."""
    target = f"127.0.0.1:{port}"
    options = [("grpc.use_local_subchannel_pool", 1)]
    if credentials is not None:
        options.append(("grpc.ssl_target_name_override", server_name))
        channel = grpc.secure_channel(target, credentials, options=options)
    else:
        channel = grpc.insecure_channel(target, options=options)
    try:
        call = channel.stream_stream(ADS, request_serializer=discovery_pb2.DiscoveryRequest.SerializeToString,
                                     response_deserializer=discovery_pb2.DiscoveryResponse.FromString)
        request = discovery_pb2.DiscoveryRequest(type_url=CDS, node=base_pb2.Node(id=node_id, cluster="t"))
        # The request stream stays open until the answer came: a half-closed stream ends the session.
        requests: queue.Queue[Any] = queue.Queue()
        requests.put(request)
        responses = call(iter(requests.get, None), metadata=metadata, timeout=10)
        try:
            return next(responses)
        except grpc.RpcError as error:
            return error
        finally:
            requests.put(None)
    finally:
        channel.close()


def signed_metadata(key_id: str, secret: str, host: str, *, minute_date: bool = False) -> list[tuple[str, str]]:
    """What App Mesh's Envoy (aws_iam) puts in the metadata: botocore's SigV4 over a synthetic POST
    of the method path, empty payload hash sent as x-amz-content-sha256, host = the dialled host."""
    request = AWSRequest(method="POST", url=f"https://{host}{ADS}", headers={"x-amz-content-sha256": EMPTY_SHA256_HASH})
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    if minute_date:  # older Envoy builds: %Y%m%dT%H%M00Z
        now = now.replace(second=0)
    with mock.patch("botocore.auth.get_current_datetime", return_value=now):
        SigV4Auth(Credentials(key_id, secret), "appmesh", "us-east-1").add_auth(request)
    return [(name.lower(), value) for name, value in request.headers.items() if name.lower() != "host"]


def served_certificate(port: int, certs: Path, client: str | None = None) -> x509.Certificate:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["h2"])
    if client:
        context.load_cert_chain(str(certs / f"{client}.pem"), str(certs / f"{client}-key.pem"))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, context.wrap_socket(raw) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def refused_metric(server: MeshplaneServer, code: str, **kwargs: Any) -> float:
    text = requests.get(f"{server.endpoint}/metrics", timeout=5, **kwargs).text
    for line in text.splitlines():
        if line.startswith(f'meshplane_xds_refused_streams_total{{code="{code}"}}'):
            return float(line.split()[-1])
    return 0.0


# -- mutual TLS -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mtls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MeshplaneServer, Path, Path]]:
    tmp = tmp_path_factory.mktemp("mtls")
    certs = dev_ca(tmp / "certs")
    server = MeshplaneServer(
        tmp / "m.db", tmp / "server.log", "--xds-workers", "1", "--api-tls-cert", str(certs / "server.pem"),
        "--api-tls-key", str(certs / "server-key.pem"), "--xds-tls-cert", str(certs / "server.pem"),
        "--xds-tls-key", str(certs / "server-key.pem"), "--xds-client-ca", str(certs / "ca.pem"), xds=True)
    try:
        create_mesh(appmesh(server.endpoint, certs / "ca.pem"))
        yield server, certs, tmp
    finally:
        server.stop()


def test_envoy_over_mutual_tls_receives_its_config_and_cannot_pose_as_another_node(mtls) -> None:  # type: ignore[no-untyped-def]
    server, certs, tmp = mtls
    ca = certs / "ca.pem"
    tls = {"tls_ca": str(ca), "client_cert": str(certs / "proxy-tlsmesh-virtualNode-a.pem"),
           "client_key": str(certs / "proxy-tlsmesh-virtualNode-a-key.pem")}
    proxy_a = envoy(tmp, "a", NODE_A, server.xds_port, **tls)  # type: ignore[arg-type]
    impostor = None
    try:
        first = wait_for(lambda: synced(server, NODE_A, ca=ca), 30,
                         lambda: f"{NODE_A} synced:\n{proxy_a.all_logs()[-3000:]}\n{server.log()[-3000:]}")
        assert first["peer"].startswith("ipv4:127.0.0.1:")
        # A's certificate, presented by a proxy that says it is B: refused, and shown as such.
        impostor = envoy(tmp, "impostor", NODE_B, server.xds_port, **tls)  # type: ignore[arg-type]
        refused = wait_for(lambda: [s for s in streams(server, NODE_B, ca=ca) if s["diagnostics"]], 30,
                           lambda: f"a refused row for {NODE_B}:\n{server.log()[-3000:]}")
        assert not refused[0]["connected"]
        assert refused[0]["diagnostics"][0].startswith("refused: PERMISSION_DENIED: the client certificate names "
                                                       f"{ARN_A}")
        assert refused_metric(server, "PERMISSION_DENIED", verify=str(ca)) >= 1
        # A's stream carries on and takes a change.
        version = first["types"]["CDS"]["versionAcked"]
        appmesh(server.endpoint, ca).update_virtual_node(
            meshName=MESH, virtualNodeName="a",
            spec={"backends": [{"virtualService": {"virtualServiceName": "x.local"}}]})
        client = appmesh(server.endpoint, ca)
        client.create_virtual_service(meshName=MESH, virtualServiceName="x.local",
                                      spec={"provider": {"virtualNode": {"virtualNodeName": "b"}}})
        wait_for(lambda: (s := synced(server, NODE_A, ca=ca)) and s["types"]["CDS"]["versionAcked"] != version
                 and s["stream"] == first["stream"], 30, f"{NODE_A} to take the change on its stream")
    finally:
        proxy_a.stop()
        if impostor is not None:
            impostor.stop()


def test_grpc_client_certificates_bind_the_node_and_plaintext_or_unknown_clients_get_nowhere(mtls) -> None:  # type: ignore[no-untyped-def]
    server, certs, _ = mtls
    ca = (certs / "ca.pem").read_bytes()

    def creds(name: str | None) -> grpc.ChannelCredentials:
        if name is None:
            return grpc.ssl_channel_credentials(root_certificates=ca)
        return grpc.ssl_channel_credentials(ca, (certs / f"{name}-key.pem").read_bytes(), (certs / f"{name}.pem").read_bytes())

    ok = open_stream(server.xds_port, NODE_B, credentials=creds("proxy-tlsmesh-virtualNode-b"))
    assert isinstance(ok, discovery_pb2.DiscoveryResponse)
    denied = open_stream(server.xds_port, NODE_B, credentials=creds("proxy-tlsmesh-virtualNode-a"))
    assert isinstance(denied, grpc.RpcError) and denied.code() == grpc.StatusCode.PERMISSION_DENIED
    assert ARN_A in denied.details()
    # No client certificate, or no TLS at all: the handshake fails, no stream is opened.
    for attempt in (open_stream(server.xds_port, NODE_B, credentials=creds(None)),
                    open_stream(server.xds_port, NODE_B)):
        assert isinstance(attempt, grpc.RpcError) and attempt.code() == grpc.StatusCode.UNAVAILABLE


def test_xds_certificate_replaced_on_disk_is_served_to_new_connections(mtls) -> None:  # type: ignore[no-untyped-def]
    server, certs, _ = mtls
    client = "proxy-tlsmesh-virtualNode-a"
    before = served_certificate(server.xds_port, certs, client)
    renewed = pki.issue_server(pki.load(certs / "ca.pem", certs / "ca-key.pem"), ["localhost", "127.0.0.1"])
    pki.write_pem(certs / "server-key.pem", renewed.key_pem(), private=True)
    pki.write_pem(certs / "server.pem", renewed.cert_pem())
    wait_for(lambda: served_certificate(server.xds_port, certs, client).serial_number == renewed.cert.serial_number,
             20, "the renewed xDS certificate")
    assert before.serial_number != renewed.cert.serial_number
    ok = open_stream(server.xds_port, NODE_A, credentials=grpc.ssl_channel_credentials(
        (certs / "ca.pem").read_bytes(), (certs / f"{client}-key.pem").read_bytes(), (certs / f"{client}.pem").read_bytes()))
    assert isinstance(ok, discovery_pb2.DiscoveryResponse)


# -- TLS + SigV4 keys -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("signed")
    certs = dev_ca(tmp / "certs")
    db = tmp / "m.db"
    migrate(str(db))  # what `meshplane keys create` does first
    keys = KeyStore(Config.from_env({}, db=str(db)))
    admin = keys.create("admin", admin=True)
    only_a = keys.create("only-a", policy=Policy.parse({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "appmesh:StreamAggregatedResources", "Resource": ARN_A}]}))
    keys.close()
    assert admin is not None and only_a is not None
    server = MeshplaneServer(
        db, tmp / "server.log", "--auth", "sigv4", "--xds-workers", "1", "--xds-tls-cert", str(certs / "server.pem"),
        "--xds-tls-key", str(certs / "server-key.pem"), "--audit-log", str(tmp / "audit.log"), xds=True)
    try:
        create_mesh(appmesh(server.endpoint, certs / "ca.pem", admin.access_key_id, admin.secret))
        yield {"server": server, "certs": certs, "tmp": tmp, "admin": admin, "only_a": only_a}
    finally:
        server.stop()


def _tls(certs: Path) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials((certs / "ca.pem").read_bytes())


def test_streams_signed_like_app_mesh_envoy_are_admitted_and_bad_ones_refused(signed) -> None:  # type: ignore[no-untyped-def]
    server, certs, admin = signed["server"], signed["certs"], signed["admin"]
    host = f"127.0.0.1:{server.xds_port}"
    for minute_date in (False, True):
        ok = open_stream(server.xds_port, NODE_A, credentials=_tls(certs),
                         metadata=signed_metadata(admin.access_key_id, admin.secret, host, minute_date=minute_date))
        assert isinstance(ok, discovery_pb2.DiscoveryResponse), ok
    localhost = open_stream(server.xds_port, NODE_A, credentials=_tls(certs), metadata=signed_metadata(
        admin.access_key_id, admin.secret, f"localhost:{server.xds_port}"))
    assert isinstance(localhost, discovery_pb2.DiscoveryResponse), localhost

    refusals = {
        "unsigned": open_stream(server.xds_port, NODE_A, credentials=_tls(certs)),
        "wrong secret": open_stream(server.xds_port, NODE_A, credentials=_tls(certs), metadata=signed_metadata(
            admin.access_key_id, "x" * 40, host)),
        "unknown key": open_stream(server.xds_port, NODE_A, credentials=_tls(certs), metadata=signed_metadata(
            "MPAKUNKNOWN000000000", admin.secret, host)),
        "other host": open_stream(server.xds_port, NODE_A, credentials=_tls(certs), metadata=signed_metadata(
            admin.access_key_id, admin.secret, "elsewhere.example:443")),
    }
    for case, error in refusals.items():
        assert isinstance(error, grpc.RpcError), case
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED, (case, error.details())
        assert admin.secret not in error.details()
    assert "MissingAuthenticationToken" in refusals["unsigned"].details()
    assert "UnrecognizedClient" in refusals["unknown key"].details()


def test_a_key_may_only_stream_for_the_nodes_its_policy_allows(signed) -> None:  # type: ignore[no-untyped-def]
    server, certs, only_a = signed["server"], signed["certs"], signed["only_a"]
    host = f"127.0.0.1:{server.xds_port}"
    ok = open_stream(server.xds_port, NODE_A, credentials=_tls(certs),
                     metadata=signed_metadata(only_a.access_key_id, only_a.secret, host))
    assert isinstance(ok, discovery_pb2.DiscoveryResponse), ok
    denied = open_stream(server.xds_port, NODE_B, credentials=_tls(certs),
                         metadata=signed_metadata(only_a.access_key_id, only_a.secret, host))
    assert isinstance(denied, grpc.RpcError) and denied.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "is not authorized to perform: appmesh:StreamAggregatedResources on resource: " \
           f"arn:aws:appmesh:us-east-1:111122223333:{NODE_B}" in denied.details()
    admin = signed["admin"]
    auth = _requests_auth(admin.access_key_id, admin.secret)
    rows = wait_for(lambda: [s for s in streams(server, NODE_B, auth=auth) if s["diagnostics"]], 10,
                    "the refused stream in the proxy status")
    assert "PERMISSION_DENIED" in rows[0]["diagnostics"][0]
    audit = [json.loads(line) for line in (signed["tmp"] / "audit.log").read_text().splitlines()]
    mine = [a for a in audit if a["action"] == "appmesh:StreamAggregatedResources" and a["key_id"] == only_a.access_key_id]
    assert mine and mine[-1]["outcome"] == "denied" and mine[-1]["arn"].endswith(NODE_B)
    assert only_a.secret not in (signed["tmp"] / "audit.log").read_text()


def test_envoy_over_tls_with_the_bootstrap_credential(signed) -> None:  # type: ignore[no-untyped-def]
    server, certs, tmp, only_a = signed["server"], signed["certs"], signed["tmp"], signed["only_a"]
    admin = signed["admin"]
    auth = _requests_auth(admin.access_key_id, admin.secret)
    proxy = envoy(tmp, "cred-a", NODE_A, server.xds_port, tls_ca=str(certs / "ca.pem"),
                  credential=bootstrap_token(only_a.access_key_id, only_a.secret, NODE_A))
    try:
        wait_for(lambda: synced(server, NODE_A, auth=auth), 30,
                 lambda: f"{NODE_A} synced:\n{proxy.all_logs()[-3000:]}\n{server.log()[-3000:]}")
    finally:
        proxy.stop()
    # The credential is bound to its node: replayed for another node it is refused.
    token = bootstrap_token(only_a.access_key_id, only_a.secret, NODE_A)
    replay = open_stream(server.xds_port, NODE_B, credentials=_tls(certs), metadata=[("x-meshplane-credential", token)])
    assert isinstance(replay, grpc.RpcError) and replay.code() == grpc.StatusCode.UNAUTHENTICATED


def _requests_auth(key_id: str, secret: str) -> Any:
    """A requests auth hook signing like botocore (the API runs with --auth sigv4)."""
    import requests.auth

    class _SigV4(requests.auth.AuthBase):
        def __call__(self, r: Any) -> Any:
            request = AWSRequest(method=r.method, url=r.url, headers={}, data=r.body or b"")
            SigV4Auth(Credentials(key_id, secret), "appmesh", "us-east-1").add_auth(request)
            r.headers.update(dict(request.headers))
            return r

    return _SigV4()
