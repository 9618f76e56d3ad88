"""schemas/: wire specs <-> stored specs, every constraint and rule, messages, the botocore model, OpenAPI."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import botocore.session
import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from marshmallow import fields

from meshplane import schemas
from meshplane.errors import BadRequestException
from meshplane.openapi import build_openapi
from meshplane.openapi import write_openapi
from meshplane.schemas import SPEC_SCHEMAS
from meshplane.schemas import check_account_id
from meshplane.schemas import check_gateway_route_fits_gateway
from meshplane.schemas import check_name
from meshplane.schemas import check_route_fits_router
from meshplane.schemas import dump_spec
from meshplane.schemas import envelopes
from meshplane.schemas import load_spec
from meshplane.schemas import validate_tag_keys
from meshplane.schemas import validate_tags
from meshplane.schemas.base import INT32
from meshplane.schemas.base import INT64
from meshplane.schemas.base import Bool
from meshplane.schemas.base import Int
from meshplane.schemas.base import Length
from meshplane.schemas.base import ListOf
from meshplane.schemas.base import Obj
from meshplane.schemas.base import OneOf
from meshplane.schemas.base import Pattern
from meshplane.schemas.base import Range
from meshplane.schemas.base import Str
from meshplane.schemas.camel import CamelCaseSchema
from meshplane.schemas.camel import UnionSchema
from meshplane.schemas.messages import flatten

# ---------------------------------------------------------------------------------------------
# Valid specs: the demos of /work/shared/reference/demos.md and large realistic specs.


def http_node(name: str, hostname: str, port: int = 9080, backends: tuple[str, ...] = ()) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "listeners": [
            {
                "healthCheck": {
                    "healthyThreshold": 2,
                    "intervalMillis": 5000,
                    "path": "/ping",
                    "protocol": "http",
                    "timeoutMillis": 2000,
                    "unhealthyThreshold": 2,
                },
                "portMapping": {"port": port, "protocol": "http"},
            }
        ],
        "serviceDiscovery": {"dns": {"hostname": hostname}},
    }
    if backends:
        spec["backends"] = [{"virtualService": {"virtualServiceName": b}} for b in backends]
    return spec


def http_router(port: int = 9080) -> dict[str, Any]:
    return {"listeners": [{"portMapping": {"port": port, "protocol": "http"}}]}


def http_route(prefix: str, targets: dict[str, int]) -> dict[str, Any]:
    return {
        "httpRoute": {
            "action": {"weightedTargets": [{"virtualNode": n, "weight": w} for n, w in targets.items()]},
            "match": {"prefix": prefix},
        }
    }


def router_service(router: str) -> dict[str, Any]:
    return {"provider": {"virtualRouter": {"virtualRouterName": router}}}


COLOR_APP = [
    ("mesh", {}),
    ("mesh", {"egressFilter": {"type": "DROP_ALL"}}),
    *[("virtualNode", http_node(f"colorteller-{c}-vn", f"colorteller-{c}.local")) for c in ("white", "blue", "red", "black")],
    ("virtualRouter", http_router()),
    ("route", http_route("/tell", {"colorteller-white-vn": 1, "colorteller-blue-vn": 1})),
    ("route", http_route("/tell", {"colorteller-red-vn": 1, "colorteller-black-vn": 1})),
    ("virtualService", router_service("colorteller-1-vr")),
    ("virtualGateway", {"listeners": [{"portMapping": {"port": 9080, "protocol": "http"}}]}),
    (
        "virtualGateway",
        {
            "listeners": [
                {
                    "portMapping": {"port": 9080, "protocol": "http"},
                    "tls": {
                        "certificate": {"file": {"certificateChain": "/certs/gw.pem", "privateKey": "/certs/gw.key"}},
                        "mode": "STRICT",
                    },
                }
            ]
        },
    ),
    (
        "gatewayRoute",
        {
            "httpRoute": {
                "action": {"target": {"virtualService": {"virtualServiceName": "colorteller-1.local"}}},
                "match": {"prefix": "/color1"},
            }
        },
    ),
    (
        "gatewayRoute",
        {
            "httpRoute": {
                "action": {"target": {"virtualService": {"virtualServiceName": "colorteller-2.local"}}},
                "match": {"prefix": "/color2"},
            }
        },
    ),
    # EKS variant: header and path routing on the gateway and on the services' routers.
    (
        "gatewayRoute",
        {
            "httpRoute": {
                "action": {"target": {"virtualService": {"virtualServiceName": "color.howto-k8s-ingress-gateway.svc"}}},
                "match": {"headers": [{"match": {"exact": "red"}, "name": "color_header"}], "prefix": "/headers"},
            }
        },
    ),
    (
        "route",
        {
            "httpRoute": {
                "action": {"weightedTargets": [{"virtualNode": "red", "weight": 1}]},
                "match": {"path": {"exact": "/paths/red"}},
            }
        },
    ),
]

DJ_APP = [
    ("mesh", {}),
    ("virtualNode", http_node("dj", "dj.prod.svc.cluster.local", backends=("jazz.prod.svc.cluster.local", "metal.prod.svc.cluster.local"))),
    *[("virtualNode", http_node(n, f"{n}.prod.svc.cluster.local")) for n in ("jazz-v1", "metal-v1", "jazz-v2", "metal-v2")],
    ("virtualRouter", http_router()),
    ("route", http_route("/", {"jazz-v1": 100})),
    ("route", http_route("/", {"jazz-v1": 90, "jazz-v2": 10})),
    ("route", http_route("/", {"metal-v1": 50, "metal-v2": 50})),
    ("virtualService", router_service("jazz-router")),
]

BOOKINFO = [
    ("virtualNode", http_node("productpage", "productpage.bookinfo.local", backends=("details", "reviews", "ratings"))),
    ("virtualNode", http_node("reviews-v3", "reviews-v3.bookinfo.local", backends=("ratings",))),
    ("route", http_route("/", {"reviews-v2": 1, "reviews-v3": 2})),
    ("virtualService", {"provider": {"virtualNode": {"virtualNodeName": "details"}}}),
]

SERVICE_AB = [
    ("mesh", {"egressFilter": {"type": "ALLOW_ALL"}, "serviceDiscovery": {"ipPreference": "IPv4_PREFERRED"}}),
    ("virtualNode", http_node("serviceA", "servicea.apps.local", backends=("serviceb.apps.local",))),
    ("route", http_route("/", {"serviceB": 75, "serviceBv2": 25})),
    ("virtualService", {}),  # a service with no provider
]

DURATION_S = {"unit": "s", "value": 15}
TLS_FILE = {"file": {"certificateChain": "/etc/certs/chain.pem", "privateKey": "/etc/certs/key.pem"}}
CLIENT_POLICY = {
    "tls": {
        "certificate": {"sds": {"secretName": "client-cert"}},
        "enforce": True,
        "ports": [8443, 9443],
        "validation": {
            "subjectAlternativeNames": {"match": {"exact": ["backend.local", "*.backend.local"]}},
            "trust": {"acm": {"certificateAuthorityArns": ["arn:aws:acm-pca:us-east-1:111122223333:certificate-authority/x"]}},
        },
    }
}

BIG_NODE = {
    "backendDefaults": {"clientPolicy": CLIENT_POLICY},
    "backends": [
        {"virtualService": {"virtualServiceName": "plain.local"}},
        {
            "virtualService": {
                "clientPolicy": {"tls": {"enforce": False, "validation": {"trust": {"file": {"certificateChain": "/ca.pem"}}}}},
                "virtualServiceName": "tls.local",
            }
        },
    ],
    "listeners": [
        {
            "connectionPool": {"http": {"maxConnections": 1024, "maxPendingRequests": 256}},
            "healthCheck": {
                "healthyThreshold": 3,
                "intervalMillis": 10000,
                "path": "/healthz",
                "port": 8080,
                "protocol": "http",
                "timeoutMillis": 5000,
                "unhealthyThreshold": 4,
            },
            "outlierDetection": {
                "baseEjectionDuration": {"unit": "s", "value": 30},
                "interval": {"unit": "ms", "value": 10000},
                "maxEjectionPercent": 50,
                "maxServerErrors": 5,
            },
            "portMapping": {"port": 8080, "protocol": "http"},
            "timeout": {"http": {"idle": {"unit": "s", "value": 300}, "perRequest": {"unit": "s", "value": 60}}},
            "tls": {
                "certificate": TLS_FILE,
                "mode": "PERMISSIVE",
                "validation": {
                    "subjectAlternativeNames": {"match": {"exact": ["client.local"]}},
                    "trust": {"sds": {"secretName": "trust-bundle"}},
                },
            },
        },
        {
            "connectionPool": {"grpc": {"maxRequests": 100}},
            "portMapping": {"port": 9090, "protocol": "grpc"},
            "timeout": {"grpc": {"idle": DURATION_S, "perRequest": DURATION_S}},
        },
        {
            "connectionPool": {"tcp": {"maxConnections": 10}},
            "portMapping": {"port": 5432, "protocol": "tcp"},
            "timeout": {"tcp": {"idle": {"unit": "ms", "value": 0}}},
        },
        {
            "connectionPool": {"http2": {"maxRequests": 1}},
            "portMapping": {"port": 8443, "protocol": "http2"},
            "timeout": {"http2": {"perRequest": {"unit": "ms", "value": 250}}},
            "tls": {"certificate": {"acm": {"certificateArn": "arn:aws:acm:us-east-1:111122223333:certificate/abc"}}, "mode": "STRICT"},
        },
    ],
    "logging": {
        "accessLog": {
            "file": {
                "format": {"json": [{"key": "start", "value": "%START_TIME%"}, {"key": "code", "value": "%RESPONSE_CODE%"}]},
                "path": "/dev/stdout",
            }
        }
    },
    "serviceDiscovery": {"dns": {"hostname": "big.apps.local", "ipPreference": "IPv6_PREFERRED", "responseType": "ENDPOINTS"}},
}

CLOUD_MAP_NODE = {
    "listeners": [{"portMapping": {"port": 80, "protocol": "http"}}],
    "logging": {"accessLog": {"file": {"format": {"text": "[%START_TIME%] %REQ(:METHOD)%"}, "path": "/var/log/access.log"}}},
    "serviceDiscovery": {
        "awsCloudMap": {
            "attributes": [{"key": "stage", "value": "prod blue"}, {"key": "ECS_TASK_DEFINITION_FAMILY", "value": "x"}],
            "ipPreference": "IPv4_ONLY",
            "namespaceName": "apps.local",
            "serviceName": "cart",
        }
    },
}

BIG_GATEWAY = {
    "backendDefaults": {
        "clientPolicy": {
            "tls": {
                "certificate": TLS_FILE,
                "ports": [443],
                "validation": {"trust": {"file": {"certificateChain": "/ca.pem"}}},
            }
        }
    },
    "listeners": [
        {
            "connectionPool": {"http": {"maxConnections": 500}},
            "healthCheck": {
                "healthyThreshold": 2,
                "intervalMillis": 5000,
                "path": "/ping",
                "port": 9080,
                "protocol": "http",
                "timeoutMillis": 2000,
                "unhealthyThreshold": 2,
            },
            "portMapping": {"port": 9080, "protocol": "http"},
            "tls": {
                "certificate": {"sds": {"secretName": "gw-cert"}},
                "mode": "STRICT",
                "validation": {
                    "subjectAlternativeNames": {"match": {"exact": ["client"]}},
                    "trust": {"file": {"certificateChain": "/client-ca.pem"}},
                },
            },
        },
        {"connectionPool": {"grpc": {"maxRequests": 10}}, "portMapping": {"port": 9443, "protocol": "grpc"}},
    ],
    "logging": {"accessLog": {"file": {"path": "/dev/stdout"}}},
}

GRPC_ROUTE = {
    "grpcRoute": {
        "action": {"weightedTargets": [{"port": 9090, "virtualNode": "grpc-a", "weight": 0}, {"virtualNode": "grpc-b", "weight": 100}]},
        "match": {
            "metadata": [
                {"invert": True, "match": {"range": {"end": 100, "start": 1}}, "name": "x-n"},
                {"match": {"suffix": "-canary"}, "name": "x-track"},
            ],
            "methodName": "GetColor",
            "port": 9090,
            "serviceName": "color.ColorService",
        },
        "retryPolicy": {
            "grpcRetryEvents": ["cancelled", "unavailable"],
            "httpRetryEvents": ["stream-error"],
            "maxRetries": 3,
            "perRetryTimeout": {"unit": "ms", "value": 500},
            "tcpRetryEvents": ["connection-error"],
        },
        "timeout": {"idle": DURATION_S, "perRequest": {"unit": "s", "value": 30}},
    },
    "priority": 0,
}

HTTP2_ROUTE = {
    "http2Route": {
        "action": {"weightedTargets": [{"virtualNode": "web", "weight": 1}]},
        "match": {
            "headers": [
                {"match": {"prefix": "Mozilla"}, "name": "user-agent"},
                {"invert": False, "match": {"regex": "^v[0-9]+$"}, "name": "x-version"},
            ],
            "method": "POST",
            "path": {"regex": "^/api/v[0-9]+/.*$"},
            "port": 8443,
            "queryParameters": [{"match": {"exact": "1"}, "name": "debug"}, {"name": "trace"}],
            "scheme": "https",
        },
        "retryPolicy": {
            "httpRetryEvents": ["server-error", "gateway-error", "client-error", "stream-error"],
            "maxRetries": 0,
            "perRetryTimeout": {"unit": "s", "value": 2},
        },
        "timeout": {"idle": {"unit": "s", "value": 0}, "perRequest": {"unit": "ms", "value": 1500}},
    },
    "priority": 1000,
}

TCP_ROUTE = {
    "tcpRoute": {
        "action": {"weightedTargets": [{"port": 5432, "virtualNode": "db", "weight": 1}]},
        "match": {"port": 5432},
        "timeout": {"idle": {"unit": "s", "value": 600}},
    }
}

GRPC_GATEWAY_ROUTE = {
    "grpcRoute": {
        "action": {
            "rewrite": {"hostname": {"defaultTargetHostname": "DISABLED"}},
            "target": {"port": 9090, "virtualService": {"virtualServiceName": "grpc.apps.local"}},
        },
        "match": {
            "hostname": {"suffix": ".example.com"},
            "metadata": [{"match": {"exact": "beta"}, "name": "x-channel"}],
            "port": 9443,
            "serviceName": "color.ColorService",
        },
    },
    "priority": 5,
}

HTTP_GATEWAY_ROUTES = [
    {
        "httpRoute": {
            "action": {
                "rewrite": {"hostname": {"defaultTargetHostname": "ENABLED"}, "prefix": {"value": "/v2/"}},
                "target": {"virtualService": {"virtualServiceName": "shop.apps.local"}},
            },
            "match": {"hostname": {"exact": "shop.example.com"}, "method": "GET", "port": 9080, "prefix": "/shop/"},
        }
    },
    {
        "http2Route": {
            "action": {
                "rewrite": {"path": {"exact": "/index.html"}},
                "target": {"virtualService": {"virtualServiceName": "web.apps.local"}},
            },
            "match": {"path": {"exact": "/"}, "queryParameters": [{"match": {"exact": "x"}, "name": "q"}]},
        }
    },
    {
        "httpRoute": {
            "action": {
                "rewrite": {"prefix": {"defaultPrefix": "DISABLED"}},
                "target": {"virtualService": {"virtualServiceName": "keep.apps.local"}},
            },
            "match": {"headers": [{"match": {"range": {"end": 10, "start": 0}}, "name": "x-n"}], "prefix": "/keep"},
        }
    },
]

REALISTIC = [
    ("virtualNode", BIG_NODE),
    ("virtualNode", CLOUD_MAP_NODE),
    ("virtualNode", {}),
    ("virtualNode", {"backends": [{"virtualService": {"virtualServiceName": "only-egress.local"}}]}),
    ("virtualGateway", BIG_GATEWAY),
    (
        "virtualRouter",
        {"listeners": [{"portMapping": {"port": p, "protocol": proto}} for p, proto in ((80, "http"), (81, "http2"), (82, "grpc"), (83, "tcp"))]},
    ),
    ("virtualRouter", {}),
    ("route", GRPC_ROUTE),
    ("route", HTTP2_ROUTE),
    ("route", TCP_ROUTE),
    ("route", {"tcpRoute": {"action": {"weightedTargets": [{"virtualNode": "db", "weight": 1}]}}}),
    ("route", {"httpRoute": {"action": {"weightedTargets": [{"virtualNode": "a", "weight": 1}]}, "match": {}}}),
    ("gatewayRoute", GRPC_GATEWAY_ROUTE),
    *[("gatewayRoute", spec) for spec in HTTP_GATEWAY_ROUTES],
    ("mesh", {"serviceDiscovery": {}}),
]

VALID = COLOR_APP + DJ_APP + BOOKINFO + SERVICE_AB + REALISTIC


def _case_id(case: tuple[str, Any]) -> str:
    return case[0]


def _keys(tree: Any) -> set[str]:
    if isinstance(tree, dict):
        return set(tree) | {k for v in tree.values() for k in _keys(v)}
    if isinstance(tree, list):
        return {k for v in tree for k in _keys(v)}
    return set()


@pytest.mark.parametrize("case", VALID, ids=_case_id)
def test_valid_spec_round_trips_exactly(case: tuple[str, dict[str, Any]]) -> None:
    kind, wire = case
    original = copy.deepcopy(wire)
    stored = load_spec(kind, wire)
    assert dump_spec(kind, stored) == original
    assert wire == original  # loading never mutates its input
    assert not any(c.isupper() for k in _keys(stored) for c in k)


def test_stored_form_is_snake_case_with_values_untouched() -> None:
    wire = {
        "listeners": [
            {
                "connectionPool": {"http2": {"maxRequests": 7}},
                "portMapping": {"port": 8080, "protocol": "http2"},
                "timeout": {"http2": {"perRequest": {"unit": "ms", "value": 250}}},
            }
        ],
        "serviceDiscovery": {"awsCloudMap": {"namespaceName": "ns", "serviceName": "svc", "ipPreference": "IPv6_ONLY"}},
    }
    assert load_spec("virtualNode", wire) == {
        "listeners": [
            {
                "connection_pool": {"http2": {"max_requests": 7}},
                "port_mapping": {"port": 8080, "protocol": "http2"},
                "timeout": {"http2": {"per_request": {"unit": "ms", "value": 250}}},
            }
        ],
        "service_discovery": {"aws_cloud_map": {"namespace_name": "ns", "service_name": "svc", "ip_preference": "IPv6_ONLY"}},
    }


def test_route_types_are_stored_as_snake_case_members() -> None:
    stored = load_spec("route", HTTP2_ROUTE)
    assert set(stored) == {"http2_route", "priority"}
    assert stored["http2_route"]["match"]["query_parameters"][0] == {"match": {"exact": "1"}, "name": "debug"}
    assert set(load_spec("route", TCP_ROUTE)) == {"tcp_route"}


def test_absent_members_stay_absent() -> None:
    assert load_spec("mesh", {}) == {}
    assert dump_spec("mesh", {}) == {}
    stored = load_spec("virtualNode", {"backends": [{"virtualService": {"virtualServiceName": "a"}}]})
    assert stored == {"backends": [{"virtual_service": {"virtual_service_name": "a"}}]}
    assert dump_spec("virtualNode", stored) == {"backends": [{"virtualService": {"virtualServiceName": "a"}}]}


def test_spec_schemas_cover_every_kind() -> None:
    assert set(SPEC_SCHEMAS) == {"mesh", "virtualNode", "virtualService", "virtualRouter", "route", "virtualGateway", "gatewayRoute"}
    assert SPEC_SCHEMAS["virtualNode"].__name__ == "VirtualNodeSpecSchema"


def test_unknown_kind_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown resource kind"):
        load_spec("virtual_node", {})


# ---------------------------------------------------------------------------------------------
# Invalid specs: each must be a BadRequestException naming the exact field path.

L = "spec.listeners[0]"
NODE_LISTENER = {"portMapping": {"port": 8080, "protocol": "http"}}
DNS = {"dns": {"hostname": "a.local"}}
HC = {"healthyThreshold": 2, "intervalMillis": 5000, "protocol": "http", "timeoutMillis": 2000, "unhealthyThreshold": 2}
WT = [{"virtualNode": "a", "weight": 1}]
TARGET = {"virtualService": {"virtualServiceName": "vs"}}
RETRY = {"maxRetries": 1, "perRetryTimeout": {"unit": "s", "value": 1}}


def node(listener: dict[str, Any] | None = None, **members: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"listeners": [{**NODE_LISTENER, **(listener or {})}], "serviceDiscovery": DNS}
    spec.update(members)
    return spec


def node_tls(tls: dict[str, Any]) -> dict[str, Any]:
    return node({"tls": tls})


def client_tls(tls: dict[str, Any]) -> dict[str, Any]:
    return {"backendDefaults": {"clientPolicy": {"tls": tls}}}


def hroute(match: dict[str, Any] | None = None, key: str = "httpRoute", **members: Any) -> dict[str, Any]:
    return {key: {"action": {"weightedTargets": WT}, "match": match if match is not None else {"prefix": "/"}, **members}}


def groute(match: dict[str, Any] | None = None, **members: Any) -> dict[str, Any]:
    return {"grpcRoute": {"action": {"weightedTargets": WT}, "match": match or {}, **members}}


def gw(listener: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"listeners": [{"portMapping": {"port": 9080, "protocol": "http"}, **(listener or {})}]}


def gwroute(match: dict[str, Any] | None = None, action: dict[str, Any] | None = None, key: str = "httpRoute") -> dict[str, Any]:
    return {key: {"action": {"target": TARGET, **(action or {})}, "match": match if match is not None else {"prefix": "/"}}}


LONG = "x" * 256
INVALID: list[tuple[str, str, Any, str, str]] = [
    # (id, kind, spec, path, message fragment)
    ("mesh-enum", "mesh", {"egressFilter": {"type": "FOO"}}, "spec.egressFilter.type", "enum value set: [ALLOW_ALL, DROP_ALL]"),
    ("mesh-type-missing", "mesh", {"egressFilter": {}}, "spec.egressFilter.type", "Member must not be null"),
    ("mesh-null-member", "mesh", {"egressFilter": None}, "spec.egressFilter", "Member must not be null"),
    ("mesh-ip-pref", "mesh", {"serviceDiscovery": {"ipPreference": "IPv5"}}, "spec.serviceDiscovery.ipPreference", "IPv6_PREFERRED"),
    ("mesh-unknown", "mesh", {"egressfilter": {}}, "spec.egressfilter", "members of MeshSpec: [egressFilter, serviceDiscovery]"),
    ("spec-string", "mesh", "spec", "spec", "Member must be an object (got a string)"),
    ("spec-list", "virtualNode", [], "spec", "Member must be an object (got a list)"),
    ("spec-null", "route", None, "spec", "Member must be an object (got null)"),
    ("nested-not-object", "mesh", {"egressFilter": "DROP_ALL"}, "spec.egressFilter", "must be an object (got a string)"),
    # virtual node: listeners
    ("port-zero", "virtualNode", node({"portMapping": {"port": 0, "protocol": "http"}}), f"{L}.portMapping.port", "greater than or equal to 1"),
    ("port-big", "virtualNode", node({"portMapping": {"port": 65536, "protocol": "http"}}), f"{L}.portMapping.port", "less than or equal to 65535"),
    ("port-string", "virtualNode", node({"portMapping": {"port": "8080", "protocol": "http"}}), f"{L}.portMapping.port", "must be an integer (got a string)"),
    ("port-bool", "virtualNode", node({"portMapping": {"port": True, "protocol": "http"}}), f"{L}.portMapping.port", "must be an integer (got a boolean)"),
    ("port-float", "virtualNode", node({"portMapping": {"port": 8080.0, "protocol": "http"}}), f"{L}.portMapping.port", "must be an integer (got a number)"),
    ("protocol-enum", "virtualNode", node({"portMapping": {"port": 1, "protocol": "udp"}}), f"{L}.portMapping.protocol", "[http, tcp, http2, grpc]"),
    ("protocol-int", "virtualNode", node({"portMapping": {"port": 1, "protocol": 7}}), f"{L}.portMapping.protocol", "must be a string (got a number)"),
    ("portmapping-missing", "virtualNode", {"listeners": [{}], "serviceDiscovery": DNS}, f"{L}.portMapping", "Member must not be null"),
    ("listener-null", "virtualNode", {"listeners": [None], "serviceDiscovery": DNS}, f"{L}", "Member must not be null"),
    ("listeners-not-list", "virtualNode", {"listeners": NODE_LISTENER, "serviceDiscovery": DNS}, "spec.listeners", "must be a list (got an object)"),
    ("listeners-need-discovery", "virtualNode", {"listeners": [NODE_LISTENER]}, "spec.serviceDiscovery", "when listeners are set"),
    ("duplicate-ports", "virtualNode", {"listeners": [NODE_LISTENER, NODE_LISTENER], "serviceDiscovery": DNS}, "spec.listeners[1].portMapping.port", "unique"),
    ("pool-protocol", "virtualNode", node({"connectionPool": {"tcp": {"maxConnections": 1}}}), f"{L}.connectionPool.tcp", "use connectionPool.http"),
    ("pool-empty", "virtualNode", node({"connectionPool": {}}), f"{L}.connectionPool", "exactly one of [grpc, http, http2, tcp]"),
    ("pool-two", "virtualNode", node({"connectionPool": {"http": {"maxConnections": 1}, "tcp": {"maxConnections": 1}}}), f"{L}.connectionPool", "exactly one"),
    ("pool-zero", "virtualNode", node({"connectionPool": {"http": {"maxConnections": 0}}}), f"{L}.connectionPool.http.maxConnections", "greater than or equal to 1"),
    ("pool-pending-zero", "virtualNode", node({"connectionPool": {"http": {"maxConnections": 1, "maxPendingRequests": 0}}}), f"{L}.connectionPool.http.maxPendingRequests", "greater than or equal to 1"),
    ("pool-int32", "virtualNode", node({"connectionPool": {"http": {"maxConnections": 2**31}}}), f"{L}.connectionPool.http.maxConnections", "less than or equal to 2147483647"),
    ("timeout-protocol", "virtualNode", node({"timeout": {"grpc": {}}}), f"{L}.timeout.grpc", "use timeout.http"),
    ("timeout-unit", "virtualNode", node({"timeout": {"http": {"idle": {"unit": "m", "value": 1}}}}), f"{L}.timeout.http.idle.unit", "[s, ms]"),
    ("timeout-negative", "virtualNode", node({"timeout": {"http": {"perRequest": {"unit": "s", "value": -1}}}}), f"{L}.timeout.http.perRequest.value", "greater than or equal to 0"),
    ("hc-port", "virtualNode", node({"healthCheck": {**HC, "port": 9090}}), f"{L}.healthCheck.port", "portMapping.port (8080)"),
    ("hc-healthy", "virtualNode", node({"healthCheck": {**HC, "healthyThreshold": 1}}), f"{L}.healthCheck.healthyThreshold", "greater than or equal to 2"),
    ("hc-unhealthy", "virtualNode", node({"healthCheck": {**HC, "unhealthyThreshold": 11}}), f"{L}.healthCheck.unhealthyThreshold", "less than or equal to 10"),
    ("hc-interval", "virtualNode", node({"healthCheck": {**HC, "intervalMillis": 4999}}), f"{L}.healthCheck.intervalMillis", "greater than or equal to 5000"),
    ("hc-timeout", "virtualNode", node({"healthCheck": {**HC, "timeoutMillis": 60001}}), f"{L}.healthCheck.timeoutMillis", "less than or equal to 60000"),
    ("hc-protocol-missing", "virtualNode", node({"healthCheck": {k: v for k, v in HC.items() if k != "protocol"}}), f"{L}.healthCheck.protocol", "not be null"),
    ("outlier-percent", "virtualNode", node({"outlierDetection": {"baseEjectionDuration": DURATION_S, "interval": DURATION_S, "maxEjectionPercent": 101, "maxServerErrors": 1}}), f"{L}.outlierDetection.maxEjectionPercent", "less than or equal to 100"),
    ("outlier-errors", "virtualNode", node({"outlierDetection": {"baseEjectionDuration": DURATION_S, "interval": DURATION_S, "maxEjectionPercent": 1, "maxServerErrors": 0}}), f"{L}.outlierDetection.maxServerErrors", "greater than or equal to 1"),
    ("outlier-interval", "virtualNode", node({"outlierDetection": {"baseEjectionDuration": DURATION_S, "maxEjectionPercent": 1, "maxServerErrors": 1}}), f"{L}.outlierDetection.interval", "not be null"),
    ("tls-mode", "virtualNode", node_tls({"certificate": TLS_FILE, "mode": "OFF"}), f"{L}.tls.mode", "[STRICT, PERMISSIVE, DISABLED]"),
    ("tls-cert-union", "virtualNode", node_tls({"certificate": {}, "mode": "STRICT"}), f"{L}.tls.certificate", "exactly one of [acm, file, sds]"),
    ("tls-acm-arn", "virtualNode", node_tls({"certificate": {"acm": {}}, "mode": "STRICT"}), f"{L}.tls.certificate.acm.certificateArn", "not be null"),
    ("tls-chain-empty", "virtualNode", node_tls({"certificate": {"file": {"certificateChain": "", "privateKey": "/k"}}, "mode": "STRICT"}), f"{L}.tls.certificate.file.certificateChain", "greater than or equal to 1"),
    ("tls-key-long", "virtualNode", node_tls({"certificate": {"file": {"certificateChain": "/c", "privateKey": LONG}}, "mode": "STRICT"}), f"{L}.tls.certificate.file.privateKey", "less than or equal to 255"),
    ("tls-trust-acm", "virtualNode", node_tls({"certificate": TLS_FILE, "mode": "STRICT", "validation": {"trust": {"acm": {"certificateAuthorityArns": ["a"]}}}}), f"{L}.tls.validation.trust.acm", "ListenerTlsValidationContextTrust: [file, sds]"),
    ("san-empty", "virtualNode", node_tls({"certificate": TLS_FILE, "mode": "STRICT", "validation": {"subjectAlternativeNames": {"match": {"exact": [""]}}, "trust": {"sds": {"secretName": "s"}}}}), f"{L}.tls.validation.subjectAlternativeNames.match.exact[0]", "greater than or equal to 1"),
    # virtual node: discovery, backends, client policy, logging
    ("discovery-union", "virtualNode", node(serviceDiscovery={}), "spec.serviceDiscovery", "exactly one of [awsCloudMap, dns]"),
    ("discovery-both", "virtualNode", node(serviceDiscovery={**DNS, "awsCloudMap": {"namespaceName": "n", "serviceName": "s"}}), "spec.serviceDiscovery", "exactly one"),
    ("dns-hostname", "virtualNode", node(serviceDiscovery={"dns": {}}), "spec.serviceDiscovery.dns.hostname", "not be null"),
    ("dns-response", "virtualNode", node(serviceDiscovery={"dns": {"hostname": "h", "responseType": "ROUNDROBIN"}}), "spec.serviceDiscovery.dns.responseType", "[LOADBALANCER, ENDPOINTS]"),
    ("cloudmap-key", "virtualNode", node(serviceDiscovery={"awsCloudMap": {"namespaceName": "n", "serviceName": "s", "attributes": [{"key": "a b", "value": "v"}]}}), "spec.serviceDiscovery.awsCloudMap.attributes[0].key", "regular expression pattern: ^[a-zA-Z0-9!-~]+$"),
    ("cloudmap-value", "virtualNode", node(serviceDiscovery={"awsCloudMap": {"namespaceName": "n", "serviceName": "s", "attributes": [{"key": "a", "value": " v"}]}}), "spec.serviceDiscovery.awsCloudMap.attributes[0].value", "regular expression pattern"),
    ("cloudmap-newline", "virtualNode", node(serviceDiscovery={"awsCloudMap": {"namespaceName": "n", "serviceName": "s", "attributes": [{"key": "a\n", "value": "v"}]}}), "spec.serviceDiscovery.awsCloudMap.attributes[0].key", "regular expression pattern"),
    ("cloudmap-namespace", "virtualNode", node(serviceDiscovery={"awsCloudMap": {"namespaceName": "n" * 1025, "serviceName": "s"}}), "spec.serviceDiscovery.awsCloudMap.namespaceName", "less than or equal to 1024"),
    ("backend-union", "virtualNode", {"backends": [{}]}, "spec.backends[0]", "exactly one of [virtualService]"),
    ("backend-name", "virtualNode", {"backends": [{"virtualService": {}}]}, "spec.backends[0].virtualService.virtualServiceName", "not be null"),
    ("backend-second", "virtualNode", {"backends": [{"virtualService": {"virtualServiceName": "a"}}, {"virtualService": {"virtualServiceName": 5}}]}, "spec.backends[1].virtualService.virtualServiceName", "must be a string"),
    ("client-validation", "virtualNode", client_tls({}), "spec.backendDefaults.clientPolicy.tls.validation", "not be null"),
    ("client-ports", "virtualNode", client_tls({"ports": [0], "validation": {"trust": {"sds": {"secretName": "s"}}}}), "spec.backendDefaults.clientPolicy.tls.ports[0]", "greater than or equal to 1"),
    ("client-enforce", "virtualNode", client_tls({"enforce": "yes", "validation": {"trust": {"sds": {"secretName": "s"}}}}), "spec.backendDefaults.clientPolicy.tls.enforce", "must be a boolean (got a string)"),
    ("client-enforce-int", "virtualNode", client_tls({"enforce": 1, "validation": {"trust": {"sds": {"secretName": "s"}}}}), "spec.backendDefaults.clientPolicy.tls.enforce", "must be a boolean (got a number)"),
    ("ca-arns-empty", "virtualNode", client_tls({"validation": {"trust": {"acm": {"certificateAuthorityArns": []}}}}), "spec.backendDefaults.clientPolicy.tls.validation.trust.acm.certificateAuthorityArns", "greater than or equal to 1"),
    ("ca-arns-four", "virtualNode", client_tls({"validation": {"trust": {"acm": {"certificateAuthorityArns": ["a", "b", "c", "d"]}}}}), "spec.backendDefaults.clientPolicy.tls.validation.trust.acm.certificateAuthorityArns", "less than or equal to 3"),
    ("client-cert-acm", "virtualNode", client_tls({"certificate": {"acm": {"certificateArn": "a"}}, "validation": {"trust": {"sds": {"secretName": "s"}}}}), "spec.backendDefaults.clientPolicy.tls.certificate.acm", "ClientTlsCertificate: [file, sds]"),
    ("log-path", "virtualNode", {"logging": {"accessLog": {"file": {}}}}, "spec.logging.accessLog.file.path", "not be null"),
    ("log-format-union", "virtualNode", {"logging": {"accessLog": {"file": {"path": "/p", "format": {}}}}}, "spec.logging.accessLog.file.format", "exactly one of [json, text]"),
    ("log-json-key", "virtualNode", {"logging": {"accessLog": {"file": {"path": "/p", "format": {"json": [{"key": "", "value": "v"}]}}}}}, "spec.logging.accessLog.file.format.json[0].key", "greater than or equal to 1"),
    ("log-text-long", "virtualNode", {"logging": {"accessLog": {"file": {"path": "/p", "format": {"text": "t" * 1001}}}}}, "spec.logging.accessLog.file.format.text", "less than or equal to 1000"),
    # virtual service
    ("provider-union", "virtualService", {"provider": {}}, "spec.provider", "exactly one of [virtualNode, virtualRouter]"),
    ("provider-both", "virtualService", {"provider": {"virtualNode": {"virtualNodeName": "a"}, "virtualRouter": {"virtualRouterName": "b"}}}, "spec.provider", "exactly one"),
    ("provider-node-empty", "virtualService", {"provider": {"virtualNode": {"virtualNodeName": ""}}}, "spec.provider.virtualNode.virtualNodeName", "greater than or equal to 1"),
    ("provider-router-long", "virtualService", {"provider": {"virtualRouter": {"virtualRouterName": LONG}}}, "spec.provider.virtualRouter.virtualRouterName", "less than or equal to 255"),
    # virtual router
    ("router-protocol", "virtualRouter", {"listeners": [{"portMapping": {"port": 1, "protocol": "udp"}}]}, "spec.listeners[0].portMapping.protocol", "enum value set"),
    ("router-duplicate", "virtualRouter", {"listeners": [{"portMapping": {"port": 1, "protocol": "http"}}, {"portMapping": {"port": 1, "protocol": "grpc"}}]}, "spec.listeners[1].portMapping.port", "unique"),
    # route
    ("route-none", "route", {}, "spec", "exactly one route type of [grpcRoute, http2Route, httpRoute, tcpRoute]"),
    ("route-priority-only", "route", {"priority": 1}, "spec", "exactly one route type"),
    ("route-two", "route", {**hroute(), **TCP_ROUTE}, "spec", "exactly one route type"),
    ("route-unknown-type", "route", {"udpRoute": {}}, "spec.udpRoute", "members of RouteSpec"),
    ("prefix-slash", "route", hroute({"prefix": "tell"}), "spec.httpRoute.match.prefix", "start with '/'"),
    ("prefix-and-path", "route", hroute({"prefix": "/", "path": {"exact": "/a"}}), "spec.httpRoute.match.path", "not be set when prefix is set"),
    ("path-empty", "route", hroute({"path": {}}), "spec.httpRoute.match.path", "exactly one of [exact, regex]"),
    ("path-both", "route", hroute({"path": {"exact": "/a", "regex": "/a"}}), "spec.httpRoute.match.path", "exactly one of [exact, regex]"),
    ("path-exact-slash", "route", hroute({"path": {"exact": "a"}}), "spec.httpRoute.match.path.exact", "start with '/'"),
    ("path-regex-long", "route", hroute({"path": {"regex": LONG}}), "spec.httpRoute.match.path.regex", "less than or equal to 255"),
    ("scheme-http", "route", hroute({"prefix": "/", "scheme": "https"}), "spec.httpRoute.match.scheme", "only to http2Route"),
    ("scheme-enum", "route", hroute({"prefix": "/", "scheme": "ftp"}, key="http2Route"), "spec.http2Route.match.scheme", "[http, https]"),
    ("method-enum", "route", hroute({"prefix": "/", "method": "FETCH"}), "spec.httpRoute.match.method", "[GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, TRACE, PATCH]"),
    ("match-missing", "route", {"httpRoute": {"action": {"weightedTargets": WT}}}, "spec.httpRoute.match", "not be null"),
    ("action-missing", "route", {"http2Route": {"match": {"prefix": "/"}}}, "spec.http2Route.action", "not be null"),
    ("targets-empty", "route", {"httpRoute": {"action": {"weightedTargets": []}, "match": {"prefix": "/"}}}, "spec.httpRoute.action.weightedTargets", "greater than or equal to 1"),
    ("targets-eleven", "route", {"httpRoute": {"action": {"weightedTargets": WT * 11}, "match": {"prefix": "/"}}}, "spec.httpRoute.action.weightedTargets", "less than or equal to 10"),
    ("weight-big", "route", {"tcpRoute": {"action": {"weightedTargets": [{"virtualNode": "a", "weight": 101}]}}}, "spec.tcpRoute.action.weightedTargets[0].weight", "less than or equal to 100"),
    ("weight-negative", "route", {"tcpRoute": {"action": {"weightedTargets": [{"virtualNode": "a", "weight": -1}]}}}, "spec.tcpRoute.action.weightedTargets[0].weight", "greater than or equal to 0"),
    ("weight-missing", "route", {"tcpRoute": {"action": {"weightedTargets": [{"virtualNode": "a"}]}}}, "spec.tcpRoute.action.weightedTargets[0].weight", "not be null"),
    ("target-node-empty", "route", {"tcpRoute": {"action": {"weightedTargets": [{"virtualNode": "", "weight": 1}]}}}, "spec.tcpRoute.action.weightedTargets[0].virtualNode", "greater than or equal to 1"),
    ("target-port", "route", {"tcpRoute": {"action": {"weightedTargets": [{"virtualNode": "a", "weight": 1, "port": 0}]}}}, "spec.tcpRoute.action.weightedTargets[0].port", "greater than or equal to 1"),
    ("tcp-match-prefix", "route", {"tcpRoute": {"action": {"weightedTargets": WT}, "match": {"prefix": "/"}}}, "spec.tcpRoute.match.prefix", "members of TcpRouteMatch: [port]"),
    ("headers-empty", "route", hroute({"prefix": "/", "headers": []}), "spec.httpRoute.match.headers", "greater than or equal to 1"),
    ("headers-eleven", "route", hroute({"prefix": "/", "headers": [{"name": "h"}] * 11}), "spec.httpRoute.match.headers", "less than or equal to 10"),
    ("header-name-long", "route", hroute({"prefix": "/", "headers": [{"name": "h" * 51}]}), "spec.httpRoute.match.headers[0].name", "less than or equal to 50"),
    ("header-match-union", "route", hroute({"prefix": "/", "headers": [{"name": "h", "match": {"exact": "a", "prefix": "b"}}]}), "spec.httpRoute.match.headers[0].match", "exactly one of [exact, prefix, range, regex, suffix]"),
    ("header-range-start", "route", hroute({"prefix": "/", "headers": [{"name": "h", "match": {"range": {"end": 1}}}]}), "spec.httpRoute.match.headers[0].match.range.start", "not be null"),
    ("header-invert", "route", hroute({"prefix": "/", "headers": [{"name": "h", "invert": "true"}]}), "spec.httpRoute.match.headers[0].invert", "must be a boolean"),
    ("query-name", "route", hroute({"prefix": "/", "queryParameters": [{"match": {"exact": "a"}}]}), "spec.httpRoute.match.queryParameters[0].name", "not be null"),
    ("retry-no-events", "route", hroute(retryPolicy=RETRY), "spec.httpRoute.retryPolicy", "at least one of [httpRetryEvents, tcpRetryEvents]"),
    ("retry-event-enum", "route", hroute(retryPolicy={**RETRY, "httpRetryEvents": ["timeout"]}), "spec.httpRoute.retryPolicy.httpRetryEvents[0]", "server-error"),
    ("retry-tcp-two", "route", hroute(retryPolicy={**RETRY, "tcpRetryEvents": ["connection-error"] * 2}), "spec.httpRoute.retryPolicy.tcpRetryEvents", "less than or equal to 1"),
    ("retry-max-negative", "route", hroute(retryPolicy={**RETRY, "maxRetries": -1, "tcpRetryEvents": ["connection-error"]}), "spec.httpRoute.retryPolicy.maxRetries", "greater than or equal to 0"),
    ("retry-timeout-missing", "route", hroute(retryPolicy={"maxRetries": 1, "httpRetryEvents": ["server-error"]}), "spec.httpRoute.retryPolicy.perRetryTimeout", "not be null"),
    ("route-timeout-unit", "route", hroute(timeout={"perRequest": {"unit": "h", "value": 1}}), "spec.httpRoute.timeout.perRequest.unit", "[s, ms]"),
    ("grpc-method-needs-service", "route", groute({"methodName": "Get"}), "spec.grpcRoute.match.serviceName", "when methodName is set"),
    ("grpc-method-long", "route", groute({"methodName": "m" * 51, "serviceName": "s"}), "spec.grpcRoute.match.methodName", "less than or equal to 50"),
    ("grpc-events-enum", "route", groute(retryPolicy={**RETRY, "grpcRetryEvents": ["boom"]}), "spec.grpcRoute.retryPolicy.grpcRetryEvents[0]", "[cancelled, deadline-exceeded, internal, resource-exhausted, unavailable]"),
    ("grpc-events-six", "route", groute(retryPolicy={**RETRY, "grpcRetryEvents": ["internal"] * 6}), "spec.grpcRoute.retryPolicy.grpcRetryEvents", "less than or equal to 5"),
    ("grpc-retry-no-events", "route", groute(retryPolicy=RETRY), "spec.grpcRoute.retryPolicy", "at least one of [grpcRetryEvents, httpRetryEvents, tcpRetryEvents]"),
    ("grpc-metadata-empty", "route", groute({"metadata": []}), "spec.grpcRoute.match.metadata", "greater than or equal to 1"),
    ("grpc-metadata-union", "route", groute({"metadata": [{"name": "m", "match": {}}]}), "spec.grpcRoute.match.metadata[0].match", "exactly one"),
    ("grpc-prefix-unknown", "route", groute({"prefix": "/"}), "spec.grpcRoute.match.prefix", "members of GrpcRouteMatch"),
    ("priority-big", "route", {**TCP_ROUTE, "priority": 1001}, "spec.priority", "less than or equal to 1000"),
    ("priority-string", "route", {**TCP_ROUTE, "priority": "1"}, "spec.priority", "must be an integer (got a string)"),
    # virtual gateway
    ("gw-listeners-missing", "virtualGateway", {}, "spec.listeners", "not be null"),
    ("gw-listeners-empty", "virtualGateway", {"listeners": []}, "spec.listeners", "greater than or equal to 1"),
    ("gw-protocol", "virtualGateway", {"listeners": [{"portMapping": {"port": 1, "protocol": "tcp"}}]}, "spec.listeners[0].portMapping.protocol", "[http, http2, grpc]"),
    ("gw-pool-protocol", "virtualGateway", gw({"connectionPool": {"grpc": {"maxRequests": 1}}}), "spec.listeners[0].connectionPool.grpc", "use connectionPool.http"),
    ("gw-pool-tcp", "virtualGateway", gw({"connectionPool": {"tcp": {"maxConnections": 1}}}), "spec.listeners[0].connectionPool.tcp", "members of VirtualGatewayConnectionPool: [grpc, http, http2]"),
    ("gw-hc-protocol", "virtualGateway", gw({"healthCheck": {**HC, "protocol": "tcp"}}), "spec.listeners[0].healthCheck.protocol", "[http, http2, grpc]"),
    ("gw-hc-port", "virtualGateway", gw({"healthCheck": {**HC, "port": 1}}), "spec.listeners[0].healthCheck.port", "portMapping.port (9080)"),
    ("gw-duplicate", "virtualGateway", {"listeners": gw()["listeners"] * 2}, "spec.listeners[1].portMapping.port", "unique"),
    ("gw-timeout-unknown", "virtualGateway", gw({"timeout": {"http": {}}}), "spec.listeners[0].timeout", "members of VirtualGatewayListener"),
    ("gw-client-trust", "virtualGateway", {**gw(), "backendDefaults": {"clientPolicy": {"tls": {"validation": {"trust": {}}}}}}, "spec.backendDefaults.clientPolicy.tls.validation.trust", "exactly one of [acm, file, sds]"),
    ("gw-log-format", "virtualGateway", {**gw(), "logging": {"accessLog": {"file": {"path": "/p", "format": {"text": ""}}}}}, "spec.logging.accessLog.file.format.text", "greater than or equal to 1"),
    # gateway route
    ("gr-none", "gatewayRoute", {"priority": 1}, "spec", "exactly one route type of [grpcRoute, http2Route, httpRoute]"),
    ("gr-two", "gatewayRoute", {**gwroute(), **gwroute(key="http2Route")}, "spec", "exactly one route type"),
    ("gr-tcp", "gatewayRoute", {"tcpRoute": {}}, "spec.tcpRoute", "members of GatewayRouteSpec: [grpcRoute, http2Route, httpRoute, priority]"),
    ("gr-prefix", "gatewayRoute", gwroute({"prefix": "color1"}), "spec.httpRoute.match.prefix", "start with '/'"),
    ("gr-prefix-and-path", "gatewayRoute", gwroute({"prefix": "/", "path": {"regex": ".*"}}), "spec.httpRoute.match.path", "not be set when prefix is set"),
    ("gr-target-missing", "gatewayRoute", {"httpRoute": {"action": {}, "match": {"prefix": "/"}}}, "spec.httpRoute.action.target", "not be null"),
    ("gr-target-name", "gatewayRoute", gwroute(action={"target": {"virtualService": {"virtualServiceName": ""}}}), "spec.httpRoute.action.target.virtualService.virtualServiceName", "greater than or equal to 1"),
    ("gr-target-port", "gatewayRoute", gwroute(action={"target": {**TARGET, "port": 70000}}), "spec.httpRoute.action.target.port", "less than or equal to 65535"),
    ("gr-hostname-empty", "gatewayRoute", gwroute({"hostname": {}}), "spec.httpRoute.match.hostname", "exactly one of [exact, suffix]"),
    ("gr-hostname-long", "gatewayRoute", gwroute({"hostname": {"exact": "h" * 254}}), "spec.httpRoute.match.hostname.exact", "less than or equal to 253"),
    ("gr-rewrite-prefix-no-prefix", "gatewayRoute", gwroute({"path": {"exact": "/a"}}, {"rewrite": {"prefix": {"value": "/b/"}}}), "spec.httpRoute.action.rewrite.prefix", "unless match.prefix is set"),
    ("gr-rewrite-path-no-path", "gatewayRoute", gwroute({"prefix": "/a"}, {"rewrite": {"path": {"exact": "/b"}}}), "spec.httpRoute.action.rewrite.path", "unless match.path is set"),
    ("gr-rewrite-prefix-both", "gatewayRoute", gwroute({"prefix": "/a"}, {"rewrite": {"prefix": {"defaultPrefix": "ENABLED", "value": "/b"}}}), "spec.httpRoute.action.rewrite.prefix.value", "not be set when defaultPrefix is set"),
    ("gr-rewrite-prefix-slash", "gatewayRoute", gwroute({"prefix": "/a"}, {"rewrite": {"prefix": {"value": "b"}}}), "spec.httpRoute.action.rewrite.prefix.value", "start with '/'"),
    ("gr-rewrite-path-slash", "gatewayRoute", gwroute({"path": {"exact": "/a"}}, {"rewrite": {"path": {"exact": "b"}}}), "spec.httpRoute.action.rewrite.path.exact", "start with '/'"),
    ("gr-rewrite-host", "gatewayRoute", gwroute(action={"rewrite": {"hostname": {"defaultTargetHostname": "ON"}}}), "spec.httpRoute.action.rewrite.hostname.defaultTargetHostname", "[ENABLED, DISABLED]"),
    ("gr-grpc-metadata-empty", "gatewayRoute", {"grpcRoute": {"action": {"target": TARGET}, "match": {"metadata": []}}}, "spec.grpcRoute.match.metadata", "greater than or equal to 1"),
    ("gr-grpc-rewrite-prefix", "gatewayRoute", {"grpcRoute": {"action": {"target": TARGET, "rewrite": {"prefix": {}}}, "match": {}}}, "spec.grpcRoute.action.rewrite.prefix", "members of GrpcGatewayRouteRewrite: [hostname]"),
    ("gr-priority", "gatewayRoute", {**gwroute(), "priority": -1}, "spec.priority", "greater than or equal to 0"),
]


@pytest.mark.parametrize(("kind", "spec", "path", "fragment"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_spec_names_the_field_path(kind: str, spec: Any, path: str, fragment: str) -> None:
    with pytest.raises(BadRequestException) as caught:
        load_spec(kind, spec)
    message = caught.value.message
    assert f" at '{path}' failed to satisfy constraint: " in message
    part = next(p for p in message.split("; ") if f" at '{path}' " in p)
    assert fragment in part
    assert caught.value.status == 400 and caught.value.error_type == "BadRequestException"


def test_invalid_table_ids_are_unique() -> None:
    ids = [c[0] for c in INVALID]
    assert len(ids) == len(set(ids))


def test_message_is_aws_worded() -> None:
    with pytest.raises(BadRequestException) as caught:
        load_spec("mesh", {"egressFilter": {"type": "FOO"}})
    assert caught.value.message == (
        "1 validation error detected: Value 'FOO' at 'spec.egressFilter.type' failed to satisfy constraint: "
        "Member must satisfy enum value set: [ALLOW_ALL, DROP_ALL]"
    )


def test_several_errors_are_counted_and_ordered_by_path() -> None:
    spec = {
        "listeners": [
            {"portMapping": {"port": 70000, "protocol": "http"}},
            {"portMapping": {"port": "8080", "protocol": "udp"}},
        ],
        "serviceDiscovery": {"dns": {}},
    }
    with pytest.raises(BadRequestException) as caught:
        load_spec("virtualNode", spec)
    assert caught.value.message == (
        "4 validation errors detected: "
        "Value '70000' at 'spec.listeners[0].portMapping.port' failed to satisfy constraint: "
        "Member must have value less than or equal to 65535; "
        "Value '8080' at 'spec.listeners[1].portMapping.port' failed to satisfy constraint: "
        "Member must be an integer (got a string); "
        "Value 'udp' at 'spec.listeners[1].portMapping.protocol' failed to satisfy constraint: "
        "Member must satisfy enum value set: [http, tcp, http2, grpc]; "
        "Value null at 'spec.serviceDiscovery.dns.hostname' failed to satisfy constraint: Member must not be null"
    )


def test_list_indices_sort_numerically() -> None:
    spec = {"backends": [{"virtualService": {"virtualServiceName": "ok"}}] * 10 + [{}] + [{"x": 1}]}
    spec["backends"][2] = {}
    with pytest.raises(BadRequestException) as caught:
        load_spec("virtualNode", spec)
    paths = [p.split(" at '")[1].split("'")[0] for p in caught.value.message.split("; ")]
    # backends[11] has a field error (an unknown member), so its union rule is not checked.
    assert paths == ["spec.backends[2]", "spec.backends[10]", "spec.backends[11].x"]


def test_huge_error_lists_are_capped_but_counted() -> None:
    spec = {f"unknown{i}": i for i in range(40)}
    with pytest.raises(BadRequestException) as caught:
        load_spec("mesh", spec)
    assert caught.value.message.startswith("40 validation errors detected: ")
    assert caught.value.message.endswith("; and 15 more")


def test_long_values_are_truncated_in_messages() -> None:
    with pytest.raises(BadRequestException) as caught:
        load_spec("virtualService", {"provider": {"virtualNode": {"virtualNodeName": "n" * 5000}}})
    assert len(caught.value.message) < 400


def test_semantic_rules_run_only_after_the_shape_is_valid() -> None:
    # The scheme rule needs a well-formed route; shape errors are reported first.
    spec = hroute({"prefix": "/", "scheme": "https"}, action={"weightedTargets": []})
    with pytest.raises(BadRequestException) as caught:
        load_spec("route", spec)
    assert "scheme" not in caught.value.message


# ---------------------------------------------------------------------------------------------
# Names, account ids and tags.


@pytest.mark.parametrize("name", ["a", "m" * 255, "jazz.prod.svc.cluster.local", "colorteller-white-vn", "a b", "ünï"])
def test_check_name_accepts(name: str) -> None:
    assert check_name("meshName", name) == name


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("", "greater than or equal to 1"),
        ("m" * 256, "less than or equal to 255"),
        ("a/b", "must not contain '/'"),
        (5, "must be a string (got a number)"),
        (None, "must not be null"),
        (["a"], "must be a string (got a list)"),
    ],
)
def test_check_name_refuses(value: object, fragment: str) -> None:
    with pytest.raises(BadRequestException) as caught:
        check_name("virtualNodeName", value)
    assert " at 'virtualNodeName' failed to satisfy constraint: " in caught.value.message
    assert fragment in caught.value.message


def test_check_account_id() -> None:
    assert check_account_id("meshOwner", "123456789012") == "123456789012"
    for bad in ("12345678901", "1234567890123", 123456789012):
        with pytest.raises(BadRequestException, match="at 'meshOwner'"):
            check_account_id("meshOwner", bad)


def test_validate_tags_accepts_and_returns_the_list() -> None:
    tags = [{"key": "env", "value": "prod"}, {"key": "k" * 128, "value": ""}, {"key": "v", "value": "v" * 256}]
    assert validate_tags(tags) == tags
    assert validate_tags([]) == []
    assert validate_tags([{"key": "a", "value": "b"}] * 60) == [{"key": "a", "value": "b"}] * 60  # 50-max is the store's


@pytest.mark.parametrize(
    ("tags", "path", "fragment"),
    [
        ("env=prod", "tags", "must be a list (got a string)"),
        (None, "tags", "must not be null"),
        ([{"key": "", "value": "x"}], "tags[0].key", "greater than or equal to 1"),
        ([{"key": "k" * 129, "value": "x"}], "tags[0].key", "less than or equal to 128"),
        ([{"key": "a", "value": "v" * 257}], "tags[0].value", "less than or equal to 256"),
        ([{"key": "a"}], "tags[0].value", "must not be null"),
        ([{"key": "a", "value": "b", "extra": 1}], "tags[0].extra", "members of TagRef: [key, value]"),
        ([{"key": "a", "value": "b"}, "x"], "tags[1]", "must be an object"),
        ([{"key": "a", "value": 1}], "tags[0].value", "must be a string"),
    ],
)
def test_validate_tags_refuses(tags: object, path: str, fragment: str) -> None:
    with pytest.raises(BadRequestException) as caught:
        validate_tags(tags)
    assert f" at '{path}' failed to satisfy constraint: " in caught.value.message
    assert fragment in caught.value.message


def test_validate_tags_names_the_given_field() -> None:
    with pytest.raises(BadRequestException, match="at 'body.tags\\[0\\].key'"):
        validate_tags([{"key": "", "value": ""}], field="body.tags")


def test_validate_tag_keys() -> None:
    assert validate_tag_keys(["a", "b"]) == ["a", "b"]
    with pytest.raises(BadRequestException, match="at 'tagKeys\\[1\\]'"):
        validate_tag_keys(["a", ""])
    with pytest.raises(BadRequestException, match="at 'tagKeys'"):
        validate_tag_keys("a")


# ---------------------------------------------------------------------------------------------
# Cross-resource rules (stored, snake_case specs).


def stored(kind: str, wire: Any) -> dict[str, Any]:
    return load_spec(kind, wire)


def router(*listeners: tuple[int, str]) -> dict[str, Any]:
    return stored("virtualRouter", {"listeners": [{"portMapping": {"port": p, "protocol": proto}} for p, proto in listeners]})


def route_of(key: str, port: int | None = None) -> dict[str, Any]:
    if key == "tcpRoute":
        body: dict[str, Any] = {"action": {"weightedTargets": WT}}
        if port is not None:
            body["match"] = {"port": port}
    else:
        body = {"action": {"weightedTargets": WT}, "match": {} if port is None else {"port": port}}
    return stored("route", {key: body})


@pytest.mark.parametrize(("key", "protocol"), [("httpRoute", "http"), ("http2Route", "http2"), ("grpcRoute", "grpc"), ("tcpRoute", "tcp")])
def test_route_type_matching_the_single_listener_fits(key: str, protocol: str) -> None:
    check_route_fits_router(route_of(key), router((8080, protocol)))
    check_route_fits_router(route_of(key, 8080), router((8080, protocol)))


def test_route_type_must_match_the_listener_protocol() -> None:
    with pytest.raises(BadRequestException) as caught:
        check_route_fits_router(route_of("http2Route"), router((8080, "http")))
    assert caught.value.message == (
        "spec.http2Route does not match the virtual router listener on port 8080, whose protocol is http: use httpRoute"
    )
    with pytest.raises(BadRequestException, match="use tcpRoute"):
        check_route_fits_router(route_of("grpcRoute"), router((5432, "tcp")))


def test_single_listener_router_refuses_a_foreign_match_port() -> None:
    with pytest.raises(BadRequestException, match=r"spec.httpRoute.match.port 9090 must be the port of a listener .*\(ports 8080\)"):
        check_route_fits_router(route_of("httpRoute", 9090), router((8080, "http")))


def test_multi_listener_router_requires_match_port() -> None:
    multi = router((8080, "http"), (9090, "grpc"))
    with pytest.raises(BadRequestException) as caught:
        check_route_fits_router(route_of("httpRoute"), multi)
    assert caught.value.message == (
        "spec.httpRoute.match.port must be set: the virtual router has several listeners (ports 8080, 9090)"
    )
    check_route_fits_router(route_of("httpRoute", 8080), multi)
    check_route_fits_router(route_of("grpcRoute", 9090), multi)
    with pytest.raises(BadRequestException, match="port 9090, whose protocol is grpc: use grpcRoute"):
        check_route_fits_router(route_of("httpRoute", 9090), multi)
    with pytest.raises(BadRequestException, match="match.port 7000 must be the port of a listener"):
        check_route_fits_router(route_of("grpcRoute", 7000), multi)
    with pytest.raises(BadRequestException, match="spec.tcpRoute.match.port must be set"):
        check_route_fits_router(route_of("tcpRoute"), multi)


def test_router_without_listeners_accepts_any_route_type() -> None:
    for key in ("httpRoute", "http2Route", "grpcRoute", "tcpRoute"):
        check_route_fits_router(route_of(key), stored("virtualRouter", {}))


def gateway(*listeners: tuple[int, str]) -> dict[str, Any]:
    return stored("virtualGateway", {"listeners": [{"portMapping": {"port": p, "protocol": proto}} for p, proto in listeners]})


def gateway_route_of(key: str, port: int | None = None) -> dict[str, Any]:
    match: dict[str, Any] = {} if key == "grpcRoute" else {"prefix": "/"}
    if port is not None:
        match["port"] = port
    return stored("gatewayRoute", {key: {"action": {"target": TARGET}, "match": match}})


def test_gateway_route_fits_gateway() -> None:
    for key, protocol in (("httpRoute", "http"), ("http2Route", "http2"), ("grpcRoute", "grpc")):
        check_gateway_route_fits_gateway(gateway_route_of(key), gateway((9080, protocol)))
    with pytest.raises(BadRequestException) as caught:
        check_gateway_route_fits_gateway(gateway_route_of("grpcRoute"), gateway((9080, "http")))
    assert caught.value.message == (
        "spec.grpcRoute does not match the virtual gateway listener on port 9080, whose protocol is http: use httpRoute"
    )


def test_multi_listener_gateway_requires_match_port() -> None:
    multi = gateway((1010, "http"), (2020, "http"))
    with pytest.raises(BadRequestException, match=r"spec.httpRoute.match.port must be set: the virtual gateway has several listeners \(ports 1010, 2020\)"):
        check_gateway_route_fits_gateway(gateway_route_of("httpRoute"), multi)
    check_gateway_route_fits_gateway(gateway_route_of("httpRoute", 2020), multi)
    with pytest.raises(BadRequestException, match="3030 must be the port of a listener of the virtual gateway"):
        check_gateway_route_fits_gateway(gateway_route_of("httpRoute", 3030), multi)


# ---------------------------------------------------------------------------------------------
# The schemas against botocore's model: names, members, required members, unions, enums, bounds.

MODEL = botocore.session.get_session().get_service_model("appmesh")

# Where meshplane is deliberately stricter than the model (each documented in the schema module).
EXTRA_ENUMS = {"HttpRetryPolicyEvent"}  # documented values, free string in the model
EXTRA_LIST_BOUNDS = {("VirtualGatewaySpec", "listeners")}  # at least one listener
EXACTLY_ONE_NOT_UNION = {"HttpPathMatch", "GatewayRouteHostnameMatch"}


def _validators(field: fields.Field, cls: type) -> list[Any]:
    return [v for v in field.validators if isinstance(v, cls)]


def _check_scalar(owner: str, member: str, field: fields.Field, shape: Any) -> None:
    where = f"{owner}.{member}"
    meta = shape.metadata
    if shape.type_name == "string":
        assert isinstance(field, Str), where
        enums = _validators(field, OneOf)
        if shape.enum:
            assert [list(v.choices) for v in enums] == [list(shape.enum)], where
        elif shape.name not in EXTRA_ENUMS:
            assert not enums, where
        lengths = _validators(field, Length)
        if "min" in meta or "max" in meta:
            assert [(v.min, v.max) for v in lengths] == [(meta.get("min"), meta.get("max"))], where
        else:
            assert not lengths, where
        patterns = _validators(field, Pattern)
        assert [p.regex.pattern for p in patterns] == ([meta["pattern"]] if "pattern" in meta else []), where
    elif shape.type_name in ("integer", "long"):
        assert isinstance(field, Int), where
        (bounds,) = _validators(field, Range)
        low, high = INT64 if shape.type_name == "long" else INT32
        assert (bounds.min, bounds.max) == (meta.get("min", low), meta.get("max", high)), where
    elif shape.type_name == "boolean":
        assert isinstance(field, Bool), where
    else:
        raise AssertionError(f"{where}: unexpected type {shape.type_name}")


def _check_field(owner: str, member: str, field: fields.Field, shape: Any, seen: set[str]) -> None:
    where = f"{owner}.{member}"
    if shape.type_name == "structure":
        assert isinstance(field, Obj), where
        _check_structure(type(field.schema), shape, seen)
    elif shape.type_name == "list":
        assert isinstance(field, ListOf), where
        lengths = _validators(field, Length)
        meta = shape.metadata
        if (owner, member) in EXTRA_LIST_BOUNDS:
            assert lengths, where
        elif "min" in meta or "max" in meta:
            assert [(v.min, v.max) for v in lengths] == [(meta.get("min"), meta.get("max"))], where
        else:
            assert not lengths, where
        _check_field(owner, member + "[]", field.inner, shape.member, seen)
    else:
        _check_scalar(owner, member, field, shape)


def _check_structure(schema_cls: type[CamelCaseSchema], shape: Any, seen: set[str]) -> None:
    assert schema_cls.__name__ == shape.name + "Schema"
    if shape.name in seen:
        return
    seen.add(shape.name)
    assert schema_cls.wire_members() == list(shape.members), shape.name
    is_union = bool(shape._shape_model.get("union"))
    assert issubclass(schema_cls, UnionSchema) == is_union, shape.name
    schema = schema_cls()
    by_wire = {f.data_key: f for f in schema.fields.values()}
    required = {key for key, f in by_wire.items() if f.required}
    assert required == set(shape.required_members), shape.name
    for member, member_shape in shape.members.items():
        _check_field(shape.name, member, by_wire[member], member_shape, seen)


def test_spec_schemas_match_the_botocore_model() -> None:
    seen: set[str] = set()
    for cls in SPEC_SCHEMAS.values():
        _check_structure(cls, MODEL.shape_for(cls.shape_name()), seen)
    # Every structure reachable from the seven specs was compared.
    assert seen == _reachable_structures([MODEL.shape_for(cls.shape_name()) for cls in SPEC_SCHEMAS.values()])
    assert EXACTLY_ONE_NOT_UNION <= seen


def _reachable_structures(shapes: list[Any]) -> set[str]:
    found: set[str] = set()
    todo = list(shapes)
    while todo:
        shape = todo.pop()
        if shape.type_name == "list":
            todo.append(shape.member)
        elif shape.type_name == "structure" and shape.name not in found:
            found.add(shape.name)
            todo.extend(shape.members.values())
    return found


def _body_members(shape_name: str) -> tuple[list[str], set[str]]:
    shape = MODEL.shape_for(shape_name)
    body = [m for m, s in shape.members.items() if "location" not in s.serialization]
    return body, set(shape.required_members) & set(body)


ENVELOPES = [
    *[(f"{label}Data", f"{label}DataSchema") for label in ("Mesh", "VirtualNode", "VirtualService", "VirtualRouter", "Route", "VirtualGateway", "GatewayRoute")],
    *[(f"{label}Ref", f"{label}RefSchema") for label in ("Mesh", "VirtualNode", "VirtualService", "VirtualRouter", "Route", "VirtualGateway", "GatewayRoute")],
    *[(f"{label}Status", f"{label}StatusSchema") for label in ("Mesh", "VirtualNode", "VirtualService", "VirtualRouter", "Route", "VirtualGateway", "GatewayRoute")],
    *[(f"{verb}{label}Input", f"{verb}{label}InputSchema") for verb in ("Create", "Update") for label in ("Mesh", "VirtualNode", "VirtualService", "VirtualRouter", "Route", "VirtualGateway", "GatewayRoute")],
    *[(f"List{c}Output", f"List{c}OutputSchema") for c in ("Meshes", "VirtualNodes", "VirtualServices", "VirtualRouters", "Routes", "VirtualGateways", "GatewayRoutes")],
    ("ResourceMetadata", "ResourceMetadataSchema"),
    ("TagRef", "TagRefSchema"),
    ("ListTagsForResourceOutput", "ListTagsForResourceOutputSchema"),
    ("TagResourceInput", "TagResourceInputSchema"),
    ("UntagResourceInput", "UntagResourceInputSchema"),
    ("TagResourceOutput", "TagResourceOutputSchema"),
    ("UntagResourceOutput", "UntagResourceOutputSchema"),
]


@pytest.mark.parametrize(("shape_name", "class_name"), ENVELOPES, ids=[e[0] for e in ENVELOPES])
def test_envelope_schemas_match_the_botocore_body_members(shape_name: str, class_name: str) -> None:
    cls = getattr(envelopes, class_name)
    body, required = _body_members(shape_name)
    schema = cls()
    assert cls.wire_members() == body
    assert {f.data_key for f in schema.fields.values() if f.required} == required


def test_envelope_schemas_describe_a_real_response() -> None:
    response = {
        "meshName": "dj-app",
        "metadata": {
            "arn": "arn:aws:appmesh:us-east-1:123456789012:mesh/dj-app/virtualNode/dj",
            "createdAt": 1649252750.072,
            "lastUpdatedAt": 1649252750,
            "meshOwner": "123456789012",
            "resourceOwner": "123456789012",
            "uid": "a1b2c3d4-5678-90ab-cdef-11111EXAMPLE",
            "version": 1,
        },
        "spec": http_node("dj", "dj.prod.svc.cluster.local"),
        "status": {"status": "ACTIVE"},
        "virtualNodeName": "dj",
    }
    schema = envelopes.VirtualNodeDataSchema()
    assert schema.dump(schema.load(response)) == response


# ---------------------------------------------------------------------------------------------
# The compiled path (fast.py) against marshmallow's own implementation, and robustness.


def _marshmallow_outcome(kind: str, wire: Any) -> tuple[str, Any]:
    # partial=False makes every schema in the tree take marshmallow's own load path.
    from marshmallow import ValidationError

    try:
        return "ok", SPEC_SCHEMAS[kind]().load(wire, partial=False)
    except ValidationError as err:
        return "error", set(flatten(err.messages))


def _fast_outcome(kind: str, wire: Any) -> tuple[str, Any]:
    from marshmallow import ValidationError

    try:
        return "ok", SPEC_SCHEMAS[kind]().load(wire)
    except ValidationError as err:
        return "error", set(flatten(err.messages))


def assert_paths_agree(kind: str, wire: Any) -> None:
    """The compiled path and marshmallow's own: same result when valid, same errors when not."""
    slow, fast = _marshmallow_outcome(kind, wire), _fast_outcome(kind, wire)
    assert slow[0] == fast[0], (slow, fast)
    if slow[0] == "ok":
        assert slow[1] == fast[1]
        schema = SPEC_SCHEMAS[kind]()
        assert schema.dump(fast[1]) == schema.dump(fast[1], many=False)
    else:
        assert slow[1] == fast[1], (slow[1], fast[1])


