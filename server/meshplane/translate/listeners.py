"""IR -> Listener protos: filter chains with the HTTP connection manager (RDS) or tcp_proxy."""

from __future__ import annotations

from envoy.config.accesslog.v3 import accesslog_pb2
from envoy.config.core.v3 import base_pb2
from envoy.config.core.v3 import config_source_pb2
from envoy.config.listener.v3 import listener_components_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.extensions.access_loggers.file.v3 import file_pb2
from envoy.extensions.filters.http.dynamic_forward_proxy.v3 import dynamic_forward_proxy_pb2
from envoy.extensions.filters.http.health_check.v3 import health_check_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.listener.original_dst.v3 import original_dst_pb2
from envoy.extensions.filters.listener.tls_inspector.v3 import tls_inspector_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm_pb2
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2

from . import ir
from . import tls
from .clusters import dns_cache
from .clusters import set_duration

HCM = hcm_pb2.HttpConnectionManager

_ADS = config_source_pb2.ConfigSource(ads=config_source_pb2.AggregatedConfigSource(), resource_api_version=config_source_pb2.V3)


def _router_filter() -> hcm_pb2.HttpFilter:
    result = hcm_pb2.HttpFilter(name="envoy.filters.http.router")
    result.typed_config.Pack(router_pb2.Router())
    return result


_ROUTER = _router_filter()


def _access_log(log: ir.AccessLog) -> accesslog_pb2.AccessLog:
    config = file_pb2.FileAccessLog(path=log.path)
    if log.text is not None:
        text = log.text if log.text.endswith("\n") else log.text + "\n"
        config.log_format.text_format_source.inline_string = text
    elif log.json is not None:
        fields = config.log_format.json_format.fields
        # A Struct is a map: insert in key order so even non-deterministic serialization is stable.
        for key, value in sorted(log.json):
            fields[key].string_value = value
    result = accesslog_pb2.AccessLog(name="envoy.access_loggers.file")
    result.typed_config.Pack(config)
    return result


def build_connection_manager(chain: ir.HttpChain) -> hcm_pb2.HttpConnectionManager:
    """The HTTP connection manager App Mesh configures: RDS over ADS, normalized paths with
    merged slashes, WebSocket upgrades, an optional file access log, then the router.
    """
    result = HCM(stat_prefix=chain.stat_prefix, codec_type=HCM.AUTO, merge_slashes=True)
    result.rds.route_config_name = chain.route_config
    result.rds.config_source.CopyFrom(_ADS)
    result.normalize_path.value = True
    result.upgrade_configs.add(upgrade_type="websocket")
    if chain.access_log is not None:
        result.access_log.append(_access_log(chain.access_log))
    if chain.health_check_path is not None:
        result.http_filters.append(_health_check_filter(chain.health_check_path))
    if chain.forward_proxy_lookup_family is not None:
        proxy = hcm_pb2.HttpFilter(name="envoy.filters.http.dynamic_forward_proxy")
        proxy.typed_config.Pack(
            dynamic_forward_proxy_pb2.FilterConfig(dns_cache_config=dns_cache(chain.forward_proxy_lookup_family))
        )
        result.http_filters.append(proxy)
    result.http_filters.append(_ROUTER)
    return result


def _health_check_filter(path: str) -> hcm_pb2.HttpFilter:
    """Envoy answers requests for ``path`` itself (not passed to the routes): 200 while serving,
    503 once draining or failed (``/healthcheck/fail``), so a load balancer stops sending first."""
    config = health_check_pb2.HealthCheck()
    config.pass_through_mode.value = False
    header = config.headers.add(name=":path")
    header.string_match.exact = path
    result = hcm_pb2.HttpFilter(name="envoy.filters.http.health_check")
    result.typed_config.Pack(config)
    return result


def build_tcp_proxy(chain: ir.TcpChain) -> tcp_proxy_pb2.TcpProxy:
    """tcp_proxy to one cluster, or weighted clusters (App Mesh TCP routes)."""
    result = tcp_proxy_pb2.TcpProxy(stat_prefix=chain.stat_prefix)
    if len(chain.clusters) == 1:
        result.cluster = chain.clusters[0].cluster
    else:
        for target in chain.clusters:
            result.weighted_clusters.clusters.add(name=target.cluster, weight=target.weight)
    if chain.idle_timeout_ms is not None:
        set_duration(result.idle_timeout, chain.idle_timeout_ms)
    if chain.access_log is not None:
        result.access_log.append(_access_log(chain.access_log))
    return result


