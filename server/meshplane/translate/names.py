"""Envoy resource names, type URLs and the App Mesh constants the API never shows.

Names follow what App Mesh's own control plane generated (config dumps quoted in
/work/shared/reference/xds.md §6), so dashboards and habits carry over.
"""

from __future__ import annotations

CLUSTER_TYPE = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
ENDPOINT_TYPE = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
LISTENER_TYPE = "type.googleapis.com/envoy.config.listener.v3.Listener"
ROUTE_TYPE = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"

# NOTE: the order MATTERS. It is the make-before-break push order (CDS -> EDS -> LDS -> RDS);
# see xds.md §2.5 and go-control-plane's ResponseType enum.
TYPE_URLS: tuple[str, ...] = (CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE)

INGRESS_PORT = 15000
EGRESS_PORT = 15001
ANY_IPV4 = "0.0.0.0"
ANY_IPV6 = "::"

DEFAULT_PER_REQUEST_TIMEOUT_MS = 15_000
DEFAULT_MAX_RETRIES = 2
UNLIMITED = 2_147_483_647
INGRESS_CONNECT_TIMEOUT_MS = 250
EGRESS_CONNECT_TIMEOUT_MS = 1_000

# The cluster App Mesh's bootstrap defines for SDS (a unix socket to the SDS agent); SDS secret
# names in specs are fetched through it. The Envoy bootstrap must define this static cluster.
SDS_CLUSTER = "static_cluster_sds_unix_socket"
# The secrets meshplane itself serves over SDS on the ADS stream (``sds_config: {ads: {}}``) in
# place of ACM: the proxy's certificate issued by meshplane's mesh CA (listeners naming an ACM
# certificate), and the mesh CA's trust bundle (client policies trusting ACM). The secret
# contents are built outside translate (meshplane.pki.issuer) and added to the snapshot.
MESH_CERTIFICATE_SECRET = "meshplane-mesh-certificate"
MESH_TRUST_SECRET = "meshplane-mesh-trust"
# One DNS cache shared by the dynamic forward proxy filter and cluster (their configs must match).
DFP_CACHE = "meshplane_allow_all_dns_cache"

# App Mesh's hidden egress default (Settings.aws_passthrough): TLS to AWS APIs, matched by SNI
# on the HTTPS port, passes through to its original destination.
AWS_SERVER_NAME = "*.amazonaws.com"
AWS_PORT = 443

STAT_INGRESS = "ingress"
STAT_EGRESS = "egress"


def listener_name(direction: str, port: int) -> str:
    """``lds_ingress_0.0.0.0_15000``: App Mesh's name, kept even when binding ``::``."""
    return f"lds_{direction}_{ANY_IPV4}_{port}"


def ingress_cluster(mesh: str, node: str, protocol: str, port: int) -> str:
    """The local app behind a node's listener: ``cds_ingress_<mesh>_<node>_<protocol>_<port>``."""
    return f"cds_ingress_{mesh}_{node}_{protocol}_{port}"


def egress_cluster(mesh: str, node: str, protocol: str, port: int) -> str:
    """A reachable node's listener: ``cds_egress_<mesh>_<node>_<protocol>_<port>``."""
    return f"cds_egress_{mesh}_{node}_{protocol}_{port}"


def allow_all_cluster(mesh: str) -> str:
    """The ALLOW_ALL passthrough: ``cds_egress_<mesh>_mesh-allow-all``."""
    return f"cds_egress_{mesh}_mesh-allow-all"


def amazonaws_cluster(mesh: str) -> str:
    """The ``*.amazonaws.com`` passthrough: ``cds_egress_<mesh>_amazonaws``."""
    return f"cds_egress_{mesh}_amazonaws"


def ingress_route_config(protocol: str, port: int) -> str:
    """``rds_ingress_http_9080``: one per listener (node or gateway)."""
    return f"rds_ingress_{protocol}_{port}"


def egress_route_config(port: int) -> str:
    """``rds_egress_http_9080``: per backend port, or per egress listener in one-host mode."""
    return f"rds_egress_http_{port}"
