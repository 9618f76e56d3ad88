"""A virtual gateway's Envoy: its listeners, gateway routes folded over the target services'
routes (see `compose`), and the clusters those routes reach."""

from __future__ import annotations

import re

from . import ir
from . import matches
from . import names
from . import policies
from . import specs
from .compose import GatewayRoute
from .compose import compose
from .plan import Plan
from .plan import Shared
from .state import LocalOverrides

_KINDS = ("http_route", "http2_route", "grpc_route")


def _hostname(match: specs.Spec) -> list[ir.HeaderMatch]:
    """``match.hostname`` as an ``:authority`` condition (case-insensitive, any port)."""
    hostname = specs.sub(match, "hostname")
    port = "(?::[0-9]+)?"
    if isinstance(hostname.get("exact"), str):
        return [ir.HeaderMatch(":authority", "regex", "(?i)" + re.escape(hostname["exact"]) + port)]
    if isinstance(hostname.get("suffix"), str):
        return [ir.HeaderMatch(":authority", "regex", "(?i).*" + re.escape(hostname["suffix"]) + port)]
    return []


def parse_gateway_route(gateway: str, name: str, spec: specs.Spec) -> tuple[str, GatewayRoute] | str:
    """(route kind, GatewayRoute with App Mesh's rewrite defaults), or a reason it is unusable."""
    found = specs.single_member(spec, _KINDS)
    if found is None:
        return f"gateway route {gateway}/{name} has no httpRoute, http2Route or grpcRoute"
    kind, body = found
    match = specs.sub(body, "match")
    action = specs.sub(body, "action")
    target = specs.sub(action, "target")
    service = specs.sub(target, "virtual_service").get("virtual_service_name")
    if not isinstance(service, str):
        return f"gateway route {gateway}/{name} has no target virtual service"
    target_port = target.get("port") if isinstance(target.get("port"), int) else None
    rewrite = specs.sub(action, "rewrite")
    host = None if specs.sub(rewrite, "hostname").get("default_target_hostname") == "DISABLED" else service
    label = f"{gateway}/{name}"
    if kind == "grpc_route":
        route_match = ir.HttpMatch(
            matches.grpc_path(match.get("service_name"), None),
            tuple(_hostname(match)) + matches.grpc_match(match).headers,
        )
        return kind, GatewayRoute(label, route_match, service, target_port, host=host)
    base = matches.http_match(match)
    route_match = ir.HttpMatch(base.path, tuple(_hostname(match)) + base.headers, base.query)
    path_rewrite, value = "keep", ""
    exact = specs.sub(rewrite, "path").get("exact")
    prefix = specs.sub(rewrite, "prefix")
    if isinstance(exact, str):
        path_rewrite, value = "exact", exact
    elif base.path.kind == "prefix" and isinstance(prefix.get("value"), str):
        path_rewrite, value = "prefix", prefix["value"]
    elif base.path.kind == "prefix" and base.path.value != "/" and prefix.get("default_prefix") != "DISABLED":
        path_rewrite = "strip"
    route = GatewayRoute(label, route_match, service, target_port, path_rewrite, value, host)  # type: ignore[arg-type]
    return kind, route


def _gateway_limits(listeners: tuple[tuple[int, str, specs.Spec], ...]) -> ir.Limits:
    """The gateway's connection pool, applied to the clusters it sends to (first listener with one)."""
    for _port, protocol, listener in listeners:
        limits = policies.connection_limits(listener, protocol)
        if limits is not ir.NO_LIMITS:
            return limits
    return ir.NO_LIMITS


