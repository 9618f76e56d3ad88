"""Cross-resource rules: a route must fit its virtual router, a gateway route its virtual gateway.

Pure functions over stored (snake_case) specs; the store calls them when a route or gateway route is
created or updated (and may call them for every child when a router or gateway changes its listeners).
"""

from __future__ import annotations

from typing import Any

from ..errors import BadRequestException
from .base import camel_case

ROUTE_PROTOCOLS: dict[str, str] = {
    "http_route": "http",
    "http2_route": "http2",
    "grpc_route": "grpc",
    "tcp_route": "tcp",
}
"""Route type (stored RouteSpec member) -> the router listener protocol it serves."""

GATEWAY_ROUTE_PROTOCOLS: dict[str, str] = {
    "http_route": "http",
    "http2_route": "http2",
    "grpc_route": "grpc",
}
"""Gateway route type (stored GatewayRouteSpec member) -> the gateway listener protocol it serves."""


def check_route_fits_router(route_spec: dict[str, Any], router_spec: dict[str, Any]) -> None:
    """A route's type must match the protocol of the router listener it attaches to.

    With one listener the route attaches to it (``match.port``, if set, must be its port); with
    several, ``match.port`` is required and picks the listener. A router without listeners (legal
    in the model) accepts any route type.

    :raises BadRequestException: naming the route type or ``spec.<type>.match.port``.
    """
    _check_fits(route_spec, router_spec.get("listeners") or [], ROUTE_PROTOCOLS, "virtual router")


def check_gateway_route_fits_gateway(gr_spec: dict[str, Any], gateway_spec: dict[str, Any]) -> None:
    """A gateway route's type must match the protocol of the gateway listener it attaches to.

    Same listener selection as `check_route_fits_router` (``match.port`` required with several listeners).

    :raises BadRequestException: naming the route type or ``spec.<type>.match.port``.
    """
    _check_fits(gr_spec, gateway_spec.get("listeners") or [], GATEWAY_ROUTE_PROTOCOLS, "virtual gateway")


def _check_fits(spec: dict[str, Any], listeners: list[dict[str, Any]], protocols: dict[str, str], owner: str) -> None:
    route_type = next((t for t in protocols if t in spec), None)
    if route_type is None:
        types = ", ".join(camel_case(t) for t in protocols)
        raise BadRequestException(f"spec must set one route type of [{types}]")
    if not listeners:
        return
    wire_type = camel_case(route_type)
    ports = [listener["port_mapping"]["port"] for listener in listeners]
    port_list = ", ".join(str(p) for p in ports)
    port = (spec[route_type].get("match") or {}).get("port")
    if port is None:
        if len(listeners) > 1:
            raise BadRequestException(
                f"spec.{wire_type}.match.port must be set: the {owner} has several listeners (ports {port_list})"
            )
        listener = listeners[0]
    else:
        matching = [listener for listener in listeners if listener["port_mapping"]["port"] == port]
        if not matching:
            raise BadRequestException(
                f"spec.{wire_type}.match.port {port} must be the port of a listener of the {owner} (ports {port_list})"
            )
        listener = matching[0]
    protocol = listener["port_mapping"]["protocol"]
    if protocol != protocols[route_type]:
        fitting = [camel_case(t) for t, p in protocols.items() if p == protocol]
        advice = f": use {fitting[0]}" if fitting else ""
        raise BadRequestException(
            f"spec.{wire_type} does not match the {owner} listener on port "
            f"{listener['port_mapping']['port']}, whose protocol is {protocol}{advice}"
        )
