"""load_spec / dump_spec: the one door between wire specs (camelCase) and stored specs (snake_case)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema
from marshmallow import ValidationError

from .camel import CamelCaseSchema
from .gateway_route import GatewayRouteSpecSchema
from .mesh import MeshSpecSchema
from .messages import bad_request
from .route import RouteSpecSchema
from .virtual_gateway import VirtualGatewaySpecSchema
from .virtual_node import VirtualNodeSpecSchema
from .virtual_router import VirtualRouterSpecSchema
from .virtual_service import VirtualServiceSpecSchema

_SPEC_CLASSES: dict[str, type[CamelCaseSchema]] = {
    "mesh": MeshSpecSchema,
    "virtualNode": VirtualNodeSpecSchema,
    "virtualService": VirtualServiceSpecSchema,
    "virtualRouter": VirtualRouterSpecSchema,
    "route": RouteSpecSchema,
    "virtualGateway": VirtualGatewaySpecSchema,
    "gatewayRoute": GatewayRouteSpecSchema,
}

SPEC_SCHEMAS: dict[str, type[Schema]] = dict(_SPEC_CLASSES)
"""Kind key (kinds.py) -> the schema class of its spec."""

# Built and compiled once, at import: schema instances are reusable and thread-safe for load/dump
# (they keep no per-call state), and building one costs far more than a load.
_INSTANCES: dict[str, CamelCaseSchema] = {kind: cls() for kind, cls in _SPEC_CLASSES.items()}
for _instance in _INSTANCES.values():
    _instance.compile_tree()


def _schema(kind: str) -> CamelCaseSchema:
    try:
        return _INSTANCES[kind]
    except KeyError:
        raise ValueError(f"unknown resource kind {kind!r}") from None


def load_spec(kind: str, wire: object) -> dict[str, Any]:
    """Validate a wire spec and return its stored form.

    The stored form is the same tree with every key in snake_case; values are the input's own
    (``DROP_ALL``, ``http``, ints) and absent members stay absent (nothing is defaulted).

    :param kind: a kind key from kinds.py (``virtualNode`` ...).
    :param wire: the decoded JSON ``spec`` member of a request body (CreateMesh/UpdateMesh may omit
        it: pass ``{}``, which AWS echoes back as ``"spec": {}``).
    :raises BadRequestException: naming every offending member (``spec.listeners[0].portMapping.port``).
    :raises ValueError: ``kind`` is not a kind key (a programming error, not a client error).
    """
    schema = _schema(kind)
    try:
        return schema.fast_load(wire)
    except ValidationError as err:
        raise bad_request(err.messages, wire, "spec") from None


def dump_spec(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    """The wire form (camelCase) of a stored spec: the exact inverse of `load_spec`.

    Members absent from ``spec`` are absent from the result; no validation is done (a stored spec
    was validated when it was loaded).
    """
    return _schema(kind).fast_dump(spec)
