"""The Cloud Map client and one ``DiscoverInstances`` query.

The client follows the standard AWS configuration (boto3's credential chain, ``AWS_REGION`` /
``AWS_DEFAULT_REGION`` / the config file, ``AWS_ENDPOINT_URL_SERVICEDISCOVERY`` or
``AWS_ENDPOINT_URL``). ``DiscoverInstances`` is a data-plane call that botocore sends to the
host ``data-<endpoint host>``; for an endpoint outside ``amazonaws.com`` (a local test server,
a proxy) that host does not exist, so the prefix is turned off there (fleet.md §5).
"""

from __future__ import annotations

from typing import Any, NamedTuple
from urllib.parse import urlparse

#: DiscoverInstances ``HealthStatus`` values. ``HEALTHY_OR_ELSE_ALL`` (meshplane's default) returns
#: the healthy instances, or all of them when none is healthy: a service whose health checks
#: all fail keeps receiving traffic rather than none. AWS ignores the filter for services
#: without a health check.
HEALTH_STATUSES = ("HEALTHY_OR_ELSE_ALL", "HEALTHY", "ALL", "UNHEALTHY")

#: The attributes App Mesh read an instance's addresses from (the k8s controller and ECS set them).
IPV4_ATTRIBUTE = "AWS_INSTANCE_IPV4"
IPV6_ATTRIBUTE = "AWS_INSTANCE_IPV6"

#: The most instances one DiscoverInstances call returns (the API's maximum; no pagination).
MAX_RESULTS = 1000

#: Seconds; a poll must not hang on an unreachable endpoint (the poller retries with backoff).
CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 10.0


class Query(NamedTuple):
    """One DiscoverInstances query: namespace, service, and exact-match attribute filters as
    sorted (key, value) pairs. Equal (and hashing alike) to the plain tuple
    ``meshplane.translate.CloudMapKey`` of a node's spec."""

    namespace: str
    service: str
    attributes: tuple[tuple[str, str], ...] = ()


class Instance(NamedTuple):
    """A discovered instance: its id and its ``AWS_INSTANCE_IPV4`` / ``AWS_INSTANCE_IPV6`` values."""

    instance_id: str
    ipv4: str | None
    ipv6: str | None


def _custom_endpoint(url: str | None) -> bool:
    """True for an endpoint that is not AWS's own (``*.amazonaws.com``, ``*.amazonaws.com.cn``, ``*.api.aws``)."""
    host = (urlparse(url).hostname or "") if url else ""
    return not (host.endswith(".amazonaws.com") or host.endswith(".amazonaws.com.cn") or host.endswith(".api.aws"))


def cloud_map_client(default_region: str) -> Any:
    """A boto3 ``servicediscovery`` client from the standard AWS configuration.

    :param default_region: used when no region is configured (meshplane's ``--region``).
    Retries are left to the caller (one attempt per call): the poller backs off itself and must
    know at once that Cloud Map is unreachable.
    """
    import boto3  # type: ignore[import-untyped]
    from botocore.config import Config as BotoConfig  # type: ignore[import-untyped]

    session = boto3.session.Session()
    region = session.region_name or default_region
    options: dict[str, Any] = {
        "connect_timeout": CONNECT_TIMEOUT_S,
        "read_timeout": READ_TIMEOUT_S,
        "retries": {"total_max_attempts": 1},
    }
    probe = session.client("servicediscovery", region_name=region, config=BotoConfig(**options))
    if not _custom_endpoint(probe.meta.endpoint_url):
        return probe
    # A local or custom endpoint: no ``data-`` host prefix (that host would not resolve).
    return session.client("servicediscovery", region_name=region,
                          config=BotoConfig(inject_host_prefix=False, **options))


def discover(client: Any, query: Query, health_status: str) -> tuple[tuple[Instance, ...], int | None]:
    """``DiscoverInstances`` for ``query``: (instances sorted by id, ``InstancesRevision``).

    An id listed twice (moto appends on re-registration, where AWS updates) keeps its last entry.
    :raises botocore.exceptions.BotoCoreError, ClientError: the call failed.
    """
    answer = client.discover_instances(
        NamespaceName=query.namespace,
        ServiceName=query.service,
        QueryParameters=dict(query.attributes),
        HealthStatus=health_status,
        MaxResults=MAX_RESULTS,
    )
    found: dict[str, Instance] = {}
    for item in answer.get("Instances") or ():
        attributes = item.get("Attributes") or {}
        instance_id = str(item.get("InstanceId", ""))
        found[instance_id] = Instance(instance_id, attributes.get(IPV4_ATTRIBUTE), attributes.get(IPV6_ATTRIBUTE))
    revision = answer.get("InstancesRevision")
    return tuple(found[key] for key in sorted(found)), revision if isinstance(revision, int) else None
