"""VirtualServiceSpec: an optional provider, a virtual node or a virtual router."""

from __future__ import annotations

from .base import Obj
from .camel import CamelCaseSchema
from .camel import UnionSchema
from .common import ResourceName


class VirtualNodeServiceProviderSchema(CamelCaseSchema):
    virtual_node_name = ResourceName(required=True)


class VirtualRouterServiceProviderSchema(CamelCaseSchema):
    virtual_router_name = ResourceName(required=True)


class VirtualServiceProviderSchema(UnionSchema):
    virtual_node = Obj(VirtualNodeServiceProviderSchema)
    virtual_router = Obj(VirtualRouterServiceProviderSchema)


class VirtualServiceSpecSchema(CamelCaseSchema):
    # A service without a provider is legal (appmesh-api.md 2.4).
    provider = Obj(VirtualServiceProviderSchema)
