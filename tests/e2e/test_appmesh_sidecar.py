"""The stock App Mesh sidecar, unchanged: bootstraps rendered as AWS's agent renders them
(tests/e2e/appmesh_agent.py), run by real Envoy against `meshplane serve`.

* TLS (``--xds-tls-cert/--xds-tls-key`` from `meshplane tls dev-ca`): the agent's ``google_grpc``
  channel with ``ssl_credentials``, a full ARN node id, the color gateway carrying traffic, and
  the ``ENABLE_ENVOY_STATS_TAGS`` tags on Envoy's stats.
* TLS with a ``mesh/<m>@<owner>/virtualNode/dj`` node id (the k8s controller's form): the DJ
  canary's 90/10 split.
* The ``unix://`` plaintext variant (``--xds-listen unix:///...``) and its ``local_cluster`` EDS.
* Node ids naming another account or region: refused, the reason in the proxy status.
* A gRPC client signing as ``envoy.grpc_credentials.aws_iam`` did, with the agent's node id
  forms, admitted under ``--auth sigv4`` (upstream Envoy cannot sign any more).

One host, no iptables: the DJ sidecar is given its ingress/egress ports and the app's address
as ``meshplane.*`` node metadata added to the agent's bootstrap (App Mesh's 15000/15001 would
clash between Envoys of one host); the gateway needs nothing (its ports come from its spec).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import requests
from appmesh_agent import AGENT_COMMIT, LOCAL_CLUSTER, for_upstream_envoy, render, task_environment
from demo_meshes import COLOR_SERVICES, COLORS, DJ_APPS, JAZZ, appmesh_client, create_color_app, create_dj_app
from envoy.config.core.v3 import base_pb2
from envoy.service.discovery.v3 import discovery_pb2
from mesh_traffic import HttpClient, assert_split, count_answers
from procs import EnvoyProcess, MeshplaneServer, Process, free_port
from proxy_sync import wait_for

pytestmark = pytest.mark.envoy

ACCOUNT = "111122223333"
OTHER = "210987654321"
ADS = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources"
CDS = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
EDS = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
REQUESTS = 1000


# -- helpers --------------------------------------------------------------------------------------
def dev_ca(directory: Path) -> Path:
    subprocess.run([sys.executable, "-m", "meshplane", "tls", "dev-ca", "--dir", str(directory), "--host", "localhost",
                    "--host", "127.0.0.1"], check=True, capture_output=True, timeout=60)
    return directory


def streams(endpoint: str, node_id: str) -> list[dict[str, Any]]:
    response = requests.get(f"{endpoint}/meshplane/v1/proxies", timeout=5)
    response.raise_for_status()
    return [p for p in response.json()["proxies"] if p["nodeId"] == node_id]


def synced(endpoint: str, node_id: str, types: tuple[str, ...] = ("CDS", "EDS", "LDS", "RDS")) -> dict[str, Any] | None:
    for stream in streams(endpoint, node_id):
        if stream["connected"] and all(stream["types"].get(t, {}).get("state") == "SYNCED" for t in types):
            return stream
    return None


def start_envoy(tmp: Path, name: str, doc: dict[str, Any]) -> EnvoyProcess:
    return EnvoyProcess(doc, tmp / name, name=name, level="info")


def wait_synced(endpoint: str, node_id: str, envoy: EnvoyProcess, server: Process,
                types: tuple[str, ...] = ("CDS", "EDS", "LDS", "RDS")) -> dict[str, Any]:
    return wait_for(lambda: synced(endpoint, node_id, types), 40,
                    lambda: f"{node_id} SYNCED: {streams(endpoint, node_id)}\n{envoy.all_logs()[-4000:]}\n"
                            f"{server.log()[-3000:]}")


def ports(count: int) -> list[int]:
    """``count`` distinct ports that were free a moment ago (bound together, so never the same)."""
    held = [socket.socket() for _ in range(count)]
    try:
        for sock in held:
            sock.bind(("0.0.0.0", 0))
        return [int(sock.getsockname()[1]) for sock in held]
    finally:
        for sock in held:
            sock.close()


def sidecar(tmp: Path, name: str, env: dict[str, str], endpoint: str, node_id: str, server: Process,
            ca: str | None = None, attempts: int = 3) -> tuple[EnvoyProcess, int, int]:
    """A DJ-style sidecar from the agent's bootstrap for ``env``, plus meshplane's one-host
    overrides in its node metadata, started and waited for until SYNCED: (Envoy, ingress, egress).
    A port taken between picking and binding (Envoy NACKs the listener) is retried with new ones."""
    for attempt in range(attempts):
        admin, ingress, egress = ports(3)
        doc = for_upstream_envoy(render({**env, "ENVOY_ADMIN_ACCESS_PORT": str(admin)}), ca)
        doc["node"]["metadata"].update({"meshplane.ingress_port": ingress, "meshplane.egress_port": egress,
                                        "meshplane.app_address": "127.0.0.1"})
        envoy = start_envoy(tmp, f"{name}-{attempt}", doc)
        try:
            wait_synced(endpoint, node_id, envoy, server)
            return envoy, ingress, egress
        except AssertionError:
            envoy.stop()
            if "already in use" not in envoy.all_logs() or attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def prometheus_stats(envoy: EnvoyProcess) -> str:
    return requests.get(f"{envoy.admin_url}/stats/prometheus", timeout=5).text


def open_stream(target: str, node_id: str, *, credentials: grpc.ChannelCredentials | None = None,
                metadata: list[tuple[str, str]] | None = None, type_url: str = CDS,
                names: tuple[str, ...] = ()) -> Any:
    """One SotW request: the first response, or the grpc.RpcError that ended the stream."""
    import queue

    options = [("grpc.use_local_subchannel_pool", 1)]
    channel = (grpc.secure_channel(target, credentials, options=options) if credentials
               else grpc.insecure_channel(target, options=options))
    try:
        call = channel.stream_stream(ADS, request_serializer=discovery_pb2.DiscoveryRequest.SerializeToString,
                                     response_deserializer=discovery_pb2.DiscoveryResponse.FromString)
        pending: queue.Queue[Any] = queue.Queue()
        pending.put(discovery_pb2.DiscoveryRequest(type_url=type_url, resource_names=list(names),
                                                   node=base_pb2.Node(id=node_id, cluster="t")))
        responses = call(iter(pending.get, None), metadata=metadata, timeout=10)
        try:
            return next(responses)
        except grpc.RpcError as error:
            return error
        finally:
            pending.put(None)
    finally:
        channel.close()


def _stream_test_helper(name: str) -> Any:
    """A helper of tests/stream/test_xds_tls.py (``signed_metadata``: botocore's SigV4 over the
    synthetic POST the aws_iam credential signed), loaded from its file."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "stream" / "test_xds_tls.py"
    spec = importlib.util.spec_from_file_location("_xds_tls_helpers", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


# -- fixtures -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MeshplaneServer, Path]]:
    tmp = tmp_path_factory.mktemp("agent-tls")
    certs = dev_ca(tmp / "certs")
    server = MeshplaneServer(tmp / "m.db", tmp / "server.log", "--xds-workers", "1", "--account-id", ACCOUNT,
                             "--region", "us-east-1", "--xds-tls-cert", str(certs / "server.pem"),
                             "--xds-tls-key", str(certs / "server-key.pem"), xds=True)
    try:
        yield server, certs
    finally:
        server.stop()


@pytest.fixture(scope="module")
def unix_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MeshplaneServer, str]]:
    tmp = tmp_path_factory.mktemp("agent-unix")
    socket_dir = Path(tempfile.mkdtemp(prefix="mpx"))  # a unix socket path must stay short
    address = f"unix://{socket_dir}/xds.sock"
    # xds=False, then --xds-listen again (the last one wins): MeshplaneServer waits for a TCP port.
    server = MeshplaneServer(tmp / "m.db", tmp / "server.log", "--xds-listen", address, xds=False)
    try:
        server.wait_for_line(r"meshplane xDS listening on unix://")
        yield server, address
    finally:
        server.stop()
        shutil.rmtree(socket_dir, ignore_errors=True)


