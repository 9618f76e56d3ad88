"""The console's mesh graph: boxes and edges from stored rows, collapse, filter, and the layout."""

from __future__ import annotations

import json
import time
from typing import Any

from meshplane.console import graph
from meshplane.store.proxies import StreamRow


def _rows() -> list[tuple[str, str, str, str]]:
    def node(name: str, *backends: str) -> tuple[str, str, str, str]:
        spec: dict[str, Any] = {"listeners": [{"port_mapping": {"port": 80, "protocol": "http"}}],
                                "service_discovery": {"dns": {"hostname": f"{name}.local"}}}
        if backends:
            spec["backends"] = [{"virtual_service": {"virtual_service_name": b}} for b in backends]
        return ("virtualNode", "", name, json.dumps(spec))

    def route(router: str, name: str, **weights: int) -> tuple[str, str, str, str]:
        targets = [{"virtual_node": k.replace("_", "-"), "weight": v} for k, v in weights.items()]
        return ("route", router, name, json.dumps({"http_route": {"match": {"prefix": "/"},
                                                                  "action": {"weighted_targets": targets}}}))

    return [
        ("mesh", "", "m", "{}"),
        node("dj", "jazz", "ghost"),
        node("jazz-v1"), node("jazz-v2", "dj-svc"),  # jazz-v2 calls back into dj: a cycle
        ("virtualRouter", "", "jazz-router", json.dumps({"listeners": [{"port_mapping": {"port": 80}}]})),
        route("jazz-router", "jazz-route", jazz_v1=90, jazz_v2=10),
        ("virtualService", "", "jazz", json.dumps({"provider": {"virtual_router": {"virtual_router_name": "jazz-router"}}})),
        ("virtualService", "", "dj-svc", json.dumps({"provider": {"virtual_node": {"virtual_node_name": "dj"}}})),
        ("virtualGateway", "", "gw", json.dumps({"listeners": [{"port_mapping": {"port": 9000}}]})),
        ("gatewayRoute", "gw", "to-dj", json.dumps({"http_route": {"match": {"prefix": "/"}, "action": {
            "target": {"virtual_service": {"virtual_service_name": "dj-svc"}}}}})),
    ]


def _stream(name: str, types: dict[str, Any], connected: bool = True) -> StreamRow:
    return StreamRow("s-" + name, f"mesh/m/virtualNode/{name}", "m", "virtualNode", name, "sotw", "peer", connected,
                     1.0, 2.0, types, [])


def test_boxes_edges_weights_and_dangling_references() -> None:
    g = graph.build(_rows(), [])
    assert set(g.boxes) == {"virtualNode/dj", "virtualNode/jazz-v1", "virtualNode/jazz-v2", "virtualRouter/jazz-router",
                            "route/jazz-router/jazz-route", "virtualService/jazz", "virtualService/dj-svc",
                            "virtualGateway/gw", "gatewayRoute/gw/to-dj", "virtualService/ghost"}
    assert g.boxes["virtualService/ghost"].missing and not g.boxes["virtualService/jazz"].missing
    weighted = {(e.dst, e.label) for e in g.edges if e.rel == "weighted"}
    assert weighted == {("virtualNode/jazz-v1", "90 (90%)"), ("virtualNode/jazz-v2", "10 (10%)")}
    rels = {(e.src, e.dst): e.rel for e in g.edges}
    assert rels[("virtualGateway/gw", "gatewayRoute/gw/to-dj")] == "contains"
    assert rels[("gatewayRoute/gw/to-dj", "virtualService/dj-svc")] == "target"
    assert rels[("virtualService/jazz", "virtualRouter/jazz-router")] == "provider"
    assert rels[("virtualNode/dj", "virtualService/ghost")] == "backend"


