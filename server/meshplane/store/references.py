"""Which other resources a stored spec names, for the delete rules.

Only references that block a delete are indexed (App Mesh's rules, appmesh-api.md §4):
a route's weighted targets (virtual nodes), a virtual service's provider (node or router),
a gateway route's target virtual service. Backends do not block deletes on AWS.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any


def references(kind: str, spec: Mapping[str, Any]) -> set[tuple[str, str]]:
    """The (kind, name) pairs that ``spec`` of a resource of ``kind`` depends on."""
    return set(_references(kind, spec))


def _references(kind: str, spec: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    if kind == "virtualService":
        provider = spec.get("provider") or {}
        if "virtual_node" in provider:
            yield "virtualNode", provider["virtual_node"]["virtual_node_name"]
        if "virtual_router" in provider:
            yield "virtualRouter", provider["virtual_router"]["virtual_router_name"]
    elif kind == "route":
        for route_type in ("http_route", "http2_route", "grpc_route", "tcp_route"):
            route = spec.get(route_type)
            if route:
                for target in route.get("action", {}).get("weighted_targets", []):
                    yield "virtualNode", target["virtual_node"]
    elif kind == "gatewayRoute":
        for route_type in ("http_route", "http2_route", "grpc_route"):
            route = spec.get(route_type)
            if route:
                target = route.get("action", {}).get("target", {})
                name = target.get("virtual_service", {}).get("virtual_service_name")
                if name:
                    yield "virtualService", name


def mentions(kind: str, spec: Mapping[str, Any]) -> set[tuple[str, str]]:
    """Every (kind, name) ``spec`` names: :func:`references` plus a node's backend virtual services."""
    found = references(kind, spec)
    if kind == "virtualNode":
        for backend in spec.get("backends") or ():
            name = (backend.get("virtual_service") or {}).get("virtual_service_name")
            if name:
                found.add(("virtualService", name))
    return found
