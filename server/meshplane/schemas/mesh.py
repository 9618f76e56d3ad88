"""MeshSpec: egress filter and mesh-wide IP preference."""

from __future__ import annotations

from .base import Enum
from .base import Obj
from .camel import CamelCaseSchema
from .common import IP_PREFERENCES


class EgressFilterSchema(CamelCaseSchema):
    type = Enum("ALLOW_ALL", "DROP_ALL", required=True)


class MeshServiceDiscoverySchema(CamelCaseSchema):
    ip_preference = Enum(*IP_PREFERENCES)


class MeshSpecSchema(CamelCaseSchema):
    # Absent egressFilter means DROP_ALL (model doc); nothing is defaulted on load.
    egress_filter = Obj(EgressFilterSchema)
    service_discovery = Obj(MeshServiceDiscoverySchema)
