"""Envoy bootstrap documents for proxies that attach to meshplane over ADS."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from meshplane.config import is_unix, split_listen

#: The static cluster the ADS stream dials (named by ``ads_config.grpc_services``).
XDS_CLUSTER = "meshplane_xds"

#: A dead replica must cost a reconnect little: a host that vanished drops SYNs, and Envoy's
#: default 5 s connect timeout per attempt would stall the move to the next replica.
CONNECT_TIMEOUT = "1s"
#: HTTP/2 PINGs on the xDS connection: a replica whose host vanished (no FIN, no RST) is given up
#: after at most interval * 1.15 (jitter) + timeout = 16.5 s, and the stream moves to another. 10 s
#: is also the least gap meshplane's gRPC server accepts between pings without counting a strike
#: (``grpc.http2.min_recv_ping_interval_without_data_ms``), so no server policy ever objects.
PING_INTERVAL = "10s"
PING_TIMEOUT = "5s"
#: Kernel TCP keepalives as well (idle 10 s, then 3 probes 3 s apart: ~19 s): they also clear a
#: connection the HTTP/2 layer has not written to yet, and refresh NAT/conntrack entries.
TCP_KEEPALIVE = {"keepalive_time": 10, "keepalive_interval": 3, "keepalive_probes": 3}


@dataclass(frozen=True)
class XdsReplicas:
    """Where the xDS cluster dials: TCP replicas in the order given, or one unix socket."""

    addresses: tuple[tuple[str, int], ...] = ()
    unix_path: str | None = None

    @property
    def hosts(self) -> list[str]:
        """The distinct hosts, in order (SNI and the names a server certificate may carry)."""
        return list(dict.fromkeys(host for host, _ in self.addresses))


def parse_xds(xds: str) -> XdsReplicas:
    """Parse ``--xds``: ``HOST:PORT``, a comma-separated list of them (one per replica, in order;
    ``[v6]:PORT`` for IPv6; spaces around entries ignored), or a single ``unix:///absolute/path``.

    :raises ValueError: an entry that is not HOST:PORT, an empty entry, one listed twice, a unix
        socket in a list, or a unix address without an absolute path.
    """
    entries = [entry.strip() for entry in xds.split(",")]
    if any(not entry for entry in entries):
        raise ValueError(f"--xds {xds!r}: empty entry (HOST:PORT,HOST:PORT,...)")
    if any(is_unix(entry) for entry in entries):
        if len(entries) > 1:
            raise ValueError(f"--xds {xds!r}: a unix:// socket cannot be listed with other replicas "
                             "(one local socket, or HOST:PORT replicas)")
        path = entries[0][len("unix://"):]
        if not path.startswith("/"):
            raise ValueError(f"--xds {xds!r}: use unix:///absolute/path")
        return XdsReplicas(unix_path=path)
    addresses = tuple(split_listen(entry) for entry in entries)
    for address in addresses:
        if address[1] == 0:
            raise ValueError(f"--xds {xds!r}: port 0 is not an address to dial")
    if len(set(addresses)) != len(addresses):
        raise ValueError(f"--xds {xds!r}: a replica is listed twice")
    return XdsReplicas(addresses=addresses)


def xds_cluster(replicas: XdsReplicas, tls_ca: str | None = None, client_cert: str | None = None,
                client_key: str | None = None, server_name: str | None = None) -> dict[str, Any]:
    """The static ``meshplane_xds`` cluster: one endpoint per replica, round robin.

    IP literals make a STATIC cluster; any host name a STRICT_DNS one, where each name may resolve
    to several addresses (a headless service: every address becomes a replica; re-resolved every
    5 s, IPv4 preferred). Dead replicas are skipped fast (:data:`CONNECT_TIMEOUT`) and vanished
    ones detected by HTTP/2 PINGs and TCP keepalives. Envoy keeps its last configuration while no
    replica answers. TLS (``tls_ca``) as :func:`envoy_bootstrap` describes.
    """
    h2: dict[str, Any] = {"connection_keepalive": {"interval": PING_INTERVAL, "timeout": PING_TIMEOUT}}
    # STRICT_DNS resolves IP literals too, so a list mixing names and IPs needs no second cluster.
    dns = replicas.unix_path is None and not all(_is_ip(host) for host in replicas.hosts)
    cluster: dict[str, Any] = {
        "name": XDS_CLUSTER,
        "type": "STRICT_DNS" if dns else "STATIC",
        **({"dns_lookup_family": "V4_PREFERRED"} if dns else {}),
        "connect_timeout": CONNECT_TIMEOUT,
        "lb_policy": "ROUND_ROBIN",
        # gRPC needs HTTP/2 to the control plane.
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": h2},
            }
        },
    }
    endpoints: list[dict[str, Any]]
    if replicas.unix_path:
        endpoints = [{"endpoint": {"address": {"pipe": {"path": replicas.unix_path}}}}]
    else:
        endpoints = [{"endpoint": {"address": {"socket_address": {"address": host, "port_value": port}}}}
                     for host, port in replicas.addresses]
        cluster["upstream_connection_options"] = {"tcp_keepalive": dict(TCP_KEEPALIVE)}
    cluster["load_assignment"] = {"cluster_name": XDS_CLUSTER, "endpoints": [{"lb_endpoints": endpoints}]}
    if tls_ca:
        names = [server_name] if server_name else replicas.hosts
        cluster["transport_socket"] = _tls_socket(names, tls_ca, client_cert, client_key)
    return cluster


def envoy_bootstrap(
    node_id: str,
    xds: str = "127.0.0.1:18000",
    admin_port: int = 9901,
    ingress_port: int | None = None,
    egress_port: int | None = None,
    app_address: str | None = None,
    delta: bool = False,
    admin_address: str = "127.0.0.1",
    *,
    tls_ca: str | None = None,
    client_cert: str | None = None,
    client_key: str | None = None,
    server_name: str | None = None,
    credential: str | None = None,
    stats_tags: bool = False,
) -> dict[str, Any]:
    """A complete Envoy bootstrap for ``node_id`` (``mesh/<mesh>/virtualNode/<name>``, a gateway, or an ARN).

    :param xds: meshplane's xDS address: ``HOST:PORT``, several replicas as ``HOST:PORT,HOST:PORT,...``
        (one endpoint each, in order, round robin; see :func:`parse_xds`), or ``unix:///path``.
    :param admin_port: Envoy's admin port on ``admin_address`` (0 picks a free one).
    :param ingress_port / egress_port / app_address: the local overrides, sent as node metadata
        (``meshplane.ingress_port`` ...) so several proxies and apps can share one host without iptables.
    :param delta: use the incremental (delta) ADS protocol instead of state of the world.
    :param tls_ca: PEM CA file: dial xDS over TLS, verifying the server certificate against it and
        its name in its SANs: ``server_name`` if given, else any of the listed xDS hosts (a
        replica's certificate names its own host); SNI is ``server_name`` or the first host.
    :param client_cert / client_key: PEM files of the proxy's client certificate (mutual TLS).
    :param server_name: the name (SNI, and the SAN checked) of the server when it differs from the
        xDS host (for example an IP address dialled, a DNS name certified).
    :param credential: an ``x-meshplane-credential`` value (``auth.xds.bootstrap_token``) sent as
        gRPC initial metadata on every xDS stream.
    :param stats_tags: tag Envoy's stats as App Mesh's agent does with ``ENABLE_ENVOY_STATS_TAGS=1``
        (:func:`appmesh_stats_tags`).
    :raises ValueError: a bad address or list (:func:`parse_xds`), TLS files without ``tls_ca``,
        or TLS to a unix socket.
    """
    replicas = parse_xds(xds)
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
    if (client_cert or client_key or server_name) and not tls_ca:
        raise ValueError("--client-cert, --client-key and --sni need --tls-ca (TLS to xDS)")
    if bool(client_cert) != bool(client_key):
        raise ValueError("--client-cert and --client-key go together")
    if tls_ca and replicas.unix_path:
        raise ValueError("--tls-ca: the xDS unix socket is plaintext (TLS is for HOST:PORT replicas)")
    grpc_service: dict[str, Any] = {"envoy_grpc": {"cluster_name": XDS_CLUSTER, "retry_policy": {
        # Reconnect within 2 s of meshplane coming back (Envoy's default backoff grows to
        # 30 s, so a restart of a few seconds could leave proxies unsynced for half a minute).
        "retry_back_off": {"base_interval": "0.25s", "max_interval": "2s"}}}}
    if credential:
        grpc_service["initial_metadata"] = [{"key": "x-meshplane-credential", "value": credential}]
    doc: dict[str, Any] = {
        "node": node,
        "admin": {"address": {"socket_address": {"address": admin_address, "port_value": admin_port}}},
        "dynamic_resources": {
            "ads_config": {
                "api_type": "DELTA_GRPC" if delta else "GRPC",
                "transport_api_version": "V3",
                "set_node_on_first_message_only": True,
                "grpc_services": [grpc_service],
            },
            "cds_config": ads_source,
            "lds_config": ads_source,
        },
        "static_resources": {
            "clusters": [xds_cluster(replicas, tls_ca, client_cert, client_key, server_name)],
        },
        "layered_runtime": {
            "layers": [{"name": "static", "static_layer": {
                "overload.global_downstream_max_connections": 50000}}]
        },
    }
    if stats_tags:
        doc["stats_config"] = {"stats_tags": appmesh_stats_tags(node_id)}
    return doc


#: The regex tags App Mesh's agent always adds (aws/amazon-ecs-service-connect-agent
#: ``envoy_bootstrap.go``, ``appendPortProtocolStatPrefixTagRegex``): listener protocol and
#: port, and the route configuration, from ``ingress.<protocol>.<port>.`` stat prefixes.
_AGENT_REGEX_TAGS = (
    ("appmesh.listener_protocol", r".*?\.ingress\.((\w+?)\.)[0-9]+?\.(.+?)$"),
    ("appmesh.listener_port", r".*?\.ingress\.\w+?\.(([0-9]+?)\.)(.+?)$"),
    ("envoy_rds_route_config", r".*?\.ingress\.\w+?\.[0-9]+?\.rds\.((.*?)\.)(.+?)$"),
)


def appmesh_stats_tags(node_id: str) -> list[dict[str, str]]:
    """The ``stats_tags`` App Mesh's agent writes with ``ENABLE_ENVOY_STATS_TAGS=1``: fixed tags
    ``appmesh.mesh`` and ``appmesh.virtual_node`` (or ``appmesh.virtual_gateway``) naming the
    proxy, then its regex tags. Dashboards filtering on them keep working.

    :raises ValueError: the node id names no virtual node or gateway.
    """
    from meshplane.auth.arns import parse_node_id

    parsed = parse_node_id(node_id)
    kind = "virtual_gateway" if parsed.kind == "virtualGateway" else "virtual_node"
    # The agent takes the id's mesh part verbatim: a shared mesh's "@<owner>" stays in the tag.
    mesh = parsed.mesh if node_id.startswith("arn:") or parsed.account is None else f"{parsed.mesh}@{parsed.account}"
    tags = [{"tag_name": "appmesh.mesh", "fixed_value": mesh},
            {"tag_name": f"appmesh.{kind}", "fixed_value": parsed.name}]
    return tags + [{"tag_name": name, "regex": regex} for name, regex in _AGENT_REGEX_TAGS]


def appmesh_env(node_id: str, xds: str, region: str, *, access_key_id: str | None = None,
                stats_tags: bool = False) -> dict[str, str]:
    """The environment App Mesh's stock Envoy image needs to attach to meshplane at ``xds``
    (``HOST:PORT`` of the TLS xDS listener, or ``unix:///path``), in a task definition or pod.

    ``APPMESH_RESOURCE_ARN`` (the node id), ``APPMESH_XDS_ENDPOINT``, ``AWS_REGION`` (the image
    refuses a TCP endpoint without one, and signs for it: it must be the server's ``--region``),
    ``ENABLE_ENVOY_STATS_TAGS=1`` when asked, and ``AWS_ACCESS_KEY_ID`` when auth is on (its
    secret goes in ``AWS_SECRET_ACCESS_KEY`` from a secret store, never printed here).

    :raises ValueError: a node id that names no virtual node or gateway, or several xDS replicas
        (the image dials exactly one endpoint: put them behind one DNS name).
    """
    from meshplane.auth.arns import parse_node_id

    parse_node_id(node_id)
    if "," in xds:
        raise ValueError(f"--appmesh-env: APPMESH_XDS_ENDPOINT takes one endpoint, not {xds!r}; "
                         "give one DNS name that resolves to every replica (docs/operations.md)")
    env = {"APPMESH_RESOURCE_ARN": node_id, "APPMESH_XDS_ENDPOINT": xds, "AWS_REGION": region}
    if stats_tags:
        env["ENABLE_ENVOY_STATS_TAGS"] = "1"
    if access_key_id:
        env["AWS_ACCESS_KEY_ID"] = access_key_id
    return env


def _tls_socket(names: list[str], ca: str, cert: str | None, key: str | None) -> dict[str, Any]:
    """Envoy's upstream TLS for the xDS cluster: verify the server's chain against ``ca`` and one
    of ``names`` in its SANs (Envoy checks no name unless told), offer h2, present a client
    certificate. SNI is the first name (one cluster has one SNI), unless it is an IP address."""
    server_name = names[0]
    common: dict[str, Any] = {
        "alpn_protocols": ["h2"],
        "validation_context": {
            "trusted_ca": {"filename": ca},
            "match_typed_subject_alt_names": [{
                "san_type": "IP_ADDRESS" if _is_ip(name) else "DNS",
                "matcher": {"exact": name},
            } for name in names],
        },
    }
    if cert and key:
        common["tls_certificates"] = [{"certificate_chain": {"filename": cert},
                                       "private_key": {"filename": key}}]
    context: dict[str, Any] = {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
        "common_tls_context": common,
    }
    if not _is_ip(server_name):
        context["sni"] = server_name
    return {"name": "envoy.transport_sockets.tls", "typed_config": context}


def _is_ip(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
