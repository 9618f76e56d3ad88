"""IR -> ClusterLoadAssignment protos (EDS): a node whose DNS hostname is an IP literal (one
endpoint), or the addresses Cloud Map discovery found (any number, on the node's listener port)."""

from __future__ import annotations

from envoy.config.endpoint.v3 import endpoint_pb2

from . import ir


def build_load_assignment(cluster: ir.Cluster) -> endpoint_pb2.ClusterLoadAssignment:
    """The assignment of an ``eds`` cluster (named like the cluster): ``cluster.endpoints`` when
    set (an empty tuple gives an assignment without endpoints), else the one ``host:port``."""
    result = endpoint_pb2.ClusterLoadAssignment(cluster_name=cluster.name)
    discovered = cluster.endpoints
    if discovered is None:
        address = result.endpoints.add().lb_endpoints.add().endpoint.address.socket_address
        address.address = cluster.host
        address.port_value = cluster.port
        return result
    if discovered:
        locality = result.endpoints.add()
        for host in discovered:
            address = locality.lb_endpoints.add().endpoint.address.socket_address
            address.address = host
            address.port_value = cluster.port
    return result