# -- the rendering itself -------------------------------------------------------------------------
def test_the_fixture_renders_the_agent_s_documented_outputs() -> None:
    """Spot checks against the agent's own expected outputs (envoy_bootstrap_test.go @1ba8235)."""
    assert AGENT_COMMIT.startswith("1ba8235")
    doc = render({"APPMESH_RESOURCE_ARN": "mesh/foo/virtualNode/bar", "APPMESH_XDS_ENDPOINT": "endpoint",
                  "AWS_REGION": "region", "APPMESH_SIGNING_NAME": "signing_name", "ENABLE_ENVOY_STATS_TAGS": "1"})
    google = doc["dynamicResources"]["adsConfig"]["grpcServices"][0]["googleGrpc"]
    assert google["channelCredentials"] == {"sslCredentials": {"rootCerts": {"filename": "/etc/pki/tls/cert.pem"}}}
    assert google["callCredentials"][0]["fromPlugin"]["typedConfig"] == {
        "@type": "type.googleapis.com/envoy.config.grpc_credential.v3.AwsIamConfig",
        "serviceName": "signing_name", "region": "region"}
    assert google["channelArgs"]["args"]["grpc.max_connection_age_ms"] == {"intValue": "2400000"}
    assert doc["dynamicResources"]["cdsConfig"] == {"ads": {}, "initialFetchTimeout": "0s", "resourceApiVersion": "V3"}
    tags = [(t["tagName"], t.get("fixedValue")) for t in doc["statsConfig"]["statsTags"]]
    assert tags[:2] == [("appmesh.mesh", "foo"), ("appmesh.virtual_node", "bar")]
    assert [t for t, _ in tags[2:]] == ["appmesh.listener_protocol", "appmesh.listener_port", "envoy_rds_route_config"]
    assert doc["node"]["cluster"] == "mesh/foo/virtualNode/bar"
    assert "aws.appmesh.static_runtime" in doc["node"]["metadata"]
    upstream = for_upstream_envoy(doc, "/ca.pem")["dynamicResources"]["adsConfig"]["grpcServices"][0]["googleGrpc"]
    assert "callCredentials" not in upstream and "credentialsFactoryName" not in upstream
    assert upstream["channelCredentials"]["sslCredentials"]["rootCerts"]["filename"] == "/ca.pem"
    unix = render({"APPMESH_RESOURCE_ARN": "mesh/foo/virtualGateway/gw", "APPMESH_XDS_ENDPOINT": "unix:///tmp/x.sock"})
    google = unix["dynamicResources"]["adsConfig"]["grpcServices"][0]["googleGrpc"]
    assert google["targetUri"] == "unix:///tmp/x.sock" and "channelCredentials" not in google
    assert unix["clusterManager"]["localClusterName"] == LOCAL_CLUSTER
    assert unix["staticResources"]["clusters"][0]["edsClusterConfig"]["edsConfig"]["initialFetchTimeout"] == "0.001s"


