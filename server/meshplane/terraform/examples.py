"""The example usages of the reference pages (docs/terraform/), as data the docs generator renders.

Each example is a resource's identity and its *wire* spec (App Mesh JSON, camelCase), so that the
HCL shown in the docs is rendered through the provider's own schema (docs.py) and the same spec can
be checked by the server's validation (tests/terraform/test_docs.py loads every one with
``load_spec`` and applies them all with real Terraform). Together they form one small application,
the ``simpleapp`` mesh of hashicorp/aws's App Mesh examples: a `Ref` makes one resource point at
another (``mesh_name = meshplane_mesh.simple.id``), which also orders creation and destruction.

The first example of each resource also gives its data-source example and its import example.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Ref:
    """A value written as an HCL expression (``expr``) that evaluates to ``value``."""

    expr: str
    value: str


@dataclass(frozen=True)
class Example:
    """One ``resource`` block of a reference page.

    :param label: the resource's local name (unique per type across all the examples).
    :param identity: Terraform identity attribute -> literal value or `Ref`.
    :param spec: the wire spec (may hold `Ref` values); None writes no ``spec`` block.
    """

    title: str
    label: str
    identity: dict[str, str | Ref]
    spec: dict[str, Any] | None = None
    tags: dict[str, str] = field(default_factory=dict)

    def identity_values(self) -> dict[str, str]:
        """The identity as plain strings (what the import id and the data source use)."""
        return {k: v.value if isinstance(v, Ref) else v for k, v in self.identity.items()}

    def wire_spec(self) -> dict[str, Any] | None:
        """The spec as the API receives it (every `Ref` replaced by its value)."""
        return None if self.spec is None else _literal(self.spec)


def _literal(value: Any) -> Any:
    if isinstance(value, Ref):
        return value.value
    if isinstance(value, dict):
        return {k: _literal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_literal(v) for v in value]
    return value


MESH = Ref("meshplane_mesh.simple.id", "simpleapp")
DOMAIN = "simpleapp.local"


def _port(port: int = 8080, protocol: str = "http") -> dict[str, Any]:
    return {"portMapping": {"port": port, "protocol": protocol}}


EXAMPLES: dict[str, tuple[Example, ...]] = {
    "meshplane_mesh": (
        Example("Basic", "simple", {"name": "simpleapp"}),
        Example(
            "Egress filter and IP preference", "open", {"name": "open-mesh"},
            spec={"egressFilter": {"type": "ALLOW_ALL"}, "serviceDiscovery": {"ipPreference": "IPv4_PREFERRED"}},
            tags={"Environment": "dev"},
        ),
    ),
    "meshplane_virtual_node": (
        Example(
            "Basic (DNS service discovery)", "serviceb1", {"name": "serviceBv1", "mesh_name": MESH},
            spec={
                "listeners": [_port()],
                "backends": [{"virtualService": {"virtualServiceName": f"servicea.{DOMAIN}"}}],
                "serviceDiscovery": {"dns": {"hostname": f"serviceb.{DOMAIN}"}},
            },
        ),
        Example(
            "AWS Cloud Map service discovery", "serviceb2", {"name": "serviceBv2", "mesh_name": MESH},
            spec={
                "listeners": [_port()],
                "serviceDiscovery": {"awsCloudMap": {
                    "namespaceName": DOMAIN,
                    "serviceName": "serviceb",
                    "attributes": [{"key": "stack", "value": "blue"}],
                }},
            },
        ),
        Example(
            "Listener health check, timeout and access log", "servicec1", {"name": "serviceCv1", "mesh_name": MESH},
            spec={
                "listeners": [{
                    **_port(),
                    "healthCheck": {
                        "protocol": "http", "path": "/ping", "healthyThreshold": 2, "unhealthyThreshold": 2,
                        "timeoutMillis": 2000, "intervalMillis": 5000,
                    },
                    "timeout": {"http": {"perRequest": {"unit": "s", "value": 15}}},
                }],
                "serviceDiscovery": {"dns": {"hostname": f"servicec.{DOMAIN}"}},
                "logging": {"accessLog": {"file": {"path": "/dev/stdout"}}},
            },
        ),
    ),
    "meshplane_virtual_service": (
        Example(
            "Virtual node provider", "servicea", {"name": f"servicea.{DOMAIN}", "mesh_name": MESH},
            spec={"provider": {"virtualNode": {
                "virtualNodeName": Ref("meshplane_virtual_node.serviceb1.name", "serviceBv1")}}},
        ),
        Example(
            "Virtual router provider", "serviceb", {"name": f"serviceb.{DOMAIN}", "mesh_name": MESH},
            spec={"provider": {"virtualRouter": {
                "virtualRouterName": Ref("meshplane_virtual_router.serviceb.name", "serviceB")}}},
        ),
    ),
    "meshplane_virtual_router": (
        Example(
            "Basic", "serviceb", {"name": "serviceB", "mesh_name": MESH},
            spec={"listeners": [_port()]},
        ),
    ),
    "meshplane_route": (
        Example(
            "HTTP routing (weighted targets)", "serviceb",
            {"name": "serviceB-route", "mesh_name": MESH,
             "virtual_router_name": Ref("meshplane_virtual_router.serviceb.name", "serviceB")},
            spec={"httpRoute": {
                "match": {"prefix": "/"},
                "action": {"weightedTargets": [
                    {"virtualNode": Ref("meshplane_virtual_node.serviceb1.name", "serviceBv1"), "weight": 90},
                    {"virtualNode": Ref("meshplane_virtual_node.serviceb2.name", "serviceBv2"), "weight": 10},
                ]},
            }},
        ),
        Example(
            "HTTP header routing", "serviceb_header",
            {"name": "serviceB-header-route", "mesh_name": MESH,
             "virtual_router_name": Ref("meshplane_virtual_router.serviceb.name", "serviceB")},
            spec={
                "priority": 10,
                "httpRoute": {
                    "match": {
                        "method": "POST",
                        "prefix": "/",
                        "headers": [{"name": "clientRequestId", "match": {"prefix": "123"}}],
                    },
                    "action": {"weightedTargets": [
                        {"virtualNode": Ref("meshplane_virtual_node.serviceb1.name", "serviceBv1"), "weight": 100},
                    ]},
                },
            },
        ),
        Example(
            "Retry policy and timeout", "serviceb_retry",
            {"name": "serviceB-retry-route", "mesh_name": MESH,
             "virtual_router_name": Ref("meshplane_virtual_router.serviceb.name", "serviceB")},
            spec={
                "priority": 20,
                "httpRoute": {
                    "match": {"prefix": "/orders"},
                    "retryPolicy": {
                        "httpRetryEvents": ["server-error", "gateway-error"],
                        "maxRetries": 2,
                        "perRetryTimeout": {"unit": "s", "value": 5},
                    },
                    "timeout": {"perRequest": {"unit": "s", "value": 15}},
                    "action": {"weightedTargets": [
                        {"virtualNode": Ref("meshplane_virtual_node.serviceb1.name", "serviceBv1"), "weight": 100},
                    ]},
                },
            },
        ),
    ),
    "meshplane_virtual_gateway": (
        Example(
            "Basic", "example", {"name": "example-virtual-gateway", "mesh_name": MESH},
            spec={"listeners": [_port()]},
            tags={"Environment": "test"},
        ),
        Example(
            "TLS listener and access log", "tls", {"name": "tls-virtual-gateway", "mesh_name": MESH},
            spec={
                "listeners": [{
                    **_port(8443),
                    "tls": {
                        "mode": "STRICT",
                        "certificate": {"file": {
                            "certificateChain": "/certs/gateway.crt", "privateKey": "/certs/gateway.key"}},
                    },
                }],
                "logging": {"accessLog": {"file": {"path": "/dev/stdout", "format": {"text": "%START_TIME% %REQ(:PATH)%\n"}}}},
            },
        ),
    ),
    "meshplane_gateway_route": (
        Example(
            "HTTP route to a virtual service", "example",
            {"name": "example-gateway-route", "mesh_name": MESH,
             "virtual_gateway_name": Ref("meshplane_virtual_gateway.example.name", "example-virtual-gateway")},
            spec={"httpRoute": {
                "match": {"prefix": "/"},
                "action": {"target": {"virtualService": {
                    "virtualServiceName": Ref("meshplane_virtual_service.servicea.name", f"servicea.{DOMAIN}")}}},
            }},
        ),
        Example(
            "Host name match and prefix rewrite", "api",
            {"name": "api-gateway-route", "mesh_name": MESH,
             "virtual_gateway_name": Ref("meshplane_virtual_gateway.example.name", "example-virtual-gateway")},
            spec={
                "priority": 10,
                "httpRoute": {
                    "match": {"prefix": "/api/", "hostname": {"exact": "api.example.com"}},
                    "action": {
                        "target": {"virtualService": {
                            "virtualServiceName": Ref("meshplane_virtual_service.serviceb.name", f"serviceb.{DOMAIN}")}},
                        "rewrite": {"prefix": {"value": "/"}},
                    },
                },
            },
        ),
    ),
}
"""Resource type -> its examples, first one first (keys: every resource of terraform.json)."""
