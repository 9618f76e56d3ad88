"""Envoy bootstrap documents for proxies that attach to meshplane over ADS."""

from __future__ import annotations

from typing import Any

from meshplane.config import split_listen


def envoy_bootstrap(
    node_id: str,
    xds: str = "127.0.0.1:18000",
    admin_port: int = 9901,
    ingress_port: int | None = None,
    egress_port: int | None = None,
    app_address: str | None = None,
    delta: bool = False,
    admin_address: str = "127.0.0.1",
) -> dict[str, Any]:
    """A complete Envoy bootstrap for ``node_id`` (``mesh/<mesh>/virtualNode/<name>``, a gateway, or an ARN).

    :param xds: meshplane's xDS HOST:PORT.
    :param admin_port: Envoy's admin port on ``admin_address`` (0 picks a free one).
    :param ingress_port / egress_port / app_address: the local overrides, sent as node metadata
        (``meshplane.ingress_port`` ...) so several proxies and apps can share one host without iptables.
    :param delta: use the incremental (delta) ADS protocol instead of state of the world.
    """
    host, port = split_listen(xds)
    metadata: dict[str, Any] = {}
    if ingress_port is not None:
        metadata["meshplane.ingress_port"] = ingress_port
    if egress_port is not None:
        metadata["meshplane.egress_port"] = egress_port
    if app_address is not None:
        metadata["meshplane.app_address"] = app_address
    parts = node_id.split("/")
    node: dict[str, Any] = {"id": node_id, "cluster": parts[3] if len(parts) >= 4 else node_id}
    if metadata:
        node["metadata"] = metadata
    ads_source = {"ads": {}, "resource_api_version": "V3"}
    return {
        "node": node,
        "admin": {"address": {"socket_address": {"address": admin_address, "port_value": admin_port}}},
        "dynamic_resources": {
            "ads_config": {
                "api_type": "DELTA_GRPC" if delta else "GRPC",
                "transport_api_version": "V3",
                "set_node_on_first_message_only": True,
                # Reconnect within 2 s of meshplane coming back (Envoy's default backoff grows to
                # 30 s, so a restart of a few seconds could leave proxies unsynced for half a minute).
                "grpc_services": [{"envoy_grpc": {"cluster_name": "meshplane_xds", "retry_policy": {
                    "retry_back_off": {"base_interval": "0.25s", "max_interval": "2s"}}}}],
            },
            "cds_config": ads_source,
            "lds_config": ads_source,
        },
        "static_resources": {
            "clusters": [
                {
                    "name": "meshplane_xds",
                    "type": "STRICT_DNS" if not _is_ip(host) else "STATIC",
                    "connect_timeout": "1s",
                    # gRPC needs HTTP/2 to the control plane.
                    "typed_extension_protocol_options": {
                        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                            "explicit_http_config": {"http2_protocol_options": {
                                "connection_keepalive": {"interval": "30s", "timeout": "5s"},
                            }},
                        }
                    },
                    "load_assignment": {
                        "cluster_name": "meshplane_xds",
                        "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {
                            "socket_address": {"address": host, "port_value": port}}}}]}],
                    },
                }
            ]
        },
        "layered_runtime": {
            "layers": [{"name": "static", "static_layer": {
                "overload.global_downstream_max_connections": 50000}}]
        },
    }


def _is_ip(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
