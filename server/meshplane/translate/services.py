"""Virtual services as clients see them: per port, the ordered routes and the nodes they reach.

Everything here depends only on the MeshState (never on which proxy asks), so one `Resolver`
per state answers every proxy of a build pass and resolves each service and node once.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator
from collections.abc import Mapping
from typing import Any, NamedTuple

from . import ir
from . import matches
from . import names
from . import specs
from .cloudmap import CloudMapKey
from .cloudmap import cloud_map_key
from .state import MeshState


_DEFAULT_TIMEOUTS = matches.timeouts(specs.EMPTY)

_new_weighted_cluster = ir.maker(ir.WeightedCluster)
_new_http_route = ir.maker(ir.HttpRoute)
_fourth = operator.itemgetter(3)


class Target(NamedTuple):
    """A node listener a client can send to: one egress cluster."""

    node: str
    port: int
    protocol: str
    cluster: str


class ServicePort(NamedTuple):
    """A virtual service on one port: HTTP-family routes, or a TCP split."""

    service: str
    port: int
    protocol: str
    routes: tuple[ir.HttpRoute, ...] = ()
    tcp_clusters: tuple[ir.WeightedCluster, ...] = ()
    tcp_idle_timeout_ms: int | None = None
    targets: tuple[Target, ...] = ()


class Service(NamedTuple):
    """A resolved virtual service; ``ports`` is empty when nothing behind it is reachable."""

    name: str
    ports: tuple[ServicePort, ...] = ()
    diagnostics: tuple[str, ...] = ()
    exists: bool = True

    def port(self, wanted: int | None) -> ServicePort | None:
        """The port a caller names, or the lowest one when it names none."""
        if not self.ports:
            return None
        if wanted is None:
            return self.ports[0]
        return next((p for p in self.ports if p.port == wanted), None)


class Node(NamedTuple):
    """What clients and the node's own Envoy need to know about a virtual node.

    ``reason`` says why clients cannot reach it (None when they can, with ``hostname`` set for
    DNS discovery or ``cloud_map`` for Cloud Map discovery); ``discovery`` is its
    ``service_discovery`` spec and ``preference`` its effective IP preference (its own, else the
    mesh's).
    """

    name: str
    listeners: tuple[tuple[int, str, specs.Spec], ...]
    hostname: str | None
    reason: str | None
    discovery: specs.Spec = specs.EMPTY
    preference: str | None = None
    cloud_map: CloudMapKey | None = None


# Fast constructors (see ir.maker) for the values made once per service, target and node.
_new_target = ir.maker(Target)
_new_service_port = ir.maker(ServicePort)
_new_service = ir.maker(Service)
_new_node = ir.maker(Node)


class Resolver:
    """Memoized service and node resolution over one MeshState."""

    def __init__(self, state: MeshState) -> None:
        self.state = state
        self.mesh_preference = specs.mesh_ip_preference(state.mesh_spec)
        self._services: dict[str, Service] = {}
        self._nodes: dict[str, Node] = {}
        self._targets: dict[tuple[str, int | None, int], tuple[Target | None, str | None]] = {}

    def node(self, name: str) -> Node:
        """A node's listeners, discovery and DNS hostname, or why clients cannot reach it (memoized)."""
        found = self._nodes.get(name)
        if found is None:
            found = self._nodes[name] = self._node(name)
        return found

    def _node(self, name: str) -> Node:
        spec = self.state.virtual_nodes.get(name)
        if spec is None:
            return Node(name, (), None, f"virtual node {name} does not exist")
        listeners = specs.listeners(spec)
        discovery = spec.get("service_discovery")
        if discovery is None or not (type(discovery) is dict or isinstance(discovery, Mapping)):
            discovery = specs.EMPTY
        dns = discovery.get("dns")
        if dns is not None and (type(dns) is dict or isinstance(dns, Mapping)):
            dns_hostname = dns.get("hostname")
            preference = dns.get("ip_preference")
            if not isinstance(preference, str):
                # specs.node_discovery_preference, minus the dns half already read
                preference = specs.node_discovery_preference(discovery) if "aws_cloud_map" in discovery else None
        else:
            dns_hostname = None
            preference = specs.node_discovery_preference(discovery) if discovery else None
        if preference is None:
            preference = self.mesh_preference
        reason = None
        cloud_map = cloud_map_key(discovery) if "aws_cloud_map" in discovery else None
        if cloud_map is not None:
            dns_hostname = None  # clients get the instances Cloud Map discovery finds (EDS)
            if not listeners:
                reason = f"virtual node {name} has no listeners"
        elif "aws_cloud_map" in discovery:
            reason = f"virtual node {name} names no Cloud Map namespace and service"
        elif not isinstance(dns_hostname, str):
            reason = f"virtual node {name} has no DNS service discovery"
        elif not listeners:
            reason = f"virtual node {name} has no listeners"
        return _new_node(
            (name, listeners, None if reason else dns_hostname, reason, discovery, preference, cloud_map)
        )

    def service(self, name: str) -> Service:
        """Resolve a virtual service by name (memoized)."""
        found = self._services.get(name)
        if found is None:
            found = self._services[name] = self._resolve(name)
        return found

    def target(self, node_name: str, port: int | None, listener_port: int) -> tuple[Target | None, str | None]:
        """The listener of a node that traffic on ``listener_port`` reaches, or why none.

        ``port`` is the weighted target's port; without it a node with one listener uses it, and
        a node with several prefers the listener on the caller's port, else its lowest.
        """
        key = (node_name, port, listener_port)
        found = self._targets.get(key)
        if found is None:
            found = self._targets[key] = self._target(node_name, port, listener_port)
        return found

    def _target(self, node_name: str, port: int | None, listener_port: int) -> tuple[Target | None, str | None]:
        node = self.node(node_name)
        if node.reason is not None:
            return None, node.reason
        listeners = node.listeners
        if port is not None:
            chosen = next((entry for entry in listeners if entry[0] == port), None)
            if chosen is None:
                return None, f"virtual node {node_name} has no listener on port {port}"
        elif len(listeners) == 1:
            chosen = listeners[0]
        else:
            chosen = next((entry for entry in listeners if entry[0] == listener_port), listeners[0])
        cluster = names.egress_cluster(self.state.mesh_name, node_name, chosen[1], chosen[0])
        return _new_target((node_name, chosen[0], chosen[1], cluster)), None

    def _resolve(self, name: str) -> Service:
        spec = self.state.virtual_services.get(name)
        if spec is None:
            return Service(name, diagnostics=(f"virtual service {name} does not exist",), exists=False)
        provider = specs.sub(spec, "provider")
        diagnostics: list[str] = []
        router = provider.get("virtual_router")
        router = router.get("virtual_router_name") if type(router) is dict or isinstance(router, Mapping) else None
        if isinstance(router, str):
            ports = self._router_ports(name, router, diagnostics)
        else:
            node = specs.sub(provider, "virtual_node").get("virtual_node_name")
            if isinstance(node, str):
                ports = self._node_ports(name, node, diagnostics)
            else:
                diagnostics.append(f"virtual service {name} has no provider")
                ports = []
        return _new_service((name, tuple(ports), tuple(diagnostics) if diagnostics else (), True))

    # --- providers

    def _node_ports(self, service: str, node: str, diagnostics: list[str]) -> list[ServicePort]:
        if node not in self.state.virtual_nodes:
            diagnostics.append(f"virtual service {service}: provider virtual node {node} does not exist")
            return []
        ports = []
        for port, protocol, listener in self.node(node).listeners:
            target, reason = self.target(node, port, port)
            if target is None:
                diagnostics.append(f"virtual service {service}: {reason}")
                continue
            weighted = (ir.WeightedCluster(target.cluster, 1),)
            if protocol == "tcp":
                idle = specs.duration_ms(specs.sub(listener, "timeout", "tcp").get("idle"))
                ports.append(ServicePort(service, port, protocol, (), weighted, idle, (target,)))
                continue
            # The provider's listener timeout is the hop's timeout (App Mesh asks users to raise
            # it on the route and on every node); 15 s when unset.
            per_request, idle = matches.timeouts(specs.sub(listener, "timeout", protocol))
            route = ir.HttpRoute(
                f"{service}:{port}", ir.ANY, weighted, False, per_request, idle, ir.DEFAULT_RETRY
            )
            ports.append(ServicePort(service, port, protocol, (route,), (), None, (target,)))
        if not ports and not diagnostics:
            diagnostics.append(f"virtual service {service}: provider virtual node {node} has no listeners")
        return ports

    def _router_ports(self, service: str, router: str, diagnostics: list[str]) -> list[ServicePort]:
        spec = self.state.virtual_routers.get(router)
        if spec is None:
            diagnostics.append(f"virtual service {service}: provider virtual router {router} does not exist")
            return []
        listeners = specs.listeners(spec)
        if not listeners:
            diagnostics.append(f"virtual service {service}: virtual router {router} has no listeners")
            return []
        routes = self.state.routes.get(router) or {}
        used: set[str] = set()
        if len(listeners) == 1:
            port, protocol, _ = listeners[0]
            ports = [self._router_port(service, router, routes, port, protocol, used, diagnostics)]
        else:
            ports = [self._router_port(service, router, routes, port, protocol, used, diagnostics) for port, protocol, _ in listeners]
        if len(used) < len(routes):
            for name in sorted(set(routes) - used):
                diagnostics.append(f"route {router}/{name} matches no listener of virtual router {router}")
        return ports

    def _router_port(
        self,
        service: str,
        router: str,
        routes: Mapping[str, specs.Spec],
        port: int,
        protocol: str,
        used: set[str],
        diagnostics: list[str],
    ) -> ServicePort:
        key = specs.ROUTE_KEY_BY_PROTOCOL.get(protocol, "")
        names = sorted(routes) if len(routes) > 1 else routes
        targets: dict[str, Target] = {}
        if protocol == "tcp":
            return self._tcp_port(service, router, routes, names, key, port, used, targets, diagnostics)
        # Each route is read, matched to the port and built in one step (in name order, so
        # diagnostics and targets come in a stable order), then sorted by App Mesh's order.
        built: list[tuple[int, ir.HttpMatch, str, ir.HttpRoute]] = []
        grpc = protocol == "grpc"
        for name, spec, body, match in _routes_on_port(routes, names, key, port, used):
            priority = spec.get("priority")  # specs.route_priority, inlined (once per route)
            route_match = matches.grpc_match(match) if grpc else matches.http_match(match)
            timeout = body.get("timeout")
            per_request, idle = matches.timeouts(timeout) if timeout else _DEFAULT_TIMEOUTS
            retry = body.get("retry_policy")
            label = f"{router}/{name}"
            route = _new_http_route(
                (
                    label,
                    route_match,
                    self._weighted(router, name, body, port, targets, diagnostics),
                    True,
                    per_request,
                    idle,
                    ir.DEFAULT_RETRY if retry is None else matches.retry_policy(retry, diagnostics, f"route {label}"),
                    None,
                    503,
                )
            )
            built.append((priority if type(priority) is int else specs.NO_PRIORITY, route_match, name, route))
        if not built:
            diagnostics.append(f"virtual router {router} has no {key} for port {port}")
            ordered: tuple[ir.HttpRoute, ...] = ()
        elif len(built) == 1:
            ordered = (built[0][3],)
        else:
            built.sort(key=lambda item: (item[0], matches.default_order(item[1]), item[2]))
            ordered = tuple(map(_fourth, built))
        return _new_service_port((service, port, protocol, ordered, (), None, tuple(targets.values())))

    def _tcp_port(
        self,
        service: str,
        router: str,
        routes: Mapping[str, specs.Spec],
        names: Iterable[str],
        key: str,
        port: int,
        used: set[str],
        targets: dict[str, Target],
        diagnostics: list[str],
    ) -> ServicePort:
        """A router's tcp port: the first tcpRoute by priority (then name) takes it."""
        candidates = []
        for name, spec, body, _match in _routes_on_port(routes, names, key, port, used):
            candidates.append((specs.route_priority(spec), name, body))
        candidates.sort(key=lambda c: (c[0], c[1]))
        if not candidates:
            return ServicePort(service, port, "tcp")
        _, name, body = candidates[0]
        for _, extra, _ in candidates[1:]:
            diagnostics.append(f"route {router}/{extra} ignored: route {router}/{name} already takes tcp port {port}")
        clusters = self._weighted(router, name, body, port, targets, diagnostics)
        idle = specs.duration_ms(specs.sub(body, "timeout", "idle"))
        return ServicePort(service, port, "tcp", (), clusters, idle, tuple(targets.values()))

    def _weighted(
        self,
        router: str,
        route: str,
        body: specs.Spec,
        listener_port: int,
        targets: dict[str, Target],
        diagnostics: list[str],
    ) -> tuple[ir.WeightedCluster, ...]:
        """A route's weighted targets as clusters; unservable targets are dropped (with a reason).

        Weights are relative (App Mesh accepts 1+1); targets resolving to one cluster are summed.
        With no weight left the route answers 503 instead of forwarding.
        """
        weights: dict[str, int] = {}
        action = body.get("action")
        entries = action.get("weighted_targets") if type(action) is dict or isinstance(action, Mapping) else None
        if not entries:
            return ()
        memo = self._targets
        for entry in entries:
            if type(entry) is not dict and not isinstance(entry, Mapping):
                continue
            node = entry.get("virtual_node")
            if not isinstance(node, str):
                continue
            port = entry.get("port")
            key = (node, port if type(port) is int else None, listener_port)
            found = memo.get(key)
            if found is None:
                found = memo[key] = self._target(*key)
            target = found[0]
            if target is None:
                diagnostics.append(f"route {router}/{route}: target {found[1]}")
                continue
            weight = entry.get("weight")
            if type(weight) is not int or weight < 0:
                weight = 0
            cluster = target.cluster
            known = weights.get(cluster)
            if known is None:
                targets.setdefault(cluster, target)
                weights[cluster] = weight
            else:
                weights[cluster] = known + weight
        if not any(weights.values()):
            if weights:
                diagnostics.append(f"route {router}/{route}: every target has weight 0")
            return ()
        return tuple(map(_new_weighted_cluster, weights.items()))


def _routes_on_port(
    routes: Mapping[str, specs.Spec], names: Iterable[str], key: str, port: int, used: set[str]
) -> Iterator[tuple[str, specs.Spec, Mapping[str, Any], Mapping[str, Any]]]:
    """(name, spec, route body, match) of each route of type ``key`` that applies to ``port`` (no
    port in its match, or this one), in ``names`` order; each is recorded in ``used``."""
    for name in names:
        spec = routes[name]
        body = spec.get(key)
        if body is None or not (type(body) is dict or isinstance(body, Mapping)):
            continue
        match = body.get("match") or specs.EMPTY
        wanted = match.get("port")
        if type(wanted) is int and wanted != port:
            continue
        used.add(name)
        yield name, spec, body, match
