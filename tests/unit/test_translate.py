"""translate/: App Mesh state -> per-proxy Envoy resources (whole-value unit tests + golden files)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml
from google.protobuf.json_format import MessageToDict

from meshplane.translate import CLUSTER_TYPE
from meshplane.translate import ENDPOINT_TYPE
from meshplane.translate import LISTENER_TYPE
from meshplane.translate import ROUTE_TYPE
from meshplane.translate import InconsistentConfigError
from meshplane.translate import LocalOverrides
from meshplane.translate import MeshState
from meshplane.translate import ProxyConfig
from meshplane.translate import ProxyRef
from meshplane.translate import Settings
from meshplane.translate import Translator
from meshplane.translate import build_all
from meshplane.translate import build_proxy_config
from meshplane.translate import check_consistent
from meshplane.translate import proxy_dependencies
from meshplane.translate import revision_keys
from meshplane.translate import ir
from meshplane.translate.compose import GatewayRoute
from meshplane.translate.compose import combine_paths

NS = "prod.svc.cluster.local"
JAZZ = f"jazz.{NS}"
METAL = f"metal.{NS}"
DJ = ProxyRef("dj-app", "virtualNode", "dj")
ONE_HOST = LocalOverrides(ingress_port=20000, egress_port=20001)
DEFAULT_RETRY = {
    "num_retries": 2,
    "retriable_status_codes": [503],
    "retry_on": "connect-failure,refused-stream,reset,retriable-status-codes,unavailable",
}


def http_listener(port: int = 9080, **extra: Any) -> dict[str, Any]:
    return {"port_mapping": {"port": port, "protocol": "http"}, **extra}


def node(hostname: str, *backends: str, port: int = 9080, **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"listeners": [http_listener(port)], "service_discovery": {"dns": {"hostname": hostname}}}
    if backends:
        spec["backends"] = [{"virtual_service": {"virtual_service_name": name}} for name in backends]
    spec.update(extra)
    return spec


def route(*targets: tuple[str, int], match: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    action = {"weighted_targets": [{"virtual_node": name, "weight": weight} for name, weight in targets]}
    return {"http_route": {"match": match or {"prefix": "/"}, "action": action, **extra}}


def dj_state(mesh_spec: dict[str, Any] | None = None, jazz_route: dict[str, Any] | None = None) -> dict[str, Any]:
    """The DJ canary: dj -> jazz (router, 90/10) and metal (router, 50/50)."""
    return {
        "mesh_name": "dj-app",
        "mesh_spec": mesh_spec or {},
        "virtual_nodes": {
            "dj": node(f"dj.{NS}", JAZZ, METAL),
            "jazz-v1": node(f"jazz-v1.{NS}"),
            "jazz-v2": node(f"jazz-v2.{NS}"),
            "metal-v1": node(f"metal-v1.{NS}"),
            "metal-v2": node(f"metal-v2.{NS}"),
        },
        "virtual_services": {
            JAZZ: {"provider": {"virtual_router": {"virtual_router_name": "jazz-router"}}},
            METAL: {"provider": {"virtual_router": {"virtual_router_name": "metal-router"}}},
        },
        "virtual_routers": {"jazz-router": {"listeners": [http_listener()]}, "metal-router": {"listeners": [http_listener()]}},
        "routes": {
            "jazz-router": {"jazz-route": jazz_route or route(("jazz-v1", 90), ("jazz-v2", 10))},
            "metal-router": {"metal-route": route(("metal-v1", 50), ("metal-v2", 50))},
        },
    }


def build(data: dict[str, Any], proxy: ProxyRef = DJ, overrides: LocalOverrides = LocalOverrides()) -> ProxyConfig:
    config = build_proxy_config(MeshState.from_dict(data), proxy, overrides)
    check_consistent(config)
    return config


def as_dict(message: Any) -> dict[str, Any]:
    return json.loads(json.dumps(MessageToDict(message, preserving_proto_field_name=True)))


def virtual_host(config: ProxyConfig, route_config: str, name: str) -> dict[str, Any]:
    hosts = as_dict(config.route_configs[route_config])["virtual_hosts"]
    return next(host for host in hosts if host["name"] == name)


def network_filter(config: ProxyConfig, listener: str, index: int = 0) -> dict[str, Any]:
    chain = as_dict(config.listeners[listener])["filter_chains"][index]
    return chain["filters"][0]["typed_config"]


# --- identity and overrides


def test_proxy_ref_parses_node_ids_and_resource_arns() -> None:
    assert ProxyRef.parse("mesh/dj-app/virtualNode/dj") == ProxyRef("dj-app", "virtualNode", "dj")
    assert ProxyRef.parse("mesh/ColorApp/virtualGateway/gw") == ProxyRef("ColorApp", "virtualGateway", "gw")
    assert ProxyRef.parse("arn:aws:appmesh:us-west-2:111122223333:mesh/apps/virtualNode/serviceB") == ProxyRef(
        "apps", "virtualNode", "serviceB"
    )
    assert ProxyRef("apps", "virtualNode", "serviceB").node_id == "mesh/apps/virtualNode/serviceB"


@pytest.mark.parametrize(
    "node_id",
    ["", "dj", "mesh/dj-app/virtualNode", "mesh/dj-app/virtualRouter/r", "mesh//virtualNode/dj", "mesh/m/virtualNode/", "xmesh/m/virtualNode/n"],
)
def test_proxy_ref_rejects_ids_that_name_no_node_or_gateway(node_id: str) -> None:
    assert ProxyRef.parse(node_id) is None


def test_local_overrides_read_numbers_and_strings_and_ignore_junk() -> None:
    assert LocalOverrides.from_metadata(
        {"meshplane.ingress_port": 20000.0, "meshplane.egress_port": " 20001 ", "meshplane.app_address": "127.0.0.1:18080"}
    ) == LocalOverrides(20000, 20001, "127.0.0.1:18080")
    assert LocalOverrides.from_metadata({"meshplane": {"ingress_port": "15000", "app_address": "::1"}}) == LocalOverrides(
        15000, None, "::1"
    )
    junk = {"meshplane.ingress_port": True, "meshplane.egress_port": 70000, "meshplane.app_address": "localhost"}
    assert LocalOverrides.from_metadata(junk) == LocalOverrides()
    assert LocalOverrides.from_metadata({"meshplane.ingress_port": 1.5, "meshplane.app_address": "[::1]:x"}) == LocalOverrides()
    assert LocalOverrides.from_metadata(None) == LocalOverrides()


# --- routes


def test_route_with_two_weighted_targets_builds_weighted_clusters() -> None:
    config = build(dj_state())
    assert virtual_host(config, "rds_egress_http_9080", f"{JAZZ}:9080") == {
        "name": f"{JAZZ}:9080",
        "domains": [f"{JAZZ}:9080", JAZZ],
        "routes": [
            {
                "name": "jazz-router/jazz-route",
                "match": {"prefix": "/"},
                "route": {
                    "weighted_clusters": {
                        "clusters": [
                            {"name": "cds_egress_dj-app_jazz-v1_http_9080", "weight": 90},
                            {"name": "cds_egress_dj-app_jazz-v2_http_9080", "weight": 10},
                        ]
                    },
                    "timeout": "15s",
                    "retry_policy": DEFAULT_RETRY,
                },
            }
        ],
    }


def test_user_retry_policy_maps_app_mesh_events_to_envoy_conditions() -> None:
    retry = {
        "max_retries": 4,
        "per_retry_timeout": {"value": 250, "unit": "ms"},
        "http_retry_events": ["server-error", "gateway-error", "client-error", "stream-error", "bogus"],
        "tcp_retry_events": ["connection-error"],
    }
    config = build(dj_state(jazz_route=route(("jazz-v1", 1), retry_policy=retry)))
    action = virtual_host(config, "rds_egress_http_9080", f"{JAZZ}:9080")["routes"][0]["route"]
    assert action["retry_policy"] == {
        "retry_on": "5xx,connect-failure,gateway-error,refused-stream,retriable-status-codes",
        "num_retries": 4,
        "per_try_timeout": "0.250s",
        "retriable_status_codes": [409],
    }
    assert "virtual node dj: route jazz-router/jazz-route: unknown httpRetryEvent 'bogus' ignored" in config.diagnostics


def test_route_timeouts_default_to_15_seconds_per_request_and_no_idle_timeout() -> None:
    timeout = {"per_request": {"value": 60, "unit": "s"}, "idle": {"value": 1500, "unit": "ms"}}
    custom = build(dj_state(jazz_route=route(("jazz-v1", 1), timeout=timeout)))
    assert virtual_host(custom, "rds_egress_http_9080", f"{JAZZ}:9080")["routes"][0]["route"]["timeout"] == "60s"
    assert virtual_host(custom, "rds_egress_http_9080", f"{JAZZ}:9080")["routes"][0]["route"]["idle_timeout"] == "1.500s"
    default = virtual_host(build(dj_state()), "rds_egress_http_9080", f"{METAL}:9080")["routes"][0]["route"]
    assert (default["timeout"], "idle_timeout" in default) == ("15s", False)
    disabled = build(dj_state(jazz_route=route(("jazz-v1", 1), timeout={"per_request": {"value": 0, "unit": "s"}})))
    assert virtual_host(disabled, "rds_egress_http_9080", f"{JAZZ}:9080")["routes"][0]["route"]["timeout"] == "0s"


def test_header_matches_cover_every_kind_with_invert_and_method_query_scheme() -> None:
    match = {
        "prefix": "/api",
        "method": "GET",
        "scheme": "https",
        "headers": [
            {"name": "x-exact", "match": {"exact": "a"}},
            {"name": "x-prefix", "match": {"prefix": "b"}, "invert": True},
            {"name": "x-suffix", "match": {"suffix": "c"}},
            {"name": "x-regex", "match": {"regex": "d+"}},
            {"name": "x-range", "match": {"range": {"start": 1, "end": 10}}, "invert": True},
            {"name": "x-present"},
        ],
        "query_parameters": [{"name": "v", "match": {"exact": "2"}}, {"name": "debug"}],
    }
    config = build(dj_state(jazz_route=route(("jazz-v1", 1), match=match)))
    assert virtual_host(config, "rds_egress_http_9080", f"{JAZZ}:9080")["routes"][0]["match"] == {
        "prefix": "/api",
        "headers": [
            {"name": "x-exact", "string_match": {"exact": "a"}},
            {"name": "x-prefix", "string_match": {"prefix": "b"}, "invert_match": True},
            {"name": "x-suffix", "string_match": {"suffix": "c"}},
            {"name": "x-regex", "string_match": {"safe_regex": {"regex": "d+"}}},
            {"name": "x-range", "range_match": {"start": "1", "end": "10"}, "invert_match": True},
            {"name": "x-present", "present_match": True},
            {"name": ":method", "string_match": {"exact": "GET"}},
            {"name": ":scheme", "string_match": {"exact": "https"}},
        ],
        "query_parameters": [{"name": "v", "string_match": {"exact": "2"}}, {"name": "debug", "present_match": True}],
    }


def test_routes_are_ordered_by_priority_then_most_specific_match() -> None:
    data = dj_state()
    data["routes"]["jazz-router"] = {
        "a-catch-all": route(("jazz-v1", 1)),
        "b-regex": route(("jazz-v1", 1), match={"path": {"regex": "/items/[0-9]+"}}),
        "c-short": route(("jazz-v1", 1), match={"prefix": "/a"}),
        "d-long": route(("jazz-v1", 1), match={"prefix": "/a/b/c"}),
        "e-exact": route(("jazz-v1", 1), match={"path": {"exact": "/x"}}),
        "f-urgent": {**route(("jazz-v2", 1), match={"prefix": "/"}), "priority": 0},
        "g-later": {**route(("jazz-v2", 1), match={"prefix": "/later"}), "priority": 5},
    }
    hosts = virtual_host(build(data), "rds_egress_http_9080", f"{JAZZ}:9080")
    assert [r["name"].split("/")[1] for r in hosts["routes"]] == [
        "f-urgent",
        "g-later",
        "e-exact",
        "b-regex",
        "d-long",
        "c-short",
        "a-catch-all",
    ]


def test_grpc_route_matches_service_and_method_as_the_path() -> None:
    data = dj_state()
    data["virtual_nodes"]["jazz-v1"]["listeners"] = [{"port_mapping": {"port": 9080, "protocol": "grpc"}}]
    data["virtual_routers"]["jazz-router"]["listeners"] = [{"port_mapping": {"port": 9080, "protocol": "grpc"}}]
    grpc = {
        "match": {"service_name": "jazz.Records", "method_name": "List", "metadata": [{"name": "tenant", "match": {"exact": "a"}}]},
        "action": {"weighted_targets": [{"virtual_node": "jazz-v1", "weight": 1}]},
        "retry_policy": {"max_retries": 1, "per_retry_timeout": {"value": 1, "unit": "s"}, "grpc_retry_events": ["unavailable"]},
    }
    data["routes"]["jazz-router"] = {"grpc": {"grpc_route": grpc}}
    config = build(data)
    first = virtual_host(config, "rds_egress_http_9080", f"{JAZZ}:9080")["routes"][0]
    assert first["match"] == {"path": "/jazz.Records/List", "headers": [{"name": "tenant", "string_match": {"exact": "a"}}]}
    assert first["route"]["retry_policy"] == {"retry_on": "unavailable", "num_retries": 1, "per_try_timeout": "1s"}
    cluster = as_dict(config.clusters["cds_egress_dj-app_jazz-v1_grpc_9080"])
    assert cluster["typed_extension_protocol_options"]["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"][
        "explicit_http_config"
    ] == {"http2_protocol_options": {}}


def test_route_whose_targets_cannot_be_served_answers_503_and_says_why() -> None:
    config = build(dj_state(jazz_route=route(("jazz-v9", 1), ("jazz-v1", 0))))
    assert virtual_host(config, "rds_egress_http_9080", f"{JAZZ}:9080")["routes"] == [
        {"name": "jazz-router/jazz-route", "match": {"prefix": "/"}, "direct_response": {"status": 503}}
    ]
    assert config.diagnostics == (
        "virtual node dj: route jazz-router/jazz-route: target virtual node jazz-v9 does not exist",
        "virtual node dj: route jazz-router/jazz-route: every target has weight 0",
    )


def test_service_provided_by_a_node_routes_straight_to_it_with_its_listener_timeout() -> None:
    data = dj_state()
    data["virtual_services"][JAZZ] = {"provider": {"virtual_node": {"virtual_node_name": "jazz-v1"}}}
    data["virtual_nodes"]["jazz-v1"]["listeners"][0]["timeout"] = {"http": {"per_request": {"value": 20, "unit": "s"}}}
    host = virtual_host(build(data), "rds_egress_http_9080", f"{JAZZ}:9080")
    assert host["routes"] == [
        {
            "name": f"{JAZZ}:9080",
            "match": {"prefix": "/"},
            "route": {"cluster": "cds_egress_dj-app_jazz-v1_http_9080", "timeout": "20s", "retry_policy": DEFAULT_RETRY},
        }
    ]


# --- egress filter and reachability


def test_drop_all_reaches_declared_backends_only_and_unknown_hosts_get_404() -> None:
    config = build(dj_state())
    assert sorted(config.clusters) == [
        "cds_egress_dj-app_amazonaws",
        "cds_egress_dj-app_jazz-v1_http_9080",
        "cds_egress_dj-app_jazz-v2_http_9080",
        "cds_egress_dj-app_metal-v1_http_9080",
        "cds_egress_dj-app_metal-v2_http_9080",
        "cds_ingress_dj-app_dj_http_9080",
    ]
    hosts = as_dict(config.route_configs["rds_egress_http_9080"])["virtual_hosts"]
    # No "*" virtual host: Envoy's router answers 404 for any other Host.
    assert [host["domains"] for host in hosts] == [[f"{JAZZ}:9080", JAZZ], [f"{METAL}:9080", METAL]]
    assert "default_filter_chain" not in as_dict(config.listeners["lds_egress_0.0.0.0_15001"])


def test_allow_all_passes_other_traffic_to_its_original_destination_with_iptables() -> None:
    config = build(dj_state({"egress_filter": {"type": "ALLOW_ALL"}}))
    egress = as_dict(config.listeners["lds_egress_0.0.0.0_15001"])
    assert egress["default_filter_chain"]["filters"][0]["typed_config"] == {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
        "stat_prefix": "egress.allow_all",
        "cluster": "cds_egress_dj-app_mesh-allow-all",
    }
    assert as_dict(config.clusters["cds_egress_dj-app_mesh-allow-all"])["type"] == "ORIGINAL_DST"
    assert virtual_host(config, "rds_egress_http_9080", "mesh-allow-all")["domains"] == ["*"]


AWS_CHAIN = {
    "name": "tcp_443_amazonaws.com",
    "filter_chain_match": {"destination_port": 443, "server_names": ["*.amazonaws.com"]},
    "filters": [
        {
            "name": "envoy.filters.network.tcp_proxy",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                "stat_prefix": "egress.amazonaws",
                "cluster": "cds_egress_dj-app_amazonaws",
            },
        }
    ],
}


def test_drop_all_still_passes_tls_for_amazonaws_on_443_to_its_original_destination() -> None:
    """App Mesh's hidden egress default: the SNI chain, an ORIGINAL_DST cluster, and the TLS
    inspector for destination port 443 only (other connections are not held up by it)."""
    config = build(dj_state())
    egress = as_dict(config.listeners["lds_egress_0.0.0.0_15001"])
    assert [chain["name"] for chain in egress["filter_chains"]] == ["http_9080", "tcp_443_amazonaws.com"]
    assert egress["filter_chains"][-1] == AWS_CHAIN
    assert egress["listener_filters"][1:] == [
        {
            "name": "envoy.filters.listener.tls_inspector",
            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"},
            "filter_disabled": {"not_match": {"destination_port_range": {"start": 443, "end": 444}}},
        }
    ]
    cluster = as_dict(config.clusters["cds_egress_dj-app_amazonaws"])
    assert (cluster["type"], cluster["lb_policy"], cluster["connect_timeout"]) == ("ORIGINAL_DST", "CLUSTER_PROVIDED", "1s")
    # ALLOW_ALL keeps the named chain (as App Mesh did) beside its catch-all.
    allow_all = as_dict(build(dj_state({"egress_filter": {"type": "ALLOW_ALL"}})).listeners["lds_egress_0.0.0.0_15001"])
    assert allow_all["filter_chains"][-1] == AWS_CHAIN and "default_filter_chain" in allow_all


def test_no_aws_passthrough_leaves_the_amazonaws_chain_and_its_inspector_out() -> None:
    state = MeshState.from_dict(dj_state())
    off = Settings(aws_passthrough=False)
    config = build_proxy_config(state, DJ, settings=off)
    check_consistent(config)
    egress = as_dict(config.listeners["lds_egress_0.0.0.0_15001"])
    assert [chain["name"] for chain in egress["filter_chains"]] == ["http_9080"]
    assert [f["name"] for f in egress["listener_filters"]] == ["envoy.filters.listener.original_dst"]
    assert "cds_egress_dj-app_amazonaws" not in config.clusters
    # A node without backends has nothing to send out: no egress listener at all.
    jazz = ProxyRef("dj-app", "virtualNode", "jazz-v1")
    assert sorted(build_all(state, [jazz], off)[jazz].listeners) == ["lds_ingress_0.0.0.0_15000"]
    assert Translator(state, settings=off).build(DJ) == config


def test_amazonaws_chain_carries_the_access_log_and_stays_out_of_one_host_layouts() -> None:
    data = dj_state()
    data["virtual_nodes"]["dj"]["logging"] = {"access_log": {"file": {"path": "/dev/stdout"}}}
    chains = as_dict(build(data).listeners["lds_egress_0.0.0.0_15001"])["filter_chains"]
    assert chains[-1]["filters"][0]["typed_config"]["access_log"][0]["typed_config"]["path"] == "/dev/stdout"
    # One host: the app's own connections are not captured, so AWS is reachable without Envoy.
    config = build(dj_state(), overrides=ONE_HOST)
    assert "cds_egress_dj-app_amazonaws" not in config.clusters
    assert all("listener_filters" not in as_dict(listener) for listener in config.listeners.values())


def test_allow_all_on_one_host_forwards_unknown_hosts_through_the_dynamic_forward_proxy() -> None:
    config = build(dj_state({"egress_filter": {"type": "ALLOW_ALL"}}), overrides=ONE_HOST)
    assert virtual_host(config, "rds_egress_http_20001", "mesh-allow-all") == {
        "name": "mesh-allow-all",
        "domains": ["*"],
        "routes": [
            {
                "name": "mesh-allow-all",
                "match": {"prefix": "/"},
                "route": {"cluster": "cds_egress_dj-app_mesh-allow-all", "timeout": "15s"},
            }
        ],
    }
    manager = network_filter(config, "lds_egress_0.0.0.0_20001")
    assert [f["name"] for f in manager["http_filters"]] == ["envoy.filters.http.dynamic_forward_proxy", "envoy.filters.http.router"]
    cluster = as_dict(config.clusters["cds_egress_dj-app_mesh-allow-all"])
    assert cluster["cluster_type"]["typed_config"]["dns_cache_config"] == manager["http_filters"][0]["typed_config"]["dns_cache_config"]
    assert cluster["lb_policy"] == "CLUSTER_PROVIDED"


def test_each_proxy_gets_only_what_its_backends_reach() -> None:
    data = dj_state()
    data["virtual_nodes"]["dj"]["backends"] = [{"virtual_service": {"virtual_service_name": METAL}}]
    config = build(data)
    assert sorted(config.clusters) == [
        "cds_egress_dj-app_amazonaws",
        "cds_egress_dj-app_metal-v1_http_9080",
        "cds_egress_dj-app_metal-v2_http_9080",
        "cds_ingress_dj-app_dj_http_9080",
    ]
    jazz = build(data, ProxyRef("dj-app", "virtualNode", "jazz-v1"))
    assert sorted(jazz.clusters) == ["cds_egress_dj-app_amazonaws", "cds_ingress_dj-app_jazz-v1_http_9080"]
    # No backends: the egress listener holds the *.amazonaws.com chain alone (as on App Mesh).
    assert sorted(jazz.listeners) == ["lds_egress_0.0.0.0_15001", "lds_ingress_0.0.0.0_15000"]


def test_dangling_references_leave_things_out_and_say_why() -> None:
    data = dj_state()
    data["virtual_nodes"]["dj"]["backends"].append({"virtual_service": {"virtual_service_name": "ghost.svc"}})
    data["virtual_services"][METAL] = {"provider": {"virtual_router": {"virtual_router_name": "gone-router"}}}
    data["virtual_services"]["unprovided.svc"] = {}
    data["virtual_nodes"]["dj"]["backends"].append({"virtual_service": {"virtual_service_name": "unprovided.svc"}})
    config = build(data)
    assert config.diagnostics == (
        "virtual node dj: virtual service ghost.svc does not exist",
        f"virtual node dj: virtual service {METAL}: provider virtual router gone-router does not exist",
        "virtual node dj: virtual service unprovided.svc has no provider",
    )
    assert [host["name"] for host in as_dict(config.route_configs["rds_egress_http_9080"])["virtual_hosts"]] == [f"{JAZZ}:9080"]


@pytest.mark.parametrize(
    ("state", "proxy", "reason"),
    [
        (None, DJ, "mesh dj-app does not exist"),
        ("dj", ProxyRef("other", "virtualNode", "dj"), "mesh other does not exist"),
        ("dj", ProxyRef("dj-app", "virtualNode", "deleted"), "virtual node deleted does not exist in mesh dj-app"),
        ("dj", ProxyRef("dj-app", "virtualGateway", "gw"), "virtual gateway gw does not exist in mesh dj-app"),
    ],
)
def test_unknown_or_deleted_proxy_gets_an_empty_config_and_a_diagnostic(state: Any, proxy: ProxyRef, reason: str) -> None:
    mesh = MeshState.from_dict(dj_state()) if state else None
    config = build_proxy_config(mesh, proxy, LocalOverrides())
    assert config == ProxyConfig({CLUSTER_TYPE: {}, ENDPOINT_TYPE: {}, LISTENER_TYPE: {}, ROUTE_TYPE: {}}, (reason,))


def test_strict_tls_without_a_certificate_fails_closed() -> None:
    data = dj_state()
    data["virtual_nodes"]["dj"]["listeners"][0]["tls"] = {"mode": "STRICT", "certificate": {}}
    config = build(data)
    assert config.diagnostics == ("virtual node dj listener 9080: TLS certificate missing",)
    assert "lds_ingress_0.0.0.0_15000" not in config.listeners


def test_multi_listener_router_sends_each_route_to_its_port() -> None:
    data = dj_state()
    data["virtual_routers"]["jazz-router"]["listeners"] = [http_listener(8080), http_listener(9090)]
    data["virtual_nodes"]["jazz-v1"]["listeners"] = [http_listener(8080), http_listener(9090)]
    data["routes"]["jazz-router"] = {
        "a": route(("jazz-v1", 1), match={"prefix": "/", "port": 8080}),
        "b": route(("jazz-v1", 1), match={"prefix": "/", "port": 9090}),
    }
    config = build(data)
    assert [
        (r["name"], r["route"]["weighted_clusters"]["clusters"][0]["name"])
        for port in (8080, 9090)
        for r in virtual_host(config, f"rds_egress_http_{port}", f"{JAZZ}:{port}")["routes"]
    ] == [("jazz-router/a", "cds_egress_dj-app_jazz-v1_http_8080"), ("jazz-router/b", "cds_egress_dj-app_jazz-v1_http_9090")]


def test_router_without_routes_for_a_port_leaves_the_service_out_and_says_so() -> None:
    data = dj_state()
    data["routes"]["jazz-router"] = {}
    config = build(data)
    assert [host["name"] for host in as_dict(config.route_configs["rds_egress_http_9080"])["virtual_hosts"]] == [f"{METAL}:9080"]
    assert config.diagnostics == ("virtual node dj: virtual router jazz-router has no http_route for port 9080",)


def test_client_policy_trusting_acm_gets_the_mesh_trust_bundle_over_ads() -> None:
    data = dj_state()
    acm = {"tls": {"validation": {"trust": {"acm": {"certificate_authority_arns": ["arn:ca"]}},
                                  "subject_alternative_names": {"match": {"exact": [JAZZ]}}}}}
    data["virtual_nodes"]["dj"]["backends"][0]["virtual_service"]["client_policy"] = acm
    config = build(data)
    assert config.diagnostics == ()
    assert config.secrets == ("meshplane-mesh-trust",)
    hosts = [host["name"] for host in as_dict(config.route_configs["rds_egress_http_9080"])["virtual_hosts"]]
    assert f"{JAZZ}:9080" in hosts
    tls_clusters = [c for c in config.clusters.values() if c.HasField("transport_socket")]
    assert tls_clusters
    socket = as_dict(tls_clusters[0])["transport_socket"]["typed_config"]
    combined = socket["common_tls_context"]["combined_validation_context"]
    assert combined["validation_context_sds_secret_config"] == {
        "name": "meshplane-mesh-trust", "sds_config": {"ads": {}, "resource_api_version": "V3"}}
    assert combined["default_validation_context"]["match_typed_subject_alt_names"][0]["matcher"] == {"exact": JAZZ}


# --- clusters and endpoints


def test_ip_literal_hostname_becomes_an_eds_cluster_with_its_endpoint_in_an_assignment() -> None:
    data = dj_state()
    data["virtual_nodes"]["jazz-v1"]["service_discovery"]["dns"]["hostname"] = "10.1.2.3"
    config = build(data)
    assert as_dict(config.clusters["cds_egress_dj-app_jazz-v1_http_9080"])["eds_cluster_config"] == {
        "eds_config": {"ads": {}, "resource_api_version": "V3"}
    }
    assert as_dict(config.endpoints["cds_egress_dj-app_jazz-v1_http_9080"]) == {
        "cluster_name": "cds_egress_dj-app_jazz-v1_http_9080",
        "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": "10.1.2.3", "port_value": 9080}}}}]}],
    }


def test_dns_response_type_and_ip_preference_pick_the_cluster_type_and_lookup_family() -> None:
    data = dj_state({"service_discovery": {"ip_preference": "IPv6_ONLY"}})
    data["virtual_nodes"]["jazz-v1"]["service_discovery"]["dns"].update(response_type="ENDPOINTS", ip_preference="IPv4_ONLY")
    config = build(data)
    v1 = as_dict(config.clusters["cds_egress_dj-app_jazz-v1_http_9080"])
    v2 = as_dict(config.clusters["cds_egress_dj-app_jazz-v2_http_9080"])
    assert (v1["type"], v1["dns_lookup_family"]) == ("STRICT_DNS", "V4_ONLY")
    assert (v2["type"], v2["dns_lookup_family"]) == ("LOGICAL_DNS", "V6_ONLY")
    # With a preference the proxy binds dual-stack and reaches its app over IPv6 loopback.
    ingress = as_dict(config.listeners["lds_ingress_0.0.0.0_15000"])["address"]["socket_address"]
    assert ingress == {"address": "::", "port_value": 15000, "ipv4_compat": True}
    app = as_dict(config.clusters["cds_ingress_dj-app_dj_http_9080"])["load_assignment"]
    assert app["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]["address"] == "::1"


def test_client_policy_tls_applies_to_listed_ports_and_per_backend_policy_wins() -> None:
    tls = {"validation": {"trust": {"file": {"certificate_chain": "/ca.pem"}}, "subject_alternative_names": {"match": {"exact": ["jazz"]}}}}
    data = dj_state()
    dj = data["virtual_nodes"]["dj"]
    dj["backend_defaults"] = {"client_policy": {"tls": {**tls, "ports": [9080]}}}
    dj["backends"][1]["virtual_service"]["client_policy"] = {"tls": {**tls, "enforce": False}}
    config = build(data)
    jazz = as_dict(config.clusters["cds_egress_dj-app_jazz-v1_http_9080"])["transport_socket"]["typed_config"]
    assert jazz == {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
        "sni": f"jazz-v1.{NS}",
        "common_tls_context": {
            "validation_context": {
                "trusted_ca": {"filename": "/ca.pem"},
                "match_typed_subject_alt_names": [{"san_type": "DNS", "matcher": {"exact": "jazz"}}],
            }
        },
    }
    assert "transport_socket" not in as_dict(config.clusters["cds_egress_dj-app_metal-v1_http_9080"])


def test_listener_pool_limits_local_app_and_outlier_and_health_check_go_to_clients() -> None:
    data = dj_state()
    data["virtual_nodes"]["jazz-v1"]["listeners"][0].update(
        connection_pool={"http": {"max_connections": 10}},
        outlier_detection={"interval": {"value": 5, "unit": "s"}, "base_ejection_duration": {"value": 30, "unit": "s"}, "max_ejection_percent": 20, "max_server_errors": 3},
        health_check={"protocol": "http", "path": "/ping", "interval_millis": 5000, "timeout_millis": 2000, "healthy_threshold": 2, "unhealthy_threshold": 3},
    )
    jazz = build(data, ProxyRef("dj-app", "virtualNode", "jazz-v1"))
    assert as_dict(jazz.clusters["cds_ingress_dj-app_jazz-v1_http_9080"])["circuit_breakers"] == {
        "thresholds": [{"max_connections": 10, "max_pending_requests": 2147483647, "max_requests": 2147483647, "max_retries": 2147483647}]
    }
    client = as_dict(build(data).clusters["cds_egress_dj-app_jazz-v1_http_9080"])
    assert (client["outlier_detection"], client["health_checks"]) == (
        {"consecutive_5xx": 3, "interval": "5s", "base_ejection_time": "30s", "max_ejection_percent": 20, "enforcing_success_rate": 0},
        [{"timeout": "2s", "interval": "5s", "unhealthy_threshold": 3, "healthy_threshold": 2, "http_health_check": {"path": "/ping"}}],
    )


# --- listeners and overrides


def test_iptables_layout_uses_original_destination_with_one_chain_per_port() -> None:
    data = dj_state()
    data["virtual_nodes"]["dj"]["listeners"].append({"port_mapping": {"port": 9443, "protocol": "http2"}})
    ingress = as_dict(build(data).listeners["lds_ingress_0.0.0.0_15000"])
    assert [f["name"] for f in ingress["listener_filters"]] == ["envoy.filters.listener.original_dst"]
    assert [(c["filter_chain_match"], c["filters"][0]["typed_config"]["rds"]["route_config_name"]) for c in ingress["filter_chains"]] == [
        ({"destination_port": 9080}, "rds_ingress_http_9080"),
        ({"destination_port": 9443}, "rds_ingress_http2_9443"),
    ]


def test_one_host_overrides_bind_one_ingress_listener_per_port_and_reach_the_app_address() -> None:
    data = dj_state()
    data["virtual_nodes"]["dj"]["listeners"].append({"port_mapping": {"port": 9443, "protocol": "http2"}})
    config = build(data, overrides=LocalOverrides(ingress_port=20000, egress_port=20010, app_address="127.0.0.2:18080"))
    assert sorted(config.listeners) == ["lds_egress_0.0.0.0_20010", "lds_ingress_0.0.0.0_20000", "lds_ingress_0.0.0.0_20001"]
    second = as_dict(config.listeners["lds_ingress_0.0.0.0_20001"])
    assert ("listener_filters" in second, "filter_chain_match" in second["filter_chains"][0]) == (False, False)
    assert second["filter_chains"][0]["filters"][0]["typed_config"]["rds"]["route_config_name"] == "rds_ingress_http2_9443"
    apps = [
        as_dict(config.clusters[name])["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]
        for name in ("cds_ingress_dj-app_dj_http_9080", "cds_ingress_dj-app_dj_http2_9443")
    ]
    assert apps == [{"address": "127.0.0.2", "port_value": 18080}, {"address": "127.0.0.2", "port_value": 18081}]


def test_one_host_egress_routes_by_host_and_tcp_backends_get_their_own_listeners() -> None:
    data = dj_state()
    for name in ("pg.svc", "cache.svc"):
        data["virtual_services"][name] = {"provider": {"virtual_node": {"virtual_node_name": name.split(".")[0]}}}
        data["virtual_nodes"][name.split(".")[0]] = {
            "listeners": [{"port_mapping": {"port": 5432, "protocol": "tcp"}}],
            "service_discovery": {"dns": {"hostname": "127.0.0.1"}},
        }
        data["virtual_nodes"]["dj"]["backends"].append({"virtual_service": {"virtual_service_name": name}})
    config = build(data, overrides=ONE_HOST)
    assert sorted(config.listeners) == [
        "lds_egress_0.0.0.0_20001",
        "lds_egress_0.0.0.0_20002",
        "lds_egress_0.0.0.0_20003",
        "lds_ingress_0.0.0.0_20000",
    ]
    # Sorted by service name: cache.svc on 20002, pg.svc on 20003.
    assert network_filter(config, "lds_egress_0.0.0.0_20002")["cluster"] == "cds_egress_dj-app_cache_tcp_5432"
    assert network_filter(config, "lds_egress_0.0.0.0_20003")["cluster"] == "cds_egress_dj-app_pg_tcp_5432"
    assert [host["domains"] for host in as_dict(config.route_configs["rds_egress_http_20001"])["virtual_hosts"]] == [
        [f"{JAZZ}:9080", JAZZ],
        [f"{METAL}:9080", METAL],
    ]


def test_tcp_backends_sharing_a_port_with_iptables_keep_the_first_and_say_why() -> None:
    data = dj_state()
    for name in ("pg.svc", "cache.svc"):
        data["virtual_services"][name] = {"provider": {"virtual_node": {"virtual_node_name": "db"}}}
        data["virtual_nodes"]["dj"]["backends"].append({"virtual_service": {"virtual_service_name": name}})
    data["virtual_nodes"]["db"] = {"listeners": [{"port_mapping": {"port": 5432, "protocol": "tcp"}}], "service_discovery": {"dns": {"hostname": "db"}}}
    config = build(data)
    chains = as_dict(config.listeners["lds_egress_0.0.0.0_15001"])["filter_chains"]
    assert [chain["name"] for chain in chains] == ["http_9080", "tcp_5432", "tcp_443_amazonaws.com"]
    assert config.diagnostics == (
        "virtual node dj: backend pg.svc tcp port 5432 is unreachable without a destination address: cache.svc uses it",
    )


def test_listener_tls_permissive_serves_tls_and_plaintext_chains() -> None:
    data = dj_state()
    data["virtual_nodes"]["dj"]["listeners"][0]["tls"] = {"mode": "PERMISSIVE", "certificate": {"sds": {"secret_name": "dj-cert"}}}
    ingress = as_dict(build(data).listeners["lds_ingress_0.0.0.0_15000"])
    assert [f["name"] for f in ingress["listener_filters"]] == ["envoy.filters.listener.original_dst", "envoy.filters.listener.tls_inspector"]
    assert [(c["name"], c["filter_chain_match"], "transport_socket" in c) for c in ingress["filter_chains"]] == [
        ("http_9080_tls", {"destination_port": 9080, "transport_protocol": "tls"}, True),
        ("http_9080", {"destination_port": 9080}, False),
    ]
    secret = ingress["filter_chains"][0]["transport_socket"]["typed_config"]["common_tls_context"]["tls_certificate_sds_secret_configs"]
    assert secret == [
        {
            "name": "dj-cert",
            "sds_config": {
                "api_config_source": {
                    "api_type": "GRPC",
                    "transport_api_version": "V3",
                    "grpc_services": [{"envoy_grpc": {"cluster_name": "static_cluster_sds_unix_socket"}}],
                },
                "resource_api_version": "V3",
            },
        }
    ]


def test_connection_managers_normalize_paths_merge_slashes_and_upgrade_websockets() -> None:
    manager = network_filter(build(dj_state()), "lds_ingress_0.0.0.0_15000")
    assert manager == {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "ingress",
        "rds": {"config_source": {"ads": {}, "resource_api_version": "V3"}, "route_config_name": "rds_ingress_http_9080"},
        "http_filters": [
            {"name": "envoy.filters.http.router", "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}
        ],
        "upgrade_configs": [{"upgrade_type": "websocket"}],
        "normalize_path": True,
        "merge_slashes": True,
    }


def test_access_log_text_format_is_written_to_the_file_with_a_newline() -> None:
    data = dj_state()
    data["virtual_nodes"]["dj"]["logging"] = {"access_log": {"file": {"path": "/dev/stdout", "format": {"text": "%RESPONSE_CODE%"}}}}
    manager = network_filter(build(data), "lds_egress_0.0.0.0_15001")
    assert manager["access_log"] == [
        {
            "name": "envoy.access_loggers.file",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
                "path": "/dev/stdout",
                "log_format": {"text_format_source": {"inline_string": "%RESPONSE_CODE%\n"}},
            },
        }
    ]


# --- gateways


def color_gateway(route_spec: dict[str, Any], listeners: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    data = dj_state()
    data["virtual_gateways"] = {"gw": {"listeners": listeners or [http_listener(8088)]}}
    data["gateway_routes"] = {"gw": {"r": route_spec}}
    return data


def gateway_routes(config: ProxyConfig, route_config: str = "rds_ingress_http_8088") -> list[dict[str, Any]]:
    return virtual_host(config, route_config, "gateway")["routes"]


GW = ProxyRef("dj-app", "virtualGateway", "gw")


def test_gateway_route_rewrites_host_and_the_matched_prefix_by_default() -> None:
    target = {"target": {"virtual_service": {"virtual_service_name": JAZZ}}}
    data = color_gateway({"http_route": {"match": {"prefix": "/jazz/"}, "action": target}})
    data["routes"]["jazz-router"]["v2-only"] = route(("jazz-v2", 1), match={"prefix": "/v2"})
    config = build(data, GW)
    rewrite = {"host_rewrite_literal": JAZZ, "prefix_rewrite": "/", "timeout": "15s", "retry_policy": DEFAULT_RETRY}
    assert gateway_routes(config) == [
        {
            "name": "gw/r -> jazz-router/v2-only",
            "match": {"prefix": "/jazz/v2"},
            "route": {"weighted_clusters": {"clusters": [{"name": "cds_egress_dj-app_jazz-v2_http_9080", "weight": 1}]}, **rewrite},
        },
        {
            "name": "gw/r -> jazz-router/jazz-route",
            "match": {"prefix": "/jazz/"},
            "route": {
                "weighted_clusters": {
                    "clusters": [
                        {"name": "cds_egress_dj-app_jazz-v1_http_9080", "weight": 90},
                        {"name": "cds_egress_dj-app_jazz-v2_http_9080", "weight": 10},
                    ]
                },
                **rewrite,
            },
        },
    ]
    assert sorted(config.listeners) == ["lds_ingress_0.0.0.0_8088"]


def test_gateway_answers_404_when_no_route_of_the_service_matches_after_the_rewrite() -> None:
    target = {"target": {"virtual_service": {"virtual_service_name": JAZZ}}}
    data = color_gateway({"http_route": {"match": {"prefix": "/color1"}, "action": target}})
    data["routes"]["jazz-router"]["jazz-route"]["http_route"]["match"] = {"prefix": "/tell"}
    routes = gateway_routes(build(data, GW))
    assert [(r["match"], r["route"]["regex_rewrite"] if "route" in r else r["direct_response"]) for r in routes] == [
        ({"safe_regex": {"regex": "/color1/?tell.*"}}, {"pattern": {"regex": "^/color1/?"}, "substitution": "/"}),
        ({"prefix": "/color1"}, {"status": 404}),
    ]


def test_gateway_rewrite_settings_and_hostname_match() -> None:
    action = {
        "target": {"virtual_service": {"virtual_service_name": JAZZ}},
        "rewrite": {"hostname": {"default_target_hostname": "DISABLED"}, "prefix": {"value": "/v2/"}},
    }
    spec = {"http_route": {"match": {"prefix": "/api/", "hostname": {"suffix": ".example.com"}}, "action": action}}
    first = gateway_routes(build(color_gateway(spec), GW))[0]
    assert first["match"] == {
        "prefix": "/api/",
        "headers": [{"name": ":authority", "string_match": {"safe_regex": {"regex": r"(?i).*\.example\.com(?::[0-9]+)?"}}}],
    }
    assert (first["route"]["prefix_rewrite"], "host_rewrite_literal" in first["route"]) == ("/v2/", False)


def test_gateway_route_to_a_missing_service_answers_503_and_says_why() -> None:
    spec = {"http_route": {"match": {"prefix": "/"}, "action": {"target": {"virtual_service": {"virtual_service_name": "ghost"}}}}}
    config = build(color_gateway(spec), GW)
    assert gateway_routes(config) == [{"name": "gw/r (ghost unavailable)", "match": {"prefix": "/"}, "direct_response": {"status": 503}}]
    assert config.diagnostics == ("gateway route gw/r: virtual service ghost does not exist",)


def test_grpc_gateway_route_matches_the_service_and_keeps_the_path() -> None:
    data = color_gateway(
        {"grpc_route": {"match": {"service_name": "jazz.Records"}, "action": {"target": {"virtual_service": {"virtual_service_name": JAZZ}}}}},
        listeners=[{"port_mapping": {"port": 8088, "protocol": "grpc"}}],
    )
    data["virtual_routers"]["jazz-router"]["listeners"] = [{"port_mapping": {"port": 9080, "protocol": "grpc"}}]
    data["virtual_nodes"]["jazz-v1"]["listeners"] = [{"port_mapping": {"port": 9080, "protocol": "grpc"}}]
    data["routes"]["jazz-router"] = {
        "list": {"grpc_route": {"match": {"service_name": "jazz.Records", "method_name": "List"}, "action": {"weighted_targets": [{"virtual_node": "jazz-v1", "weight": 1}]}}}
    }
    routes = gateway_routes(build(data, GW), "rds_ingress_grpc_8088")
    assert [(r["match"], r["route"].get("host_rewrite_literal") if "route" in r else r["direct_response"]) for r in routes] == [
        ({"path": "/jazz.Records/List"}, JAZZ),
        ({"prefix": "/jazz.Records/"}, {"status": 404}),
    ]


def strip(prefix: str) -> GatewayRoute:
    return GatewayRoute("g", ir.HttpMatch(ir.PathMatch("prefix", prefix)), "svc", None, "strip")


@pytest.mark.parametrize(
    ("gateway", "inner", "expected"),
    [
        (strip("/color1"), ir.PathMatch("prefix", "/tell"), ir.PathMatch("regex", "/color1/?tell.*")),
        (strip("/color1/"), ir.PathMatch("prefix", "/tell"), ir.PathMatch("prefix", "/color1/tell")),
        (strip("/color1"), ir.PathMatch("prefix", "/"), ir.PathMatch("prefix", "/color1")),
        (strip("/color1"), ir.PathMatch("path", "/"), ir.PathMatch("regex", "/color1/?")),
        (
            GatewayRoute("g", ir.HttpMatch(ir.PathMatch("prefix", "/a/")), "svc", None, "prefix", "/b/"),
            ir.PathMatch("prefix", "/b/c"),
            ir.PathMatch("prefix", "/a/c"),
        ),
        (GatewayRoute("g", ir.HttpMatch(ir.PathMatch("path", "/x")), "svc", None, "exact", "/y"), ir.PathMatch("prefix", "/z"), None),
        (GatewayRoute("g", ir.HttpMatch(ir.PathMatch("prefix", "/a")), "svc", None), ir.PathMatch("prefix", "/b"), None),
    ],
)
def test_gateway_path_composition_matches_the_original_request(gateway: GatewayRoute, inner: ir.PathMatch, expected: Any) -> None:
    combined = combine_paths(gateway, inner)
    assert (combined[0] if isinstance(combined, tuple) else combined) == expected


# --- whole-config properties


def test_same_state_builds_byte_identical_resources() -> None:
    def serialized(data: dict[str, Any]) -> dict[str, dict[str, bytes]]:
        config = build(data, overrides=ONE_HOST)
        return {url: {name: m.SerializeToString(deterministic=True) for name, m in items.items()} for url, items in config.resources.items()}

    data = dj_state({"egress_filter": {"type": "ALLOW_ALL"}})
    data["virtual_nodes"]["dj"]["logging"] = {"access_log": {"file": {"path": "/x", "format": {"json": [{"key": "b", "value": "1"}, {"key": "a", "value": "2"}]}}}}
    assert serialized(data) == serialized(copy.deepcopy(data))


def test_build_all_shares_pieces_but_matches_building_each_proxy_alone() -> None:
    state = MeshState.from_dict(dj_state())
    proxies = {ProxyRef("dj-app", "virtualNode", name): LocalOverrides() for name in state.virtual_nodes}
    together = build_all(state, proxies)
    assert together == {proxy: build_proxy_config(state, proxy) for proxy in proxies}
    # A shared message is the same object in every config that uses it.
    assert together[DJ].listeners["lds_ingress_0.0.0.0_15000"] is together[ProxyRef("dj-app", "virtualNode", "jazz-v1")].listeners[
        "lds_ingress_0.0.0.0_15000"
    ]


def test_build_each_keeps_input_order_and_each_proxys_own_overrides() -> None:
    state = MeshState.from_dict(dj_state())
    other = LocalOverrides.from_metadata({"meshplane.egress_port": 15999})
    items = [(DJ, LocalOverrides()), (DJ, other), (ProxyRef("dj-app", "virtualNode", "ghost"), LocalOverrides())]
    configs = Translator(state).build_each(items)
    assert configs == [build_proxy_config(state, proxy, overrides) for proxy, overrides in items]
    assert configs[0] != configs[1]  # the same node under two node ids with different overrides
    assert configs[2].diagnostics and not configs[2].resources.get(LISTENER_TYPE)


def test_check_consistent_reports_missing_assignments_routes_and_clusters() -> None:
    config = build(dj_state())
    broken = ProxyConfig(
        {
            CLUSTER_TYPE: {
                "eds": type(config.clusters["cds_ingress_dj-app_dj_http_9080"])(name="eds", type="EDS"),
            },
            ENDPOINT_TYPE: {},
            LISTENER_TYPE: dict(config.listeners),
            ROUTE_TYPE: {"rds_ingress_http_9080": config.route_configs["rds_ingress_http_9080"]},
        }
    )
    with pytest.raises(InconsistentConfigError) as error:
        check_consistent(broken)
    assert error.value.problems == (
        "EDS cluster eds has no ClusterLoadAssignment",
        "RDS route configuration rds_egress_http_9080 is used by a listener but missing",
        "cluster cds_egress_dj-app_amazonaws is routed to but missing",
        "cluster cds_ingress_dj-app_dj_http_9080 is routed to but missing",
    )


# --- dependencies


def test_dependencies_cover_backends_routers_routes_and_targets_even_missing_ones() -> None:
    data = dj_state()
    data["virtual_nodes"]["dj"]["backends"].append({"virtual_service": {"virtual_service_name": "ghost.svc"}})
    assert proxy_dependencies(MeshState.from_dict(data), DJ) == {
        ("mesh", "dj-app"),
        ("virtualNode", "dj"),
        ("virtualService", JAZZ),
        ("virtualService", METAL),
        ("virtualService", "ghost.svc"),
        ("virtualRouter", "jazz-router"),
        ("virtualRouter", "metal-router"),
        ("route", "jazz-router/jazz-route"),
        ("route", "metal-router/metal-route"),
        ("virtualNode", "jazz-v1"),
        ("virtualNode", "jazz-v2"),
        ("virtualNode", "metal-v1"),
        ("virtualNode", "metal-v2"),
    }


def test_a_route_change_touches_only_proxies_using_its_router() -> None:
    state = MeshState.from_dict(dj_state())
    touched = revision_keys("route", "new-route", "jazz-router")
    assert touched == {("route", "jazz-router/new-route"), ("virtualRouter", "jazz-router")}
    affected = {name for name in state.virtual_nodes if proxy_dependencies(state, ProxyRef("dj-app", "virtualNode", name)) & touched}
    assert affected == {"dj"}


def test_gateway_dependencies_follow_gateway_routes_to_services() -> None:
    data = color_gateway({"http_route": {"match": {"prefix": "/"}, "action": {"target": {"virtual_service": {"virtual_service_name": METAL}}}}})
    assert proxy_dependencies(MeshState.from_dict(data), GW) == {
        ("mesh", "dj-app"),
        ("virtualGateway", "gw"),
        ("gatewayRoute", "gw/r"),
        ("virtualService", METAL),
        ("virtualRouter", "metal-router"),
        ("route", "metal-router/metal-route"),
        ("virtualNode", "metal-v1"),
        ("virtualNode", "metal-v2"),
    }


# --- golden files


def test_golden_case_matches(golden_case: str, golden: Any, update_golden: bool) -> None:
    state, proxy, overrides = golden.load(golden_case)
    config = build_proxy_config(state, proxy, overrides)
    check_consistent(config)
    rendered = yaml.safe_dump(golden.render(config), sort_keys=True, width=120)
    path = golden.OUT / f"{golden_case}.yaml"
    if update_golden:
        path.write_text(rendered)
    assert path.exists(), f"no golden file for {golden_case}; run pytest tests/unit/test_translate.py --update-golden"
    assert rendered == path.read_text()
