"""The OpenAPI 3.0.3 description of meshplane's App Mesh API, generated from the schemas.

`build_openapi()` lists all 38 App Mesh operations (botocore ``appmesh`` 2019-01-25) with AWS's
operation names as ``operationId``, their path and query parameters, request bodies, the 200 response
and every modelled error (body ``{"__type", "message"}``). Each per-kind operation carries
``x-appmesh-kind`` (the kinds.py key) and ``x-appmesh-action`` (create/describe/update/delete/list),
so generators (the Terraform provider spec) can map operations to resources without parsing names;
the three tag operations carry ``x-appmesh-action`` only.

Components are named after App Mesh shapes (``VirtualNodeSpec``, ``HttpRoute``, ``Duration``...):
apispec drops the ``Schema`` suffix of each schema class. Tagged unions (schemas whose ``Meta.union``
is set, i.e. every ``UnionSchema``) carry ``minProperties: 1`` and ``maxProperties: 1``: exactly one
member may be set. The document is a build artefact:
`write_openapi` writes it with sorted keys so regenerating it is byte-stable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow import OpenAPIConverter
from apispec.ext.marshmallow.common import resolve_schema_cls
from marshmallow import Schema

from . import __version__
from . import errors
from . import kinds
from .kinds import Kind
from .schemas import envelopes
from .schemas import proxy_status

API_PREFIX = "/v20190125"

COMMON_ERRORS = (
    "BadRequestException",
    "ForbiddenException",
    "NotFoundException",
    "TooManyRequestsException",
    "InternalServerErrorException",
    "ServiceUnavailableException",
)
"""Errors botocore declares on every App Mesh operation."""


@dataclass(frozen=True)
class Operation:
    """One App Mesh operation as it appears in the document."""

    name: str
    method: str
    path: str
    kind: str | None
    action: str
    summary: str
    query: tuple[str, ...]
    body: type[Schema] | None
    response: type[Schema]
    extra_errors: tuple[str, ...] = ()


def _words(label: str) -> str:
    """``VirtualNode`` -> ``virtual node``."""
    return "".join(" " + c.lower() if c.isupper() else c for c in label).strip()


def _collection_path(kind: Kind) -> str:
    if kind is kinds.MESH:
        return f"{API_PREFIX}/meshes"
    base = f"{API_PREFIX}/meshes/{{meshName}}"
    if kind.parent is not None:
        # Routes and gateway routes sit under the *singular* parent segment (virtualRouter/{name}/routes).
        parent = kinds.BY_KEY[kind.parent]
        base += f"/{parent.key}/{{{parent.name_key}}}"
    return f"{base}/{kind.collection}"


def kind_operations(kind: Kind) -> list[Operation]:
    """The five operations of one kind: Create, Describe, Update, Delete, List."""
    collection = _collection_path(kind)
    item = f"{collection}/{{{kind.name_key}}}"
    owner: tuple[str, ...] = () if kind is kinds.MESH else ("meshOwner",)
    noun = _words(kind.label)
    plural = kind.collection[:1].upper() + kind.collection[1:]
    data = envelopes.DATA_SCHEMAS[kind.key]
    return [
        Operation(
            f"Create{kind.label}", "put", collection, kind.key, "create", f"Create a {noun}", owner,
            envelopes.CREATE_INPUT_SCHEMAS[kind.key], data, ("ConflictException", "LimitExceededException"),
        ),
        Operation(
            f"Describe{kind.label}", "get", item, kind.key, "describe", f"Describe a {noun}", ("meshOwner",),
            None, data,
        ),
        Operation(
            f"Update{kind.label}", "put", item, kind.key, "update", f"Update a {noun}", owner,
            envelopes.UPDATE_INPUT_SCHEMAS[kind.key], data,
            ("ConflictException",) if kind is kinds.MESH else ("ConflictException", "LimitExceededException"),
        ),
        Operation(
            f"Delete{kind.label}", "delete", item, kind.key, "delete", f"Delete a {noun}", owner,
            None, data, ("ResourceInUseException",),
        ),
        Operation(
            f"List{plural}", "get", collection, kind.key, "list", f"List {_words(plural)}",
            ("limit", *owner, "nextToken"), None, envelopes.LIST_OUTPUT_SCHEMAS[kind.key],
        ),
    ]


def tag_operations() -> list[Operation]:
    """ListTagsForResource, TagResource, UntagResource."""
    return [
        Operation(
            "ListTagsForResource", "get", f"{API_PREFIX}/tags", None, "list", "List the tags of a resource",
            ("tagsLimit", "nextToken", "resourceArn"), None, envelopes.ListTagsForResourceOutputSchema,
        ),
        Operation(
            "TagResource", "put", f"{API_PREFIX}/tag", None, "tag", "Add or overwrite tags of a resource",
            ("resourceArn",), envelopes.TagResourceInputSchema, envelopes.TagResourceOutputSchema,
            ("TooManyTagsException",),
        ),
        Operation(
            "UntagResource", "put", f"{API_PREFIX}/untag", None, "untag", "Remove tags from a resource",
            ("resourceArn",), envelopes.UntagResourceInputSchema, envelopes.UntagResourceOutputSchema,
        ),
    ]


def all_operations() -> list[Operation]:
    """All 38 App Mesh operations, kind by kind (kinds.ALL order), then the tag operations."""
    return [op for kind in kinds.ALL for op in kind_operations(kind)] + tag_operations()


class ShapeConverter(OpenAPIConverter):
    """apispec's converter, plus the union marker: a ``Meta.union`` schema takes exactly one member."""

    def schema2jsonschema(self, schema: Any) -> dict[str, Any]:
        jsonschema: dict[str, Any] = super().schema2jsonschema(schema)
        meta = getattr(resolve_schema_cls(schema), "Meta", None)
        if getattr(meta, "union", False):
            jsonschema["minProperties"] = 1
            jsonschema["maxProperties"] = 1
        return jsonschema


