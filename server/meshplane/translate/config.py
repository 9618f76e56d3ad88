"""ProxyConfig: one proxy's Envoy resources by type URL, and the consistency rules they obey."""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import dataclass

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm_pb2
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from google.protobuf.message import Message

from . import names


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    """Envoy resources for one proxy plus human-readable diagnostics.

    :param resources: type URL -> resource name -> proto message, for all four types in
        `names.TYPE_URLS` (possibly empty), each sorted by name. Messages may be shared between
        the configs of one build pass: treat them as read-only.
    :param diagnostics: why something the specs mention is not (fully) served.
    :param secrets: the names of meshplane's own secrets the resources reference over ADS
        (`names.MESH_CERTIFICATE_SECRET`, `names.MESH_TRUST_SECRET`), sorted; the caller adds
        them (type ``Secret``) to the proxy's snapshot, or the referencing listeners and
        clusters stay warming.
    """

    resources: Mapping[str, Mapping[str, Message]]
    diagnostics: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()

    @classmethod
    def empty(cls, *diagnostics: str) -> ProxyConfig:
        """No listeners, no clusters: what an unknown or deleted proxy receives."""
        return cls({url: {} for url in names.TYPE_URLS}, tuple(diagnostics))

    @property
    def clusters(self) -> Mapping[str, cluster_pb2.Cluster]:
        return self.resources[names.CLUSTER_TYPE]  # type: ignore[return-value]

    @property
    def endpoints(self) -> Mapping[str, Message]:
        return self.resources[names.ENDPOINT_TYPE]

    @property
    def listeners(self) -> Mapping[str, listener_pb2.Listener]:
        return self.resources[names.LISTENER_TYPE]  # type: ignore[return-value]

    @property
    def route_configs(self) -> Mapping[str, route_pb2.RouteConfiguration]:
        return self.resources[names.ROUTE_TYPE]  # type: ignore[return-value]


class InconsistentConfigError(ValueError):
    """A ProxyConfig breaks a rule Envoy relies on; ``problems`` lists every broken rule."""

    def __init__(self, problems: tuple[str, ...]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _network_filters(listener: listener_pb2.Listener) -> Iterator[Message]:
    chains = list(listener.filter_chains)
    if listener.HasField("default_filter_chain"):
        chains.append(listener.default_filter_chain)
    for chain in chains:
        for network in chain.filters:
            config = network.typed_config
            if config.Is(hcm_pb2.HttpConnectionManager.DESCRIPTOR):
                manager = hcm_pb2.HttpConnectionManager()
                config.Unpack(manager)
                yield manager
            elif config.Is(tcp_proxy_pb2.TcpProxy.DESCRIPTOR):
                proxy = tcp_proxy_pb2.TcpProxy()
                config.Unpack(proxy)
                yield proxy


def consistency_problems(config: ProxyConfig) -> tuple[str, ...]:
    """Every broken rule (empty when consistent).

    Rules: resources are keyed by their own names; every EDS cluster has a ClusterLoadAssignment
    and every assignment belongs to an EDS cluster; every RDS name a listener uses exists and
    every route configuration is used; every cluster a route or tcp_proxy names exists.
    """
    problems: list[str] = []
    for url in names.TYPE_URLS:
        if url not in config.resources:
            problems.append(f"missing type {url}")
    if problems:
        return tuple(problems)
    for url, resources in config.resources.items():
        for key, message in resources.items():
            own = message.cluster_name if url == names.ENDPOINT_TYPE else message.name  # type: ignore[attr-defined]
            if own != key:
                problems.append(f"{url}: resource {key!r} is named {own!r}")
    clusters = config.clusters
    eds = {name for name, cluster in clusters.items() if cluster.type == cluster_pb2.Cluster.EDS}
    for name in sorted(eds - set(config.endpoints)):
        problems.append(f"EDS cluster {name} has no ClusterLoadAssignment")
    for name in sorted(set(config.endpoints) - eds):
        problems.append(f"ClusterLoadAssignment {name} belongs to no EDS cluster")
    used_routes: set[str] = set()
    referenced: set[str] = set()
    for listener in config.listeners.values():
        for network in _network_filters(listener):
            if isinstance(network, hcm_pb2.HttpConnectionManager):
                used_routes.add(network.rds.route_config_name)
            elif isinstance(network, tcp_proxy_pb2.TcpProxy):
                if network.cluster:
                    referenced.add(network.cluster)
                referenced.update(weighted.name for weighted in network.weighted_clusters.clusters)
    for name in sorted(used_routes - set(config.route_configs)):
        problems.append(f"RDS route configuration {name} is used by a listener but missing")
    for name in sorted(set(config.route_configs) - used_routes):
        problems.append(f"route configuration {name} is used by no listener")
    for route_config in config.route_configs.values():
        for host in route_config.virtual_hosts:
            for route in host.routes:
                if route.HasField("route"):
                    action = route.route
                    if action.cluster:
                        referenced.add(action.cluster)
                    referenced.update(weighted.name for weighted in action.weighted_clusters.clusters)
    for name in sorted(referenced - set(clusters)):
        problems.append(f"cluster {name} is routed to but missing")
    return tuple(problems)


def check_consistent(config: ProxyConfig) -> None:
    """Raise InconsistentConfigError unless `consistency_problems` finds nothing."""
    problems = consistency_problems(config)
    if problems:
        raise InconsistentConfigError(problems)
