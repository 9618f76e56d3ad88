"""Which stored resources a proxy's configuration depends on (for incremental rebuilds).

Keys are ``(kind, name)`` with the wire kind names of `meshplane.kinds`; child resources are
named ``"<parent>/<name>"`` (``("route", "jazz-router/jazz-route")``). A proxy must be rebuilt
when a revision touches any of its keys; `revision_keys` maps a revision row to the keys it
touches. Routes and gateway routes also touch their parent's key, so a route *created* under a
router a proxy uses is caught although the proxy could not name it in advance.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from collections.abc import Mapping

from . import specs
from .state import MeshState
from .state import ProxyRef

Key = tuple[str, str]


def revision_keys(kind: str, name: str, parent: str | None = None) -> frozenset[Key]:
    """The dependency keys a change to one resource touches (``mesh`` changes use the mesh name)."""
    if kind in ("route", "gatewayRoute") and parent:
        parent_kind = "virtualRouter" if kind == "route" else "virtualGateway"
        return frozenset({(kind, f"{parent}/{name}"), (parent_kind, parent)})
    return frozenset({(kind, name)})


def _service(state: MeshState, name: str, keys: set[Key]) -> None:
    keys.add(("virtualService", name))
    spec = state.virtual_services.get(name)
    if spec is None:
        return
    provider = specs.sub(spec, "provider")
    node = specs.sub(provider, "virtual_node").get("virtual_node_name")
    router = specs.sub(provider, "virtual_router").get("virtual_router_name")
    if isinstance(node, str):
        keys.add(("virtualNode", node))
    if isinstance(router, str):
        keys.add(("virtualRouter", router))
        for route_name, route in state.routes.get(router, {}).items():
            keys.add(("route", f"{router}/{route_name}"))
            for kind in specs.ROUTE_KEY_BY_PROTOCOL.values():
                for target in specs.sub(route, kind, "action").get("weighted_targets") or ():
                    if isinstance(target, Mapping) and isinstance(target.get("virtual_node"), str):
                        keys.add(("virtualNode", target["virtual_node"]))


def service_dependencies(state: MeshState, name: str) -> frozenset[Key]:
    """The keys a client of virtual service ``name`` depends on (the service, its provider,
    its router's routes and their target nodes), existing or not (yet)."""
    keys: set[Key] = set()
    _service(state, name, keys)
    return frozenset(keys)


def proxy_dependencies(
    state: MeshState, proxy: ProxyRef, services: Callable[[str], frozenset[Key]] | None = None
) -> frozenset[Key]:
    """Every (kind, name) whose change can alter ``proxy``'s config, existing or not (yet).

    :param services: `service_dependencies` of ``state`` for a service name, typically memoized
        (`Translator.dependencies` passes its per-pass memo); computed afresh when None.
    """
    keys: set[Key] = {("mesh", proxy.mesh), (proxy.kind, proxy.name)}
    if state is None or state.mesh_name != proxy.mesh:
        return frozenset(keys)
    if services is None:
        services = functools.partial(service_dependencies, state)
    if proxy.kind == "virtualNode":
        spec = state.virtual_nodes.get(proxy.name)
        for backend in (spec or {}).get("backends") or ():
            name = specs.sub(backend, "virtual_service").get("virtual_service_name")
            if isinstance(name, str):
                keys |= services(name)
        return frozenset(keys)
    for route_name, route in state.gateway_routes.get(proxy.name, {}).items():
        keys.add(("gatewayRoute", f"{proxy.name}/{route_name}"))
        for kind in ("http_route", "http2_route", "grpc_route"):
            target = specs.sub(route, kind, "action", "target", "virtual_service").get("virtual_service_name")
            if isinstance(target, str):
                keys |= services(target)
    return frozenset(keys)
