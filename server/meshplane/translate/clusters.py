"""IR -> Cluster protos: discovery type, circuit breakers, h2, upstream TLS, health checks, outliers."""

from __future__ import annotations

from envoy.config.cluster.v3 import circuit_breaker_pb2
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import config_source_pb2
from envoy.config.core.v3 import health_check_pb2
from envoy.extensions.clusters.dynamic_forward_proxy.v3 import cluster_pb2 as dfp_cluster_pb2
from envoy.extensions.common.dynamic_forward_proxy.v3 import dns_cache_pb2
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2
from envoy.type.v3 import http_pb2
from google.protobuf import any_pb2
from google.protobuf import duration_pb2

from . import ir
from . import names
from . import tls

Cluster = cluster_pb2.Cluster

_TYPES = {
    "static": Cluster.STATIC,
    "eds": Cluster.EDS,
    "strict_dns": Cluster.STRICT_DNS,
    "logical_dns": Cluster.LOGICAL_DNS,
    "original_dst": Cluster.ORIGINAL_DST,
}
_HTTP_OPTIONS_KEY = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"


def set_duration(target: duration_pb2.Duration, ms: int) -> None:
    """Write milliseconds into a Duration field in place (present even when zero)."""
    seconds, millis = divmod(ms, 1000)
    if seconds:
        target.seconds = seconds
    if millis:
        target.nanos = millis * 1_000_000
    if not ms:
        target.SetInParent()


def _pack(message) -> any_pb2.Any:  # type: ignore[no-untyped-def]
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def _http2_options() -> any_pb2.Any:
    options = http_protocol_options_pb2.HttpProtocolOptions()
    options.explicit_http_config.http2_protocol_options.SetInParent()
    return _pack(options)


def _circuit_breakers(limits: ir.Limits) -> circuit_breaker_pb2.CircuitBreakers:
    breakers = circuit_breaker_pb2.CircuitBreakers()
    threshold = breakers.thresholds.add()
    threshold.max_connections.value = limits.max_connections
    threshold.max_pending_requests.value = limits.max_pending_requests
    threshold.max_requests.value = limits.max_requests
    threshold.max_retries.value = limits.max_retries
    return breakers


# Built once per process: every cluster copies these (CopyFrom is a C-level copy, cheaper than
# rebuilding nested messages). Never hand them out directly.
_HTTP2 = _http2_options()
_UNLIMITED = _circuit_breakers(ir.NO_LIMITS)
_ADS = config_source_pb2.ConfigSource(ads=config_source_pb2.AggregatedConfigSource(), resource_api_version=config_source_pb2.V3)


def dns_cache(lookup_family: str) -> dns_cache_pb2.DnsCacheConfig:
    """The dynamic forward proxy DNS cache (shared by the HTTP filter and the cluster)."""
    return dns_cache_pb2.DnsCacheConfig(
        name=names.DFP_CACHE, dns_lookup_family=Cluster.DnsLookupFamily.Value(lookup_family)
    )


def _health_check(check: ir.HealthCheck) -> health_check_pb2.HealthCheck:
    result = health_check_pb2.HealthCheck()
    set_duration(result.timeout, check.timeout_ms)
    set_duration(result.interval, check.interval_ms)
    result.healthy_threshold.value = check.healthy_threshold
    result.unhealthy_threshold.value = check.unhealthy_threshold
    if check.protocol == "grpc":
        result.grpc_health_check.SetInParent()
    elif check.protocol == "tcp":
        result.tcp_health_check.SetInParent()
    else:
        result.http_health_check.path = check.path
        if check.protocol == "http2":
            result.http_health_check.codec_client_type = http_pb2.HTTP2
    return result


def _outlier(cluster: cluster_pb2.Cluster, outlier: ir.Outlier) -> None:
    detection = cluster.outlier_detection
    detection.consecutive_5xx.value = outlier.max_server_errors
    set_duration(detection.interval, outlier.interval_ms)
    set_duration(detection.base_ejection_time, outlier.base_ejection_ms)
    detection.max_ejection_percent.value = outlier.max_ejection_percent
    # App Mesh exposes one signal (server errors); switch off Envoy's success-rate ejection.
    detection.enforcing_success_rate.value = 0


