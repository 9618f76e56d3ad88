"""The console's JSON endpoints over real HTTP (the session's live server): what the pages read,
and the weight action's checks (header, origin, input, version precondition)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests


@pytest.fixture
def mesh(appmesh: Any) -> str:
    """A mesh with a router whose route splits 50/50 over two nodes, one of them missing."""
    name = f"console-{uuid.uuid4().hex[:8]}"
    listener = [{"portMapping": {"port": 8080, "protocol": "http"}}]
    appmesh.create_mesh(meshName=name, spec={"egressFilter": {"type": "ALLOW_ALL"}})
    appmesh.create_virtual_node(meshName=name, virtualNodeName="v1", spec={
        "listeners": listener, "serviceDiscovery": {"dns": {"hostname": "v1.local"}}})
    appmesh.create_virtual_router(meshName=name, virtualRouterName="r", spec={"listeners": listener})
    appmesh.create_route(meshName=name, virtualRouterName="r", routeName="split", spec={"httpRoute": {
        "match": {"prefix": "/"}, "action": {"weightedTargets": [{"virtualNode": "v1", "weight": 50},
                                                                 {"virtualNode": "v2", "weight": 50}]}}})
    return name


def _weights(endpoint: str, mesh: str, body: Any, **headers: str) -> requests.Response:
    return requests.post(f"{endpoint}/ui/api/meshes/{mesh}/virtualRouters/r/routes/split/weights", json=body,
                         headers={"X-Meshplane-Console": "1", **headers}, timeout=5)


def test_page_and_static_files(endpoint: str) -> None:
    page = requests.get(f"{endpoint}/ui/", timeout=5)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert "/ui/static/console.js?v=" in page.text and "http" not in page.text.split("<body", 1)[1].split("</body>")[0]
    script = requests.get(f"{endpoint}/ui/static/console.js", timeout=5)
    assert script.status_code == 200 and "max-age=" in script.headers["Cache-Control"]
    assert requests.get(f"{endpoint}/ui/static/nope.js", timeout=5).status_code == 404


def test_meshes_summary_and_graph(endpoint: str, mesh: str) -> None:
    meshes = requests.get(f"{endpoint}/ui/api/meshes", timeout=5).json()["meshes"]
    mine = next(m for m in meshes if m["name"] == mesh)
    assert mine["egressFilter"] == "ALLOW_ALL"
    assert mine["counts"] == {"virtualNode": 1, "virtualService": 0, "virtualRouter": 1, "route": 1,
                              "virtualGateway": 0, "gatewayRoute": 0}
    g = requests.get(f"{endpoint}/ui/api/meshes/{mesh}/graph", timeout=5).json()
    assert {b["id"]: b.get("missing", False) for b in g["boxes"]} == {
        "virtualNode/v1": False, "virtualNode/v2": True, "virtualRouter/r": False, "route/r/split": False}
    assert sorted(e.get("label", "") for e in g["edges"]) == ["", "50 (50%)", "50 (50%)"]
    missing = requests.get(f"{endpoint}/ui/api/meshes/nope-{mesh}/graph", timeout=5)
    assert missing.status_code == 404 and missing.headers["x-amzn-ErrorType"] == "NotFoundException"
    bad = requests.get(f"{endpoint}/ui/api/meshes/{mesh}/graph", params={"layout": "spiral"}, timeout=5)
    assert bad.status_code == 400 and "layout" in bad.json()["message"]
    detail = requests.get(f"{endpoint}/ui/api/meshes/{mesh}/resource", timeout=5,
                          params={"kind": "route", "parent": "r", "name": "split"}).json()
    assert detail["version"] == 1 and [t["weight"] for t in detail["weightedTargets"]] == [50, 50]
    ghost = requests.get(f"{endpoint}/ui/api/meshes/{mesh}/resource", timeout=5,
                         params={"kind": "virtualNode", "name": "v2"}).json()
    assert ghost["missing"] is True
    assert requests.get(f"{endpoint}/ui/api/meshes/{mesh}/resource", params={"kind": "bogus"},
                        timeout=5).status_code == 400


def test_weight_action_checks_and_version_precondition(endpoint: str, mesh: str, appmesh: Any) -> None:
    before = requests.get(f"{endpoint}/ui/api/version", params={"mesh": mesh}, timeout=5).json()["version"]
    no_header = requests.post(f"{endpoint}/ui/api/meshes/{mesh}/virtualRouters/r/routes/split/weights",
                              json={"version": 1, "weights": [1, 2]}, timeout=5)
    assert no_header.status_code == 403
    foreign = _weights(endpoint, mesh, {"version": 1, "weights": [1, 2]}, Origin="http://evil.example")
    assert foreign.status_code == 403
    for body, field in (({"version": 1, "weights": [1]}, "weights"), ({"version": 1, "weights": [101, 1]}, "weights[0]"),
                        ({"version": 1, "weights": [0, 0]}, "weights"), ({"version": 1, "weights": [True, 1]}, "weights"),
                        ({"version": "1", "weights": [1, 1]}, "version"), ([1, 2], "body")):
        refused = _weights(endpoint, mesh, body)
        assert refused.status_code == 400, (body, refused.text)
        assert refused.headers["x-amzn-ErrorType"] == "BadRequestException"
        assert field.split("[")[0] in refused.json()["message"] or field == "body", refused.text
    applied = _weights(endpoint, mesh, {"version": 1, "weights": [20, 80]})
    assert applied.status_code == 200 and applied.json()["version"] == 2
    stale = _weights(endpoint, mesh, {"version": 1, "weights": [90, 10]})
    assert stale.status_code == 409 and stale.headers["x-amzn-ErrorType"] == "ConflictException"
    assert "version 2" in stale.json()["message"]
    route = appmesh.describe_route(meshName=mesh, virtualRouterName="r", routeName="split")["route"]
    assert route["metadata"]["version"] == 2
    assert [t["weight"] for t in route["spec"]["httpRoute"]["action"]["weightedTargets"]] == [20, 80]
    after = requests.get(f"{endpoint}/ui/api/version", params={"mesh": mesh}, timeout=5).json()["version"]
    assert after != before
    gone = requests.post(f"{endpoint}/ui/api/meshes/{mesh}/virtualRouters/r/routes/nope/weights",
                         json={"version": 1, "weights": [1, 1]}, headers={"X-Meshplane-Console": "1"}, timeout=5)
    assert gone.status_code == 404


def test_proxies_endpoints(endpoint: str, mesh: str) -> None:
    listed = requests.get(f"{endpoint}/ui/api/proxies", params={"mesh": mesh, "state": "ERROR"}, timeout=5).json()
    assert listed["proxies"] == []
    missing = requests.get(f"{endpoint}/ui/api/proxies/config", params={"node": f"mesh/{mesh}/virtualNode/v1"},
                           timeout=5)
    assert missing.status_code == 404 and missing.headers["x-amzn-ErrorType"] == "NotFoundException"