def _filter_chains(chain: ir.Chain, name: str) -> list[listener_components_pb2.FilterChain]:
    """One FilterChain, or two for PERMISSIVE TLS (TLS by the tls_inspector's verdict, and plaintext)."""
    network = listener_components_pb2.Filter()
    if isinstance(chain, ir.HttpChain):
        network.name = "envoy.filters.network.http_connection_manager"
        network.typed_config.Pack(build_connection_manager(chain))
    else:
        network.name = "envoy.filters.network.tcp_proxy"
        network.typed_config.Pack(build_tcp_proxy(chain))
    plain = listener_components_pb2.FilterChain(name=name, filters=[network])
    if chain.destination_port is not None:
        plain.filter_chain_match.destination_port.value = chain.destination_port
    if isinstance(chain, ir.TcpChain) and chain.server_names:
        plain.filter_chain_match.server_names.extend(chain.server_names)
    if chain.tls is None:
        return [plain]
    secure = listener_components_pb2.FilterChain()
    secure.CopyFrom(plain)
    secure.transport_socket.name = "envoy.transport_sockets.tls"
    secure.transport_socket.typed_config.Pack(tls.downstream_context(chain.tls))
    if chain.tls.mode == "STRICT":
        return [secure]
    secure.name = name + "_tls"
    secure.filter_chain_match.transport_protocol = "tls"
    return [secure, plain]


def _chain_name(chain: ir.Chain, index: int) -> str:
    kind = "http" if isinstance(chain, ir.HttpChain) else "tcp"
    port = chain.destination_port
    name = f"{kind}_{port}" if port is not None else f"{kind}_{index}"
    if isinstance(chain, ir.TcpChain) and chain.server_names:
        # Beside a tcp backend on the same port: ``tcp_443_amazonaws.com``.
        name += "_" + chain.server_names[0].removeprefix("*.")
    return name


def _tls_inspector(chains: list[ir.Chain]) -> listener_components_pb2.ListenerFilter | None:
    """The tls_inspector listener filter when a chain matches on TLS, else None.

    PERMISSIVE listener TLS (or a server name match without a port) needs it on every
    connection. Server name matches on known destination ports get it on those ports only:
    the inspector waits for the client's first bytes, so a protocol where the server speaks
    first (SMTP, MySQL) would otherwise stall until the listener filter timeout closes it.
    """
    everywhere = False
    ports: list[int] = []
    for chain in chains:
        if chain.tls is not None and chain.tls.mode == "PERMISSIVE":
            everywhere = True
        elif isinstance(chain, ir.TcpChain) and chain.server_names:
            port = chain.destination_port
            if port is None:
                everywhere = True
            elif port not in ports:
                ports.append(port)
    if not everywhere and not ports:
        return None
    result = listener_components_pb2.ListenerFilter(name="envoy.filters.listener.tls_inspector")
    result.typed_config.Pack(tls_inspector_pb2.TlsInspector())
    if not everywhere:
        # Evaluated when the filter's turn comes, after original_dst restored the destination.
        wanted = result.filter_disabled.not_match
        if len(ports) > 1:
            for port in sorted(ports):
                rule = wanted.or_match.rules.add()
                rule.destination_port_range.start = port
                rule.destination_port_range.end = port + 1
        else:
            wanted.destination_port_range.start = ports[0]
            wanted.destination_port_range.end = ports[0] + 1
    return result


def build_listener(listener: ir.Listener) -> listener_pb2.Listener:
    """A Listener proto: address, listener filters, filter chains and default chain."""
    result = listener_pb2.Listener(name=listener.name)
    address = result.address.socket_address
    address.address = listener.address
    address.port_value = listener.port
    if listener.address == "::":
        address.ipv4_compat = True
    result.traffic_direction = base_pb2.INBOUND if listener.inbound else base_pb2.OUTBOUND
    if listener.original_dst:
        original = result.listener_filters.add(name="envoy.filters.listener.original_dst")
        original.typed_config.Pack(original_dst_pb2.OriginalDst())
    chains = list(listener.chains)
    if listener.default_chain is not None:
        chains.append(listener.default_chain)
    inspector = _tls_inspector(chains)
    if inspector is not None:
        result.listener_filters.append(inspector)
    for index, chain in enumerate(listener.chains):
        result.filter_chains.extend(_filter_chains(chain, _chain_name(chain, index)))
    if listener.default_chain is not None:
        default = _filter_chains(listener.default_chain, "default")
        result.default_filter_chain.CopyFrom(default[-1])
    return result
