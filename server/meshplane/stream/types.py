"""xDS type URLs, the order responses go out in, and which types depend on which.

This is the one registry of resource types the streamer treats specially; any other type URL in
a snapshot (SDS secrets, runtime ...) is served too, after the four below, in sorted order.
"""

from __future__ import annotations

from collections.abc import Iterable

TYPE_PREFIX = "type.googleapis.com/"

CLUSTER = TYPE_PREFIX + "envoy.config.cluster.v3.Cluster"
ENDPOINT = TYPE_PREFIX + "envoy.config.endpoint.v3.ClusterLoadAssignment"
LISTENER = TYPE_PREFIX + "envoy.config.listener.v3.Listener"
ROUTE = TYPE_PREFIX + "envoy.config.route.v3.RouteConfiguration"
SECRET = TYPE_PREFIX + "envoy.extensions.transport_sockets.tls.v3.Secret"

# NOTE: the order of this tuple MATTERS. When several types change in one update, responses go
# out CDS -> EDS -> LDS -> RDS ("make before break", envoy xds_protocol.rst "Eventual
# consistency considerations"; go-control-plane's ResponseType enum has the same order):
#   * clusters first, so every cluster a new route names exists before the route arrives
#     (routes are not warmed: a route to a missing cluster answers 503 NC);
#   * endpoints right after clusters, because a new or *changed* EDS cluster stays warming
#     until a fresh ClusterLoadAssignment arrives (reference xds.md §2.5.1);
#   * listeners before routes, so a listener's RDS subscription exists when its route comes.
SEND_ORDER: tuple[str, ...] = (CLUSTER, ENDPOINT, LISTENER, ROUTE)

# Types Envoy subscribes to with the legacy wildcard (an empty name list on the first request).
WILDCARD_TYPES: frozenset[str] = frozenset({CLUSTER, LISTENER})

# Removing a resource of the key type must wait until the value types are settled (their latest
# update ACKed): a cluster is dropped only after the listener/route update that stopped using it
# was accepted, and likewise its endpoints; a route config only after the listener update.
REMOVAL_WAITS_FOR: dict[str, tuple[str, ...]] = {
    CLUSTER: (LISTENER, ROUTE),
    ENDPOINT: (LISTENER, ROUTE),
    ROUTE: (LISTENER,),
}

# While a response of the key type is unacknowledged *and* a newer one is waiting to go out,
# responses of the value types wait too: a route must not name a cluster the proxy has not been
# sent yet. EDS never waits (a cluster's ACK needs its endpoints: waiting would deadlock), nor
# does RDS wait for LDS (a listener warms until its route arrives).
SEND_WAITS_FOR: dict[str, tuple[str, ...]] = {
    LISTENER: (CLUSTER,),
    ROUTE: (CLUSTER,),
}

SHORT_NAMES: dict[str, str] = {
    CLUSTER: "CDS",
    ENDPOINT: "EDS",
    LISTENER: "LDS",
    ROUTE: "RDS",
    SECRET: "SDS",
}


def short_name(type_url: str) -> str:
    """``CDS``/``EDS``/``LDS``/``RDS``/``SDS`` for the well-known types, else the message name."""
    return SHORT_NAMES.get(type_url) or type_url.rsplit(".", 1)[-1]


def ordered(type_urls: Iterable[str]) -> list[str]:
    """``type_urls`` in send order: the SEND_ORDER types first, any others after them, sorted."""
    present = set(type_urls)
    head = [t for t in SEND_ORDER if t in present]
    return head + sorted(present.difference(SEND_ORDER))
