"""A mesh that uses (nearly) every spec feature the schemas know, for the round-trip tests."""

from __future__ import annotations

from typing import Any

DUR = {"unit": "ms", "value": 250}
TLS_VALIDATION = {
    "trust": {"file": {"certificateChain": "/certs/ca.pem"}},
    "subjectAlternativeNames": {"match": {"exact": ["a.local", "b.local"]}},
}
CLIENT_POLICY = {"tls": {"enforce": True, "ports": [443, 8443], "certificate": {"sds": {"secretName": "client"}},
                         "validation": TLS_VALIDATION}}


def rich_mesh(mesh: str) -> list[tuple[str, dict[str, str], dict[str, Any], list[dict[str, str]]]]:
    """(kind, name members, wire spec, tags) for every resource, parents first."""
    node = {
        "listeners": [
            {"portMapping": {"port": 8080, "protocol": "http"},
             "healthCheck": {"protocol": "http", "path": "/ping", "healthyThreshold": 2, "unhealthyThreshold": 3,
                             "timeoutMillis": 2000, "intervalMillis": 5000, "port": 8080},
             "connectionPool": {"http": {"maxConnections": 100, "maxPendingRequests": 10}},
             "outlierDetection": {"maxServerErrors": 5, "maxEjectionPercent": 50, "interval": {"unit": "s", "value": 10},
                                  "baseEjectionDuration": {"unit": "s", "value": 30}},
             "timeout": {"http": {"perRequest": {"unit": "s", "value": 15}, "idle": DUR}},
             "tls": {"mode": "STRICT", "certificate": {"file": {"certificateChain": "/c.pem", "privateKey": "/k.pem"}},
                     "validation": {"trust": {"sds": {"secretName": "ca"}},
                                    "subjectAlternativeNames": {"match": {"exact": ["x.local"]}}}}},
            {"portMapping": {"port": 9090, "protocol": "grpc"},
             "connectionPool": {"grpc": {"maxRequests": 50}},
             "timeout": {"grpc": {"perRequest": DUR}}},
            {"portMapping": {"port": 7070, "protocol": "tcp"}, "timeout": {"tcp": {"idle": DUR}},
             "connectionPool": {"tcp": {"maxConnections": 9}}},
            {"portMapping": {"port": 6060, "protocol": "http2"}, "connectionPool": {"http2": {"maxRequests": 7}}},
        ],
        "backends": [{"virtualService": {"virtualServiceName": "svc.local", "clientPolicy": CLIENT_POLICY}},
                     {"virtualService": {"virtualServiceName": "other.local"}}],
        "backendDefaults": {"clientPolicy": CLIENT_POLICY},
        "serviceDiscovery": {"awsCloudMap": {"namespaceName": "ns.local", "serviceName": "a",
                                             "attributes": [{"key": "stack", "value": "blue"}],
                                             "ipPreference": "IPv4_PREFERRED"}},
        "logging": {"accessLog": {"file": {"path": "/dev/stdout",
                                           "format": {"json": [{"key": "code", "value": "%RESPONSE_CODE%"}]}}}},
    }
    node_b = {"listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}],
              "serviceDiscovery": {"dns": {"hostname": "b.local", "responseType": "ENDPOINTS", "ipPreference": "IPv6_ONLY"}},
              "logging": {"accessLog": {"file": {"path": "/dev/stdout", "format": {"text": "%START_TIME%"}}}}}
    router = {"listeners": [{"portMapping": {"port": 8080, "protocol": "http"}},
                            {"portMapping": {"port": 9090, "protocol": "grpc"}},
                            {"portMapping": {"port": 7070, "protocol": "tcp"}},
                            {"portMapping": {"port": 6060, "protocol": "http2"}}]}
    targets = [{"virtualNode": "a", "weight": 3, "port": 8080}, {"virtualNode": "b", "weight": 0}]
    http_route = {
        "priority": 5,
        "httpRoute": {
            "match": {"prefix": "/", "method": "GET", "port": 8080,
                      "headers": [{"name": "x-a", "invert": True, "match": {"range": {"start": 1, "end": 9}}},
                                  {"name": "x-b", "match": {"regex": "^v[0-9]$"}}],
                      "queryParameters": [{"name": "q", "match": {"exact": "1"}}]},
            "action": {"weightedTargets": targets},
            "retryPolicy": {"maxRetries": 2, "perRetryTimeout": DUR, "httpRetryEvents": ["server-error"],
                            "tcpRetryEvents": ["connection-error"]},
            "timeout": {"perRequest": DUR, "idle": DUR},
        },
    }
    grpc_route = {"grpcRoute": {
        "match": {"serviceName": "svc.Api", "methodName": "Get", "port": 9090,
                  "metadata": [{"name": "tenant", "match": {"prefix": "t-"}}]},
        "action": {"weightedTargets": [{"virtualNode": "a", "weight": 1}]},
        "retryPolicy": {"maxRetries": 1, "perRetryTimeout": DUR, "grpcRetryEvents": ["unavailable"]},
        "timeout": {"perRequest": DUR}}}
    tcp_route = {"tcpRoute": {"match": {"port": 7070}, "action": {"weightedTargets": [{"virtualNode": "a", "weight": 1}]},
                              "timeout": {"idle": DUR}}}
    http2_route = {"http2Route": {"match": {"path": {"exact": "/x"}, "port": 6060, "scheme": "https"},
                                  "action": {"weightedTargets": [{"virtualNode": "b", "weight": 1}]}}}
    gateway = {
        "listeners": [{"portMapping": {"port": 443, "protocol": "http"},
                       "healthCheck": {"protocol": "http", "path": "/", "healthyThreshold": 2, "unhealthyThreshold": 2,
                                       "timeoutMillis": 2000, "intervalMillis": 5000},
                       "connectionPool": {"http": {"maxConnections": 10}},
                       "tls": {"mode": "PERMISSIVE", "certificate": {"sds": {"secretName": "gw"}}}},
                      {"portMapping": {"port": 9443, "protocol": "grpc"}}],
        "backendDefaults": {"clientPolicy": {"tls": {"validation": {"trust": {"file": {"certificateChain": "/ca"}}}}}},
        "logging": {"accessLog": {"file": {"path": "/dev/stdout"}}},
    }
    gr_http = {"priority": 1, "httpRoute": {
        "match": {"prefix": "/a", "port": 443, "hostname": {"suffix": ".example.com"},
                  "headers": [{"name": "x", "match": {"exact": "y"}}],
                  "queryParameters": [{"name": "v", "match": {"exact": "2"}}], "method": "POST"},
        "action": {"target": {"virtualService": {"virtualServiceName": "svc.local"}, "port": 8080},
                   "rewrite": {"prefix": {"value": "/b/"}, "hostname": {"defaultTargetHostname": "DISABLED"}}}}}
    gr_grpc = {"grpcRoute": {"match": {"serviceName": "svc.Api", "port": 9443},
                             "action": {"target": {"virtualService": {"virtualServiceName": "svc.local"}}}}}
    m = {"meshName": mesh}
    return [
        ("mesh", m, {"egressFilter": {"type": "ALLOW_ALL"}, "serviceDiscovery": {"ipPreference": "IPv4_ONLY"}},
         [{"key": "team", "value": "core"}, {"key": "env", "value": ""}]),
        ("virtualNode", {**m, "virtualNodeName": "a"}, node, [{"key": "app", "value": "a"}]),
        ("virtualNode", {**m, "virtualNodeName": "b"}, node_b, []),
        ("virtualRouter", {**m, "virtualRouterName": "r"}, router, []),
        ("route", {**m, "virtualRouterName": "r", "routeName": "http"}, http_route, [{"key": "k", "value": "v"}]),
        ("route", {**m, "virtualRouterName": "r", "routeName": "grpc"}, grpc_route, []),
        ("route", {**m, "virtualRouterName": "r", "routeName": "tcp"}, tcp_route, []),
        ("route", {**m, "virtualRouterName": "r", "routeName": "http2"}, http2_route, []),
        ("virtualService", {**m, "virtualServiceName": "svc.local"},
         {"provider": {"virtualRouter": {"virtualRouterName": "r"}}}, []),
        ("virtualService", {**m, "virtualServiceName": "other.local"},
         {"provider": {"virtualNode": {"virtualNodeName": "b"}}}, []),
        ("virtualService", {**m, "virtualServiceName": "none.local"}, {}, []),
        ("virtualGateway", {**m, "virtualGatewayName": "gw"}, gateway, [{"key": "edge", "value": "yes"}]),
        ("gatewayRoute", {**m, "virtualGatewayName": "gw", "gatewayRouteName": "web"}, gr_http, []),
        ("gatewayRoute", {**m, "virtualGatewayName": "gw", "gatewayRouteName": "rpc"}, gr_grpc, []),
    ]


