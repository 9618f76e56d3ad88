"""Shapes of meshplane's own endpoints (/meshplane/v1/proxies), for the OpenAPI document.

These are responses only (nothing here validates input), in the API's camelCase style.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields


class ProxyTypeStatusSchema(Schema):
    state = fields.String(metadata={"enum": ["SYNCED", "STALE", "NOT_SENT", "ERROR"]})
    versionSent = fields.String(allow_none=True)
    versionAcked = fields.String(allow_none=True)
    sentAt = fields.Float(allow_none=True, metadata={"description": "epoch seconds"})
    ackedAt = fields.Float(allow_none=True, metadata={"description": "epoch seconds"})
    error = fields.String(allow_none=True, metadata={"description": "Envoy's NACK message (error_detail)"})


class ProxyStreamSchema(Schema):
    nodeId = fields.String(required=True)
    meshName = fields.String()
    kind = fields.String(metadata={"enum": ["virtualNode", "virtualGateway", ""]})
    name = fields.String()
    stream = fields.String()
    protocol = fields.String(metadata={"enum": ["sotw", "delta"]})
    peer = fields.String()
    connected = fields.Boolean()
    connectedSince = fields.Float()
    lastSeen = fields.Float()
    types = fields.Dict(keys=fields.String(), values=fields.Nested(ProxyTypeStatusSchema))
    diagnostics = fields.List(fields.String())


class ListProxiesOutputSchema(Schema):
    proxies = fields.List(fields.Nested(ProxyStreamSchema), required=True)


class ProxyConfigOutputSchema(Schema):
    nodeId = fields.String(required=True)
    resources = fields.Dict(keys=fields.String(), values=fields.Dict(), required=True,
                            metadata={"description": "short type (CDS, EDS, LDS, RDS) -> resource name -> resource"})


def _ok(schema: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error() -> dict[str, Any]:
    return {"description": "NotFoundException", "content": {"application/json": {"schema": "Error"}}}


def openapi_paths() -> dict[str, dict[str, Any]]:
    """The /meshplane/v1 paths and /metrics, as apispec path operations."""
    node_id = {"name": "nodeId", "in": "path", "required": True, "schema": {"type": "string"},
               "description": "Envoy node id, unencoded (slashes and all): mesh/<mesh>/virtualNode/<name>"}
    return {
        "/meshplane/v1/proxies": {"get": {
            "operationId": "MeshplaneListProxies",
            "summary": "Per-proxy, per-type sync status of every known Envoy stream.",
            "parameters": [{"name": "mesh", "in": "query", "required": False, "schema": {"type": "string"}}],
            "responses": {"200": _ok(ListProxiesOutputSchema.__name__[:-6], "Proxy streams, connected first")},
        }},
        "/meshplane/v1/proxies/{nodeId}": {"get": {
            "operationId": "MeshplaneDescribeProxy",
            "summary": "The streams of one proxy node id.",
            "parameters": [node_id],
            "responses": {"200": _ok(ListProxiesOutputSchema.__name__[:-6], "Streams of the node"),
                          "404": _error()},
        }},
        "/meshplane/v1/proxies/{nodeId}/config": {"get": {
            "operationId": "MeshplaneDescribeProxyConfig",
            "summary": "The Envoy resources last published to the proxy.",
            "parameters": [node_id],
            "responses": {"200": _ok(ProxyConfigOutputSchema.__name__[:-6], "Resources by type"),
                          "404": _error()},
        }},
        "/metrics": {"get": {
            "operationId": "MeshplaneMetrics",
            "summary": "Prometheus metrics of the xDS streamer.",
            "responses": {"200": {"description": "Prometheus text format",
                                  "content": {"text/plain": {"schema": {"type": "string"}}}}},
        }},
    }


SCHEMAS = (ProxyTypeStatusSchema, ProxyStreamSchema, ListProxiesOutputSchema, ProxyConfigOutputSchema)
