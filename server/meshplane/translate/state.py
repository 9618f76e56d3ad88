"""The translator's inputs: one mesh's stored state, a proxy's identity, its local overrides, and
the server-wide settings.

Specs are the stored dicts (`schemas.load_spec`): the App Mesh wire tree with snake_case keys and
absent members absent. Nothing here defaults or validates a spec; `specs.py` reads them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Literal

from meshplane.auth.arns import parse_node_id

ProxyKind = Literal["virtualNode", "virtualGateway"]
PROXY_KINDS: tuple[str, ...] = ("virtualNode", "virtualGateway")

_EMPTY: Mapping[str, Any] = {}


@dataclass(frozen=True)
class MeshState:
    """A frozen view of one mesh, read in one transaction.

    :param mesh_name: the mesh's name.
    :param mesh_spec: the mesh's stored spec (``{}`` when the mesh was created without one).
    :param virtual_nodes: node name -> spec.
    :param virtual_services: service name -> spec.
    :param virtual_routers: router name -> spec.
    :param routes: router name -> route name -> spec.
    :param virtual_gateways: gateway name -> spec.
    :param gateway_routes: gateway name -> gateway route name -> spec.

    Treat every mapping as read-only: a `Translator` memoizes what it derives from one state
    object. States compare by value; they are not hashable (their fields are dicts).
    """

    mesh_name: str
    mesh_spec: Mapping[str, Any] = field(default_factory=dict)
    virtual_nodes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    virtual_services: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    virtual_routers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    routes: Mapping[str, Mapping[str, Mapping[str, Any]]] = field(default_factory=dict)
    virtual_gateways: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    gateway_routes: Mapping[str, Mapping[str, Mapping[str, Any]]] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MeshState:
        """Build a state from a plain dict with the field names as keys (missing maps are empty)."""
        return cls(
            mesh_name=str(data["mesh_name"]),
            mesh_spec=dict(data.get("mesh_spec") or {}),
            virtual_nodes=dict(data.get("virtual_nodes") or {}),
            virtual_services=dict(data.get("virtual_services") or {}),
            virtual_routers=dict(data.get("virtual_routers") or {}),
            routes={k: dict(v) for k, v in (data.get("routes") or {}).items()},
            virtual_gateways=dict(data.get("virtual_gateways") or {}),
            gateway_routes={k: dict(v) for k, v in (data.get("gateway_routes") or {}).items()},
        )


@dataclass(frozen=True, order=True)
class ProxyRef:
    """Which App Mesh resource an Envoy represents: ``mesh/<mesh>/<kind>/<name>``."""

    mesh: str
    kind: ProxyKind
    name: str

    @classmethod
    def parse(cls, node_id: str) -> ProxyRef | None:
        """Parse an Envoy ``node.id``; None when it names no virtual node or gateway.

        Accepts ``mesh/<mesh>[@<owner>]/virtualNode|virtualGateway/<name>`` and the resource ARN
        ``arn:aws:appmesh:<region>:<acct>:mesh/<mesh>/virtualNode/<name>`` (the forms App Mesh's
        Envoy agent and k8s controller send), through the project's one node id parser
        (``auth.arns.parse_node_id``). The owner account and region an id may name are not part
        of the reference: whether this server serves them is the caller's check (``auth.arns.foreign_node``).
        """
        if not isinstance(node_id, str):
            return None
        try:
            parsed = parse_node_id(node_id)
        except ValueError:
            return None
        kind: ProxyKind = "virtualGateway" if parsed.kind == "virtualGateway" else "virtualNode"
        return cls(parsed.mesh, kind, parsed.name)

    @property
    def node_id(self) -> str:
        """The canonical node id, ``mesh/<mesh>/<kind>/<name>``."""
        return f"mesh/{self.mesh}/{self.kind}/{self.name}"

    def __str__(self) -> str:
        return self.node_id


def _port(value: Any) -> int | None:
    """A TCP port from a metadata value (int, integral float, or digit string); None for junk."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        if not value.is_integer():
            return None
        value = int(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text.isdigit():
            return None
        value = int(text)
    if not isinstance(value, int) or not 1 <= value <= 65535:
        return None
    return value


def _app_address(value: Any) -> str | None:
    """An IP literal, optionally with a port (``127.0.0.1``, ``::1``, ``127.0.0.1:8080``,
    ``[::1]:8080``); None for anything else (host names are refused: the ingress cluster is STATIC).
    """
    if not isinstance(value, str):
        return None
    text = value.strip()
    host, port = text, None
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            return None
        host, rest = text[1:close], text[close + 1 :]
        if rest:
            if not rest.startswith(":"):
                return None
            port = rest[1:]
    elif text.count(":") == 1:
        host, port = text.split(":")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    if port is None:
        return str(ip)
    number = _port(port)
    if number is None:
        return None
    return f"[{ip}]:{number}" if ip.version == 6 else f"{ip}:{number}"


@dataclass(frozen=True)
class LocalOverrides:
    """Per-Envoy settings that App Mesh took from iptables and the task definition.

    :param ingress_port: bind the ingress listeners here instead of 15000 with iptables-style
        original-destination matching; listener k (spec listeners sorted by port) binds
        ``ingress_port + k``. For gateways it replaces the spec listener ports the same way.
    :param egress_port: bind the egress listener here instead of 15001 (one-host mode: one
        HTTP listener routed by Host; TCP backends get listeners at ``egress_port + 1 + k``).
    :param app_address: where the local app listens: an IP literal (``127.0.0.1``, ``::1``) used
        with each listener's port, or ``IP:PORT`` where PORT serves the first listener and
        listener k uses ``PORT + k``.
    """

    ingress_port: int | None = None
    egress_port: int | None = None
    app_address: str | None = None

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any] | None) -> LocalOverrides:
        """Read the overrides from Envoy node metadata.

        Keys ``meshplane.ingress_port``, ``meshplane.egress_port`` and ``meshplane.app_address``
        (a nested ``{"meshplane": {"ingress_port": ...}}`` works too). Ports may be numbers
        (protobuf Struct numbers arrive as floats) or digit strings; anything unusable is ignored.
        """
        if not isinstance(metadata, Mapping):
            return cls()
        nested = metadata.get("meshplane")
        nested = nested if isinstance(nested, Mapping) else _EMPTY

        def pick(key: str) -> Any:
            value = metadata.get(f"meshplane.{key}")
            return nested.get(key) if value is None else value

        return cls(
            ingress_port=_port(pick("ingress_port")),
            egress_port=_port(pick("egress_port")),
            app_address=_app_address(pick("app_address")),
        )


@dataclass(frozen=True)
class Settings:
    """Server-wide translation choices: the operator's flags, in no App Mesh spec.

    :param aws_passthrough: App Mesh's hidden egress default. The iptables egress listener
        passes TLS for ``*.amazonaws.com`` on port 443 to its original destination (cluster
        ``cds_egress_<mesh>_amazonaws``) under DROP_ALL too, so apps keep reaching AWS APIs.
        False (``--no-aws-passthrough``) leaves that chain out.
    """

    aws_passthrough: bool = True


DEFAULT_SETTINGS = Settings()