@pytest.mark.parametrize("case", VALID + [(c[1], c[2]) for c in INVALID], ids=lambda c: c[0])
def test_compiled_path_agrees_with_marshmallow(case: tuple[str, Any]) -> None:
    assert_paths_agree(*case)


def _keys_of(cls: type[CamelCaseSchema], seen: set[type] | None = None) -> set[str]:
    """Every wire member name in the tree below ``cls``."""
    seen = seen or set()
    if cls in seen:
        return set()
    seen.add(cls)
    names = set(cls.wire_members())
    for field in cls().fields.values():
        inner = field.inner if isinstance(field, fields.List) else field
        if isinstance(inner, fields.Nested):
            names |= _keys_of(type(inner.schema), seen)
    return names


WIRE_NAMES = sorted({m for cls in SPEC_SCHEMAS.values() for m in _keys_of(cls)})
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.sampled_from(WIRE_NAMES) | st.text(max_size=6), children, max_size=4),
    max_leaves=16,
)

FAST = settings(max_examples=150, deadline=None, database=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(kind=st.sampled_from(sorted(SPEC_SCHEMAS)), wire=JSON)
def test_arbitrary_json_raises_only_bad_request(kind: str, wire: Any) -> None:
    try:
        stored_spec = load_spec(kind, wire)
    except BadRequestException as err:
        assert err.message.split(" ")[1] in ("validation",) and " detected: " in err.message
    else:
        assert dump_spec(kind, stored_spec) == wire


def _junk() -> st.SearchStrategy[Any]:
    return st.none() | st.booleans() | st.integers(-3, 70000) | st.floats(-1, 1) | st.text(max_size=4) | st.just([]) | st.just({})


def _value_for(field: fields.Field, plausible: bool) -> st.SearchStrategy[Any]:
    """Values for ``field``: with ``plausible``, values meant to pass the field's own constraints
    (rules across members may still fail); otherwise edge values and, sometimes, junk."""
    if isinstance(field, Obj):
        good = st.deferred(lambda: _object_for(type(field.schema), plausible))
    elif isinstance(field, ListOf):
        lengths = [v for v in field.validators if isinstance(v, Length)]
        low = lengths[0].min if lengths and lengths[0].min is not None else 0
        high = min(lengths[0].max, 2) if lengths and lengths[0].max is not None else 2
        good = st.lists(_value_for(field.inner, plausible), min_size=low if plausible else 0, max_size=max(low, high))
    elif isinstance(field, Str):
        choices = [v for v in field.validators if isinstance(v, OneOf)]
        if choices:
            good = st.sampled_from(list(choices[0].choices))
        elif plausible:
            good = st.sampled_from(["/a", "/", "/x.y"])
        else:
            good = st.sampled_from(["/", "/a", "a", "", "x" * 256, "a b", "h.local"])
    elif isinstance(field, Int):
        (bounds,) = [v for v in field.validators if isinstance(v, Range)]
        if plausible:
            good = st.integers(bounds.min, min(bounds.max, bounds.min + 2))
        else:
            edges = {bounds.min, bounds.max, bounds.min - 1, bounds.max + 1}
            good = st.integers(bounds.min, min(bounds.max, bounds.min + 100)) | st.sampled_from(sorted(edges))
    elif isinstance(field, Bool):
        good = st.booleans()
    else:
        raise AssertionError(field)
    return good if plausible else st.one_of(good, good, good, good, _junk())


_OBJECTS: dict[tuple[type, bool], st.SearchStrategy[Any]] = {}


def _object_for(cls: type[CamelCaseSchema], plausible: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    key = (cls, plausible)
    if key not in _OBJECTS:
        schema = cls()
        members = {f.data_key: _value_for(f, plausible) for f in schema.fields.values()}
        if plausible and issubclass(cls, UnionSchema):
            _OBJECTS[key] = st.one_of([st.fixed_dictionaries({k: v}) for k, v in members.items()])
        else:
            required = {k: v for k, v in members.items() if schema.fields[schema_attr(schema, k)].required}
            optional = {k: v for k, v in members.items() if k not in required}
            _OBJECTS[key] = st.fixed_dictionaries(required, optional=optional)
    return _OBJECTS[key]


def schema_attr(schema: CamelCaseSchema, wire: str) -> str:
    return next(attr for attr, f in schema.fields.items() if f.data_key == wire)


@FAST
@given(data=st.data())
def test_schema_shaped_input_raises_only_bad_request_and_round_trips(data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from(sorted(SPEC_SCHEMAS)))
    wire = data.draw(_object_for(SPEC_SCHEMAS[kind], plausible=data.draw(st.booleans())))
    try:
        stored_spec = load_spec(kind, wire)
    except BadRequestException as err:
        assert " validation error" in err.message
    else:
        assert dump_spec(kind, stored_spec) == wire
    assert_paths_agree(kind, wire)


def test_load_spec_is_fast_enough() -> None:
    # A regression guard with a wide margin (measured ~20-40 us per call on the 2-core dev machine).
    spec = http_node("dj", "dj.prod.svc.cluster.local", backends=("jazz.prod.svc.cluster.local",))
    n = 300
    start = time.perf_counter()
    for _ in range(n):
        load_spec("virtualNode", spec)
    per_call = (time.perf_counter() - start) / n
    assert per_call < 0.002


# ---------------------------------------------------------------------------------------------
# OpenAPI.


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return build_openapi()


def _operations(document: dict[str, Any]) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """The App Mesh operations (meshplane's own /meshplane/v1 and /metrics paths left out)."""
    return {
        op["operationId"]: (method, path, op)
        for path, item in document["paths"].items()
        for method, op in item.items()
        if path.startswith("/v20190125/") or op["operationId"] == "ListProxies"
    }


def test_openapi_lists_every_app_mesh_operation_as_botocore_does(document: dict[str, Any]) -> None:
    ops = _operations(document)
    assert document["openapi"] == "3.0.3"
    assert sorted(ops) == sorted(MODEL.operation_names)
    params = document["components"]["parameters"]
    for name in MODEL.operation_names:
        model_op = MODEL.operation_model(name)
        method, path, op = ops[name]
        assert method.upper() == model_op.http["method"], name
        assert path == model_op.http["requestUri"], name
        resolved = [params[p["$ref"].rsplit("/", 1)[1]] for p in op["parameters"]]
        locations = {
            (m.serialization.get("location"), m.serialization.get("name", n))
            for n, m in model_op.input_shape.members.items()
            if "location" in m.serialization
        }
        assert {("uri" if p["in"] == "path" else "querystring", p["name"]) for p in resolved} == locations, name
        required_query = {p["name"] for p in resolved if p["in"] == "query" and p.get("required")}
        assert required_query == {
            n for n in model_op.input_shape.required_members if model_op.input_shape.members[n].serialization.get("location") == "querystring"
        }, name
        errors = {e.name for e in model_op.error_shapes}
        described = {name for code, r in op["responses"].items() if code != "200" for name in r["description"].split(" | ")}
        assert described == errors, name


def test_openapi_operations_map_to_kinds_and_schemas(document: dict[str, Any]) -> None:
    ops = _operations(document)
    kinds_seen = {op["x-appmesh-kind"] for _, _, op in ops.values() if "x-appmesh-kind" in op}
    assert kinds_seen == set(SPEC_SCHEMAS)
    assert sum("x-appmesh-kind" in op for _, _, op in ops.values()) == 35
    _, _, create = ops["CreateVirtualNode"]
    assert create["x-appmesh-action"] == "create"
    assert create["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/CreateVirtualNodeInput"}
    assert create["responses"]["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/VirtualNodeData"}
    _, _, listing = ops["ListRoutes"]
    assert listing["responses"]["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ListRoutesOutput"}
    assert listing["responses"]["404"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    assert ops["UpdateMesh"][2]["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/UpdateMeshInput"}
    assert "requestBody" not in ops["DescribeMesh"][2]


def test_openapi_components_are_named_after_app_mesh_shapes(document: dict[str, Any]) -> None:
    components = document["components"]["schemas"]
    for name in ("VirtualNodeSpec", "HttpRoute", "Duration", "WeightedTarget", "GatewayRouteSpec", "ResourceMetadata", "TagRef", "Error"):
        assert name in components
    assert components["PortMapping"] == {
        "type": "object",
        "properties": {
            "port": {"type": "integer", "format": "int32", "minimum": 1, "maximum": 65535},
            "protocol": {"type": "string", "enum": ["http", "tcp", "http2", "grpc"]},
        },
        "required": ["port", "protocol"],
        "additionalProperties": False,
    }
    assert components["Error"]["properties"]["__type"]["type"] == "string"
    assert components["ResourceMetadata"]["properties"]["createdAt"]["type"] == "number"
    assert components["ResourceMetadata"]["properties"]["meshOwner"] == {"type": "string", "minLength": 12, "maxLength": 12}


def test_openapi_marks_exactly_the_botocore_unions(document: dict[str, Any]) -> None:
    """Every botocore tagged union (and nothing else) says ``minProperties: 1``/``maxProperties: 1``."""
    components = document["components"]["schemas"]
    marked = {name for name, c in components.items() if c.get("minProperties") == 1 and c.get("maxProperties") == 1}
    unions = {name for name in MODEL.shape_names if getattr(MODEL.shape_for(name), "is_tagged_union", False)}
    assert unions and marked == unions
    assert not any("maxProperties" in c for name, c in components.items() if name not in unions)


def test_openapi_is_deterministic_and_written_sorted(tmp_path: Any, document: dict[str, Any]) -> None:
    assert build_openapi() == document
    target = tmp_path / "openapi.json"
    write_openapi(str(target))
    text = target.read_text()
    assert text.endswith("}\n")
    assert text == json.dumps(document, indent=2, sort_keys=True) + "\n"


def test_openapi_takes_extra_paths() -> None:
    extra = {"/meshplane/v1/proxies": {"get": {"operationId": "ListProxies", "responses": {"200": {"description": "ok"}}}}}
    document = build_openapi(extra_paths=extra)
    assert document["paths"]["/meshplane/v1/proxies"]["get"]["operationId"] == "ListProxies"
    assert len(_operations(document)) == 39


def test_public_api_is_exported() -> None:
    assert set(schemas.__all__) == {
        "SPEC_SCHEMAS",
        "check_account_id",
        "check_gateway_route_fits_gateway",
        "check_name",
        "check_route_fits_router",
        "dump_spec",
        "load_spec",
        "validate_tag_keys",
        "validate_tags",
    }
