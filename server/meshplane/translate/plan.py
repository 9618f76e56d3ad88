"""What a proxy gets, as IR, and the per-state pieces every proxy shares.

A `Plan` lists one proxy's listeners, route configurations and clusters (IR values);
`Shared` memoizes, for one MeshState, everything that does not depend on the asking proxy:
resolved services and nodes (`services.Resolver`), virtual hosts per service port, egress
clusters per (target, TLS policy, limits), backends per (service, client policy), and the
per-node IR that depends on a few facts rather than on the node (ingress shapes, egress
listeners; see `sidecar`). Memoized values are the *same object* for every proxy that uses
them, so the Translator turns each into a proto once (keyed by identity).
"""

from __future__ import annotations

from typing import Any
from typing import NamedTuple

from . import ir
from . import names
from . import policies
from . import specs
from .cloudmap import NO_ENDPOINTS
from .cloudmap import CloudMapEndpoints
from .cloudmap import addresses
from .services import Resolver
from .services import ServicePort
from .services import Target
from .state import DEFAULT_SETTINGS
from .state import MeshState
from .state import Settings


class Plan:
    """One proxy's configuration as IR (``diagnostics`` explain what was left out and why)."""

    # A plain class with slots: one is made per proxy per pass.
    __slots__ = ("clusters", "diagnostics", "listeners", "route_configs")

    def __init__(self) -> None:
        self.listeners: list[ir.Listener] = []
        self.route_configs: list[ir.RouteConfig | ir.LocalAppRouteConfig] = []
        self.clusters: dict[str, ir.Cluster] = {}
        self.diagnostics: list[str] = []

    def add_cluster(self, cluster: ir.Cluster, via: str) -> None:
        """Add a cluster once; a second, different definition under one name keeps the first."""
        known = self.clusters.get(cluster.name)
        if known is None:
            self.clusters[cluster.name] = cluster
        elif known != cluster:
            self.diagnostics.append(
                f"cluster {cluster.name} is reached with different client policies; {via} uses the first one"
            )


_new_cluster = ir.maker(ir.Cluster)


class BackendPort(NamedTuple):
    """One port of a backend service as one client policy sees it.

    ``clusters`` are (name, cluster) pairs, ready to merge into `Plan.clusters`; ``host`` is
    the port's virtual host with the bare service name among its domains.
    """

    port: ServicePort
    reachable: bool
    clusters: tuple[tuple[str, ir.Cluster], ...]
    diagnostics: tuple[str, ...]
    host: ir.VirtualHost


class Backend(NamedTuple):
    """A backend service as one client policy sees it (see `Shared.backend`)."""

    diagnostics: tuple[str, ...]
    ports: tuple[BackendPort, ...]


_new_backend_port = ir.maker(BackendPort)
_new_backend = ir.maker(Backend)
_new_virtual_host = ir.maker(ir.VirtualHost)


