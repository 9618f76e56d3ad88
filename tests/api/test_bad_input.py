"""Malformed requests: the right 4xx in App Mesh's shape, and the store unchanged."""

from __future__ import annotations

import json

import pytest
import requests

P = "/v20190125"


@pytest.fixture
def mesh(endpoint: str, mesh_name: str) -> str:
    r = requests.put(f"{endpoint}{P}/meshes", json={"meshName": mesh_name}, timeout=10)
    assert r.status_code == 200, r.text
    requests.put(f"{endpoint}{P}/meshes/{mesh_name}/virtualRouters", json={
        "virtualRouterName": "r", "spec": {"listeners": [{"portMapping": {"port": 80, "protocol": "http"}}]}}, timeout=10)
    return mesh_name


def snapshot(endpoint: str, mesh: str) -> dict:
    out = {}
    for coll in ("virtualNodes", "virtualServices", "virtualRouters", "virtualGateways"):
        out[coll] = requests.get(f"{endpoint}{P}/meshes/{mesh}/{coll}", timeout=10).json()
    out["mesh"] = requests.get(f"{endpoint}{P}/meshes/{mesh}", timeout=10).json()
    out["routes"] = requests.get(f"{endpoint}{P}/meshes/{mesh}/virtualRouter/r/routes", timeout=10).json()
    return out


