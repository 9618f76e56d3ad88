"""Envoy node ids as App Mesh's agent and k8s controller send them: one parser (auth.arns), used
by translate's ProxyRef, the xDS admission and the proxy status; another account or region refused."""

from __future__ import annotations

import grpc
import pytest
from envoy.config.core.v3 import base_pb2

from meshplane.auth.arns import NodeName, foreign_node, parse_node_id
from meshplane.auth.xds import HomeAdmission, admission_for
from meshplane.config import Config
from meshplane.stream.admission import StreamOpening
from meshplane.translate import ProxyRef

ACCOUNT, OTHER = "111122223333", "210987654321"


@pytest.mark.parametrize(("node_id", "parsed"), [
    ("mesh/m/virtualNode/n", NodeName("m", "virtualNode", "n")),
    (f"mesh/m@{OTHER}/virtualGateway/g", NodeName("m", "virtualGateway", "g", OTHER)),
    (f"arn:aws:appmesh:eu-west-1:{OTHER}:mesh/m/virtualNode/n", NodeName("m", "virtualNode", "n", OTHER, "eu-west-1")),
    (f"arn:aws-cn:appmesh:cn-north-1:{ACCOUNT}:mesh/m/virtualGateway/g",
     NodeName("m", "virtualGateway", "g", ACCOUNT, "cn-north-1")),
])
def test_parse_node_id(node_id: str, parsed: NodeName) -> None:
    assert parse_node_id(node_id) == parsed
    assert ProxyRef.parse(node_id) == ProxyRef(parsed.mesh, parsed.kind, parsed.name)  # type: ignore[arg-type]


@pytest.mark.parametrize("node_id", [
    "mesh/m@12/virtualNode/n", "mesh/@111122223333/virtualNode/n", "mesh/m/virtualNode/n/extra",
    f"arn:aws:appmesh:us-east-1:{ACCOUNT}:mesh/m@{ACCOUNT}/virtualNode/n", "mesh/m/virtualRouter/r",
])
def test_malformed_node_ids(node_id: str) -> None:
    with pytest.raises(ValueError):
        parse_node_id(node_id)
    assert ProxyRef.parse(node_id) is None


def test_a_shared_mesh_id_names_the_mesh_not_mesh_at_owner() -> None:
    # Before: "mesh/m@owner/..." was a mesh named "m@owner" (an empty config shown SYNCED).
    assert ProxyRef.parse(f"mesh/dj-app@{ACCOUNT}/virtualNode/dj") == ProxyRef("dj-app", "virtualNode", "dj")


@pytest.mark.parametrize(("node_id", "reason"), [
    ("mesh/m/virtualNode/n", None),
    (f"mesh/m@{ACCOUNT}/virtualNode/n", None),
    (f"arn:aws:appmesh:us-east-1:{ACCOUNT}:mesh/m/virtualNode/n", None),
    (f"mesh/m@{OTHER}/virtualNode/n", f"names account {OTHER}, but this server serves account {ACCOUNT}"),
    (f"arn:aws:appmesh:us-east-1:{OTHER}:mesh/m/virtualNode/n", f"names account {OTHER}"),
    (f"arn:aws:appmesh:eu-west-1:{ACCOUNT}:mesh/m/virtualNode/n", "names region eu-west-1, but this server serves region us-east-1"),
])
def test_foreign_node(node_id: str, reason: str | None) -> None:
    found = foreign_node(parse_node_id(node_id), ACCOUNT, "us-east-1")
    assert (found is None) if reason is None else (found is not None and reason in found)


def _opening(node_id: str) -> StreamOpening:
    return StreamOpening(base_pb2.Node(id=node_id), "sotw", (), {}, "ipv4:127.0.0.1:1")


def test_without_auth_only_foreign_ids_are_refused() -> None:
    hook = admission_for(Config.from_env({}), 18000)
    assert isinstance(hook, HomeAdmission)
    assert hook(_opening("mesh/m/virtualNode/n")) is None
    assert hook(_opening("not-a-node-id")) is None  # served an empty config with a diagnostic, as before
    refusal = hook(_opening(f"arn:aws:appmesh:us-east-1:{OTHER}:mesh/m/virtualNode/n"))
    assert refusal is not None and refusal.code == grpc.StatusCode.PERMISSION_DENIED and OTHER in refusal.message


def test_unix_listen_addresses() -> None:
    config = Config.from_env({}, xds_listen="unix:///tmp/meshplane-xds.sock", xds_workers=4)
    assert config.xds_workers == 1  # one process owns a unix socket
    with pytest.raises(ValueError, match="absolute"):
        Config.from_env({}, xds_listen="unix://relative.sock")