# -- TLS, as the stock sidecar dials --------------------------------------------------------------
def test_agent_bootstrap_over_tls_with_an_arn_carries_the_color_gateway(tls_server: Any, mesh_name: str, apps: Any,
                                                                        tmp_path: Path) -> None:
    server, certs = tls_server
    colors = dict(zip(COLORS, apps.start(*COLORS), strict=True))
    port = free_port()
    create_color_app(appmesh_client(server.endpoint), mesh_name, colors, "colorapp-gw", port)
    node_id = f"arn:aws:appmesh:us-east-1:{ACCOUNT}:mesh/{mesh_name}/virtualGateway/colorapp-gw"
    env = task_environment(node_id, f"localhost:{server.xds_port}", ENABLE_ENVOY_STATS_TAGS="1",
                           ENVOY_ADMIN_ACCESS_PORT=str(ports(1)[0]), APPMESH_RESOURCE_CLUSTER="colorapp-gw")
    envoy = start_envoy(tmp_path, "gateway", for_upstream_envoy(render(env), str(certs / "ca.pem")))
    try:
        status = wait_synced(server.endpoint, node_id, envoy, server)
        assert status["meshName"] == mesh_name and status["name"] == "colorapp-gw" and status["diagnostics"] == []
        with HttpClient(port) as client:
            for index, (service, pair) in enumerate(COLOR_SERVICES.items(), start=1):
                counts = count_answers(client, REQUESTS, f"/color{index}/tell")
                assert_split(counts, {pair[0]: 1, pair[1]: 1})
        # App Mesh's names, and the agent's stats tags on Envoy's own stats.
        dump = requests.get(f"{envoy.admin_url}/config_dump", timeout=5).json()
        listeners = [json.dumps(c) for c in dump["configs"] if "ListenersConfigDump" in c["@type"]]
        assert f"lds_ingress_0.0.0.0_{port}" in listeners[0]
        stats = prometheus_stats(envoy)
        assert f'appmesh_mesh="{mesh_name}"' in stats and 'appmesh_virtual_gateway="colorapp-gw"' in stats
        assert "envoy_control_plane_connected_state" in stats
    finally:
        envoy.stop()