class ShapePlugin(MarshmallowPlugin):
    """MarshmallowPlugin using `ShapeConverter`."""

    Converter = ShapeConverter


_NAME = {"type": "string", "minLength": 1, "maxLength": 255}


def _register_parameters(spec: APISpec) -> None:
    names = {kind.name_key for kind in kinds.ALL}
    for name in sorted(names):
        spec.components.parameter(name, "path", {"schema": dict(_NAME), "description": "a resource name"})
    spec.components.parameter(
        "meshOwner",
        "query",
        {
            "schema": {"type": "string", "minLength": 12, "maxLength": 12},
            "description": "the account id owning the mesh (a shared mesh); defaults to the caller's",
        },
    )
    spec.components.parameter(
        "limit", "query", {"schema": {"type": "integer", "minimum": 1, "maximum": 100}, "description": "page size"}
    )
    spec.components.parameter(
        "tagsLimit",
        "query",
        {"name": "limit", "schema": {"type": "integer", "minimum": 1, "maximum": 50}, "description": "page size"},
    )
    spec.components.parameter(
        "nextToken", "query", {"schema": {"type": "string"}, "description": "the token a previous page returned"}
    )
    spec.components.parameter(
        "resourceArn", "query", {"required": True, "schema": {"type": "string"}, "description": "a resource ARN"}
    )


def _error_responses(names: tuple[str, ...]) -> dict[str, Any]:
    by_status: dict[str, list[str]] = {}
    for name in names:
        status = str(getattr(errors, name).status)
        by_status.setdefault(status, []).append(name)
    return {
        status: {
            "description": " | ".join(group),
            "headers": {"x-amzn-ErrorType": {"schema": {"type": "string", "enum": group}}},
            "content": {"application/json": {"schema": envelopes.ErrorSchema}},
        }
        for status, group in by_status.items()
    }


def _path_parameters(path: str) -> list[str]:
    return [segment[1:-1] for segment in path.split("/") if segment.startswith("{")]


def _operation(op: Operation) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "operationId": op.name,
        "summary": op.summary,
        "tags": [kinds.BY_KEY[op.kind].label if op.kind else "Tags"],
        "parameters": [*_path_parameters(op.path), *op.query],
        "responses": {
            "200": {"description": "success", "content": {"application/json": {"schema": op.response}}},
            **_error_responses((*COMMON_ERRORS, *op.extra_errors)),
        },
        "x-appmesh-action": op.action,
    }
    if op.kind is not None:
        doc["x-appmesh-kind"] = op.kind
    if op.body is not None:
        doc["requestBody"] = {"required": True, "content": {"application/json": {"schema": op.body}}}
    return doc


def build_openapi(extra_paths: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The OpenAPI 3.0.3 document as a dict.

    :param extra_paths: more paths (path -> {method: operation}) to add, e.g. meshplane's own
        ``/meshplane/v1/...`` endpoints; marshmallow schema classes inside them are turned into
        components like the App Mesh ones.
    """
    spec = APISpec(
        title="meshplane",
        version=__version__,
        openapi_version="3.0.3",
        plugins=[ShapePlugin()],
        info={
            "description": "The AWS App Mesh control-plane API (2019-01-25, rest-json) as served by meshplane. "
            "Every operation answers 200 on success; errors carry the x-amzn-ErrorType header."
        },
    )
    spec.components.schema("Error", schema=envelopes.ErrorSchema)
    _register_parameters(spec)
    by_path: dict[str, dict[str, Any]] = {}
    for op in all_operations():
        by_path.setdefault(op.path, {})[op.method] = _operation(op)
    for path, operations in by_path.items():
        spec.path(path=path, operations=operations)
    for schema in proxy_status.SCHEMAS:
        spec.components.schema(schema.__name__[: -len("Schema")], schema=schema)
    extra = {**proxy_status.openapi_paths(), **(extra_paths or {})}
    for path, operations in extra.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


def write_openapi(path: str) -> None:
    """Write `build_openapi()` to ``path`` as JSON (indent 2, sorted keys, trailing newline)."""
    document = build_openapi()
    with open(path, "w", encoding="utf-8") as out:
        out.write(json.dumps(document, indent=2, sort_keys=True) + "\n")
