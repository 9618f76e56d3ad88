"""discovery: finding the instances behind virtual nodes with ``awsCloudMap`` service discovery.

`client` makes the boto3 ``servicediscovery`` client (standard AWS configuration) and runs one
``DiscoverInstances`` query; `poller` keeps the answers of a set of queries fresh on an interval,
with backoff, and reports changes. The xDS process (``meshplane.propagate``) owns a poller, feeds
it the queries its stored virtual nodes name, and passes the answers to translation as data.
"""

from __future__ import annotations

from meshplane.discovery.client import HEALTH_STATUSES, Instance, Query, cloud_map_client, discover
from meshplane.discovery.poller import CloudMapPoller, QueryStatus

__all__ = [
    "HEALTH_STATUSES",
    "CloudMapPoller",
    "Instance",
    "Query",
    "QueryStatus",
    "cloud_map_client",
    "discover",
]
