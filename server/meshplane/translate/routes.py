"""IR -> RouteConfiguration protos: virtual hosts, matches, weighted clusters, retries, rewrites.

Hot path of a full rebuild (thousands of routes and virtual hosts). Routes are built with the
protobuf API once per *shape* (everything but the route's name and cluster names) and kept
serialized; each route is then that template plus its names encoded with `wire`, and a route
configuration is one parse of its name plus its hosts' bytes (see `wire` for why this equals
building through the API, at a fraction of the cost).
"""

from __future__ import annotations

from collections.abc import Iterable

from envoy.config.route.v3 import route_components_pb2 as rc_pb2
from envoy.config.route.v3 import route_pb2
from google.protobuf import duration_pb2

from . import ir
from . import wire

_RETRIES: dict[ir.RetryPolicy, rc_pb2.RetryPolicy] = {}


def _set_duration(target: duration_pb2.Duration, ms: int) -> None:
    seconds, millis = divmod(ms, 1000)
    if seconds:
        target.seconds = seconds
    if millis:
        target.nanos = millis * 1_000_000
    if not ms:
        target.SetInParent()  # an explicit 0 (App Mesh: "no timeout") must still be present


def _set_header(target: rc_pb2.HeaderMatcher, header: ir.HeaderMatch) -> None:
    target.name = header.name
    kind = header.kind
    if kind == "exact":
        target.string_match.exact = header.value
    elif kind == "prefix":
        target.string_match.prefix = header.value
    elif kind == "suffix":
        target.string_match.suffix = header.value
    elif kind == "regex":
        target.string_match.safe_regex.regex = header.value
    elif kind == "range":
        target.range_match.start = header.start
        target.range_match.end = header.end
    else:
        target.present_match = True
    if header.invert:
        target.invert_match = True


def set_route_match(result: rc_pb2.RouteMatch, match: ir.HttpMatch) -> None:
    """Fill a RouteMatch: path specifier, then every header and query condition (all must hold)."""
    path = match.path
    if path.kind == "prefix":
        result.prefix = path.value
    elif path.kind == "path":
        result.path = path.value
    else:
        result.safe_regex.regex = path.value
    for header in match.headers:
        _set_header(result.headers.add(), header)
    for query in match.query:
        q = result.query_parameters.add()
        q.name = query.name
        if query.exact is None:
            q.present_match = True
        else:
            q.string_match.exact = query.exact


def _retry(retry: ir.RetryPolicy) -> rc_pb2.RetryPolicy:
    """The proto for a retry policy, built once per distinct policy (module-level memo)."""
    found = _RETRIES.get(retry)
    if found is None:
        found = rc_pb2.RetryPolicy(retry_on=",".join(retry.retry_on))
        found.num_retries.value = retry.num_retries
        if retry.per_try_timeout_ms is not None:
            _set_duration(found.per_try_timeout, retry.per_try_timeout_ms)
        found.retriable_status_codes.extend(retry.retriable_status_codes)
        if len(_RETRIES) < 4096:
            _RETRIES[retry] = found
    return found


def set_route(result: rc_pb2.Route, route: ir.HttpRoute) -> None:
    """Fill a Route: forward to the (weighted) clusters, or answer ``direct_status``."""
    result.name = route.name
    set_route_match(result.match, route.match)
    if not route.clusters:
        result.direct_response.status = route.direct_status
        return
    action = result.route
    if route.weighted:
        weighted = action.weighted_clusters.clusters
        for target in route.clusters:
            weighted.add(name=target.cluster).weight.value = target.weight
    else:
        action.cluster = route.clusters[0].cluster
    if route.timeout_ms is not None:
        _set_duration(action.timeout, route.timeout_ms)
    if route.idle_timeout_ms is not None:
        _set_duration(action.idle_timeout, route.idle_timeout_ms)
    if route.retry is not None:
        action.retry_policy.CopyFrom(_retry(route.retry))
    rewrite = route.rewrite
    if rewrite is not None:
        if rewrite.host is not None:
            action.host_rewrite_literal = rewrite.host
        if rewrite.prefix is not None:
            action.prefix_rewrite = rewrite.prefix
        if rewrite.regex is not None:
            action.regex_rewrite.pattern.regex = rewrite.regex[0]
            action.regex_rewrite.substitution = rewrite.regex[1]


# Keys of the fields that differ between routes of one shape (see `wire`).
_CONFIG_NAME = wire.key(route_pb2.RouteConfiguration, "name")
_CONFIG_HOST = wire.key(route_pb2.RouteConfiguration, "virtual_hosts")
_HOST_NAME = wire.key(rc_pb2.VirtualHost, "name")
_HOST_DOMAIN = wire.key(rc_pb2.VirtualHost, "domains")
_HOST_ROUTE = wire.key(rc_pb2.VirtualHost, "routes")
_ROUTE_NAME = wire.key(rc_pb2.Route, "name")
_ROUTE_ACTION = wire.key(rc_pb2.Route, "route")
_ACTION_CLUSTER = wire.key(rc_pb2.RouteAction, "cluster")
_ACTION_WEIGHTED = wire.key(rc_pb2.RouteAction, "weighted_clusters")
_WEIGHTED_CLUSTER = wire.key(rc_pb2.WeightedCluster, "clusters")
_CLUSTER_WEIGHT_NAME = wire.key(rc_pb2.WeightedCluster.ClusterWeight, "name")

