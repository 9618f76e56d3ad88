"""The DNS names a proxy's mesh certificate carries (the SAN scheme of docs/translation.md).

Clients check a server's certificate against the ``subjectAlternativeNames`` of their client
policy; with ACM, teams issued certificates for the names clients dial. meshplane's mesh CA
issues a virtual node's certificate for:

* every virtual service the node provides: directly (``provider.virtualNode``), or through a
  virtual router one of whose routes targets the node;
* the node's service discovery name: the DNS ``hostname``, or ``<serviceName>.<namespaceName>``
  for Cloud Map.

Virtual gateways get none (their clients are outside the mesh and dial names meshplane does not
know): their certificates carry only the URI names (ARN, SPIFFE id) the issuer adds.
Pure: the state in, names out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import specs
from .state import MeshState

_ROUTE_KEYS = ("http_route", "http2_route", "grpc_route", "tcp_route")


def _route_targets(route: Mapping[str, Any]) -> set[str]:
    nodes: set[str] = set()
    for key in _ROUTE_KEYS:
        targets = specs.sub(route, key, "action").get("weighted_targets")
        for target in targets or ():
            if isinstance(target, Mapping) and isinstance(target.get("virtual_node"), str):
                nodes.add(target["virtual_node"])
    return nodes


def _dns_name(name: str) -> bool:
    """Whether ``name`` can be a DNS SAN: printable ASCII without spaces (IA5String)."""
    return bool(name) and name.isascii() and name.isprintable() and " " not in name and len(name) <= 253


def node_dns_names(state: MeshState) -> dict[str, tuple[str, ...]]:
    """Virtual node name -> the DNS names of its mesh certificate, sorted (see the module).

    Every node of the state has an entry (possibly empty). One pass over the state, so callers
    work the whole mesh out once per change, not once per proxy.
    """
    found: dict[str, set[str]] = {name: set() for name in state.virtual_nodes}
    router_nodes: dict[str, set[str]] = {}
    for router, routes in state.routes.items():
        reached: set[str] = set()
        for route in routes.values():
            reached |= _route_targets(route)
        router_nodes[router] = reached
    for service, spec in state.virtual_services.items():
        provider = specs.sub(spec, "provider")
        node = specs.sub(provider, "virtual_node").get("virtual_node_name")
        if isinstance(node, str):
            providers: set[str] = {node}
        else:
            router_name = specs.sub(provider, "virtual_router").get("virtual_router_name")
            providers = router_nodes.get(router_name, set()) if isinstance(router_name, str) else set()
        for name in providers:
            names = found.get(name)
            if names is not None:
                names.add(service)
    for name, spec in state.virtual_nodes.items():
        discovery = specs.sub(spec, "service_discovery")
        hostname = specs.sub(discovery, "dns").get("hostname")
        if isinstance(hostname, str):
            found[name].add(hostname)
        cloud_map = specs.sub(discovery, "aws_cloud_map")
        cloud_service, namespace = cloud_map.get("service_name"), cloud_map.get("namespace_name")
        if isinstance(cloud_service, str) and isinstance(namespace, str):
            found[name].add(f"{cloud_service}.{namespace}")
    return {name: tuple(sorted(n for n in names if _dns_name(n))) for name, names in found.items()}
