"""Cloud Map (``awsCloudMap``) service discovery as translation input: keys and addresses.

Translation never calls Cloud Map: the xDS process polls it (``meshplane.discovery``) and passes
what it found as data, a mapping ``CloudMapKey -> tuple[CloudMapInstance, ...]``. This module
says which key a node's spec asks for and which addresses of the instances found its clients use.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import NamedTuple

from . import specs

#: (namespaceName, serviceName, attributes as sorted (key, value) pairs): one DiscoverInstances query.
CloudMapKey = tuple[str, str, tuple[tuple[str, str], ...]]


class CloudMapInstance(NamedTuple):
    """One discovered instance: its ``AWS_INSTANCE_IPV4`` / ``AWS_INSTANCE_IPV6`` (None when absent)."""

    ipv4: str | None
    ipv6: str | None


#: What the xDS process found in Cloud Map, per query; a key absent here was not discovered (yet).
CloudMapEndpoints = Mapping[CloudMapKey, tuple[CloudMapInstance, ...]]

NO_ENDPOINTS: CloudMapEndpoints = {}


def cloud_map_key(discovery: specs.Spec) -> CloudMapKey | None:
    """The query a node's ``service_discovery`` asks for, or None when it names no Cloud Map service.

    Attributes are exact-match filters (App Mesh passed them as ``QueryParameters``); sorted, so
    two nodes asking for the same instances share one key (and one poll).
    """
    method = discovery.get("aws_cloud_map")
    if not isinstance(method, Mapping):
        return None
    namespace, service = method.get("namespace_name"), method.get("service_name")
    if not isinstance(namespace, str) or not isinstance(service, str) or not namespace or not service:
        return None
    pairs: list[tuple[str, str]] = []
    for item in method.get("attributes") or ():
        if isinstance(item, Mapping):
            key, value = item.get("key"), item.get("value")
            if isinstance(key, str) and isinstance(value, str):
                pairs.append((key, value))
    return (namespace, service, tuple(sorted(set(pairs))))


def describe(key: CloudMapKey) -> str:
    """``<namespace>/<service>``, with the attribute filters when there are any (for diagnostics)."""
    namespace, service, attributes = key
    if not attributes:
        return f"{namespace}/{service}"
    return f"{namespace}/{service} ({', '.join(f'{k}={v}' for k, v in attributes)})"


def _valid(address: str | None, version: int) -> bool:
    if not address:
        return False
    try:
        return ipaddress.ip_address(address).version == version
    except ValueError:
        return False


def addresses(instances: tuple[CloudMapInstance, ...], preference: str | None) -> tuple[str, ...]:
    """The endpoint addresses of ``instances`` under an App Mesh IP preference, sorted, no repeats.

    App Mesh's rule (aws-app-mesh-examples, howto-ipv6): unset or ``IPv4_PREFERRED`` takes
    ``AWS_INSTANCE_IPV4``, else ``AWS_INSTANCE_IPV6``; ``IPv6_PREFERRED`` the reverse; ``IPv4_ONLY``
    and ``IPv6_ONLY`` that family only. An instance without a usable address is left out.
    """
    found: set[str] = set()
    for instance in instances:
        v4 = instance.ipv4 if _valid(instance.ipv4, 4) else None
        v6 = instance.ipv6 if _valid(instance.ipv6, 6) else None
        if preference == "IPv4_ONLY":
            chosen = v4
        elif preference == "IPv6_ONLY":
            chosen = v6
        elif preference == "IPv6_PREFERRED":
            chosen = v6 if v6 is not None else v4
        else:
            chosen = v4 if v4 is not None else v6
        if chosen is not None:
            found.add(chosen)
    return tuple(sorted(found))