# Bounded memos (values only, so safe across passes; a full memo just stops growing).
_MEMO_LIMIT = 4096
_ROUTES: dict[tuple[object, ...], bytes] = {}
_WEIGHTS: dict[int, bytes] = {}
_NAMES: dict[str, bytes] = {}


def _remember(memo: dict, key: object, value: object) -> None:  # type: ignore[type-arg]
    if len(memo) < _MEMO_LIMIT:
        memo[key] = value


def _route_template(route: ir.HttpRoute) -> bytes:
    """A route serialized without its name and cluster names (the weighted clusters entry, or
    the cluster, is left empty for `_route_bytes` to append)."""
    built = rc_pb2.Route()
    set_route(built, route._replace(name=""))
    if route.clusters:
        if route.weighted:
            built.route.weighted_clusters.ClearField("clusters")
        else:
            built.route.ClearField("cluster")
    return built.SerializeToString()


def _weight(weight: int) -> bytes:
    """A ClusterWeight's weight field (UInt32Value), serialized."""
    message = rc_pb2.WeightedCluster.ClusterWeight()
    message.weight.value = weight
    return message.SerializeToString()


def _route_bytes(route: ir.HttpRoute) -> bytes:
    """A serialized Route: its shape's template, its name and its clusters."""
    # Shape: every field but name (index 0) and the cluster names (index 2).
    shape = (route[1], len(route[2])) + route[3:]
    template = _ROUTES.get(shape)
    if template is None:
        template = _route_template(route)
        _remember(_ROUTES, shape, template)
    string, field = wire.string, wire.field
    head = template + string(_ROUTE_NAME, route.name)
    clusters = route.clusters
    if not clusters:
        return head
    if not route.weighted:
        return head + field(_ROUTE_ACTION, string(_ACTION_CLUSTER, clusters[0].cluster))
    weights = _WEIGHTS
    entries = []
    for cluster, weight in clusters:
        encoded = weights.get(weight)
        if encoded is None:
            encoded = _weight(weight)
            _remember(weights, weight, encoded)
        entries.append(field(_WEIGHTED_CLUSTER, string(_CLUSTER_WEIGHT_NAME, cluster) + encoded))
    return head + field(_ROUTE_ACTION, field(_ACTION_WEIGHTED, b"".join(entries)))


def _host_bytes(host: ir.VirtualHost) -> bytes:
    """A serialized VirtualHost: name, domains, then its routes in order."""
    string, field = wire.string, wire.field
    parts = [string(_HOST_NAME, host.name)]
    for domain in host.domains:
        parts.append(string(_HOST_DOMAIN, domain))
    for route in host.routes:
        parts.append(field(_HOST_ROUTE, _route_bytes(route)))
    return b"".join(parts)


def build_virtual_host(host: ir.VirtualHost) -> rc_pb2.VirtualHost:
    """A VirtualHost with its routes in order (Envoy takes the first match)."""
    return rc_pb2.VirtualHost.FromString(_host_bytes(host))


def serialized_virtual_host(host: ir.VirtualHost) -> bytes:
    """The virtual host as one serialized ``virtual_hosts`` entry of a RouteConfiguration,
    ready for `build_route_configuration`."""
    return wire.field(_CONFIG_HOST, _host_bytes(host))


def _config_name(name: str) -> bytes:
    found = _NAMES.get(name)
    if found is None:
        found = wire.string(_CONFIG_NAME, name)
        _remember(_NAMES, name, found)
    return found


def build_route_configuration(name: str, hosts: Iterable[bytes]) -> route_pb2.RouteConfiguration:
    """A RouteConfiguration named ``name`` holding the hosts of `serialized_virtual_host`, in order."""
    return route_pb2.RouteConfiguration.FromString(_config_name(name) + b"".join(hosts))


_LOCAL_APP: dict[tuple[str, int | None, int | None], tuple[bytes, bytes, bytes]] = {}


def build_local_app_route_configuration(config: ir.LocalAppRouteConfig) -> route_pb2.RouteConfiguration:
    """A node's ingress route configuration (see `ir.LocalAppRouteConfig`).

    Thousands of these differ only in the cluster name: everything else is serialized once
    per (name, timeouts).
    """
    shape = (config.name, config.timeout_ms, config.idle_timeout_ms)
    found = _LOCAL_APP.get(shape)
    if found is None:
        route = ir.HttpRoute("local-app", ir.ANY, (ir.WeightedCluster("", 1),), False, config.timeout_ms, config.idle_timeout_ms)
        host = wire.string(_HOST_NAME, "local-app") + wire.string(_HOST_DOMAIN, "*")
        found = (_config_name(config.name), host, _route_template(route) + wire.string(_ROUTE_NAME, route.name))
        _remember(_LOCAL_APP, shape, found)
    name, host, route_head = found
    field = wire.field
    encoded = field(_HOST_ROUTE, route_head + field(_ROUTE_ACTION, wire.string(_ACTION_CLUSTER, config.cluster)))
    return route_pb2.RouteConfiguration.FromString(name + field(_CONFIG_HOST, host + encoded))