class Shared:
    """Per-MeshState memo of proxy-independent IR (one instance per build pass).

    :param cloud_map: the instances Cloud Map discovery found, per query (see `cloudmap`).
    :param settings: the server-wide translation settings.
    """

    def __init__(self, state: MeshState, cloud_map: CloudMapEndpoints = NO_ENDPOINTS, settings: Settings = DEFAULT_SETTINGS) -> None:
        self.state = state
        self.cloud_map = cloud_map
        self.mesh = state.mesh_name
        self.resolver = Resolver(state)
        self.mesh_preference = self.resolver.mesh_preference
        self.allow_all = specs.egress_filter(state.mesh_spec) == "ALLOW_ALL"
        # Built once per pass: every iptables egress listener carries the same chain and cluster.
        self.aws_passthrough: tuple[ir.Cluster, ir.TcpChain] | None = None
        if settings.aws_passthrough:
            cluster = ir.Cluster(names.amazonaws_cluster(self.mesh), "original_dst")
            chain = ir.TcpChain(
                (ir.WeightedCluster(cluster.name, 1),),
                f"{names.STAT_EGRESS}.amazonaws",
                destination_port=names.AWS_PORT,
                server_names=(names.AWS_SERVER_NAME,),
            )
            self.aws_passthrough = (cluster, chain)
        self._vhosts: dict[tuple[str, int, bool], ir.VirtualHost] = {}
        self._clusters: dict[tuple[str, ir.UpstreamTls | None, ir.Limits], ir.Cluster] = {}
        self._reach: dict[tuple[int, int, ir.Limits], tuple[bool, tuple[ir.Cluster, ...], tuple[str, ...]]] = {}
        self.backends: dict[tuple[str, int], Backend] = {}
        self._node_backends: dict[str, tuple[Backend, ...]] = {}
        self._allow_all: dict[str | None, ir.Cluster] = {}
        self._allow_all_hosts: dict[str, ir.VirtualHost] = {}
        # Per-node IR that depends on a few facts rather than on the node (sidecar.py): nodes
        # that read alike share it, and with it the listener protos built from it.
        self.ingress_shapes: dict[tuple[object, ...], Any] = {}
        self.egress_listeners: dict[tuple[object, ...], ir.Listener | None] = {}

    def virtual_host(self, port: ServicePort, bare_name: bool) -> ir.VirtualHost:
        """The virtual host of a service port: domains ``name:port`` and, when ``bare_name``,
        ``name`` (a client that omits the port reaches this port)."""
        service, number = port.service, port.port
        key = (service, number, bare_name)
        found = self._vhosts.get(key)
        if found is None:
            name = f"{service}:{number}"
            found = self._vhosts[key] = _new_virtual_host((name, (name, service) if bare_name else (name,), port.routes))
        return found

    def egress_cluster(self, target: Target, tls: ir.UpstreamTls | None, limits: ir.Limits) -> ir.Cluster:
        """The cluster for a target node listener as a client sees it (memoized).

        DNS discovery: an IP literal hostname becomes an EDS cluster with one endpoint;
        otherwise responseType ENDPOINTS -> STRICT_DNS, LOADBALANCER (default) -> LOGICAL_DNS.
        Cloud Map discovery: an EDS cluster with the discovered addresses on the listener port
        (none while the query has not been answered yet).
        The target listener's health check and outlier detection run here, in the client.
        """
        key = (target.cluster, tls, limits)
        found = self._clusters.get(key)
        if found is None:
            node = self.resolver.node(target.node)
            host = str(node.hostname)
            endpoints: tuple[str, ...] | None = None
            if node.cloud_map is not None:
                discovery = "eds"
                host = ""
                endpoints = addresses(self.cloud_map.get(node.cloud_map, ()), node.preference)
            elif specs.is_ip(host):
                discovery = "eds"
            elif node.discovery["dns"].get("response_type") == "ENDPOINTS":  # reachable: dns is a mapping
                discovery = "strict_dns"
            else:
                discovery = "logical_dns"
            health = outlier = None
            for port, _protocol, listener in node.listeners:
                if port == target.port:
                    if "health_check" in listener:
                        health = policies.health_check(listener)
                    if "outlier_detection" in listener:
                        outlier = policies.outlier(listener)
                    break
            found = self._clusters[key] = _new_cluster(
                (
                    target.cluster,
                    discovery,
                    host,
                    target.port,
                    target.protocol in ("http2", "grpc"),
                    names.EGRESS_CONNECT_TIMEOUT_MS,
                    specs.dns_lookup_family(node.preference),
                    limits,
                    tls,
                    health,
                    outlier,
                    endpoints,
                )
            )
        return found

    def reach(self, plan: Plan, port: ServicePort, policy: specs.Spec, limits: ir.Limits, where: str) -> bool:
        """Add the clusters behind a service port, with the client's TLS policy, to ``plan``.

        False when the policy cannot be served (ACM trust): the caller leaves the port out.
        Memoized per (service port, policy object, limits): the policy is a fragment of the
        state, so its identity is stable for this pass. ``where`` prefixes the diagnostics.
        """
        key = (id(port), id(policy), limits)
        found = self._reach.get(key)
        if found is None:
            found = self._reach[key] = self._clusters_for(port, policy, limits)
        ok, clusters, diagnostics = found
        if diagnostics:
            plan.diagnostics.extend([f"{where}: {reason}" for reason in diagnostics])
        known = plan.clusters
        for cluster in clusters:
            # Plan.add_cluster inlined: this runs for every backend cluster of every proxy.
            seen = known.get(cluster.name)
            if seen is None:
                known[cluster.name] = cluster
            elif seen is not cluster and seen != cluster:
                plan.add_cluster(cluster, where)
        return ok

    def node_backends(self, node: str, spec: specs.Spec) -> tuple[Backend, ...]:
        """The `backend` of each backend node ``node`` declares (``spec`` is its spec), sorted by
        service name; memoized per node."""
        found = self._node_backends.get(node)
        if found is None:
            backend = self.backend
            declared = specs.backends(spec) if "backends" in spec else ()
            found = self._node_backends[node] = tuple([backend(service, policy) for service, policy in declared])
        return found

    def backend(self, service: str, policy: specs.Spec) -> Backend:
        """What a node reaches through backend ``service`` with client ``policy`` (memoized per
        service and policy object, like `reach`): the service's diagnostics and, per port with
        targets or routes, a `BackendPort`. Callers add the clusters (checking for conflicts)
        and prefix the diagnostics themselves."""
        key = (service, id(policy))
        found = self.backends.get(key)
        if found is None:
            resolved = self.resolver.service(service)
            steps = []
            for port in resolved.ports:
                if not port.targets and not port.routes:
                    continue
                # Not through `reach`'s memo: this memo already holds it per (service, policy).
                ok, clusters, diagnostics = self._clusters_for(port, policy, ir.NO_LIMITS)
                items = tuple([(cluster.name, cluster) for cluster in clusters])
                steps.append(_new_backend_port((port, ok, items, diagnostics, self.virtual_host(port, True))))
            found = self.backends[key] = _new_backend((resolved.diagnostics, tuple(steps)))
        return found

    def _clusters_for(
        self, port: ServicePort, policy: specs.Spec, limits: ir.Limits
    ) -> tuple[bool, tuple[ir.Cluster, ...], tuple[str, ...]]:
        if not policy:  # the common case: no TLS origination, nothing to report
            egress = self.egress_cluster
            return True, tuple([egress(target, None, limits) for target in port.targets]), ()
        clusters = []
        diagnostics: list[str] = []
        where = f"client policy for {port.service}"
        for target in port.targets:
            hostname = self.resolver.node(target.node).hostname
            # Cloud Map nodes have no one name to send (their instances are addresses).
            sni = None if hostname is None or specs.is_ip(hostname) else hostname
            tls = policies.client_tls(policy, target.port, sni, where, diagnostics)
            if tls is False:
                return False, (), tuple(diagnostics)
            clusters.append(self.egress_cluster(target, tls, limits))  # type: ignore[arg-type]
        return True, tuple(clusters), tuple(diagnostics)

    def allow_all_cluster(self, lookup_family: str | None) -> ir.Cluster:
        """ALLOW_ALL passthrough: ORIGINAL_DST (iptables) or a dynamic forward proxy (one host).

        Memoized, so every proxy of the pass shares the cluster (and its proto)."""
        found = self._allow_all.get(lookup_family)
        if found is None:
            name = names.allow_all_cluster(self.mesh)
            if lookup_family is None:
                found = ir.Cluster(name, "original_dst")
            else:
                found = ir.Cluster(name, "dynamic_forward_proxy", lookup_family=lookup_family)
            self._allow_all[lookup_family] = found
        return found

    def allow_all_host(self, cluster: ir.Cluster) -> ir.VirtualHost:
        """The ``*`` virtual host sending everything else to the ALLOW_ALL ``cluster`` (memoized)."""
        found = self._allow_all_hosts.get(cluster.discovery)
        if found is None:
            route = ir.HttpRoute("mesh-allow-all", ir.ANY, (ir.WeightedCluster(cluster.name, 1),), weighted=False)
            found = self._allow_all_hosts[cluster.discovery] = ir.VirtualHost("mesh-allow-all", ("*",), (route,))
        return found
