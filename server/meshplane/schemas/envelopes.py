"""Request bodies and responses around the specs: Data, Ref, Create/Update inputs, List outputs, tags, errors.

These describe the wire for the OpenAPI document (and for anyone who wants to check a response);
the API layer parses request members and builds responses itself. Each kind gets the same five
shapes, built from the kinds.py table and bound to explicit module names so they can be imported and
grepped (``VirtualNodeDataSchema``, ``ListVirtualNodesOutputSchema`` ...).
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema
from marshmallow import fields

from .. import kinds
from ..kinds import Kind
from .base import Enum
from .base import Length
from .base import ListOf
from .base import Long
from .base import Number
from .base import Obj
from .base import Str
from .base import camel_case
from .base import snake_case
from .camel import CamelCaseSchema
from .common import ResourceName
from .gateway_route import GatewayRouteSpecSchema
from .mesh import MeshSpecSchema
from .route import RouteSpecSchema
from .tags import TagRefSchema
from .virtual_gateway import VirtualGatewaySpecSchema
from .virtual_node import VirtualNodeSpecSchema
from .virtual_router import VirtualRouterSpecSchema
from .virtual_service import VirtualServiceSpecSchema

STATUS_CODES = ("ACTIVE", "INACTIVE", "DELETED")


def AccountId(**kwargs: Any) -> Str:  # noqa: N802
    """AccountId: exactly 12 characters."""
    return Str(validate=Length(equal=12), **kwargs)


def Timestamp(**kwargs: Any) -> Number:  # noqa: N802
    """A rest-json timestamp: epoch seconds as a JSON number (fractions allowed)."""
    return Number(metadata={"description": "seconds since the epoch"}, **kwargs)


class ResourceMetadataSchema(CamelCaseSchema):
    arn = Str(required=True)
    created_at = Timestamp(required=True)
    last_updated_at = Timestamp(required=True)
    mesh_owner = AccountId(required=True)
    resource_owner = AccountId(required=True)
    uid = Str(required=True)
    # 1 on create, +1 on every update.
    version = Long(required=True)


# --- statuses (MeshStatus alone has an optional status member)


class MeshStatusSchema(CamelCaseSchema):
    status = Enum(*STATUS_CODES)


class VirtualNodeStatusSchema(CamelCaseSchema):
    status = Enum(*STATUS_CODES, required=True)


class VirtualServiceStatusSchema(CamelCaseSchema):
    status = Enum(*STATUS_CODES, required=True)


class VirtualRouterStatusSchema(CamelCaseSchema):
    status = Enum(*STATUS_CODES, required=True)


class RouteStatusSchema(CamelCaseSchema):
    status = Enum(*STATUS_CODES, required=True)


class VirtualGatewayStatusSchema(CamelCaseSchema):
    status = Enum(*STATUS_CODES, required=True)


class GatewayRouteStatusSchema(CamelCaseSchema):
    status = Enum(*STATUS_CODES, required=True)


# --- per-kind families


def _name_keys(kind: Kind) -> list[str]:
    """The snake_case name members identifying a resource of ``kind`` (meshName first)."""
    keys = ["mesh_name"]
    if kind.parent is not None:
        keys.append(snake_case(kinds.BY_KEY[kind.parent].name_key))
    if kind is not kinds.MESH:
        keys.append(snake_case(kind.name_key))
    return keys


def _schema(name: str, members: dict[str, fields.Field]) -> type[CamelCaseSchema]:
    # Members in wire (camelCase) alphabetical order, as botocore lists them.
    ordered = dict(sorted(members.items(), key=lambda item: camel_case(item[0])))
    return type(name, (CamelCaseSchema,), ordered)


def _family(
    kind: Kind, spec: type[CamelCaseSchema], status: type[CamelCaseSchema]
) -> tuple[type[CamelCaseSchema], ...]:
    """``<Kind>Data``, ``<Kind>Ref``, ``Create<Kind>Input``, ``Update<Kind>Input``, ``List<Collection>Output``."""
    names = _name_keys(kind)
    spec_required = kind is not kinds.MESH  # CreateMesh/UpdateMesh alone take an optional spec
    data = _schema(
        f"{kind.label}DataSchema",
        {
            **{key: ResourceName(required=True) for key in names},
            "metadata": Obj(ResourceMetadataSchema, required=True),
            "spec": Obj(spec, required=True),
            "status": Obj(status, required=True),
        },
    )
    ref = _schema(
        f"{kind.label}RefSchema",
        {
            **{key: ResourceName(required=True) for key in names},
            "arn": Str(required=True),
            "created_at": Timestamp(required=True),
            "last_updated_at": Timestamp(required=True),
            "mesh_owner": AccountId(required=True),
            "resource_owner": AccountId(required=True),
            "version": Long(required=True),
        },
    )
    create = _schema(
        f"Create{kind.label}InputSchema",
        {
            "client_token": Str(metadata={"description": "idempotency token (botocore sends a uuid4)"}),
            snake_case(kind.name_key): ResourceName(required=True),
            "spec": Obj(spec, required=spec_required),
            "tags": ListOf(Obj(TagRefSchema), 0, 50),
        },
    )
    update = _schema(
        f"Update{kind.label}InputSchema",
        {
            "client_token": Str(metadata={"description": "idempotency token (botocore sends a uuid4)"}),
            "spec": Obj(spec, required=spec_required),
        },
    )
    collection = kind.collection[:1].upper() + kind.collection[1:]
    listing = _schema(
        f"List{collection}OutputSchema",
        {
            snake_case(kind.list_key): ListOf(Obj(ref), required=True),
            "next_token": Str(),
        },
    )
    return data, ref, create, update, listing


(
    MeshDataSchema,
    MeshRefSchema,
    CreateMeshInputSchema,
    UpdateMeshInputSchema,
    ListMeshesOutputSchema,
) = _family(kinds.MESH, MeshSpecSchema, MeshStatusSchema)
(
    VirtualNodeDataSchema,
    VirtualNodeRefSchema,
    CreateVirtualNodeInputSchema,
    UpdateVirtualNodeInputSchema,
    ListVirtualNodesOutputSchema,
) = _family(kinds.VIRTUAL_NODE, VirtualNodeSpecSchema, VirtualNodeStatusSchema)
(
    VirtualServiceDataSchema,
    VirtualServiceRefSchema,
    CreateVirtualServiceInputSchema,
    UpdateVirtualServiceInputSchema,
    ListVirtualServicesOutputSchema,
) = _family(kinds.VIRTUAL_SERVICE, VirtualServiceSpecSchema, VirtualServiceStatusSchema)
(
    VirtualRouterDataSchema,
    VirtualRouterRefSchema,
    CreateVirtualRouterInputSchema,
    UpdateVirtualRouterInputSchema,
    ListVirtualRoutersOutputSchema,
) = _family(kinds.VIRTUAL_ROUTER, VirtualRouterSpecSchema, VirtualRouterStatusSchema)
(
    RouteDataSchema,
    RouteRefSchema,
    CreateRouteInputSchema,
    UpdateRouteInputSchema,
    ListRoutesOutputSchema,
) = _family(kinds.ROUTE, RouteSpecSchema, RouteStatusSchema)
(
    VirtualGatewayDataSchema,
    VirtualGatewayRefSchema,
    CreateVirtualGatewayInputSchema,
    UpdateVirtualGatewayInputSchema,
    ListVirtualGatewaysOutputSchema,
) = _family(kinds.VIRTUAL_GATEWAY, VirtualGatewaySpecSchema, VirtualGatewayStatusSchema)
(
    GatewayRouteDataSchema,
    GatewayRouteRefSchema,
    CreateGatewayRouteInputSchema,
    UpdateGatewayRouteInputSchema,
    ListGatewayRoutesOutputSchema,
) = _family(kinds.GATEWAY_ROUTE, GatewayRouteSpecSchema, GatewayRouteStatusSchema)

DATA_SCHEMAS: dict[str, type[CamelCaseSchema]] = {
    "mesh": MeshDataSchema,
    "virtualNode": VirtualNodeDataSchema,
    "virtualService": VirtualServiceDataSchema,
    "virtualRouter": VirtualRouterDataSchema,
    "route": RouteDataSchema,
    "virtualGateway": VirtualGatewayDataSchema,
    "gatewayRoute": GatewayRouteDataSchema,
}
REF_SCHEMAS: dict[str, type[CamelCaseSchema]] = {
    "mesh": MeshRefSchema,
    "virtualNode": VirtualNodeRefSchema,
    "virtualService": VirtualServiceRefSchema,
    "virtualRouter": VirtualRouterRefSchema,
    "route": RouteRefSchema,
    "virtualGateway": VirtualGatewayRefSchema,
    "gatewayRoute": GatewayRouteRefSchema,
}
CREATE_INPUT_SCHEMAS: dict[str, type[CamelCaseSchema]] = {
    "mesh": CreateMeshInputSchema,
    "virtualNode": CreateVirtualNodeInputSchema,
    "virtualService": CreateVirtualServiceInputSchema,
    "virtualRouter": CreateVirtualRouterInputSchema,
    "route": CreateRouteInputSchema,
    "virtualGateway": CreateVirtualGatewayInputSchema,
    "gatewayRoute": CreateGatewayRouteInputSchema,
}
UPDATE_INPUT_SCHEMAS: dict[str, type[CamelCaseSchema]] = {
    "mesh": UpdateMeshInputSchema,
    "virtualNode": UpdateVirtualNodeInputSchema,
    "virtualService": UpdateVirtualServiceInputSchema,
    "virtualRouter": UpdateVirtualRouterInputSchema,
    "route": UpdateRouteInputSchema,
    "virtualGateway": UpdateVirtualGatewayInputSchema,
    "gatewayRoute": UpdateGatewayRouteInputSchema,
}
LIST_OUTPUT_SCHEMAS: dict[str, type[CamelCaseSchema]] = {
    "mesh": ListMeshesOutputSchema,
    "virtualNode": ListVirtualNodesOutputSchema,
    "virtualService": ListVirtualServicesOutputSchema,
    "virtualRouter": ListVirtualRoutersOutputSchema,
    "route": ListRoutesOutputSchema,
    "virtualGateway": ListVirtualGatewaysOutputSchema,
    "gatewayRoute": ListGatewayRoutesOutputSchema,
}


# --- tags


class ListTagsForResourceOutputSchema(CamelCaseSchema):
    next_token = Str()
    tags = ListOf(Obj(TagRefSchema), 0, 50, required=True)


class TagResourceInputSchema(CamelCaseSchema):
    tags = ListOf(Obj(TagRefSchema), 0, 50, required=True)


class UntagResourceInputSchema(CamelCaseSchema):
    tag_keys = ListOf(Str(validate=Length(1, 128)), 0, 50, required=True)


class TagResourceOutputSchema(CamelCaseSchema):
    """An empty object: ``{}``."""


class UntagResourceOutputSchema(CamelCaseSchema):
    """An empty object: ``{}``."""


# --- errors


class ErrorSchema(Schema):
    """Every error body; the same name is also sent in the ``x-amzn-ErrorType`` header."""

    class Meta:
        register = False

    type = fields.String(
        data_key="__type", required=True, metadata={"description": "error shape name, e.g. NotFoundException"}
    )
    message = fields.String(required=True)
