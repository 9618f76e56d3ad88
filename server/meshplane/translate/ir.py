"""The intermediate representation between App Mesh semantics and Envoy protos.

`plan.py`, `sidecar.py` and `gateway.py` turn a MeshState into these immutable values (every App
Mesh default already applied); `listeners.py`, `routes.py`, `clusters.py` and `endpoints.py` turn
them into protos and know nothing about App Mesh. Durations are integer milliseconds.

The values are typed NamedTuples rather than frozen dataclasses: a full rebuild creates tens of
thousands of them, and a frozen dataclass costs ~4 us to construct against ~1 us for a
NamedTuple (hashing, used for memo keys, is also cheaper). Compare values of one type only.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any
from typing import Literal
from typing import NamedTuple
from typing import Union

from . import names

# --- routes


class PathMatch(NamedTuple):
    """How a route matches the path: ``prefix``, exact ``path`` or full-match ``regex``."""

    kind: Literal["prefix", "path", "regex"]
    value: str


ROOT = PathMatch("prefix", "/")


class HeaderMatch(NamedTuple):
    """One header condition; ``kind`` ``present`` matches any value, ``range`` is [start, end)."""

    name: str
    kind: Literal["exact", "prefix", "suffix", "regex", "range", "present"]
    value: str = ""
    start: int = 0
    end: int = 0
    invert: bool = False


class QueryMatch(NamedTuple):
    """One query parameter condition: an exact value, or presence when ``exact`` is None."""

    name: str
    exact: str | None = None


class HttpMatch(NamedTuple):
    path: PathMatch = ROOT
    headers: tuple[HeaderMatch, ...] = ()
    query: tuple[QueryMatch, ...] = ()


ANY = HttpMatch()


class RetryPolicy(NamedTuple):
    retry_on: tuple[str, ...]
    num_retries: int
    per_try_timeout_ms: int | None = None
    retriable_status_codes: tuple[int, ...] = ()


# App Mesh's silent default (routes created after 2020-07-29 without a retry policy).
DEFAULT_RETRY = RetryPolicy(
    retry_on=("connect-failure", "refused-stream", "reset", "retriable-status-codes", "unavailable"),
    num_retries=names.DEFAULT_MAX_RETRIES,
    retriable_status_codes=(503,),
)


class WeightedCluster(NamedTuple):
    cluster: str
    weight: int


class Rewrite(NamedTuple):
    """Request rewrites on the way upstream (gateway routes).

    :param host: literal Host/authority, or None to keep the client's.
    :param prefix: Envoy ``prefix_rewrite`` (replaces the matched prefix or exact path).
    :param regex: Envoy ``regex_rewrite`` as ``(pattern, substitution)`` on the path.
    """

    host: str | None = None
    prefix: str | None = None
    regex: tuple[str, str] | None = None


class HttpRoute(NamedTuple):
    """One Envoy route.

    With ``clusters`` it forwards (``weighted`` picks weighted_clusters over a single cluster);
    without, it answers ``direct_status`` (503 when no target is servable, 404 for a gateway
    route whose virtual service has no matching route).
    """

    name: str
    match: HttpMatch
    clusters: tuple[WeightedCluster, ...] = ()
    weighted: bool = True
    timeout_ms: int | None = names.DEFAULT_PER_REQUEST_TIMEOUT_MS
    idle_timeout_ms: int | None = None
    retry: RetryPolicy | None = None
    rewrite: Rewrite | None = None
    direct_status: int = 503


class VirtualHost(NamedTuple):
    name: str
    domains: tuple[str, ...]
    routes: tuple[HttpRoute, ...]


class RouteConfig(NamedTuple):
    name: str
    virtual_hosts: tuple[VirtualHost, ...]


class LocalAppRouteConfig(NamedTuple):
    """A node's ingress route configuration: virtual host ``local-app`` for every domain, one
    route ``local-app`` sending ``/`` to the local app ``cluster`` (no retries, no rewrites).

    Every node has one per HTTP listener and they differ only in the cluster name, so this
    compact form (rather than a RouteConfig) lets the builder copy one template per shape.
    """

    name: str
    cluster: str
    timeout_ms: int | None = names.DEFAULT_PER_REQUEST_TIMEOUT_MS
    idle_timeout_ms: int | None = None


# --- clusters


class Limits(NamedTuple):
    """Circuit-breaker thresholds (App Mesh leaves them effectively unlimited)."""

    max_connections: int = names.UNLIMITED
    max_pending_requests: int = names.UNLIMITED
    max_requests: int = names.UNLIMITED
    max_retries: int = names.UNLIMITED


NO_LIMITS = Limits()


class UpstreamTls(NamedTuple):
    """TLS origination towards a backend (App Mesh client policy)."""

    sni: str | None = None
    certificate_chain: str | None = None
    private_key: str | None = None
    certificate_sds: str | None = None
    trust_file: str | None = None
    trust_sds: str | None = None
    subject_alt_names: tuple[str, ...] = ()
    # ``validation.trust.acm``: meshplane's own trust bundle, a secret on the ADS stream.
    mesh_trust: bool = False


class HealthCheck(NamedTuple):
    protocol: str
    interval_ms: int
    timeout_ms: int
    healthy_threshold: int
    unhealthy_threshold: int
    path: str = "/"


class Outlier(NamedTuple):
    interval_ms: int
    base_ejection_ms: int
    max_ejection_percent: int
    max_server_errors: int


Discovery = Literal["static", "eds", "strict_dns", "logical_dns", "original_dst", "dynamic_forward_proxy"]


class Cluster(NamedTuple):
    """One upstream cluster.

    ``static`` and the DNS kinds carry their endpoint inline; ``eds`` gets a
    ClusterLoadAssignment with ``host:port``, or, when ``endpoints`` is set (Cloud Map discovery),
    one endpoint per address there on ``port`` (possibly none); ``original_dst`` and
    ``dynamic_forward_proxy`` pick the destination per connection or request.
    """

    name: str
    discovery: Discovery
    host: str = ""
    port: int = 0
    http2: bool = False
    connect_timeout_ms: int = names.EGRESS_CONNECT_TIMEOUT_MS
    lookup_family: str = "AUTO"
    limits: Limits = NO_LIMITS
    tls: UpstreamTls | None = None
    health_check: HealthCheck | None = None
    outlier: Outlier | None = None
    # Discovered endpoint addresses (eds only): they go into the ClusterLoadAssignment, never into
    # the Cluster proto, so a change of them sends EDS alone.
    endpoints: tuple[str, ...] | None = None


# --- listeners


class DownstreamTls(NamedTuple):
    """TLS termination on a listener; PERMISSIVE also accepts plaintext."""

    mode: Literal["STRICT", "PERMISSIVE"]
    certificate_chain: str | None = None
    private_key: str | None = None
    certificate_sds: str | None = None
    trust_file: str | None = None
    trust_sds: str | None = None
    subject_alt_names: tuple[str, ...] = ()
    # ``certificate.acm``: a certificate meshplane's CA issues for this proxy, on the ADS stream.
    mesh_certificate: bool = False


class AccessLog(NamedTuple):
    """A file access log; ``text`` or ``json`` format, Envoy's default format when neither."""

    path: str
    text: str | None = None
    json: tuple[tuple[str, str], ...] | None = None