def create_all(appmesh: Any, mesh: str) -> None:
    """Create the rich mesh through the App Mesh API (boto3)."""
    for kind, names, spec, tags in rich_mesh(mesh):
        method = "create_" + "".join("_" + c.lower() if c.isupper() else c for c in kind)
        kwargs: dict[str, Any] = {**names, "spec": spec}
        if tags:
            kwargs["tags"] = tags
        getattr(appmesh, method)(**kwargs)


def describe_all(appmesh: Any, mesh: str) -> list[dict[str, Any]]:
    """Every resource of the rich mesh as describe-* returns it, plus its tags."""
    out = []
    for kind, names, _, _ in rich_mesh(mesh):
        snake = "".join("_" + c.lower() if c.isupper() else c for c in kind)
        data = getattr(appmesh, "describe_" + snake)(**names)[kind]
        tags = appmesh.list_tags_for_resource(resourceArn=data["metadata"]["arn"])["tags"]
        out.append({"data": data, "tags": sorted((t["key"], t["value"]) for t in tags)})
    return out


def as_resources(mesh: str) -> list[Any]:
    """The rich mesh in the formats model (no metadata), as a format's reader would produce it."""
    from meshplane import kinds
    from meshplane.formats.model import Resource

    out = []
    for kind, names, spec, tags in rich_mesh(mesh):
        info = kinds.BY_KEY[kind]
        parent = names[kinds.BY_KEY[info.parent].name_key] if info.parent else ""
        name = mesh if kind == "mesh" else names[info.name_key]
        out.append(Resource(kind=kind, mesh=mesh, name=name, parent=parent, spec=spec, tags=tags))
    return out


def same_content(left: list[Any], right: list[Any], tags: bool = True) -> None:
    """Assert two resource lists hold the same resources (identity, spec, tags), in any order."""
    def key(r: Any) -> tuple[Any, ...]:
        return (r.kind, r.mesh, r.parent, r.name)

    assert sorted(map(key, left)) == sorted(map(key, right))
    by_key = {key(r): r for r in right}
    for r in left:
        other = by_key[key(r)]
        assert other.spec == r.spec, (key(r), other.spec, r.spec)
        assert not tags or sorted((t["key"], t["value"]) for t in (other.tags or [])) == sorted(
            (t["key"], t["value"]) for t in (r.tags or [])), key(r)
