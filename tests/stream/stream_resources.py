"""Hand-built Envoy resources for the stream tests: ``make_<thing>`` returns one proto each."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import address_pb2, config_source_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2
from envoy.config.listener.v3 import listener_components_pb2, listener_pb2
from envoy.config.route.v3 import route_components_pb2, route_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm_pb2
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import Message

from meshplane.stream import CLUSTER, ENDPOINT, LISTENER, ROUTE, Snapshot


def ads_source() -> config_source_pb2.ConfigSource:
    """``{ads: {}, resource_api_version: V3}``: fetch over the same ADS stream."""
    return config_source_pb2.ConfigSource(
        ads=config_source_pb2.AggregatedConfigSource(), resource_api_version=config_source_pb2.V3
    )


def make_cluster(name: str, connect_timeout: float = 1.0, service_name: str = "") -> cluster_pb2.Cluster:
    """An EDS cluster whose endpoints come over ADS."""
    return cluster_pb2.Cluster(
        name=name,
        type=cluster_pb2.Cluster.EDS,
        connect_timeout=duration_pb2.Duration(seconds=int(connect_timeout),
                                              nanos=int(round(connect_timeout % 1 * 1e9))),
        eds_cluster_config=cluster_pb2.Cluster.EdsClusterConfig(eds_config=ads_source(), service_name=service_name),
    )


def make_cla(name: str, endpoints: Iterable[tuple[str, int]]) -> endpoint_pb2.ClusterLoadAssignment:
    """A ClusterLoadAssignment with one locality holding ``endpoints`` (host, port)."""
    return endpoint_pb2.ClusterLoadAssignment(
        cluster_name=name,
        endpoints=[endpoint_components_pb2.LocalityLbEndpoints(lb_endpoints=[
            endpoint_components_pb2.LbEndpoint(endpoint=endpoint_components_pb2.Endpoint(
                address=_address(host, port))) for host, port in endpoints
        ])],
    )


def make_listener(name: str, port: int, route_name: str, host: str = "127.0.0.1") -> listener_pb2.Listener:
    """An HTTP listener whose HttpConnectionManager takes ``route_name`` over RDS (ADS)."""
    hcm = hcm_pb2.HttpConnectionManager(
        stat_prefix=name,
        rds=hcm_pb2.Rds(config_source=ads_source(), route_config_name=route_name),
        http_filters=[hcm_pb2.HttpFilter(name="envoy.filters.http.router",
                                         typed_config=_pack(router_pb2.Router()))],
    )
    return listener_pb2.Listener(
        name=name,
        address=_address(host, port),
        filter_chains=[listener_components_pb2.FilterChain(filters=[
            listener_components_pb2.Filter(name="envoy.filters.network.http_connection_manager",
                                           typed_config=_pack(hcm))
        ])],
    )


def make_route(name: str, clusters: Mapping[str, int] | str) -> route_pb2.RouteConfiguration:
    """One virtual host ``*`` routing ``/`` to a cluster, or to weighted clusters {name: weight}."""
    if isinstance(clusters, str):
        action = route_components_pb2.RouteAction(cluster=clusters)
    else:
        action = route_components_pb2.RouteAction(weighted_clusters=route_components_pb2.WeightedCluster(
            clusters=[route_components_pb2.WeightedCluster.ClusterWeight(name=c, weight={"value": w})
                      for c, w in clusters.items()]))
    return route_pb2.RouteConfiguration(
        name=name,
        virtual_hosts=[route_components_pb2.VirtualHost(
            name="all", domains=["*"],
            routes=[route_components_pb2.Route(match=route_components_pb2.RouteMatch(prefix="/"), route=action)],
        )],
    )


def make_snapshot(clusters: Sequence[Message] = (), endpoints: Sequence[Message] = (),
                  listeners: Sequence[Message] = (), routes: Sequence[Message] = ()) -> Snapshot:
    """A Snapshot of the given protos, filed under their own names."""
    return Snapshot({
        CLUSTER: {c.name: c for c in clusters},  # type: ignore[attr-defined]
        ENDPOINT: {e.cluster_name: e for e in endpoints},  # type: ignore[attr-defined]
        LISTENER: {x.name: x for x in listeners},  # type: ignore[attr-defined]
        ROUTE: {r.name: r for r in routes},  # type: ignore[attr-defined]
    })


def demo_snapshot(port: int = 10000, backend: int = 8080, route_to: str = "web",
                  clusters: Sequence[str] = ("web",), timeout: float = 1.0) -> Snapshot:
    """One listener -> route ``routes`` -> cluster ``route_to`` (EDS) -> ``backend`` on 127.0.0.1."""
    return make_snapshot(
        clusters=[make_cluster(c, connect_timeout=timeout) for c in clusters],
        endpoints=[make_cla(c, [("127.0.0.1", backend)]) for c in clusters],
        listeners=[make_listener("ingress", port, "routes")],
        routes=[make_route("routes", route_to)],
    )


def _address(host: str, port: int) -> address_pb2.Address:
    return address_pb2.Address(socket_address=address_pb2.SocketAddress(address=host, port_value=port))


def _pack(message: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed
