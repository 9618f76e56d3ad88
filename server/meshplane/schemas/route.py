"""RouteSpec: one of httpRoute / http2Route / grpcRoute / tcpRoute, plus a priority."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError
from marshmallow import validates_schema

from .base import Bool
from .base import Enum
from .base import Int
from .base import Length
from .base import ListOf
from .base import Long
from .base import Obj
from .base import OneOf
from .base import Problems
from .base import StartsWith
from .base import Str
from .camel import CamelCaseSchema
from .common import HTTP_METHODS
from .common import DurationSchema
from .common import GrpcRouteMetadataMatchMethodSchema
from .common import GrpcTimeoutSchema
from .common import HeaderMatchMethodSchema
from .common import HttpPathMatchSchema
from .common import HttpQueryParameterSchema
from .common import HttpTimeoutSchema
from .common import Port
from .common import TcpTimeoutSchema
from .common import WeightedTargetSchema

# The model types httpRetryEvents as free strings (1..25 chars) but documents exactly these values;
# anything else could not be turned into an Envoy retry policy.
HTTP_RETRY_EVENTS = ("server-error", "gateway-error", "client-error", "stream-error")
GRPC_RETRY_EVENTS = ("cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable")

ROUTE_TYPES = ("grpc_route", "http2_route", "http_route", "tcp_route")
"""RouteSpec members naming a route type (snake_case, as stored)."""


def WeightedTargets(**kwargs: Any) -> ListOf:  # noqa: N802
    """WeightedTargets: 1..10 targets."""
    return ListOf(Obj(WeightedTargetSchema), 1, 10, **kwargs)


def HttpRetryPolicyEvents() -> ListOf:  # noqa: N802
    return ListOf(Str(validate=[Length(1, 25), OneOf(HTTP_RETRY_EVENTS)]), 1, 25)


def TcpRetryPolicyEvents() -> ListOf:  # noqa: N802
    return ListOf(Enum("connection-error"), 1, 1)


def PrefixMatch() -> Str:  # noqa: N802
    """``match.prefix``: must start with ``/`` (``/`` alone matches everything)."""
    return Str(validate=StartsWith("/"))


def check_prefix_or_path(match: dict[str, Any]) -> None:
    """A request path is matched by ``prefix`` or by ``path``, never both."""
    if "prefix" in match and "path" in match:
        raise ValidationError({"path": ["Member must not be set when prefix is set"]})


# --- http / http2


class HttpRouteHeaderSchema(CamelCaseSchema):
    invert = Bool()
    match = Obj(HeaderMatchMethodSchema)
    name = Str(validate=Length(1, 50), required=True)


class HttpRouteMatchSchema(CamelCaseSchema):
    headers = ListOf(Obj(HttpRouteHeaderSchema), 1, 10)
    method = Enum(*HTTP_METHODS)
    path = Obj(HttpPathMatchSchema)
    port = Port()
    prefix = PrefixMatch()
    query_parameters = ListOf(Obj(HttpQueryParameterSchema), 1, 10)
    scheme = Enum("http", "https")

    @validates_schema
    def _prefix_or_path(self, data: dict[str, Any], **kwargs: Any) -> None:
        check_prefix_or_path(data)


class HttpRouteActionSchema(CamelCaseSchema):
    weighted_targets = WeightedTargets(required=True)


class HttpRetryPolicySchema(CamelCaseSchema):
    http_retry_events = HttpRetryPolicyEvents()
    max_retries = Long(0, required=True)
    per_retry_timeout = Obj(DurationSchema, required=True)
    tcp_retry_events = TcpRetryPolicyEvents()

    @validates_schema
    def _some_event(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "http_retry_events" not in data and "tcp_retry_events" not in data:
            raise ValidationError("Member must set at least one of [httpRetryEvents, tcpRetryEvents]")


class HttpRouteSchema(CamelCaseSchema):
    action = Obj(HttpRouteActionSchema, required=True)
    match = Obj(HttpRouteMatchSchema, required=True)
    retry_policy = Obj(HttpRetryPolicySchema)
    timeout = Obj(HttpTimeoutSchema)


# --- grpc


class GrpcRouteMetadataSchema(CamelCaseSchema):
    invert = Bool()
    match = Obj(GrpcRouteMetadataMatchMethodSchema)
    name = Str(validate=Length(1, 50), required=True)


class GrpcRouteMatchSchema(CamelCaseSchema):
    metadata = ListOf(Obj(GrpcRouteMetadataSchema), 1, 10)
    method_name = Str(validate=Length(1, 50))
    port = Port()
    service_name = Str()

    @validates_schema
    def _method_needs_service(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "method_name" in data and "service_name" not in data:
            raise ValidationError({"serviceName": ["Member must not be null when methodName is set"]})


class GrpcRouteActionSchema(CamelCaseSchema):
    weighted_targets = WeightedTargets(required=True)


class GrpcRetryPolicySchema(CamelCaseSchema):
    grpc_retry_events = ListOf(Enum(*GRPC_RETRY_EVENTS), 1, 5)
    http_retry_events = HttpRetryPolicyEvents()
    max_retries = Long(0, required=True)
    per_retry_timeout = Obj(DurationSchema, required=True)
    tcp_retry_events = TcpRetryPolicyEvents()

    @validates_schema
    def _some_event(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not ({"grpc_retry_events", "http_retry_events", "tcp_retry_events"} & data.keys()):
            raise ValidationError(
                "Member must set at least one of [grpcRetryEvents, httpRetryEvents, tcpRetryEvents]"
            )


class GrpcRouteSchema(CamelCaseSchema):
    action = Obj(GrpcRouteActionSchema, required=True)
    match = Obj(GrpcRouteMatchSchema, required=True)
    retry_policy = Obj(GrpcRetryPolicySchema)
    timeout = Obj(GrpcTimeoutSchema)


# --- tcp


class TcpRouteActionSchema(CamelCaseSchema):
    weighted_targets = WeightedTargets(required=True)


class TcpRouteMatchSchema(CamelCaseSchema):
    port = Port()


class TcpRouteSchema(CamelCaseSchema):
    action = Obj(TcpRouteActionSchema, required=True)
    match = Obj(TcpRouteMatchSchema)
    timeout = Obj(TcpTimeoutSchema)


# --- spec


class RouteSpecSchema(CamelCaseSchema):
    grpc_route = Obj(GrpcRouteSchema)
    http2_route = Obj(HttpRouteSchema)
    http_route = Obj(HttpRouteSchema)
    priority = Int(0, 1000)
    tcp_route = Obj(TcpRouteSchema)

    @validates_schema
    def _one_route_type(self, data: dict[str, Any], **kwargs: Any) -> None:
        if sum(1 for t in ROUTE_TYPES if t in data) != 1:
            raise ValidationError(
                "Member must have exactly one route type of [grpcRoute, http2Route, httpRoute, tcpRoute] set"
            )
        problems = Problems()
        http = data.get("http_route")
        if http is not None and "scheme" in http["match"]:
            problems.add(["httpRoute", "match", "scheme"], "Member must not be set: scheme applies only to http2Route")
        problems.raise_any()