def _build(cluster: ir.Cluster) -> cluster_pb2.Cluster:
    result = Cluster(name=cluster.name)
    set_duration(result.connect_timeout, cluster.connect_timeout_ms)
    discovery = cluster.discovery
    if discovery == "dynamic_forward_proxy":
        result.lb_policy = Cluster.CLUSTER_PROVIDED
        result.cluster_type.name = "envoy.clusters.dynamic_forward_proxy"
        result.cluster_type.typed_config.Pack(
            dfp_cluster_pb2.ClusterConfig(dns_cache_config=dns_cache(cluster.lookup_family))
        )
    else:
        result.type = _TYPES[discovery]
    if discovery == "original_dst":
        result.lb_policy = Cluster.CLUSTER_PROVIDED
    elif discovery == "eds":
        result.eds_cluster_config.eds_config.CopyFrom(_ADS)
    elif discovery in ("static", "strict_dns", "logical_dns"):
        if discovery != "static":
            result.dns_lookup_family = Cluster.DnsLookupFamily.Value(cluster.lookup_family)
        assignment = result.load_assignment
        assignment.cluster_name = cluster.name
        address = assignment.endpoints.add().lb_endpoints.add().endpoint.address.socket_address
        address.address = cluster.host
        address.port_value = cluster.port
    if cluster.limits is ir.NO_LIMITS:
        result.circuit_breakers.CopyFrom(_UNLIMITED)
    else:
        result.circuit_breakers.CopyFrom(_circuit_breakers(cluster.limits))
    if cluster.http2:
        result.typed_extension_protocol_options[_HTTP_OPTIONS_KEY].CopyFrom(_HTTP2)
    if cluster.tls is not None:
        socket = result.transport_socket
        socket.name = "envoy.transport_sockets.tls"
        socket.typed_config.Pack(tls.upstream_context(cluster.tls))
    if cluster.health_check is not None:
        result.health_checks.append(_health_check(cluster.health_check))
    if cluster.outlier is not None:
        _outlier(result, cluster.outlier)
    return result


# Template per cluster "shape" (everything but name, host and port), for the common clusters
# without TLS, health checks or outlier detection, kept serialized: a rebuild parses it and sets
# the few differing fields instead of building ~15 nested messages (parsing bytes is cheaper
# than copying a message). Bounded; shapes are few. Value: (template, has a load assignment).
_TEMPLATES: dict[tuple[object, ...], tuple[bytes, bool]] = {}
# A node's local app cluster (STATIC): everything but the name. Every node has one and their
# addresses are few (127.0.0.1 or ::1 and a port), so the whole rest of the IR is the key and
# the template keeps the endpoint (no walking down to the socket address).
_STATIC: dict[tuple[object, ...], bytes] = {}


def build_cluster(cluster: ir.Cluster) -> cluster_pb2.Cluster:
    """A Cluster proto; ``eds`` clusters expect a ClusterLoadAssignment of the same name."""
    if cluster.tls is not None or cluster.health_check is not None or cluster.outlier is not None:
        return _build(cluster)
    name = cluster.name
    if cluster.discovery == "static":
        tail = cluster[1:]
        serialized = _STATIC.get(tail)
        if serialized is None:
            serialized = _build(cluster._replace(name="")).SerializeToString()
            if len(_STATIC) < 256:
                _STATIC[tail] = serialized
        result = Cluster.FromString(serialized)
        result.name = name
        result.load_assignment.cluster_name = name
        return result
    shape = (cluster.discovery, cluster.http2, cluster.connect_timeout_ms, cluster.lookup_family, cluster.limits)
    found = _TEMPLATES.get(shape)
    if found is None:
        template = _build(cluster._replace(name="", host="", port=0))
        found = (template.SerializeToString(), template.HasField("load_assignment"))
        if len(_TEMPLATES) < 256:
            _TEMPLATES[shape] = found
    serialized, has_assignment = found
    result = Cluster.FromString(serialized)
    result.name = name
    if has_assignment:
        assignment = result.load_assignment
        assignment.cluster_name = name
        address = assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address
        address.address = cluster.host
        address.port_value = cluster.port
    return result