def plan_gateway(shared: Shared, name: str, spec: specs.Spec, overrides: LocalOverrides) -> Plan:
    """Everything the Envoy of virtual gateway ``name`` needs."""
    plan = Plan()
    state = shared.state
    address = specs.bind_address(shared.mesh_preference)
    log = policies.access_log(spec)
    policy = specs.sub(spec, "backend_defaults", "client_policy")
    listeners = specs.listeners(spec)
    limits = _gateway_limits(listeners)
    ordered: list[tuple[tuple[int, tuple[int, int, int, int], str], str, GatewayRoute, int | None]] = []
    for route_name, route_spec in state.gateway_routes.get(name, {}).items():
        parsed = parse_gateway_route(name, route_name, route_spec)
        if isinstance(parsed, str):
            plan.diagnostics.append(parsed)
            continue
        kind, route = parsed
        key = (specs.route_priority(route_spec), matches.default_order(route.match), route_name)
        port = specs.sub(specs.sub(route_spec, kind), "match").get("port")
        ordered.append((key, kind, route, port if isinstance(port, int) else None))
    ordered.sort(key=lambda item: item[0])
    ports = {port for port, _, _ in listeners}
    for _key, _kind, route, wanted in ordered:
        if wanted is not None and wanted not in ports:
            plan.diagnostics.append(f"gateway route {route.name} matches port {wanted}, which no listener has")
    several = len(listeners) > 1
    for index, (port, protocol, listener) in enumerate(listeners):
        where = f"virtual gateway {name} listener {port}"
        tls = policies.listener_tls(listener, where, plan.diagnostics)
        if tls is False:
            continue
        port_kind = specs.ROUTE_KEY_BY_PROTOCOL.get(protocol)
        routes: list[ir.HttpRoute] = []
        for _key, route_kind, route, wanted in ordered:
            if route_kind == port_kind and wanted in (None, port):
                routes.extend(_routes_for(shared, plan, route, policy, limits))
        config = names.ingress_route_config(protocol, port)
        plan.route_configs.append(ir.RouteConfig(config, (ir.VirtualHost("gateway", ("*",), tuple(routes)),)))
        stat = f"{names.STAT_INGRESS}.{protocol}.{port}" if several else names.STAT_INGRESS
        chain = ir.HttpChain(config, stat, tls=tls or None, access_log=log,
                             health_check_path=_health_check_path(listener, port, where, plan.diagnostics))
        bind = port if overrides.ingress_port is None else overrides.ingress_port + index
        plan.listeners.append(ir.Listener(names.listener_name("ingress", bind), address, bind, True, (chain,)))
    return plan


def _health_check_path(listener: specs.Spec, port: int, where: str, diagnostics: list[str]) -> str | None:
    """The path the gateway answers itself for the listener's ``healthCheck`` (http and http2,
    on the listener's own port), or None; anything else it cannot answer gets a diagnostic."""
    check = specs.sub(listener, "health_check")
    if not check:
        return None
    path, wanted = check.get("path"), check.get("port")
    if check.get("protocol") not in ("http", "http2") or not isinstance(path, str) or not path:
        diagnostics.append(f"{where}: only http and http2 health checks with a path are answered")
        return None
    if isinstance(wanted, int) and wanted != port:
        diagnostics.append(f"{where}: health check port {wanted} is not the listener's: not answered")
        return None
    return path


def _routes_for(
    shared: Shared, plan: Plan, route: GatewayRoute, policy: specs.Spec, limits: ir.Limits
) -> list[ir.HttpRoute]:
    service = shared.resolver.service(route.service)
    plan.diagnostics.extend(f"gateway route {route.name}: {reason}" for reason in service.diagnostics)
    port = service.port(route.port)
    unavailable = [ir.HttpRoute(f"{route.name} ({route.service} unavailable)", route.match, direct_status=503)]
    if port is None:
        if service.exists and service.ports:
            plan.diagnostics.append(f"gateway route {route.name}: virtual service {route.service} has no port {route.port}")
        return unavailable
    if port.protocol == "tcp":
        plan.diagnostics.append(f"gateway route {route.name}: virtual service {route.service} port {port.port} is tcp")
        return unavailable
    if not shared.reach(plan, port, policy, limits, f"gateway route {route.name}"):
        return unavailable
    return compose(route, port.routes, plan.diagnostics)
