"""Generated input never produces a 5xx (hypothesis drives the real server over HTTP)."""

from __future__ import annotations

import json

import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

P = "/v20190125"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
spec_keys = st.sampled_from([
    "listeners", "backends", "serviceDiscovery", "logging", "backendDefaults", "provider", "httpRoute", "tcpRoute",
    "grpcRoute", "http2Route", "priority", "egressFilter", "portMapping", "match", "action", "weightedTargets",
])
specs = st.dictionaries(spec_keys, json_values, max_size=4)
paths = st.sampled_from([
    "/meshes", "/meshes/fz", "/meshes/fz/virtualNodes", "/meshes/fz/virtualNodes/n", "/meshes/fz/virtualServices",
    "/meshes/fz/virtualRouters", "/meshes/fz/virtualRouter/r/routes", "/meshes/fz/virtualRouter/r/routes/x",
    "/meshes/fz/virtualGateways", "/meshes/fz/virtualGateway/g/gatewayRoutes", "/tag?resourceArn=x",
    "/untag?resourceArn=x", "/tags?resourceArn=x", "/meshes/fz/virtualNodes?limit=x&nextToken=%00",
])


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(method=st.sampled_from(["GET", "PUT", "DELETE", "POST"]), path=paths,
       body=st.one_of(json_values, st.fixed_dictionaries({}, optional={
           "virtualNodeName": json_values, "virtualRouterName": json_values, "routeName": json_values,
           "meshName": json_values, "spec": specs, "tags": json_values, "clientToken": json_values,
       })))
def test_no_request_produces_a_server_error(endpoint, method, path, body):
    requests.put(f"{endpoint}{P}/meshes", json={"meshName": "fz"}, timeout=10)
    response = requests.request(method, endpoint + P + path, data=json.dumps(body),
                                headers={"Content-Type": "application/json"}, timeout=10)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["x-amzn-ErrorType"] == response.json()["__type"]
