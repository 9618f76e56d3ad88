"""A virtual node's Envoy: ingress to the local app, egress to its declared backends only.

Two binding modes per direction (docs/translation.md):

* iptables mode (no override; App Mesh's own layout): one listener on 15000 / 15001 with the
  ``original_dst`` listener filter and one filter chain per destination port.
* one-host mode (``LocalOverrides.ingress_port`` / ``egress_port``): no original destination
  exists, so each ingress port gets its own listener (``ingress_port + k``), HTTP egress is one
  listener routed by Host, and each TCP backend port gets its own listener
  (``egress_port + 1 + k``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal
from typing import NamedTuple

from . import ir
from . import matches
from . import names
from . import policies
from . import specs
from .plan import Plan
from .plan import Shared
from .services import ServicePort
from .state import LocalOverrides


def _app_endpoint(overrides: LocalOverrides, preference: str | None) -> tuple[str, int | None]:
    """(host, base port or None) of the local app."""
    address = overrides.app_address
    if address is None:
        return specs.loopback(preference), None
    if address.startswith("["):
        host, _, port = address[1:].partition("]:")
        return host, int(port)
    if address.count(":") == 1:
        host, port = address.split(":")
        return host, int(port)
    return address, None


def plan_node(shared: Shared, name: str, spec: specs.Spec, overrides: LocalOverrides) -> Plan:
    """Everything the Envoy of virtual node ``name`` needs, and nothing it cannot reach."""
    plan = Plan()
    # The node's own facts (listeners, discovery, IP preference) are read once per pass and
    # shared with the clients that reach it.
    node = shared.resolver.node(name)
    preference = node.preference
    address = specs.bind_address(preference)
    log = policies.access_log(spec) if "logging" in spec else None
    if node.listeners:
        _ingress(shared, plan, name, node.listeners, overrides, preference, address, log)
    _egress(shared, plan, name, spec, overrides, address, log)
    return plan


_new_cluster = ir.maker(ir.Cluster)
_new_local_app = ir.maker(ir.LocalAppRouteConfig)


class _IngressShape(NamedTuple):
    """A node's ingress minus its name: shared by every node whose listeners read alike.

    ``ports`` holds, per served listener, (protocol, port, local app cluster with an empty
    name, ingress route configuration name or None for tcp, per-request and idle timeouts).
    """

    ports: tuple[tuple[str, int, ir.Cluster, str | None, int | None, int | None], ...]
    listeners: tuple[ir.Listener, ...]
    # (position among the spec listeners, tcp port or 0, chain). A tcp chain names the node's
    # cluster, so with any tcp listener ``listeners`` is empty and each node builds its own.
    chains: tuple[tuple[int, int, ir.Chain], ...]


# Facts of a listener spec holding nothing but its port mapping (the common case): App Mesh's
# defaults everywhere, so there is nothing to read.
_PLAIN = (None, ir.NO_LIMITS, names.DEFAULT_PER_REQUEST_TIMEOUT_MS, None)
_PLAIN_TCP = (None, ir.NO_LIMITS, None, None)


def _listener_facts(
    node: str, port: int, protocol: str, listener: specs.Spec, diagnostics: list[str]
) -> tuple[ir.DownstreamTls | None | Literal[False], ir.Limits, int | None, int | None]:
    """(TLS, connection limits, per-request timeout, idle timeout) of one node listener; tcp
    listeners have no per-request timeout and their idle timeout is ``timeout.tcp.idle``."""
    if len(listener) == 1:  # specs.listeners() only yields listeners with a port mapping
        return _PLAIN_TCP if protocol == "tcp" else _PLAIN
    tls = policies.listener_tls(listener, f"virtual node {node} listener {port}", diagnostics)
    limits = policies.connection_limits(listener, protocol)
    if protocol == "tcp":
        return tls, limits, None, specs.duration_ms(specs.sub(listener, "timeout", "tcp").get("idle"))
    per_request, idle = matches.timeouts(specs.sub(listener, "timeout", protocol))
    return tls, limits, per_request, idle


def _ingress(
    shared: Shared,
    plan: Plan,
    node: str,
    listeners: tuple[tuple[int, str, specs.Spec], ...],
    overrides: LocalOverrides,
    preference: str | None,
    address: str,
    log: ir.AccessLog | None,
) -> None:
    diagnostics = plan.diagnostics
    if len(listeners) == 1:
        port, protocol, listener = listeners[0]
        facts: tuple[tuple[int, str, ir.DownstreamTls | None | Literal[False], ir.Limits, int | None, int | None], ...] = (
            (port, protocol, *_listener_facts(node, port, protocol, listener, diagnostics)),
        )
    else:
        facts = tuple(
            [(port, protocol, *_listener_facts(node, port, protocol, listener, diagnostics)) for port, protocol, listener in listeners]
        )
    app = _app_endpoint(overrides, preference)
    # Everything but the node's name is decided by these; nodes that read alike share the IR
    # (and so the listener protos the Translator builds from it).
    key = (facts, app, overrides.ingress_port, address, log)
    shape = shared.ingress_shapes.get(key)
    if shape is None:
        shape = shared.ingress_shapes[key] = _ingress_shape(facts, app, overrides.ingress_port, address, log)
    mesh = shared.mesh
    for protocol, port, template, config, per_request, idle in shape.ports:
        name = names.ingress_cluster(mesh, node, protocol, port)
        # The plan has no cluster yet and these names are unique per node (ports are), so
        # Plan.add_cluster's conflict check cannot fire: set the entry directly.
        plan.clusters[name] = _new_cluster((name,) + template[1:])
        if config is not None:
            plan.route_configs.append(_new_local_app((config, name, per_request, idle)))
    if shape.listeners:
        plan.listeners.extend(shape.listeners)
    elif shape.chains:
        chains: list[tuple[int, ir.Chain]] = []
        for index, port, chain in shape.chains:
            if port and type(chain) is ir.TcpChain:  # the tcp placeholder: this node's cluster
                chain = chain._replace(clusters=(ir.WeightedCluster(names.ingress_cluster(mesh, node, "tcp", port), 1),))
            chains.append((index, chain))
        plan.listeners.extend(_ingress_listeners(tuple(chains), overrides.ingress_port, address))


def _ingress_shape(
    facts: tuple[tuple[int, str, ir.DownstreamTls | None | Literal[False], ir.Limits, int | None, int | None], ...],
    app: tuple[str, int | None],
    ingress_port: int | None,
    address: str,
    log: ir.AccessLog | None,
) -> _IngressShape:
    app_host, app_base = app
    iptables = ingress_port is None
    several = len(facts) > 1
    ports: list[tuple[str, int, ir.Cluster, str | None, int | None, int | None]] = []
    chains: list[tuple[int, int, ir.Chain]] = []
    for index, (port, protocol, tls, limits, per_request, idle) in enumerate(facts):
        if tls is False:
            continue
        template = ir.Cluster(
            name="",
            discovery="static",
            host=app_host,
            port=port if app_base is None else app_base + index,
            http2=protocol in ("http2", "grpc"),
            connect_timeout_ms=names.INGRESS_CONNECT_TIMEOUT_MS,
            limits=limits,
        )
        stat = f"{names.STAT_INGRESS}.{protocol}.{port}" if several else names.STAT_INGRESS
        destination = port if iptables else None
        chain: ir.Chain
        if protocol == "tcp":
            ports.append((protocol, port, template, None, None, None))
            # tcp_proxy names the node's cluster: _ingress fills in the placeholder per node.
            chain = ir.TcpChain(
                clusters=(ir.WeightedCluster("", 1),),
                stat_prefix=stat,
                destination_port=destination,
                tls=tls or None,
                access_log=log,
                idle_timeout_ms=idle,
            )
        else:
            config = names.ingress_route_config(protocol, port)
            ports.append((protocol, port, template, config, per_request, idle))
            chain = ir.HttpChain(config, stat, destination_port=destination, tls=tls or None, access_log=log)
        chains.append((index, port if protocol == "tcp" else 0, chain))
    if any(tcp for _, tcp, _ in chains):
        return _IngressShape(tuple(ports), (), tuple(chains))
    listeners = _ingress_listeners(tuple((index, chain) for index, _, chain in chains), ingress_port, address)
    return _IngressShape(tuple(ports), listeners, ())


def _ingress_listeners(
    chains: tuple[tuple[int, ir.Chain], ...], ingress_port: int | None, address: str
) -> tuple[ir.Listener, ...]:
    """iptables: one listener on 15000 with a chain per port; one host: listener k on ingress_port + k."""
    if not chains:
        return ()
    if ingress_port is None:
        port = names.INGRESS_PORT
        return (
            ir.Listener(names.listener_name("ingress", port), address, port, True, tuple(c for _, c in chains), original_dst=True),
        )
    return tuple(
        ir.Listener(names.listener_name("ingress", ingress_port + index), address, ingress_port + index, True, (chain,))
        for index, chain in chains
    )


def _egress(
    shared: Shared,
    plan: Plan,
    node: str,
    spec: specs.Spec,
    overrides: LocalOverrides,
    address: str,
    log: ir.AccessLog | None,
) -> None:
    http_ports: list[ServicePort] = []
    http_hosts: list[ir.VirtualHost] = []
    tcp_ports: list[ServicePort] = []
    backends = shared.node_backends(node, spec)
    if backends:
        where = f"virtual node {node}"
        known = plan.clusters
        for backend in backends:
            if backend.diagnostics:
                plan.diagnostics.extend([f"{where}: {reason}" for reason in backend.diagnostics])
            for port, ok, clusters, diagnostics, host in backend.ports:
                if diagnostics:
                    plan.diagnostics.extend([f"{where}: {reason}" for reason in diagnostics])
                for name, cluster in clusters:
                    seen = known.setdefault(name, cluster)
                    if seen is not cluster and seen != cluster:
                        plan.add_cluster(cluster, where)  # reports the conflict, keeps the first
                if not ok:
                    continue
                if port.protocol == "tcp":
                    tcp_ports.append(port)
                else:
                    http_ports.append(port)
                    http_hosts.append(host)
    if overrides.egress_port is not None:
        family = specs.dns_lookup_family(shared.mesh_preference)
        _egress_one_host(shared, plan, http_ports, tcp_ports, overrides.egress_port, address, log, family)
    else:
        _egress_iptables(shared, plan, node, http_ports, http_hosts, tcp_ports, address, log)


def _tcp_chain(port: ServicePort, destination: int | None, log: ir.AccessLog | None) -> ir.TcpChain:
    return ir.TcpChain(
        clusters=port.tcp_clusters,
        stat_prefix=f"{names.STAT_EGRESS}.tcp.{port.port}",
        destination_port=destination,
        access_log=log,
        idle_timeout_ms=port.tcp_idle_timeout_ms,
    )


def _egress_iptables(
    shared: Shared,
    plan: Plan,
    node: str,
    http_ports: list[ServicePort],
    http_hosts: list[ir.VirtualHost],
    tcp_ports: list[ServicePort],
    address: str,
    log: ir.AccessLog | None,
) -> None:
    """App Mesh's layout: 15001 with original_dst, one chain per backend port.

    ``http_hosts[i]`` is the virtual host (with the bare name) of ``http_ports[i]``.
    """
    allow_all = shared.allow_all_cluster(None) if shared.allow_all else None
    by_port: dict[int, list[ir.VirtualHost]] = {}
    for port, host in zip(http_ports, http_hosts):
        found = by_port.get(port.port)
        if found is None:
            by_port[port.port] = [host]
        else:
            found.append(host)
    numbers = sorted(by_port) if len(by_port) > 1 else list(by_port)
    for number in numbers:
        hosts = by_port[number]
        if allow_all is not None:
            hosts.append(shared.allow_all_host(allow_all))
        plan.route_configs.append(ir.RouteConfig(names.egress_route_config(number), tuple(hosts)))
    aws = _aws_passthrough(shared, plan, log)
    if not tcp_ports:
        if allow_all is not None:
            plan.add_cluster(allow_all, "ALLOW_ALL")
        listener = _http_egress_listener(shared, tuple(numbers), address, log, allow_all, aws)
        if listener is not None:
            plan.listeners.append(listener)
        return
    tcp_chains: list[ir.Chain] = []
    taken: dict[int, str] = {}
    for port in sorted(tcp_ports, key=lambda p: (p.port, p.service)):
        if port.port in by_port or port.port in taken:
            owner = taken.get(port.port, "an HTTP backend")
            plan.diagnostics.append(
                f"virtual node {node}: backend {port.service} tcp port {port.port} is unreachable"
                f" without a destination address: {owner} uses it"
            )
            continue
        if not port.tcp_clusters:
            continue
        taken[port.port] = port.service
        tcp_chains.append(_tcp_chain(port, port.port, log))
    if allow_all is not None:
        plan.add_cluster(allow_all, "ALLOW_ALL")
    listener = _egress_listener(numbers, tcp_chains, address, log, allow_all, aws)
    if listener is not None:
        plan.listeners.append(listener)


def _aws_passthrough(shared: Shared, plan: Plan, log: ir.AccessLog | None) -> ir.TcpChain | None:
    """App Mesh's hidden egress default (`state.Settings.aws_passthrough`): the chain passing TLS
    for ``*.amazonaws.com`` on 443 to its original destination, with its cluster added to
    ``plan``; None when the setting is off. Under ALLOW_ALL too, as App Mesh did."""
    found = shared.aws_passthrough
    if found is None:
        return None
    cluster, chain = found
    plan.add_cluster(cluster, "the amazonaws.com passthrough")
    return chain if log is None else chain._replace(access_log=log)


def _http_egress_listener(
    shared: Shared,
    numbers: tuple[int, ...],
    address: str,
    log: ir.AccessLog | None,
    allow_all: ir.Cluster | None,
    aws: ir.TcpChain | None,
) -> ir.Listener | None:
    """`_egress_listener` without tcp chains, memoized: it depends on the HTTP ports only, so
    every node with the same backend ports shares it (``aws`` is the same for all of a pass)."""
    key = ("iptables", numbers, address, log, allow_all)
    listener = shared.egress_listeners.get(key)
    if listener is None:
        listener = shared.egress_listeners[key] = _egress_listener(numbers, [], address, log, allow_all, aws)
    return listener


def _egress_listener(
    http_numbers: Sequence[int],
    tcp_chains: list[ir.Chain],
    address: str,
    log: ir.AccessLog | None,
    allow_all: ir.Cluster | None,
    aws: ir.TcpChain | None,
) -> ir.Listener | None:
    """The iptables egress listener: an HTTP chain per backend port, then the tcp chains, the
    ``*.amazonaws.com`` chain (``aws``), and with ALLOW_ALL a default chain to the original
    destination; None when it would be empty."""
    chains: list[ir.Chain] = [
        ir.HttpChain(names.egress_route_config(number), names.STAT_EGRESS, destination_port=number, access_log=log)
        for number in http_numbers
    ]
    chains.extend(tcp_chains)
    if aws is not None:
        chains.append(aws)
    default = None
    if allow_all is not None:
        default = ir.TcpChain(((ir.WeightedCluster(allow_all.name, 1)),), f"{names.STAT_EGRESS}.allow_all", access_log=log)
    if not chains and default is None:
        return None
    port = names.EGRESS_PORT
    return ir.Listener(
        names.listener_name("egress", port), address, port, False, tuple(chains), original_dst=True, default_chain=default
    )


def _egress_one_host(
    shared: Shared,
    plan: Plan,
    http_ports: list[ServicePort],
    tcp_ports: list[ServicePort],
    base: int,
    address: str,
    log: ir.AccessLog | None,
    family: str,
) -> None:
    """One HTTP listener routed by Host on ``base``; TCP backends on ``base + 1 + k``."""
    lowest: dict[str, int] = {}
    for port in http_ports:
        lowest[port.service] = min(port.port, lowest.get(port.service, port.port))
    hosts = [shared.virtual_host(port, lowest[port.service] == port.port) for port in http_ports]
    proxy_family = None
    if shared.allow_all:
        cluster = shared.allow_all_cluster(family)
        plan.add_cluster(cluster, "ALLOW_ALL")
        hosts.append(shared.allow_all_host(cluster))
        proxy_family = family
    config = names.egress_route_config(base)
    plan.route_configs.append(ir.RouteConfig(config, tuple(hosts)))
    # The HTTP listener depends on these only: every node with the same override shares it.
    key = ("one-host", base, address, log, proxy_family)
    listener = shared.egress_listeners.get(key)
    if listener is None:
        chain = ir.HttpChain(config, names.STAT_EGRESS, access_log=log, forward_proxy_lookup_family=proxy_family)
        listener = shared.egress_listeners[key] = ir.Listener(names.listener_name("egress", base), address, base, False, (chain,))
    plan.listeners.append(listener)
    ordered = sorted((p for p in tcp_ports if p.tcp_clusters), key=lambda p: (p.service, p.port))
    for index, port in enumerate(ordered):
        number = base + 1 + index
        plan.listeners.append(
            ir.Listener(names.listener_name("egress", number), address, number, False, (_tcp_chain(port, None, log),))
        )
