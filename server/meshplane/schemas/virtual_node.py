"""VirtualNodeSpec: listeners, backends, service discovery, logging, backend defaults."""

from __future__ import annotations

from typing import Any

from marshmallow import validates_schema

from .base import Enum
from .base import Int
from .base import Length
from .base import ListOf
from .base import Long
from .base import Obj
from .base import Pattern
from .base import Problems
from .base import Str
from .base import camel_case
from .base import find_duplicate_ports
from .camel import CamelCaseSchema
from .camel import UnionSchema
from .common import IP_PREFERENCES
from .common import DurationSchema
from .common import FilePath
from .common import GrpcTimeoutSchema
from .common import HealthCheckPolicySchema
from .common import HttpTimeoutSchema
from .common import LoggingFormatSchema
from .common import PortMappingSchema
from .common import TcpTimeoutSchema
from .tls import ClientPolicySchema
from .tls import ListenerTlsSchema

# --- listeners


class VirtualNodeGrpcConnectionPoolSchema(CamelCaseSchema):
    max_requests = Int(1, required=True)


class VirtualNodeHttpConnectionPoolSchema(CamelCaseSchema):
    max_connections = Int(1, required=True)
    max_pending_requests = Int(1)


class VirtualNodeHttp2ConnectionPoolSchema(CamelCaseSchema):
    max_requests = Int(1, required=True)


class VirtualNodeTcpConnectionPoolSchema(CamelCaseSchema):
    max_connections = Int(1, required=True)


class VirtualNodeConnectionPoolSchema(UnionSchema):
    grpc = Obj(VirtualNodeGrpcConnectionPoolSchema)
    http = Obj(VirtualNodeHttpConnectionPoolSchema)
    http2 = Obj(VirtualNodeHttp2ConnectionPoolSchema)
    tcp = Obj(VirtualNodeTcpConnectionPoolSchema)


class OutlierDetectionSchema(CamelCaseSchema):
    base_ejection_duration = Obj(DurationSchema, required=True)
    interval = Obj(DurationSchema, required=True)
    max_ejection_percent = Int(0, 100, required=True)
    max_server_errors = Long(1, required=True)


class ListenerTimeoutSchema(UnionSchema):
    grpc = Obj(GrpcTimeoutSchema)
    http = Obj(HttpTimeoutSchema)
    http2 = Obj(HttpTimeoutSchema)
    tcp = Obj(TcpTimeoutSchema)


class ListenerSchema(CamelCaseSchema):
    connection_pool = Obj(VirtualNodeConnectionPoolSchema)
    health_check = Obj(HealthCheckPolicySchema)
    outlier_detection = Obj(OutlierDetectionSchema)
    port_mapping = Obj(PortMappingSchema, required=True)
    timeout = Obj(ListenerTimeoutSchema)
    tls = Obj(ListenerTlsSchema)

    @validates_schema
    def _fits_port_mapping(self, data: dict[str, Any], **kwargs: Any) -> None:
        check_listener_fits_port_mapping(data, ("connection_pool", "timeout"))


def check_listener_fits_port_mapping(listener: dict[str, Any], per_protocol: tuple[str, ...]) -> None:
    """A listener's per-protocol members (connectionPool, timeout) and health-check port follow portMapping.

    :raises ValidationError: naming each member that disagrees with ``portMapping``.
    """
    mapping = listener["port_mapping"]
    protocol = mapping["protocol"]
    problems = Problems()
    for member in per_protocol:
        union = listener.get(member)
        if union is not None:
            (chosen,) = union  # a validated union has exactly one member
            if chosen != protocol:
                wire = camel_case(member)
                problems.add(
                    [wire, chosen],
                    f"Member must match the listener protocol: use {wire}.{protocol} (portMapping.protocol is {protocol})",
                )
    health_check = listener.get("health_check")
    if health_check is not None and "port" in health_check and health_check["port"] != mapping["port"]:
        problems.add(
            ["healthCheck", "port"], f"Member must equal the listener's portMapping.port ({mapping['port']})"
        )
    problems.raise_any()


# --- backends


class VirtualServiceBackendSchema(CamelCaseSchema):
    client_policy = Obj(ClientPolicySchema)
    virtual_service_name = Str(required=True)


class BackendSchema(UnionSchema):
    virtual_service = Obj(VirtualServiceBackendSchema)


class BackendDefaultsSchema(CamelCaseSchema):
    client_policy = Obj(ClientPolicySchema)


# --- service discovery

_ATTRIBUTE_KEY = "^[a-zA-Z0-9!-~]+$"
_ATTRIBUTE_VALUE = "^([a-zA-Z0-9!-~][  a-zA-Z0-9!-~]*){0,1}[a-zA-Z0-9!-~]{0,1}$"


class AwsCloudMapInstanceAttributeSchema(CamelCaseSchema):
    key = Str(validate=[Length(1, 255), Pattern(_ATTRIBUTE_KEY)], required=True)
    value = Str(validate=[Length(1, 1024), Pattern(_ATTRIBUTE_VALUE)], required=True)


class AwsCloudMapServiceDiscoverySchema(CamelCaseSchema):
    attributes = ListOf(Obj(AwsCloudMapInstanceAttributeSchema))
    ip_preference = Enum(*IP_PREFERENCES)
    namespace_name = Str(validate=Length(1, 1024), required=True)
    service_name = Str(validate=Length(1, 1024), required=True)


class DnsServiceDiscoverySchema(CamelCaseSchema):
    hostname = Str(required=True)
    ip_preference = Enum(*IP_PREFERENCES)
    response_type = Enum("LOADBALANCER", "ENDPOINTS")


class ServiceDiscoverySchema(UnionSchema):
    aws_cloud_map = Obj(AwsCloudMapServiceDiscoverySchema)
    dns = Obj(DnsServiceDiscoverySchema)


# --- logging


class FileAccessLogSchema(CamelCaseSchema):
    format = Obj(LoggingFormatSchema)
    path = FilePath(required=True)


class AccessLogSchema(UnionSchema):
    file = Obj(FileAccessLogSchema)


class LoggingSchema(CamelCaseSchema):
    access_log = Obj(AccessLogSchema)


# --- spec


class VirtualNodeSpecSchema(CamelCaseSchema):
    backend_defaults = Obj(BackendDefaultsSchema)
    backends = ListOf(Obj(BackendSchema))
    listeners = ListOf(Obj(ListenerSchema))
    logging = Obj(LoggingSchema)
    service_discovery = Obj(ServiceDiscoverySchema)

    @validates_schema
    def _listeners_need_discovery(self, data: dict[str, Any], **kwargs: Any) -> None:
        problems = Problems()
        listeners = data.get("listeners") or ()
        if listeners and "service_discovery" not in data:
            problems.add(["serviceDiscovery"], "Member must not be null when listeners are set")
        i = find_duplicate_ports(listeners)
        if i is not None:
            problems.add(["listeners", i, "portMapping", "port"], "Member must be unique among the listeners' ports")
        problems.raise_any()
