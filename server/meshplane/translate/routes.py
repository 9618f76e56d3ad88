"""IR -> RouteConfiguration protos: virtual hosts, matches, weighted clusters, retries, rewrites.

Hot path of a full rebuild (thousands of routes): sub-messages that repeat (retry policies)
are built once and copied in with CopyFrom, which is a C-level copy.
"""

from __future__ import annotations

from collections.abc import Iterable

from envoy.config.route.v3 import route_components_pb2 as rc_pb2
from envoy.config.route.v3 import route_pb2
from google.protobuf import duration_pb2

from . import ir

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


def build_virtual_host(host: ir.VirtualHost) -> rc_pb2.VirtualHost:
    """A VirtualHost with its routes in order (Envoy takes the first match)."""
    result = rc_pb2.VirtualHost(name=host.name, domains=host.domains)
    add = result.routes.add
    for route in host.routes:
        set_route(add(), route)
    return result


_SINGLE: dict[tuple[object, ...], route_pb2.RouteConfiguration] = {}


def build_single_route_configuration(config: ir.RouteConfig) -> route_pb2.RouteConfiguration:
    """A RouteConfiguration whose one virtual host sends everything (``ir.ANY``) to one cluster,
    with no retries or rewrites: a node's ingress, or ALLOW_ALL alone.

    Thousands of these differ only in the cluster name, so each shape is built once and copied.
    """
    host = config.virtual_hosts[0]
    route = host.routes[0]
    shape = (config.name, host.name, host.domains, route.name, route.timeout_ms, route.idle_timeout_ms)
    template = _SINGLE.get(shape)
    if template is None:
        template = route_pb2.RouteConfiguration(name=config.name)
        template.virtual_hosts.append(build_virtual_host(host._replace(routes=(route._replace(clusters=(ir.WeightedCluster("", 1),)),))))
        if len(_SINGLE) < 1024:
            _SINGLE[shape] = template
    result = route_pb2.RouteConfiguration()
    result.CopyFrom(template)
    result.virtual_hosts[0].routes[0].route.cluster = route.clusters[0].cluster
    return result


def build_route_configuration(name: str, hosts: Iterable[rc_pb2.VirtualHost]) -> route_pb2.RouteConfiguration:
    """A RouteConfiguration from already built virtual hosts (they are copied in)."""
    result = route_pb2.RouteConfiguration(name=name)
    result.virtual_hosts.extend(hosts)
    return result