def test_layout_runs_left_to_right_with_traffic_and_breaks_cycles() -> None:
    g = graph.layout(graph.build(_rows(), []))
    x = {bid: b.x for bid, b in g.boxes.items()}
    chain = ["virtualGateway/gw", "gatewayRoute/gw/to-dj", "virtualService/dj-svc", "virtualNode/dj",
             "virtualService/jazz", "virtualRouter/jazz-router", "route/jazz-router/jazz-route", "virtualNode/jazz-v1"]
    assert [x[b] for b in chain] == sorted(x[b] for b in chain) and len({x[b] for b in chain}) == len(chain)
    # jazz-v2 -> dj-svc closes a cycle: it is drawn, marked back, and did not push anything right.
    back = [(e.src, e.dst) for e in g.edges if e.back]
    assert back == [("virtualNode/jazz-v2", "virtualService/dj-svc")]
    # No two boxes overlap.
    spots = {(b.x, b.y) for b in g.boxes.values()}
    assert len(spots) == len(g.boxes)
    for col in {b.x for b in g.boxes.values()}:
        ys = sorted(b.y for b in g.boxes.values() if b.x == col)
        assert all(b - a >= graph.BOX_H for a, b in zip(ys, ys[1:]))
    assert g.mode == "flow"
    kind = graph.layout(graph.build(_rows(), []), "kind")
    assert kind.mode == "kind" and kind.boxes["virtualNode/dj"].x > kind.boxes["virtualService/jazz"].x


def test_boxes_take_the_worst_state_of_their_connected_proxies() -> None:
    synced = {"CDS": {"state": "SYNCED"}, "RDS": {"state": "SYNCED"}}
    stale = {"CDS": {"state": "SYNCED"}, "RDS": {"state": "STALE"}}
    nacked = {"CDS": {"state": "SYNCED"}, "RDS": {"state": "ERROR", "error": "bad regex"}}
    g = graph.build(_rows(), [_stream("dj", synced), _stream("dj", stale), _stream("jazz-v1", synced),
                              _stream("jazz-v2", nacked), _stream("jazz-v2", synced, connected=False)])
    assert (g.boxes["virtualNode/dj"].state, g.boxes["virtualNode/dj"].states) == ("STALE", {"SYNCED": 1, "STALE": 1})
    assert g.boxes["virtualNode/jazz-v1"].state == "SYNCED"
    assert (g.boxes["virtualNode/jazz-v2"].state, g.boxes["virtualNode/jazz-v2"].proxies) == ("ERROR", 1)
    assert g.boxes["virtualService/jazz"].state == ""


def test_collapse_folds_routers_and_routes_into_their_service() -> None:
    g = graph.collapse(graph.build(_rows(), []))
    assert "virtualRouter/jazz-router" not in g.boxes and "route/jazz-router/jazz-route" not in g.boxes
    assert sorted(g.boxes["virtualService/jazz"].folded) == ["route/jazz-router/jazz-route", "virtualRouter/jazz-router"]
    assert {(e.src, e.dst, e.label) for e in g.edges if e.rel == "weighted"} == {
        ("virtualService/jazz", "virtualNode/jazz-v1", "90 (90%)"), ("virtualService/jazz", "virtualNode/jazz-v2", "10 (10%)")}


def test_filter_keeps_matches_and_their_neighbours() -> None:
    g = graph.keep_matching(graph.build(_rows(), []), "ROUTER")
    assert set(g.boxes) == {"virtualRouter/jazz-router", "route/jazz-router/jazz-route", "virtualService/jazz",
                            "virtualNode/jazz-v1", "virtualNode/jazz-v2"}  # the route matches by its router
    assert all(e.src in g.boxes and e.dst in g.boxes for e in g.edges)


def test_500_boxes_lay_out_quickly() -> None:
    rows: list[tuple[str, str, str, str]] = []
    for i in range(100):
        tier, pos = divmod(i, 20)
        for v, calls in (("a", (1, 7)), ("b", (3,))):
            backends = [] if tier == 4 else [{"virtual_service": {"virtual_service_name": f"s{(tier + 1) * 20 + (pos + k) % 20}"}}
                                             for k in calls]
            rows.append(("virtualNode", "", f"s{i}-{v}", json.dumps({"backends": backends})))
        rows.append(("virtualRouter", "", f"r{i}", "{}"))
        rows.append(("route", f"r{i}", "x", json.dumps({"http_route": {"action": {"weighted_targets": [
            {"virtual_node": f"s{i}-a", "weight": 80}, {"virtual_node": f"s{i}-b", "weight": 20}]}}})))
        rows.append(("virtualService", "", f"s{i}", json.dumps({"provider": {"virtual_router": {"virtual_router_name": f"r{i}"}}})))
    started = time.perf_counter()
    g = graph.layout(graph.build(rows, []))
    elapsed = time.perf_counter() - started
    assert len(g.boxes) == 500 and g.mode == "flow"
    assert elapsed < 1.0, elapsed  # ~50-80 ms on a quiet core
    assert len({(b.x, b.y) for b in g.boxes.values()}) == 500
