"""Virtual gateway listener health checks: the gateway answers the load balancer's health check
path itself (Envoy's health_check filter), http and http2 on the listener's port."""

from __future__ import annotations

from typing import Any

from google.protobuf.json_format import MessageToDict

from meshplane.translate import LocalOverrides, MeshState, ProxyRef, build_proxy_config, check_consistent

GW = ProxyRef("m", "virtualGateway", "gw")


def _config(health_check: dict[str, Any] | None) -> Any:
    listener: dict[str, Any] = {"port_mapping": {"port": 8080, "protocol": "http"}}
    if health_check is not None:
        listener["health_check"] = {"healthy_threshold": 2, "unhealthy_threshold": 2, "interval_millis": 5000,
                                    "timeout_millis": 2000, **health_check}
    state = MeshState.from_dict({"mesh_name": "m", "mesh_spec": {}, "virtual_gateways": {"gw": {"listeners": [listener]}}})
    config = build_proxy_config(state, GW, LocalOverrides())
    check_consistent(config)
    return config


def _http_filters(config: Any) -> list[dict[str, Any]]:
    listener = MessageToDict(config.listeners["lds_ingress_0.0.0.0_8080"], preserving_proto_field_name=True)
    return listener["filter_chains"][0]["filters"][0]["typed_config"]["http_filters"]


def test_the_health_check_path_is_answered_by_the_gateway() -> None:
    config = _config({"protocol": "http", "path": "/ping", "port": 8080})
    filters = _http_filters(config)
    assert [f["name"] for f in filters] == ["envoy.filters.http.health_check", "envoy.filters.http.router"]
    assert filters[0]["typed_config"]["pass_through_mode"] is False
    assert filters[0]["typed_config"]["headers"] == [{"name": ":path", "string_match": {"exact": "/ping"}}]
    assert config.diagnostics == ()


def test_without_a_health_check_nothing_changes() -> None:
    assert [f["name"] for f in _http_filters(_config(None))] == ["envoy.filters.http.router"]


def test_health_checks_it_cannot_answer_are_reported() -> None:
    other_port = _config({"protocol": "http", "path": "/ping", "port": 9090})
    assert [f["name"] for f in _http_filters(other_port)] == ["envoy.filters.http.router"]
    assert any("health check port 9090" in d for d in other_port.diagnostics)
    grpc = _config({"protocol": "grpc"})
    assert any("only http and http2 health checks" in d for d in grpc.diagnostics)
