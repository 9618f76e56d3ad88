"""GatewayRouteSpec: one of httpRoute / http2Route / grpcRoute, targeting a virtual service."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError
from marshmallow import validates_schema

from .base import Bool
from .base import Enum
from .base import Int
from .base import Length
from .base import ListOf
from .base import Obj
from .base import Problems
from .base import StartsWith
from .base import Str
from .camel import CamelCaseSchema
from .common import HTTP_METHODS
from .common import GrpcMetadataMatchMethodSchema
from .common import HeaderMatchMethodSchema
from .common import HttpPathMatchSchema
from .common import HttpQueryParameterSchema
from .common import Port
from .common import ResourceName
from .route import PrefixMatch
from .route import check_prefix_or_path

GATEWAY_ROUTE_TYPES = ("grpc_route", "http2_route", "http_route")
"""GatewayRouteSpec members naming a route type (snake_case, as stored)."""

_REWRITE_SWITCH = ("ENABLED", "DISABLED")


class GatewayRouteHostnameRewriteSchema(CamelCaseSchema):
    default_target_hostname = Enum(*_REWRITE_SWITCH)


class GatewayRouteVirtualServiceSchema(CamelCaseSchema):
    virtual_service_name = ResourceName(required=True)


class GatewayRouteTargetSchema(CamelCaseSchema):
    port = Port()
    virtual_service = Obj(GatewayRouteVirtualServiceSchema, required=True)


class GatewayRouteHostnameMatchSchema(CamelCaseSchema):
    exact = Str(validate=Length(1, 253))
    suffix = Str(validate=Length(1, 253))

    @validates_schema
    def _exactly_one(self, data: dict[str, Any], **kwargs: Any) -> None:
        # Not a union in the model, but a host name is matched one way (exact or suffix).
        if len(data) != 1:
            raise ValidationError("Member must have exactly one of [exact, suffix] set")


# --- grpc


class GrpcGatewayRouteMetadataSchema(CamelCaseSchema):
    invert = Bool()
    match = Obj(GrpcMetadataMatchMethodSchema)
    name = Str(validate=Length(1, 50), required=True)


class GrpcGatewayRouteMatchSchema(CamelCaseSchema):
    hostname = Obj(GatewayRouteHostnameMatchSchema)
    metadata = ListOf(Obj(GrpcGatewayRouteMetadataSchema), 1, 10)
    port = Port()
    service_name = Str()


class GrpcGatewayRouteRewriteSchema(CamelCaseSchema):
    hostname = Obj(GatewayRouteHostnameRewriteSchema)


class GrpcGatewayRouteActionSchema(CamelCaseSchema):
    rewrite = Obj(GrpcGatewayRouteRewriteSchema)
    target = Obj(GatewayRouteTargetSchema, required=True)


class GrpcGatewayRouteSchema(CamelCaseSchema):
    action = Obj(GrpcGatewayRouteActionSchema, required=True)
    match = Obj(GrpcGatewayRouteMatchSchema, required=True)


# --- http / http2


class HttpGatewayRoutePathRewriteSchema(CamelCaseSchema):
    exact = Str(validate=[Length(1, 255), StartsWith("/")])


class HttpGatewayRoutePrefixRewriteSchema(CamelCaseSchema):
    default_prefix = Enum(*_REWRITE_SWITCH)
    value = Str(validate=[Length(1, 255), StartsWith("/")])

    @validates_schema
    def _one_way(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "default_prefix" in data and "value" in data:
            raise ValidationError({"value": ["Member must not be set when defaultPrefix is set"]})


class HttpGatewayRouteRewriteSchema(CamelCaseSchema):
    hostname = Obj(GatewayRouteHostnameRewriteSchema)
    path = Obj(HttpGatewayRoutePathRewriteSchema)
    prefix = Obj(HttpGatewayRoutePrefixRewriteSchema)


class HttpGatewayRouteActionSchema(CamelCaseSchema):
    rewrite = Obj(HttpGatewayRouteRewriteSchema)
    target = Obj(GatewayRouteTargetSchema, required=True)


class HttpGatewayRouteHeaderSchema(CamelCaseSchema):
    invert = Bool()
    match = Obj(HeaderMatchMethodSchema)
    name = Str(validate=Length(1, 50), required=True)


class HttpGatewayRouteMatchSchema(CamelCaseSchema):
    headers = ListOf(Obj(HttpGatewayRouteHeaderSchema), 1, 10)
    hostname = Obj(GatewayRouteHostnameMatchSchema)
    method = Enum(*HTTP_METHODS)
    path = Obj(HttpPathMatchSchema)
    port = Port()
    prefix = PrefixMatch()
    query_parameters = ListOf(Obj(HttpQueryParameterSchema), 1, 10)

    @validates_schema
    def _prefix_or_path(self, data: dict[str, Any], **kwargs: Any) -> None:
        check_prefix_or_path(data)


class HttpGatewayRouteSchema(CamelCaseSchema):
    action = Obj(HttpGatewayRouteActionSchema, required=True)
    match = Obj(HttpGatewayRouteMatchSchema, required=True)

    @validates_schema
    def _rewrite_fits_match(self, data: dict[str, Any], **kwargs: Any) -> None:
        # A prefix is rewritten only when the route matched a prefix, a path only when it matched a path
        # (App Mesh user guide, gateway routes; the same rules AWS CDK enforces).
        rewrite = data["action"].get("rewrite", {})
        match = data["match"]
        problems = Problems()
        if "prefix" in rewrite and "prefix" not in match:
            problems.add(["action", "rewrite", "prefix"], "Member must not be set unless match.prefix is set")
        if "path" in rewrite and "path" not in match:
            problems.add(["action", "rewrite", "path"], "Member must not be set unless match.path is set")
        problems.raise_any()


# --- spec


class GatewayRouteSpecSchema(CamelCaseSchema):
    grpc_route = Obj(GrpcGatewayRouteSchema)
    http2_route = Obj(HttpGatewayRouteSchema)
    http_route = Obj(HttpGatewayRouteSchema)
    priority = Int(0, 1000)

    @validates_schema
    def _one_route_type(self, data: dict[str, Any], **kwargs: Any) -> None:
        if sum(1 for t in GATEWAY_ROUTE_TYPES if t in data) != 1:
            raise ValidationError(
                "Member must have exactly one route type of [grpcRoute, http2Route, httpRoute] set"
            )
