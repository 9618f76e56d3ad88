"""IR -> ClusterLoadAssignment protos (EDS), for clusters whose endpoint is an IP literal."""

from __future__ import annotations

from envoy.config.endpoint.v3 import endpoint_pb2

from . import ir


def build_load_assignment(cluster: ir.Cluster) -> endpoint_pb2.ClusterLoadAssignment:
    """The one-endpoint assignment of an ``eds`` cluster (named like the cluster)."""
    result = endpoint_pb2.ClusterLoadAssignment(cluster_name=cluster.name)
    address = result.endpoints.add().lb_endpoints.add().endpoint.address.socket_address
    address.address = cluster.host
    address.port_value = cluster.port
    return result