CASES = [
    # (method, path, raw body, status, error type, text the message must contain)
    ("PUT", "/meshes/{m}/virtualNodes", "{not json", 400, "BadRequestException", "not valid JSON"),
    ("PUT", "/meshes/{m}/virtualNodes", "[1, 2]", 400, "BadRequestException", "JSON object"),
    ("PUT", "/meshes/{m}/virtualNodes", json.dumps({"virtualNodeName": "a"}), 400, "BadRequestException", "spec"),
    ("PUT", "/meshes/{m}/virtualNodes", json.dumps({"spec": {}}), 400, "BadRequestException", "virtualNodeName"),
    ("PUT", "/meshes/{m}/virtualNodes", json.dumps({"virtualNodeName": "a/b", "spec": {}}), 400, "BadRequestException", "virtualNodeName"),
    ("PUT", "/meshes/{m}/virtualNodes", json.dumps({"virtualNodeName": "x" * 256, "spec": {}}), 400, "BadRequestException", "virtualNodeName"),
    ("PUT", "/meshes/{m}/virtualNodes", json.dumps({"virtualNodeName": 7, "spec": {}}), 400, "BadRequestException", "virtualNodeName"),
    ("PUT", "/meshes/{m}/virtualNodes", json.dumps({"virtualNodeName": "a", "spec": {}, "bogus": 1}), 400, "BadRequestException", "bogus"),
    ("PUT", "/meshes/{m}/virtualNodes", json.dumps({"virtualNodeName": "a", "spec": {"listeners": [{"portMapping": {"port": 70000, "protocol": "http"}}]}}), 400, "BadRequestException", "spec.listeners"),
    ("PUT", "/meshes/{m}/virtualNodes", json.dumps({"virtualNodeName": "a", "spec": {"listeners": [{"portMapping": {"port": 80, "protocol": "udp"}}]}}), 400, "BadRequestException", "protocol"),
    ("PUT", "/meshes/{m}/virtualNodes", json.dumps({"virtualNodeName": "a", "spec": {"listeners": [{"portMapping": {"port": "80", "protocol": "http"}}]}}), 400, "BadRequestException", "port"),
    ("PUT", "/meshes/{m}/virtualNodes", json.dumps({"virtualNodeName": "a", "spec": {"serviceDiscovery": {"dns": {"hostname": "a"}, "awsCloudMap": {"namespaceName": "n", "serviceName": "s"}}}}), 400, "BadRequestException", "serviceDiscovery"),
    ("PUT", "/meshes/{m}/virtualNodes", json.dumps({"virtualNodeName": "a", "spec": {"unknownMember": {}}}), 400, "BadRequestException", "unknownMember"),
    ("PUT", "/meshes/{m}/virtualNodes", json.dumps({"virtualNodeName": "a", "spec": [], }), 400, "BadRequestException", "spec"),
    ("PUT", "/meshes/{m}/virtualNodes", json.dumps({"virtualNodeName": "a", "spec": {}, "tags": [{"key": "k"}]}), 400, "BadRequestException", "value"),
    ("PUT", "/meshes/{m}/virtualNodes", json.dumps({"virtualNodeName": "a", "spec": {}, "clientToken": 5}), 400, "BadRequestException", "clientToken"),
    ("PUT", "/meshes/{m}", json.dumps({"spec": {"egressFilter": {"type": "SOMETIMES"}}}), 400, "BadRequestException", "spec.egressFilter.type"),
    ("PUT", "/meshes/{m}/virtualRouter/r/routes", json.dumps({"routeName": "x", "spec": {}}), 400, "BadRequestException", "route"),
    ("PUT", "/meshes/{m}/virtualRouter/r/routes", json.dumps({"routeName": "x", "spec": {"httpRoute": {"match": {"prefix": "nope"}, "action": {"weightedTargets": [{"virtualNode": "a", "weight": 1}]}}}}), 400, "BadRequestException", "prefix"),
    ("PUT", "/meshes/{m}/virtualRouter/r/routes", json.dumps({"routeName": "x", "spec": {"httpRoute": {"match": {"prefix": "/"}, "action": {"weightedTargets": [{"virtualNode": "a", "weight": 101}]}}}}), 400, "BadRequestException", "weight"),
    ("PUT", "/meshes/{m}/virtualRouter/r/routes", json.dumps({"routeName": "x", "spec": {"httpRoute": {"match": {"prefix": "/"}, "action": {"weightedTargets": [{"virtualNode": f"n{i}", "weight": 1} for i in range(11)]}}}}), 400, "BadRequestException", "weightedTargets"),
    ("PUT", "/meshes/{m}/virtualRouter/r/routes", json.dumps({"routeName": "x", "spec": {"tcpRoute": {"action": {"weightedTargets": [{"virtualNode": "a", "weight": 1}]}}}}), 400, "BadRequestException", "tcp"),
    ("PUT", "/meshes/{m}/virtualRouter/r/routes", json.dumps({"routeName": "x", "spec": {"httpRoute": {"match": {"prefix": "/"}, "action": {"weightedTargets": [{"virtualNode": "a", "weight": 1}]}, "retryPolicy": {"maxRetries": 2}}}}), 400, "BadRequestException", "retryPolicy"),
    ("GET", "/meshes/{m}/virtualNodes?limit=0", "", 400, "BadRequestException", "limit"),
    ("GET", "/meshes/{m}/virtualNodes?limit=101", "", 400, "BadRequestException", "limit"),
    ("GET", "/meshes/{m}/virtualNodes?limit=abc", "", 400, "BadRequestException", "limit"),
    ("GET", "/meshes/{m}/virtualNodes?meshOwner=123", "", 400, "BadRequestException", "meshOwner"),
    ("GET", "/tags", "", 400, "BadRequestException", "resourceArn"),
    ("GET", "/tags?resourceArn=arn:aws:appmesh:us-east-1:111122223333:mesh/none&limit=51", "", 400, "BadRequestException", "limit"),
    ("PUT", "/tag?resourceArn=arn:aws:appmesh:us-east-1:111122223333:mesh/none", json.dumps({"tags": []}), 404, "NotFoundException", "arn"),
    ("PUT", "/untag?resourceArn=x", json.dumps({"tagKeys": "k"}), 400, "BadRequestException", "tagKeys"),
    ("PUT", "/meshes/{m}/virtualNodes", "x" * (1024 * 1024 + 10), 400, "BadRequestException", "1 MiB"),
    ("DELETE", "/meshes", "", 404, "NotFoundException", "No operation"),
]


@pytest.mark.parametrize("method, path, body, status, error_type, needle", CASES)
def test_bad_request_is_rejected_and_changes_nothing(endpoint, mesh, method, path, body, status, error_type, needle):
    before = snapshot(endpoint, mesh)
    response = requests.request(method, endpoint + P + path.format(m=mesh), data=body,
                                headers={"Content-Type": "application/json"}, timeout=30)
    assert response.status_code == status, response.text
    assert response.headers["x-amzn-ErrorType"] == error_type
    payload = response.json()
    assert payload["__type"] == error_type
    assert needle.lower() in payload["message"].lower(), payload["message"]
    assert snapshot(endpoint, mesh) == before
