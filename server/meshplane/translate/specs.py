"""Reading stored App Mesh specs, with the defaults App Mesh applies but never shows.

Every function takes a stored (snake_case) spec fragment and tolerates absent members.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Mapping
from typing import Any

from . import names

Spec = Mapping[str, Any]
EMPTY: Spec = {}

# Route spec member per listener protocol (router, node and gateway listeners alike).
ROUTE_KEY_BY_PROTOCOL = {"http": "http_route", "http2": "http2_route", "grpc": "grpc_route", "tcp": "tcp_route"}
HTTP_PROTOCOLS = frozenset({"http", "http2", "grpc"})


def sub(spec: Any, *path: str) -> Spec:
    """The mapping at ``spec[path[0]][path[1]]...``, or an empty mapping when any step is absent
    or not a mapping. (Hot path: the dict check comes first because ABC checks are slow.)"""
    node = spec
    for key in path:
        if not (type(node) is dict or isinstance(node, Mapping)):
            return EMPTY
        node = node.get(key)
        if node is None:
            return EMPTY
    return node if type(node) is dict or isinstance(node, Mapping) else EMPTY


def duration_ms(duration: Any) -> int | None:
    """An App Mesh Duration (``{value, unit: s|ms}``) in milliseconds; None when absent.

    A missing unit reads as seconds (the model leaves both members optional).
    """
    if duration is None or not isinstance(duration, Mapping):
        return None
    value = duration.get("value")
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value if duration.get("unit") == "ms" else value * 1000


def listeners(spec: Spec) -> tuple[tuple[int, str, Spec], ...]:
    """A node's, router's or gateway's listeners as ``(port, protocol, listener)``, sorted by port.

    Listeners without a usable port mapping are skipped; a repeated port keeps its first entry.
    """
    raw = spec.get("listeners")
    if not raw:
        return ()
    if len(raw) == 1:  # the common case, without the dedup and sort
        listener = raw[0]
        try:
            mapping = listener["port_mapping"]
            port, protocol = mapping["port"], mapping["protocol"]
        except (KeyError, TypeError):
            return ()
        return ((port, protocol, listener),) if type(port) is int and type(protocol) is str else ()
    found: dict[int, tuple[int, str, Spec]] = {}
    for listener in raw:
        try:
            mapping = listener["port_mapping"]
            port, protocol = mapping["port"], mapping["protocol"]
        except (KeyError, TypeError):
            continue
        if type(port) is int and type(protocol) is str and port not in found:
            found[port] = (port, protocol, listener)
    return tuple([found[port] for port in sorted(found)])


def backends(spec: Spec) -> list[tuple[str, Spec]]:
    """Declared backends sorted by service name, each with its client policy (per-backend, else
    the defaults)."""
    raw = spec.get("backends")
    if not raw:
        return []
    defaults = sub(spec, "backend_defaults", "client_policy") if "backend_defaults" in spec else EMPTY
    result: dict[str, Spec] = {}
    for backend in raw:
        service = backend.get("virtual_service") if type(backend) is dict else None
        if type(service) is not dict:
            service = sub(backend, "virtual_service")
        name = service.get("virtual_service_name")
        if isinstance(name, str) and name not in result:
            policy = service.get("client_policy")
            result[name] = defaults if policy is None or not isinstance(policy, Mapping) else policy
    # Names are unique, so sorting the pairs compares names only.
    return sorted(result.items()) if len(result) > 1 else list(result.items())


def egress_filter(mesh_spec: Spec) -> str:
    """``DROP_ALL`` (App Mesh's default) or ``ALLOW_ALL``."""
    value = sub(mesh_spec, "egress_filter").get("type")
    return "ALLOW_ALL" if value == "ALLOW_ALL" else "DROP_ALL"


def mesh_ip_preference(mesh_spec: Spec) -> str | None:
    """The mesh-wide ``service_discovery.ip_preference``, or None (no preference)."""
    value = sub(mesh_spec, "service_discovery").get("ip_preference")
    return value if isinstance(value, str) else None


def node_ip_preference(node_spec: Spec, mesh_spec: Spec) -> str | None:
    """A node's effective IP preference: its own discovery setting, else the mesh's."""
    own = node_discovery_preference(sub(node_spec, "service_discovery"))
    return own if own is not None else mesh_ip_preference(mesh_spec)


def node_discovery_preference(discovery: Spec) -> str | None:
    """The IP preference a node's ``service_discovery`` sets itself (dns, else awsCloudMap)."""
    for kind in ("dns", "aws_cloud_map"):
        method = discovery.get(kind)
        if method is not None and (type(method) is dict or isinstance(method, Mapping)):
            value = method.get("ip_preference")
            if isinstance(value, str):
                return value
    return None


# App Mesh's IPv6 walkthrough: no preference resolves IPv6 first (Envoy AUTO), binds IPv4 only
# and reaches the local app over IPv4; any explicit preference binds dual-stack.
_LOOKUP_FAMILY = {
    None: "AUTO",
    "IPv6_PREFERRED": "AUTO",
    "IPv4_PREFERRED": "V4_PREFERRED",
    "IPv4_ONLY": "V4_ONLY",
    "IPv6_ONLY": "V6_ONLY",
}


def dns_lookup_family(preference: str | None) -> str:
    """The Envoy ``dns_lookup_family`` for an App Mesh IP preference."""
    return _LOOKUP_FAMILY.get(preference, "AUTO")


def bind_address(preference: str | None) -> str:
    """Listener bind address: IPv4 any without a preference, dual-stack ``::`` with one."""
    return names.ANY_IPV4 if preference is None else names.ANY_IPV6


def loopback(preference: str | None) -> str:
    """The local app's address: ``::1`` for IPv6 preferences, else ``127.0.0.1``."""
    return "::1" if preference in ("IPv6_PREFERRED", "IPv6_ONLY") else "127.0.0.1"


_IP_CHARS = frozenset("0123456789abcdefABCDEF.:%")


@functools.lru_cache(maxsize=65536)
def is_ip(host: str) -> bool:
    """True for an IPv4 or IPv6 literal (such hosts need no DNS: they go through EDS)."""
    if not _IP_CHARS.issuperset(host):
        return False  # cheap exit for DNS names: the parser raises, and raising is slow
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


# The priority of a route without one: after every prioritized route (App Mesh's range is 0-1000).
NO_PRIORITY = 1001


def route_priority(spec: Spec) -> int:
    """A route's priority (0 is highest); routes without one come after every prioritized route."""
    value = spec.get("priority")
    return value if type(value) is int else NO_PRIORITY


def single_member(spec: Spec, members: tuple[str, ...]) -> tuple[str, Spec] | None:
    """The first present member of a union, with its value."""
    for member in members:
        value = spec.get(member)
        if isinstance(value, Mapping):
            return member, value
    return None
