"""The seven App Mesh resource kinds, described once.

Every layer (schemas, store, api, provider spec) reads this table instead of repeating
per-kind knowledge. Names follow the wire (camelCase) because they are wire facts.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    """One App Mesh resource kind.

    :param key: the kind's wire name, e.g. ``virtualNode`` (also its ARN segment and revisions.kind).
    :param name_key: the body member holding the resource's own name, e.g. ``virtualNodeName``.
    :param parent: the kind a child lives under besides the mesh (routes: virtualRouter), or None.
    :param collection: the URI segment of the collection, e.g. ``virtualNodes`` or ``routes``.
    :param list_key: the member of a List response holding the refs.
    :param label: the shape prefix in error messages, e.g. ``VirtualNode``.
    """

    key: str
    name_key: str
    parent: str | None
    collection: str
    list_key: str
    label: str

    @property
    def snake(self) -> str:
        """The kind in snake_case (``virtual_node``), as Terraform and Python code name it."""
        return "".join("_" + c.lower() if c.isupper() else c for c in self.key)


MESH = Kind("mesh", "meshName", None, "meshes", "meshes", "Mesh")
VIRTUAL_NODE = Kind("virtualNode", "virtualNodeName", None, "virtualNodes", "virtualNodes", "VirtualNode")
VIRTUAL_SERVICE = Kind(
    "virtualService", "virtualServiceName", None, "virtualServices", "virtualServices", "VirtualService"
)
VIRTUAL_ROUTER = Kind(
    "virtualRouter", "virtualRouterName", None, "virtualRouters", "virtualRouters", "VirtualRouter"
)
ROUTE = Kind("route", "routeName", "virtualRouter", "routes", "routes", "Route")
VIRTUAL_GATEWAY = Kind(
    "virtualGateway", "virtualGatewayName", None, "virtualGateways", "virtualGateways", "VirtualGateway"
)
GATEWAY_ROUTE = Kind(
    "gatewayRoute", "gatewayRouteName", "virtualGateway", "gatewayRoutes", "gatewayRoutes", "GatewayRoute"
)

ALL: tuple[Kind, ...] = (
    MESH,
    VIRTUAL_NODE,
    VIRTUAL_SERVICE,
    VIRTUAL_ROUTER,
    ROUTE,
    VIRTUAL_GATEWAY,
    GATEWAY_ROUTE,
)
BY_KEY: dict[str, Kind] = {k.key: k for k in ALL}
