"""App Mesh ARNs as IAM policies name them (``arn:aws:appmesh:<region>:<account>:mesh/<mesh>/…``).

In a shared mesh the account is the mesh owner's (``meshOwner``), as AWS forms it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from meshplane import kinds

_ACCOUNT = re.compile(r"\d{12}")
_PROXY_KINDS = ("virtualNode", "virtualGateway")


def resource_arn(kind: str, mesh: str, parent: str, name: str, *, account: str, region: str) -> str:
    """The ARN of a resource of ``kind`` (a kinds.py key): ``mesh/<mesh>``, ``mesh/<m>/<kind>/<name>``,
    or ``mesh/<m>/<parentKind>/<parent>/<kind>/<name>`` for routes and gateway routes."""
    base = f"arn:aws:appmesh:{region}:{account}:mesh/{mesh}"
    spec = kinds.BY_KEY[kind]
    if spec is kinds.MESH:
        return base
    if spec.parent:
        return f"{base}/{spec.parent}/{parent}/{kind}/{name}"
    return f"{base}/{kind}/{name}"


@dataclass(frozen=True)
class NodeName:
    """What an Envoy ``node.id`` names: a virtual node or gateway of a mesh, and, when the id says
    so, the account (an ARN's account, or ``@<owner>``) and region (an ARN's) it belongs to."""

    mesh: str
    kind: str  # "virtualNode" or "virtualGateway"
    name: str
    account: str | None = None
    region: str | None = None


def parse_node_id(node_id: str) -> NodeName:
    """Parse an Envoy ``node.id`` as App Mesh's Envoy sends it (fleet.md §1.2): the resource ARN
    ``arn:<partition>:appmesh:<region>:<account>:mesh/<mesh>/<kind>/<name>`` or the short
    ``mesh/<mesh>[@<owner>]/<kind>/<name>`` (the k8s controller names shared meshes with
    ``@<owner>``), ``<kind>`` being ``virtualNode`` or ``virtualGateway``. The one parser of node
    ids: translate's ProxyRef, the xDS admission and the proxy status all use it.

    :raises ValueError: the id names no virtual node or gateway (the message says which forms work).
    """
    if node_id.startswith("arn:"):
        head, sep, path = node_id.partition(":mesh/")
        fields = head.split(":")
        if (not sep or len(fields) != 5 or fields[1] == "" or fields[2] != "appmesh" or not fields[3]
                or not _ACCOUNT.fullmatch(fields[4])):
            raise ValueError(f"node id {node_id!r}: not an App Mesh virtual node or gateway ARN")
        mesh, kind, name = _split_path("mesh/" + path, node_id)
        if "@" in mesh:
            raise ValueError(f"node id {node_id!r}: an ARN names the mesh owner in its account field, not with '@'")
        return NodeName(mesh, kind, name, fields[4], fields[3])
    mesh, kind, name = _split_path(node_id, node_id)
    owner = None
    if "@" in mesh:
        mesh, _, owner = mesh.rpartition("@")
        if not _ACCOUNT.fullmatch(owner) or not mesh:
            raise ValueError(f"node id {node_id!r}: the mesh owner after '@' must be a 12-digit account id")
    return NodeName(mesh, kind, name, owner, None)


def node_arn(node_id: str, account: str, region: str) -> str:
    """The ARN of the virtual node or gateway an Envoy ``node.id`` names.

    Accepts the full ARN (returned as is, after checking its shape) and
    ``mesh/<mesh>[@<owner>]/virtualNode|virtualGateway/<name>`` (the owner, when given, replaces
    ``account``: the k8s controller names shared meshes so).

    :raises ValueError: the id names no virtual node or gateway.
    """
    parsed = parse_node_id(node_id)
    if node_id.startswith("arn:"):
        return node_id
    return f"arn:aws:appmesh:{region}:{parsed.account or account}:mesh/{parsed.mesh}/{parsed.kind}/{parsed.name}"


def foreign_node(parsed: NodeName, account: str, region: str) -> str | None:
    """Why a parsed node id is not this server's to serve (another account or region: App Mesh
    kept each account's meshes per region, and so does meshplane, one account and region per
    server), or None when it is. The reason names both sides, for the proxy status."""
    if parsed.account is not None and parsed.account != account:
        return (f"the node id names account {parsed.account}, but this server serves account {account} "
                "(--account-id): a mesh shared from another account is not served here")
    if parsed.region is not None and parsed.region != region:
        return (f"the node id names region {parsed.region}, but this server serves region {region} (--region)")
    return None


def _split_path(path: str, node_id: str) -> tuple[str, str, str]:
    parts = path.split("/")
    if len(parts) != 4 or parts[0] != "mesh" or parts[2] not in _PROXY_KINDS or not parts[1] or not parts[3]:
        raise ValueError(
            f"node id {node_id!r}: expected mesh/<mesh>/virtualNode/<name>, mesh/<mesh>/virtualGateway/<name> "
            "(optionally mesh/<mesh>@<owner account>/...) or the resource's ARN"
        )
    return parts[1], parts[2], parts[3]
