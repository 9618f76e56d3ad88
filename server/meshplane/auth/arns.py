"""App Mesh ARNs as IAM policies name them (``arn:aws:appmesh:<region>:<account>:mesh/<mesh>/…``).

In a shared mesh the account is the mesh owner's (``meshOwner``), as AWS forms it.
"""

from __future__ import annotations

import re

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


def node_arn(node_id: str, account: str, region: str) -> str:
    """The ARN of the virtual node or gateway an Envoy ``node.id`` names.

    Accepts the full ARN (returned as is, after checking its shape) and
    ``mesh/<mesh>[@<owner>]/virtualNode|virtualGateway/<name>`` (the owner, when given, replaces
    ``account``: the k8s controller names shared meshes so).

    :raises ValueError: the id names no virtual node or gateway.
    """
    if node_id.startswith("arn:"):
        head, sep, path = node_id.partition(":mesh/")
        fields = head.split(":")
        if (not sep or len(fields) != 5 or fields[1] == "" or fields[2] != "appmesh" or not fields[3]
                or not _ACCOUNT.fullmatch(fields[4])):
            raise ValueError(f"node id {node_id!r}: not an App Mesh virtual node or gateway ARN")
        _split_path("mesh/" + path, node_id)
        return node_id
    mesh, kind, name = _split_path(node_id, node_id)
    owner = account
    if "@" in mesh:
        mesh, _, owner = mesh.rpartition("@")
        if not _ACCOUNT.fullmatch(owner) or not mesh:
            raise ValueError(f"node id {node_id!r}: the mesh owner after '@' must be a 12-digit account id")
    return f"arn:aws:appmesh:{region}:{owner}:mesh/{mesh}/{kind}/{name}"


def _split_path(path: str, node_id: str) -> tuple[str, str, str]:
    parts = path.split("/")
    if len(parts) != 4 or parts[0] != "mesh" or parts[2] not in _PROXY_KINDS or not parts[1] or not parts[3]:
        raise ValueError(
            f"node id {node_id!r}: expected mesh/<mesh>/virtualNode/<name>, mesh/<mesh>/virtualGateway/<name> "
            "or the resource's ARN"
        )
    return parts[1], parts[2], parts[3]
