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

from collections.abc import Mapping

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
    preference = specs.node_ip_preference(spec, shared.state.mesh_spec)
    address = specs.bind_address(preference)
    log = policies.access_log(spec)
    if "aws_cloud_map" in specs.sub(spec, "service_discovery"):
        plan.diagnostics.append(
            f"virtual node {name} uses awsCloudMap service discovery: stored, but clients cannot reach it through meshplane"
        )
    _ingress(shared, plan, name, spec, overrides, preference, address, log)
    _egress(shared, plan, name, spec, overrides, address, log)
    return plan


def _ingress(
    shared: Shared,
    plan: Plan,
    node: str,
    spec: specs.Spec,
    overrides: LocalOverrides,
    preference: str | None,
    address: str,
    log: ir.AccessLog | None,
) -> None:
    listeners = specs.listeners(spec)
    app_host, app_base = _app_endpoint(overrides, preference)
    iptables = overrides.ingress_port is None
    several = len(listeners) > 1
    chains: list[tuple[int, ir.Chain]] = []
    for index, (port, protocol, listener) in enumerate(listeners):
        where = f"virtual node {node} listener {port}"
        tls = policies.listener_tls(listener, where, plan.diagnostics)
        if tls is False:
            continue
        cluster = ir.Cluster(
            name=names.ingress_cluster(shared.mesh, node, protocol, port),
            discovery="static",
            host=app_host,
            port=port if app_base is None else app_base + index,
            http2=protocol in ("http2", "grpc"),
            connect_timeout_ms=names.INGRESS_CONNECT_TIMEOUT_MS,
            limits=policies.connection_limits(listener, protocol),
        )
        plan.add_cluster(cluster, where)
        stat = f"{names.STAT_INGRESS}.{protocol}.{port}" if several else names.STAT_INGRESS
        destination = port if iptables else None
        chain: ir.Chain
        if protocol == "tcp":
            chain = ir.TcpChain(
                clusters=(ir.WeightedCluster(cluster.name, 1),),
                stat_prefix=stat,
                destination_port=destination,
                tls=tls or None,
                access_log=log,
                idle_timeout_ms=specs.duration_ms(specs.sub(listener, "timeout", "tcp").get("idle")),
            )
        else:
            per_request, idle = matches.timeouts(specs.sub(listener, "timeout", protocol))
            route = ir.HttpRoute(
                name="local-app",
                match=ir.ANY,
                clusters=(ir.WeightedCluster(cluster.name, 1),),
                weighted=False,
                timeout_ms=per_request,
                idle_timeout_ms=idle,
            )
            config = names.ingress_route_config(protocol, port)
            plan.route_configs.append(ir.RouteConfig(config, (ir.VirtualHost("local-app", ("*",), (route,)),)))
            chain = ir.HttpChain(config, stat, destination_port=destination, tls=tls or None, access_log=log)
        chains.append((index, chain))
    if not chains:
        return
    if iptables:
        port = names.INGRESS_PORT
        plan.listeners.append(
            ir.Listener(names.listener_name("ingress", port), address, port, True, tuple(c for _, c in chains), original_dst=True)
        )
        return
    base = overrides.ingress_port
    assert base is not None
    for index, chain in chains:
        port = base + index
        plan.listeners.append(ir.Listener(names.listener_name("ingress", port), address, port, True, (chain,)))


def _backends(spec: specs.Spec) -> dict[str, specs.Spec]:
    """Declared backends: service name -> its client policy (per-backend, else the defaults)."""
    defaults = specs.sub(spec, "backend_defaults", "client_policy")
    result: dict[str, specs.Spec] = {}
    for backend in spec.get("backends") or ():
        service = specs.sub(backend, "virtual_service")
        name = service.get("virtual_service_name")
        if isinstance(name, str) and name not in result:
            policy = service.get("client_policy")
            result[name] = policy if isinstance(policy, Mapping) else defaults
    return dict(sorted(result.items()))


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
    tcp_ports: list[ServicePort] = []
    for backend, policy in _backends(spec).items():
        service = shared.resolver.service(backend)
        plan.diagnostics.extend(f"virtual node {node}: {reason}" for reason in service.diagnostics)
        for port in service.ports:
            if not port.targets and not port.routes:
                continue
            if not shared.reach(plan, port, policy, ir.NO_LIMITS, f"virtual node {node}"):
                continue
            (tcp_ports if port.protocol == "tcp" else http_ports).append(port)
    family = specs.dns_lookup_family(shared.mesh_preference)
    if overrides.egress_port is None:
        _egress_iptables(shared, plan, node, http_ports, tcp_ports, address, log)
    else:
        _egress_one_host(shared, plan, http_ports, tcp_ports, overrides.egress_port, address, log, family)


def _allow_all_host(cluster: ir.Cluster) -> ir.VirtualHost:
    route = ir.HttpRoute("mesh-allow-all", ir.ANY, (ir.WeightedCluster(cluster.name, 1),), weighted=False)
    return ir.VirtualHost("mesh-allow-all", ("*",), (route,))


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
    tcp_ports: list[ServicePort],
    address: str,
    log: ir.AccessLog | None,
) -> None:
    """App Mesh's layout: 15001 with original_dst, one chain per backend port."""
    allow_all = shared.allow_all_cluster(None) if shared.allow_all else None
    by_port: dict[int, list[ServicePort]] = {}
    for port in http_ports:
        by_port.setdefault(port.port, []).append(port)
    chains: list[ir.Chain] = []
    for number in sorted(by_port):
        hosts = [shared.virtual_host(port, True) for port in by_port[number]]
        if allow_all is not None:
            hosts.append(_allow_all_host(allow_all))
        config = names.egress_route_config(number)
        plan.route_configs.append(ir.RouteConfig(config, tuple(hosts)))
        chains.append(ir.HttpChain(config, names.STAT_EGRESS, destination_port=number, access_log=log))
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
        chains.append(_tcp_chain(port, port.port, log))
    default = None
    if allow_all is not None:
        plan.add_cluster(allow_all, "ALLOW_ALL")
        default = ir.TcpChain(((ir.WeightedCluster(allow_all.name, 1)),), f"{names.STAT_EGRESS}.allow_all", access_log=log)
    if chains or default is not None:
        port = names.EGRESS_PORT
        plan.listeners.append(
            ir.Listener(
                names.listener_name("egress", port), address, port, False, tuple(chains), original_dst=True, default_chain=default
            )
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
        hosts.append(_allow_all_host(cluster))
        proxy_family = family
    config = names.egress_route_config(base)
    plan.route_configs.append(ir.RouteConfig(config, tuple(hosts)))
    chain = ir.HttpChain(config, names.STAT_EGRESS, access_log=log, forward_proxy_lookup_family=proxy_family)
    plan.listeners.append(ir.Listener(names.listener_name("egress", base), address, base, False, (chain,)))
    ordered = sorted((p for p in tcp_ports if p.tcp_clusters), key=lambda p: (p.service, p.port))
    for index, port in enumerate(ordered):
        number = base + 1 + index
        plan.listeners.append(
            ir.Listener(names.listener_name("egress", number), address, number, False, (_tcp_chain(port, None, log),))
        )