def test_agent_bootstrap_over_tls_with_an_owner_id_carries_the_dj_canary(tls_server: Any, mesh_name: str, apps: Any,
                                                                         tmp_path: Path) -> None:
    server, certs = tls_server
    started = dict(zip(DJ_APPS, apps.start(*DJ_APPS), strict=True))
    create_dj_app(appmesh_client(server.endpoint), mesh_name, started)
    node_id = f"mesh/{mesh_name}@{ACCOUNT}/virtualNode/dj"  # the k8s controller's shared-mesh form
    env = task_environment(node_id, f"127.0.0.1:{server.xds_port}", ENABLE_ENVOY_STATS_TAGS="1")
    envoy, ingress, egress = sidecar(tmp_path, "dj", env, server.endpoint, node_id, server, str(certs / "ca.pem"))
    try:
        status = synced(server.endpoint, node_id)
        assert status is not None
        assert status["meshName"] == mesh_name and status["kind"] == "virtualNode" and status["name"] == "dj"
        with HttpClient(egress) as client:
            counts = count_answers(client, REQUESTS, "/", JAZZ)
            assert_split(counts, {"jazz-v1": 90, "jazz-v2": 10}, tolerance=0.04)
        with HttpClient(ingress) as client:
            assert client.get("/")[1] == "dj"
        # The agent reads the mesh part verbatim: its tag keeps "@owner", as App Mesh's did.
        assert f'appmesh_mesh="{mesh_name}@{ACCOUNT}"' in prometheus_stats(envoy)
    finally:
        envoy.stop()


# -- the unix:// variant --------------------------------------------------------------------------
def test_unix_variant_is_served_with_its_local_cluster(unix_server: Any, mesh_name: str, apps: Any,
                                                      tmp_path: Path) -> None:
    server, address = unix_server
    started = dict(zip(DJ_APPS, apps.start(*DJ_APPS), strict=True))
    create_dj_app(appmesh_client(server.endpoint), mesh_name, started)
    node_id = f"mesh/{mesh_name}/virtualNode/dj"
    env = {"APPMESH_RESOURCE_ARN": node_id, "APPMESH_XDS_ENDPOINT": address, "ENVOY_ADMIN_ACCESS_LOG_FILE": "/dev/null"}
    doc = render(env)
    assert for_upstream_envoy(doc) == doc  # nothing to remove: no TLS, no signing
    envoy, _, egress = sidecar(tmp_path, "dj-unix", env, server.endpoint, node_id, server)
    try:
        with HttpClient(egress) as client:
            assert_split(count_answers(client, REQUESTS, "/", JAZZ), {"jazz-v1": 90, "jazz-v2": 10}, tolerance=0.04)
        # Envoy asked ADS for local_cluster and got its (empty) assignment.
        dump = requests.get(f"{envoy.admin_url}/config_dump?include_eds", timeout=5).json()
        eds = [c for c in dump["configs"] if "EndpointsConfigDump" in c["@type"]]
        names = {e["endpoint_config"]["cluster_name"] for kind in ("static_endpoint_configs", "dynamic_endpoint_configs")
                 for e in eds[0].get(kind, [])}
        assert LOCAL_CLUSTER in names, names
        stats = requests.get(f"{envoy.admin_url}/stats?filter=^cluster.local_cluster.update_success$", timeout=5).text
        assert int(stats.split(":")[-1]) >= 1, stats
    finally:
        envoy.stop()


def test_unix_listen_serves_a_plain_grpc_client(unix_server: Any) -> None:
    _, address = unix_server
    response = open_stream(address, "mesh/none/virtualNode/x", type_url=EDS, names=(LOCAL_CLUSTER,))
    assert isinstance(response, discovery_pb2.DiscoveryResponse), response