class HttpChain(NamedTuple):
    """A filter chain running the HTTP connection manager with RDS ``route_config``."""

    route_config: str
    stat_prefix: str
    destination_port: int | None = None
    tls: DownstreamTls | None = None
    access_log: AccessLog | None = None
    # Set to a dns_lookup_family to add the dynamic forward proxy filter (ALLOW_ALL, one host).
    forward_proxy_lookup_family: str | None = None
    # Set to a path: Envoy itself answers GET <path> (200, 503 while draining): a gateway
    # listener's healthCheck, for the load balancer in front of it.
    health_check_path: str | None = None


class TcpChain(NamedTuple):
    """A filter chain running tcp_proxy to one or several weighted clusters.

    ``server_names`` (TLS SNI, Envoy's ``*.`` wildcards allowed) restricts the chain to TLS
    connections asking for those names: the listener then inspects the TLS ClientHello.
    """

    clusters: tuple[WeightedCluster, ...]
    stat_prefix: str
    destination_port: int | None = None
    tls: DownstreamTls | None = None
    access_log: AccessLog | None = None
    idle_timeout_ms: int | None = None
    server_names: tuple[str, ...] = ()


Chain = Union[HttpChain, TcpChain]


class Listener(NamedTuple):
    """An Envoy listener; ``original_dst`` adds the listener filter iptables redirection needs."""

    name: str
    address: str
    port: int
    inbound: bool
    chains: tuple[Chain, ...]
    original_dst: bool = False
    default_chain: Chain | None = None


def maker(cls: type[Any]) -> Callable[[tuple[Any, ...]], Any]:
    """A fast constructor for a NamedTuple class from a tuple of *all* its fields, in order.

    ``cls(*fields)`` runs the NamedTuple's Python-level ``__new__``; hot paths that already
    hold the complete field tuple (a template with one field swapped, a dict item) make tens
    of thousands of these per pass, and ``tuple.__new__`` through a partial is a C call.
    No defaults, no checks: the caller passes exactly ``len(cls._fields)`` values.
    """
    return functools.partial(tuple.__new__, cls)
