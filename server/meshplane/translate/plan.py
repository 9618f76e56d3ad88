"""What a proxy gets, as IR, and the per-state pieces every proxy shares.

A `Plan` lists one proxy's listeners, route configurations and clusters (IR values);
`Shared` memoizes, for one MeshState, everything that does not depend on the asking proxy:
resolved services (`services.Resolver`), virtual hosts per service port, and egress clusters
per (target, TLS policy, limits). Builders then turn each shared IR value into a proto once.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field

from . import ir
from . import names
from . import policies
from . import specs
from .services import Resolver
from .services import ServicePort
from .services import Target
from .state import MeshState


@dataclass
class Plan:
    """One proxy's configuration as IR (``diagnostics`` explain what was left out and why)."""

    listeners: list[ir.Listener] = field(default_factory=list)
    route_configs: list[ir.RouteConfig] = field(default_factory=list)
    clusters: dict[str, ir.Cluster] = field(default_factory=dict)
    diagnostics: list[str] = field(default_factory=list)

    def add_cluster(self, cluster: ir.Cluster, via: str) -> None:
        """Add a cluster once; a second, different definition under one name keeps the first."""
        known = self.clusters.get(cluster.name)
        if known is None:
            self.clusters[cluster.name] = cluster
        elif known != cluster:
            self.diagnostics.append(
                f"cluster {cluster.name} is reached with different client policies; {via} uses the first one"
            )


class Shared:
    """Per-MeshState memo of proxy-independent IR (one instance per build pass)."""

    def __init__(self, state: MeshState) -> None:
        self.state = state
        self.mesh = state.mesh_name
        self.resolver = Resolver(state)
        self.mesh_preference = specs.mesh_ip_preference(state.mesh_spec)
        self.allow_all = specs.egress_filter(state.mesh_spec) == "ALLOW_ALL"
        self._vhosts: dict[tuple[str, int, bool], ir.VirtualHost] = {}
        self._clusters: dict[tuple[str, ir.UpstreamTls | None, ir.Limits], ir.Cluster] = {}
        self._reach: dict[tuple[int, int, ir.Limits], tuple[bool, tuple[ir.Cluster, ...], tuple[str, ...]]] = {}

    def virtual_host(self, port: ServicePort, bare_name: bool) -> ir.VirtualHost:
        """The virtual host of a service port: domains ``name:port`` and, when ``bare_name``,
        ``name`` (a client that omits the port reaches this port)."""
        key = (port.service, port.port, bare_name)
        found = self._vhosts.get(key)
        if found is None:
            domains = (f"{port.service}:{port.port}", port.service) if bare_name else (f"{port.service}:{port.port}",)
            found = self._vhosts[key] = ir.VirtualHost(f"{port.service}:{port.port}", domains, port.routes)
        return found

    def egress_cluster(self, target: Target, tls: ir.UpstreamTls | None, limits: ir.Limits) -> ir.Cluster:
        """The cluster for a target node listener as a client sees it (memoized).

        DNS discovery: an IP literal hostname becomes an EDS cluster with one endpoint;
        otherwise responseType ENDPOINTS -> STRICT_DNS, LOADBALANCER (default) -> LOGICAL_DNS.
        The target listener's health check and outlier detection run here, in the client.
        """
        key = (target.cluster, tls, limits)
        found = self._clusters.get(key)
        if found is not None:
            return found
        node = self.resolver.node(target.node)
        spec = self.state.virtual_nodes[target.node]
        host = str(node.hostname)
        if specs.is_ip(host):
            discovery = "eds"
        elif specs.sub(spec, "service_discovery", "dns").get("response_type") == "ENDPOINTS":
            discovery = "strict_dns"
        else:
            discovery = "logical_dns"
        listener = next((entry[2] for entry in node.listeners if entry[0] == target.port), specs.EMPTY)
        preference = specs.node_ip_preference(spec, self.state.mesh_spec)
        found = self._clusters[key] = ir.Cluster(
            name=target.cluster,
            discovery=discovery,  # type: ignore[arg-type]
            host=host,
            port=target.port,
            http2=target.protocol in ("http2", "grpc"),
            lookup_family=specs.dns_lookup_family(preference),
            limits=limits,
            tls=tls,
            health_check=policies.health_check(listener),
            outlier=policies.outlier(listener),
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
        plan.diagnostics.extend(f"{where}: {reason}" for reason in diagnostics)
        for cluster in clusters:
            plan.add_cluster(cluster, where)
        return ok

    def _clusters_for(
        self, port: ServicePort, policy: specs.Spec, limits: ir.Limits
    ) -> tuple[bool, tuple[ir.Cluster, ...], tuple[str, ...]]:
        clusters = []
        diagnostics: list[str] = []
        where = f"client policy for {port.service}"
        for target in port.targets:
            host = str(self.resolver.node(target.node).hostname)
            sni = None if specs.is_ip(host) else host
            tls = policies.client_tls(policy, target.port, sni, where, diagnostics) if policy else None
            if tls is False:
                return False, (), tuple(diagnostics)
            clusters.append(self.egress_cluster(target, tls, limits))  # type: ignore[arg-type]
        return True, tuple(clusters), tuple(diagnostics)

    def allow_all_cluster(self, lookup_family: str | None) -> ir.Cluster:
        """ALLOW_ALL passthrough: ORIGINAL_DST (iptables) or a dynamic forward proxy (one host)."""
        name = names.allow_all_cluster(self.mesh)
        if lookup_family is None:
            return ir.Cluster(name, "original_dst")
        return ir.Cluster(name, "dynamic_forward_proxy", lookup_family=lookup_family)
