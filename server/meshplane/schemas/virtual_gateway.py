"""VirtualGatewaySpec: listeners (http/http2/grpc only), logging, backend defaults."""

from __future__ import annotations

from typing import Any

from marshmallow import validates_schema

from .base import Enum
from .base import Int
from .base import ListOf
from .base import Long
from .base import Obj
from .base import Problems
from .base import Str
from .base import find_duplicate_ports
from .camel import CamelCaseSchema
from .camel import UnionSchema
from .common import FilePath
from .common import LoggingFormatSchema
from .common import Port
from .tls import VirtualGatewayClientPolicySchema
from .tls import VirtualGatewayListenerTlsSchema
from .virtual_node import check_listener_fits_port_mapping

GATEWAY_PROTOCOLS = ("http", "http2", "grpc")


class VirtualGatewayGrpcConnectionPoolSchema(CamelCaseSchema):
    max_requests = Int(1, required=True)


class VirtualGatewayHttpConnectionPoolSchema(CamelCaseSchema):
    max_connections = Int(1, required=True)
    max_pending_requests = Int(1)


class VirtualGatewayHttp2ConnectionPoolSchema(CamelCaseSchema):
    max_requests = Int(1, required=True)


class VirtualGatewayConnectionPoolSchema(UnionSchema):
    grpc = Obj(VirtualGatewayGrpcConnectionPoolSchema)
    http = Obj(VirtualGatewayHttpConnectionPoolSchema)
    http2 = Obj(VirtualGatewayHttp2ConnectionPoolSchema)


class VirtualGatewayHealthCheckPolicySchema(CamelCaseSchema):
    healthy_threshold = Int(2, 10, required=True)
    interval_millis = Long(5000, 300000, required=True)
    path = Str()
    port = Port()
    protocol = Enum(*GATEWAY_PROTOCOLS, required=True)
    timeout_millis = Long(2000, 60000, required=True)
    unhealthy_threshold = Int(2, 10, required=True)


class VirtualGatewayPortMappingSchema(CamelCaseSchema):
    port = Port(required=True)
    protocol = Enum(*GATEWAY_PROTOCOLS, required=True)


class VirtualGatewayListenerSchema(CamelCaseSchema):
    connection_pool = Obj(VirtualGatewayConnectionPoolSchema)
    health_check = Obj(VirtualGatewayHealthCheckPolicySchema)
    port_mapping = Obj(VirtualGatewayPortMappingSchema, required=True)
    tls = Obj(VirtualGatewayListenerTlsSchema)

    @validates_schema
    def _fits_port_mapping(self, data: dict[str, Any], **kwargs: Any) -> None:
        check_listener_fits_port_mapping(data, ("connection_pool",))


class VirtualGatewayFileAccessLogSchema(CamelCaseSchema):
    format = Obj(LoggingFormatSchema)
    path = FilePath(required=True)


class VirtualGatewayAccessLogSchema(UnionSchema):
    file = Obj(VirtualGatewayFileAccessLogSchema)


class VirtualGatewayLoggingSchema(CamelCaseSchema):
    access_log = Obj(VirtualGatewayAccessLogSchema)


class VirtualGatewayBackendDefaultsSchema(CamelCaseSchema):
    client_policy = Obj(VirtualGatewayClientPolicySchema)


class VirtualGatewaySpecSchema(CamelCaseSchema):
    backend_defaults = Obj(VirtualGatewayBackendDefaultsSchema)
    # Required by the model; at least one listener, since a gateway without one can receive nothing.
    listeners = ListOf(Obj(VirtualGatewayListenerSchema), 1, required=True)
    logging = Obj(VirtualGatewayLoggingSchema)

    @validates_schema
    def _unique_ports(self, data: dict[str, Any], **kwargs: Any) -> None:
        problems = Problems()
        i = find_duplicate_ports(data["listeners"])
        if i is not None:
            problems.add(["listeners", i, "portMapping", "port"], "Member must be unique among the listeners' ports")
        problems.raise_any()