# -- another account or region: refused, visibly ---------------------------------------------------
@pytest.mark.parametrize(("node_id", "reason"), [
    (f"arn:aws:appmesh:us-east-1:{OTHER}:mesh/m/virtualNode/n", f"names account {OTHER}"),
    (f"mesh/m@{OTHER}/virtualGateway/g", f"names account {OTHER}"),
    (f"arn:aws:appmesh:eu-west-1:{ACCOUNT}:mesh/m/virtualNode/n", "names region eu-west-1"),
])
def test_node_ids_of_another_account_or_region_are_refused_in_the_proxy_status(tls_server: Any, node_id: str,
                                                                               reason: str) -> None:
    server, certs = tls_server
    refused = open_stream(f"localhost:{server.xds_port}", node_id,
                          credentials=grpc.ssl_channel_credentials((certs / "ca.pem").read_bytes()))
    assert isinstance(refused, grpc.RpcError) and refused.code() == grpc.StatusCode.PERMISSION_DENIED, refused
    assert reason in refused.details()
    rows = wait_for(lambda: [s for s in streams(server.endpoint, node_id) if s["diagnostics"]], 10,
                    lambda: f"a refused row for {node_id}: {streams(server.endpoint, node_id)}")
    assert not rows[0]["connected"]
    assert rows[0]["diagnostics"][0].startswith("refused: PERMISSION_DENIED: ") and reason in rows[0]["diagnostics"][0]
    assert rows[0]["meshName"] == "m"


# -- SigV4, as the aws_iam credential signed -------------------------------------------------------
def test_a_client_signing_like_the_stock_sidecar_is_admitted_with_the_agent_s_node_ids(tmp_path: Path) -> None:
    signed_metadata = _stream_test_helper("signed_metadata")

    from meshplane.auth.keys import KeyStore
    from meshplane.config import Config
    from meshplane.store import migrate

    certs = dev_ca(tmp_path / "certs")
    db = tmp_path / "m.db"
    migrate(str(db))
    keys = KeyStore(Config.from_env({}, db=str(db)))
    admin = keys.create("admin", admin=True)
    keys.close()
    assert admin is not None
    server = MeshplaneServer(db, tmp_path / "server.log", "--auth", "sigv4", "--xds-workers", "1",
                             "--xds-tls-cert", str(certs / "server.pem"), "--xds-tls-key", str(certs / "server-key.pem"),
                             "--audit-log", str(tmp_path / "audit.log"), xds=True)
    try:
        host = f"localhost:{server.xds_port}"
        creds = grpc.ssl_channel_credentials((certs / "ca.pem").read_bytes())
        for node_id in (f"arn:aws:appmesh:us-east-1:{ACCOUNT}:mesh/m/virtualNode/n", f"mesh/m@{ACCOUNT}/virtualNode/n",
                        "mesh/m/virtualGateway/g"):
            ok = open_stream(host, node_id, credentials=creds,
                             metadata=signed_metadata(admin.access_key_id, admin.secret, host, minute_date=True))
            assert isinstance(ok, discovery_pb2.DiscoveryResponse), (node_id, ok)
        # Even an admin key cannot stream as another account's node.
        other = f"arn:aws:appmesh:us-east-1:{OTHER}:mesh/m/virtualNode/n"
        denied = open_stream(host, other, credentials=creds,
                             metadata=signed_metadata(admin.access_key_id, admin.secret, host))
        assert isinstance(denied, grpc.RpcError) and denied.code() == grpc.StatusCode.PERMISSION_DENIED
        assert f"names account {OTHER}" in denied.details()
    finally:
        server.stop()



# -- meshplane's own bootstrap, tagged as the agent tagged ----------------------------------------
def test_meshplane_bootstrap_stats_tags_reach_envoy_s_stats(tls_server: Any, mesh_name: str, tmp_path: Path) -> None:
    from meshplane.bootstrap import envoy_bootstrap

    server, certs = tls_server
    appmesh_client(server.endpoint).create_mesh(meshName=mesh_name)
    node_id = f"mesh/{mesh_name}/virtualGateway/edge"
    doc = envoy_bootstrap(node_id, f"127.0.0.1:{server.xds_port}", admin_port=0, tls_ca=str(certs / "ca.pem"),
                          stats_tags=True)
    envoy = start_envoy(tmp_path, "tagged", doc)
    try:
        wait_synced(server.endpoint, node_id, envoy, server, types=("CDS", "LDS"))
        stats = prometheus_stats(envoy)
        assert (f'envoy_control_plane_connected_state{{appmesh_mesh="{mesh_name}",appmesh_virtual_gateway="edge"}} 1'
                in stats), [line for line in stats.splitlines() if "connected_state" in line]
    finally:
        envoy.stop()
