"""Shapes shared by several kinds: durations, timeouts, ports, health checks, matches, weighted targets.

Each class is one botocore shape (name + ``Schema``); where botocore has identical shapes under
different names (``HeaderMatchMethod``, ``GrpcRouteMetadataMatchMethod``, ``GrpcMetadataMatchMethod``),
each name gets its own subclass so the OpenAPI components match App Mesh's.
"""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError
from marshmallow import validates_schema

from .base import Enum
from .base import Int
from .base import Length
from .base import ListOf
from .base import Long
from .base import Obj
from .base import StartsWith
from .base import Str
from .camel import CamelCaseSchema
from .camel import UnionSchema

PORT_PROTOCOLS = ("http", "tcp", "http2", "grpc")
IP_PREFERENCES = ("IPv6_PREFERRED", "IPv4_PREFERRED", "IPv4_ONLY", "IPv6_ONLY")
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")
TLS_MODES = ("STRICT", "PERMISSIVE", "DISABLED")


def Port(**kwargs: Any) -> Int:  # noqa: N802
    """PortNumber / ListenerPort: 1..65535."""
    return Int(1, 65535, **kwargs)


def ResourceName(**kwargs: Any) -> Str:  # noqa: N802
    """ResourceName: 1..255 characters."""
    return Str(validate=Length(1, 255), **kwargs)


def FilePath(**kwargs: Any) -> Str:  # noqa: N802
    """FilePath: 1..255 characters."""
    return Str(validate=Length(1, 255), **kwargs)


class DurationSchema(CamelCaseSchema):
    # Both members are optional in the model.
    unit = Enum("s", "ms")
    value = Long(0)


class HttpTimeoutSchema(CamelCaseSchema):
    idle = Obj(DurationSchema)
    per_request = Obj(DurationSchema)


class GrpcTimeoutSchema(CamelCaseSchema):
    idle = Obj(DurationSchema)
    per_request = Obj(DurationSchema)


class TcpTimeoutSchema(CamelCaseSchema):
    idle = Obj(DurationSchema)


class PortMappingSchema(CamelCaseSchema):
    port = Port(required=True)
    protocol = Enum(*PORT_PROTOCOLS, required=True)


class HealthCheckPolicySchema(CamelCaseSchema):
    healthy_threshold = Int(2, 10, required=True)
    interval_millis = Long(5000, 300000, required=True)
    path = Str()
    port = Port()
    protocol = Enum(*PORT_PROTOCOLS, required=True)
    timeout_millis = Long(2000, 60000, required=True)
    unhealthy_threshold = Int(2, 10, required=True)


class MatchRangeSchema(CamelCaseSchema):
    end = Long(required=True)
    start = Long(required=True)


def HeaderMatch(**kwargs: Any) -> Str:  # noqa: N802
    """HeaderMatch: 1..255 characters."""
    return Str(validate=Length(1, 255), **kwargs)


class HeaderMatchMethodSchema(UnionSchema):
    exact = HeaderMatch()
    prefix = HeaderMatch()
    range = Obj(MatchRangeSchema)
    regex = HeaderMatch()
    suffix = HeaderMatch()


class GrpcRouteMetadataMatchMethodSchema(HeaderMatchMethodSchema):
    pass


class GrpcMetadataMatchMethodSchema(HeaderMatchMethodSchema):
    pass


class HttpPathMatchSchema(CamelCaseSchema):
    # Not a union in the model, but a path is matched either exactly or by regex (appmesh-api.md 2.4).
    exact = Str(validate=[Length(1, 255), StartsWith("/")])
    regex = Str(validate=Length(1, 255))

    @validates_schema
    def _exactly_one(self, data: dict[str, Any], **kwargs: Any) -> None:
        if len(data) != 1:
            raise ValidationError("Member must have exactly one of [exact, regex] set")


class QueryParameterMatchSchema(CamelCaseSchema):
    exact = Str()


class HttpQueryParameterSchema(CamelCaseSchema):
    match = Obj(QueryParameterMatchSchema)
    name = Str(required=True)


class SubjectAlternativeNameMatchersSchema(CamelCaseSchema):
    exact = ListOf(Str(validate=Length(1, 254)), required=True)


class SubjectAlternativeNamesSchema(CamelCaseSchema):
    match = Obj(SubjectAlternativeNameMatchersSchema, required=True)


class JsonFormatRefSchema(CamelCaseSchema):
    key = Str(validate=Length(1, 100), required=True)
    value = Str(validate=Length(1, 100), required=True)


class LoggingFormatSchema(UnionSchema):
    json = ListOf(Obj(JsonFormatRefSchema))
    text = Str(validate=Length(1, 1000))


class WeightedTargetSchema(CamelCaseSchema):
    port = Port()
    virtual_node = ResourceName(required=True)
    weight = Int(0, 100, required=True)
