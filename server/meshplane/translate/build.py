"""Entry points: MeshState + proxy -> ProxyConfig, one proxy or a whole fleet per pass.

A `Translator` belongs to one MeshState. It plans each proxy (`sidecar`, `gateway`) and turns
IR into protos, building each shared piece (egress clusters, virtual hosts, identical
listeners) once and handing the same message to every proxy that uses it.

Contract for callers: a message in the returned configs may be the *same object* in every
config of one Translator (one `build_all` pass) that uses it, so treat every returned message
as read-only; mutating one changes all the configs sharing it. (Templates behind the builders
are private and only ever copied, so a mutation cannot leak into later passes.) Sharing by
identity lets a consumer pack or render each shared message once per pass.

`build_all` / `Translator.build_many` build a fleet in sweeps (resolve the nodes' backends,
plan every proxy, build the shared backend protos, assemble every proxy) with the cyclic GC
paused: keeping each sweep to one kind of work is measurably faster than going proxy by proxy.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2

from . import endpoints
from . import ir
from . import names
from .cloudmap import NO_ENDPOINTS
from .cloudmap import CloudMapEndpoints
from .clusters import build_cluster
from .config import ProxyConfig
from .deps import proxy_dependencies
from .deps import service_dependencies
from .gateway import plan_gateway
from .listeners import build_listener
from .plan import Plan
from .plan import Shared
from .routes import build_local_app_route_configuration
from .routes import build_route_configuration
from .routes import serialized_virtual_host
from .sidecar import plan_node
from .state import LocalOverrides
from .state import DEFAULT_SETTINGS
from .state import MeshState
from .state import ProxyRef
from .state import Settings

NO_OVERRIDES = LocalOverrides()


class Translator:
    """Translate proxies of one MeshState, sharing every proxy-independent piece.

    Create one per state (per build pass); it memoizes by object identity, so the state must
    not change while it is in use.

    :param cloud_map: the instances Cloud Map discovery found, per query (`cloudmap.CloudMapKey`):
        the endpoints of clusters towards nodes with ``awsCloudMap`` discovery. Read-only data,
        like the state; a query absent from it gives an assignment without endpoints.
    :param settings: the server-wide translation settings (`state.Settings`).
    """

    def __init__(
        self, state: MeshState | None, cloud_map: CloudMapEndpoints = NO_ENDPOINTS, settings: Settings = DEFAULT_SETTINGS
    ) -> None:
        self.state = state
        self.shared = Shared(state, cloud_map, settings) if state is not None else None
        # IR object id -> (IR object kept alive, proto). Shared IR comes from `Shared`'s memo, so
        # identity is a cheap and exact key (hashing nested IR tuples on every lookup is not).
        self._hosts: dict[int, tuple[ir.VirtualHost, bytes]] = {}
        self._clusters: dict[int, tuple[ir.Cluster, cluster_pb2.Cluster, endpoint_pb2.ClusterLoadAssignment | None]] = {}
        self._listeners: dict[ir.Listener, listener_pb2.Listener] = {}
        self._listener_ids: dict[int, tuple[ir.Listener, listener_pb2.Listener]] = {}
        self._service_keys: dict[str, frozenset[tuple[str, str]]] = {}
        self._route_configs: dict[tuple[object, ...], tuple[tuple[ir.VirtualHost, ...], route_pb2.RouteConfiguration]] = {}

    def build(self, proxy: ProxyRef, overrides: LocalOverrides = NO_OVERRIDES) -> ProxyConfig:
        """The ProxyConfig for one proxy (empty, with a diagnostic, when it does not exist).

        For a fleet prefer `build_many`: same results, much faster.
        """
        with _gc_paused():  # fewer collections when a caller loops over a fleet
            plan = self.plan(proxy, overrides)
            return plan if isinstance(plan, ProxyConfig) else self.assemble(plan)

    def build_many(self, proxies: Iterable[tuple[ProxyRef, LocalOverrides]]) -> dict[ProxyRef, ProxyConfig]:
        """`build_each`, keyed by proxy (a proxy listed twice keeps its last overrides' config)."""
        proxies = list(proxies)
        return dict(zip((proxy for proxy, _overrides in proxies), self.build_each(proxies)))

    def build_each(self, proxies: Iterable[tuple[ProxyRef, LocalOverrides]]) -> list[ProxyConfig]:
        """`build` for many proxies, in input order, in sweeps: resolve the backends the nodes
        declare, plan every proxy, build the backends' protos, then assemble every plan.

        Same results as calling `build` for each; faster for a fleet: each sweep keeps to one
        kind of work (resolving services, per-proxy IR, shared protos, per-proxy protos), which
        keeps the caches warm (~20% of a full rebuild against doing it proxy by proxy), and the
        cyclic garbage collector is paused meanwhile (see `_gc_paused`; another ~20%).
        """
        proxies = list(proxies)
        with _gc_paused():
            self._resolve_backends(proxies)
            plan = self.plan
            plans = [plan(proxy, overrides) for proxy, overrides in proxies]
            self._build_backends()
            assemble = self.assemble
            return [found if isinstance(found, ProxyConfig) else assemble(found) for found in plans]

    def _resolve_backends(self, proxies: list[tuple[ProxyRef, LocalOverrides]]) -> None:
        """Resolve every backend the virtual nodes among ``proxies`` declare (what planning them
        would do on first use), in a sweep of its own."""
        state, shared = self.state, self.shared
        if state is None or shared is None:
            return
        nodes, node_backends = state.virtual_nodes, shared.node_backends
        for proxy, _overrides in proxies:
            if proxy.kind == "virtualNode" and proxy.mesh == state.mesh_name:
                spec = nodes.get(proxy.name)
                if spec is not None:
                    node_backends(proxy.name, spec)

    def _build_backends(self) -> None:
        """Build the protos of every backend the plans so far reach (clusters, virtual hosts),
        in one sweep before the per-proxy one: the same work `assemble` would do on first use,
        done where it keeps to itself."""
        if self.shared is None:
            return
        clusters, hosts = self._clusters, self._hosts
        for backend in self.shared.backends.values():
            for port in backend.ports:
                if port.reachable and port.port.protocol != "tcp" and id(port.host) not in hosts:
                    self._host(port.host)
                for _name, cluster in port.clusters:
                    if id(cluster) not in clusters:
                        self._cluster(cluster)

    def dependencies(self, proxy: ProxyRef) -> frozenset[tuple[str, str]]:
        """`deps.proxy_dependencies` of this Translator's state, with each service's keys worked
        out once per Translator (proxies share backends, so a fleet asks for the same ones)."""
        memo = self._service_keys
        state = self.state

        def services(name: str) -> frozenset[tuple[str, str]]:
            found = memo.get(name)
            if found is None:
                found = memo[name] = service_dependencies(state, name)  # type: ignore[arg-type]
            return found

        return proxy_dependencies(state, proxy, services)  # type: ignore[arg-type]

    def plan(self, proxy: ProxyRef, overrides: LocalOverrides = NO_OVERRIDES) -> Plan | ProxyConfig:
        """A proxy's Plan (IR), or its final (empty) config when the proxy does not exist."""
        state, shared = self.state, self.shared
        if state is None or shared is None:
            return ProxyConfig.empty(f"mesh {proxy.mesh} does not exist")
        if proxy.mesh != state.mesh_name:
            return ProxyConfig.empty(f"mesh {proxy.mesh} does not exist")
        if proxy.kind == "virtualNode":
            spec = state.virtual_nodes.get(proxy.name)
            if spec is None:
                return ProxyConfig.empty(f"virtual node {proxy.name} does not exist in mesh {proxy.mesh}")
            return plan_node(shared, proxy.name, spec, overrides)
        spec = state.virtual_gateways.get(proxy.name)
        if spec is None:
            return ProxyConfig.empty(f"virtual gateway {proxy.name} does not exist in mesh {proxy.mesh}")
        return plan_gateway(shared, proxy.name, spec, overrides)

    # --- IR -> protos (memoized)

    def _host(self, host: ir.VirtualHost) -> bytes:
        """The virtual host as `routes.serialized_virtual_host`, built once per IR object."""
        found = self._hosts.get(id(host))
        if found is None:
            found = self._hosts[id(host)] = (host, serialized_virtual_host(host))
        return found[1]

    def _cluster(
        self, cluster: ir.Cluster
    ) -> tuple[ir.Cluster, cluster_pb2.Cluster, endpoint_pb2.ClusterLoadAssignment | None]:
        """(IR kept alive, Cluster, assignment or None), built once per IR object."""
        found = self._clusters.get(id(cluster))
        if found is None:
            assignment = endpoints.build_load_assignment(cluster) if cluster.discovery == "eds" else None
            found = self._clusters[id(cluster)] = (cluster, build_cluster(cluster), assignment)
        return found

    def _route_config(self, config: ir.RouteConfig | ir.LocalAppRouteConfig) -> route_pb2.RouteConfiguration:
        if type(config) is ir.LocalAppRouteConfig:
            return build_local_app_route_configuration(config)
        # Proxies with the same backends get the same virtual hosts (shared IR objects): share
        # the route configuration too, so consumers pack it once.
        virtual_hosts = config.virtual_hosts  # type: ignore[union-attr]
        key = (config.name, *map(id, virtual_hosts))
        shared = self._route_configs.get(key)
        if shared is not None:
            return shared[1]
        memo = self._hosts
        hosts = []
        for host in virtual_hosts:
            found = memo.get(id(host))
            hosts.append(found[1] if found is not None else self._host(host))
        built = build_route_configuration(config.name, hosts)
        self._route_configs[key] = (virtual_hosts, built)  # keeps the hosts (and so their ids) alive
        return built

    def _listener(self, listener: ir.Listener) -> listener_pb2.Listener:
        # Listeners from Shared's memos are the same IR object for every proxy: try identity
        # first (hashing a nested Listener is not free), then equal values.
        found = self._listener_ids.get(id(listener))
        if found is not None:
            return found[1]
        proto = self._listeners.get(listener)
        if proto is None:
            proto = self._listeners[listener] = build_listener(listener)
        self._listener_ids[id(listener)] = (listener, proto)
        return proto

    def assemble(self, plan: Plan) -> ProxyConfig:
        """The protos of a Plan made by this Translator's `plan` (shared pieces built once).

        Consumes the plan (it may append diagnostics to it).
        """
        clusters: dict[str, cluster_pb2.Cluster] = {}
        assignments: dict[str, endpoint_pb2.ClusterLoadAssignment] = {}
        memo = self._clusters
        mesh_trust = False
        # Names are unique (dict keys), so sorting the items compares names only.
        for name, cluster in sorted(plan.clusters.items()):
            tls = cluster.tls
            if tls is not None and tls.mesh_trust:
                mesh_trust = True
            found = memo.get(id(cluster))
            if found is None:
                if cluster.discovery == "static":
                    # A node's own local app cluster: one per proxy, nothing to share or memoize.
                    clusters[name] = build_cluster(cluster)
                    continue
                found = self._cluster(cluster)
            clusters[name] = found[1]
            if found[2] is not None:
                assignments[name] = found[2]
        listeners = {}
        planned = plan.listeners
        if len(planned) == 2 and planned[0].port != planned[1].port:
            # A node's usual ingress + egress pair: nothing to report, just order by name.
            first, second = planned
            if second.name < first.name:
                first, second = second, first
            listeners[first.name] = self._listener(first)
            listeners[second.name] = self._listener(second)
        else:
            bound: dict[int, str] = {}
            for listener in sorted(planned, key=_name):
                if listener.port in bound:
                    plan.diagnostics.append(f"listeners {bound[listener.port]} and {listener.name} bind the same port")
                bound[listener.port] = listener.name
                listeners[listener.name] = self._listener(listener)
        configs = plan.route_configs
        if len(configs) > 1:
            configs = sorted(configs, key=_name)
        route_config = self._route_config
        route_configs = {config.name: route_config(config) for config in configs}
        resources = {
            names.CLUSTER_TYPE: clusters,
            names.ENDPOINT_TYPE: assignments,
            names.LISTENER_TYPE: listeners,
            names.ROUTE_TYPE: route_configs,
        }
        diagnostics = plan.diagnostics
        secrets = _mesh_secrets(planned, mesh_trust)
        return ProxyConfig(resources, tuple(dict.fromkeys(diagnostics)) if diagnostics else (), secrets)


def _mesh_secrets(listeners: Iterable[ir.Listener], mesh_trust: bool) -> tuple[str, ...]:
    """The names of meshplane's own secrets a proxy's resources reference (ProxyConfig.secrets)."""
    certificate = False
    for listener in listeners:
        chains = listener.chains if listener.default_chain is None else (*listener.chains, listener.default_chain)
        for chain in chains:
            tls = chain.tls
            if tls is not None and tls.mesh_certificate:
                certificate = True
    found: list[str] = []
    if certificate:
        found.append(names.MESH_CERTIFICATE_SECRET)
    if mesh_trust:
        found.append(names.MESH_TRUST_SECRET)
    return tuple(found)


def _name(resource: ir.Listener | ir.RouteConfig | ir.LocalAppRouteConfig) -> str:
    # Sort key: names are unique within one plan (ports are), so this orders like the tuples.
    return resource.name


def build_proxy_config(
    state: MeshState | None,
    proxy: ProxyRef,
    overrides: LocalOverrides = NO_OVERRIDES,
    cloud_map: CloudMapEndpoints = NO_ENDPOINTS,
    settings: Settings = DEFAULT_SETTINGS,
) -> ProxyConfig:
    """The Envoy resources (and diagnostics) for one proxy of ``state``.

    :param state: the proxy's mesh, or None when that mesh does not exist.
    :param proxy: which virtual node or gateway the Envoy represents.
    :param overrides: local binding overrides from the Envoy's node metadata.
    :param cloud_map: what Cloud Map discovery found (see `Translator`).
    :param settings: the server-wide translation settings.
    """
    return Translator(state, cloud_map, settings).build(proxy, overrides)


def build_all(
    state: MeshState | None,
    proxies: Mapping[ProxyRef, LocalOverrides] | Iterable[ProxyRef],
    settings: Settings = DEFAULT_SETTINGS,
) -> dict[ProxyRef, ProxyConfig]:
    """Build many proxies of one state in one pass, sharing clusters, virtual hosts and listeners
    (`Translator.build_many` on a Translator of its own).

    :param proxies: proxy -> its overrides, or just proxies (no overrides).
    :param settings: the server-wide translation settings.
    """
    with _gc_paused():
        return _build_all(state, proxies, settings)


def _build_all(
    state: MeshState | None,
    proxies: Mapping[ProxyRef, LocalOverrides] | Iterable[ProxyRef],
    settings: Settings,
) -> dict[ProxyRef, ProxyConfig]:
    # A function of its own, called with the collector paused, so the Translator and its memos
    # are freed before the collector is switched back on: its first run (triggered by the
    # pass's allocations) then only walks the configs, not the whole pass's IR.
    items = proxies.items() if isinstance(proxies, Mapping) else ((proxy, NO_OVERRIDES) for proxy in proxies)
    return Translator(state, NO_ENDPOINTS, settings).build_many(items)


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for one build pass.

    A pass allocates hundreds of thousands of acyclic objects (IR, memos, configs), which
    triggers repeated full collections over everything alive (the MeshState, the memos, the
    configs so far): ~20% of a full rebuild. Nothing here creates reference cycles, so deferring
    collection loses nothing.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
