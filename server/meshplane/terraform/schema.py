"""The Terraform schema tree, built from OpenAPI components by one generic rule.

The rule (provider-spec/README.md) reproduces hashicorp/aws's aws_appmesh_* HCL:

* a camelCase member becomes a snake_case name (``portMapping`` -> ``port_mapping``);
* an object becomes a nested block holding at most one element (``spec { egress_filter { ... } }``),
  required (min 1) when the parent lists it as required;
* an array of objects becomes a repeated block named in the singular (``listeners`` -> ``listener``);
* an array of scalars becomes a set attribute (``httpRetryEvents`` -> ``http_retry_events``);
* a scalar becomes a string, number or bool attribute carrying its OpenAPI constraints.

``x-terraform`` overrides in terraform.json, keyed by wire path, change one node: ``nesting``
(``set``/``list``), ``type: map`` (an array of ``{key, value}`` objects shown as ``map(string)``),
``name`` and ``hidden``. Nothing here does I/O; the trees are immutable and shared by all threads.
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the protobuf stubs load only when a schema is sent (keeps `meshplane --help` fast)
    from tf.gen import tfplugin_pb2 as pb

CtyType = Any  # "string" | "number" | "bool" | ["set"|"list"|"map", CtyType] | ["object", {...}]

SCALAR_CONSTRAINTS = ("enum", "minimum", "maximum", "minLength", "maxLength", "pattern")


@dataclass(frozen=True)
class Attribute:
    """One attribute: a scalar, a set/list of scalars, or a map of strings.

    :param wire: the wire member (camelCase); None for provider-only attributes such as ``tags_all``.
    :param constraints: OpenAPI constraints of the scalar (or of each element of a collection).
    :param min_items: / :param max_items: bounds of a collection, checked only when it is set.
    :param map_kv: the wire holds ``[{"key": k, "value": v}]`` for this ``map(string)``.
    """

    name: str
    type: CtyType
    wire: str | None = None
    required: bool = False
    optional: bool = False
    computed: bool = False
    force_new: bool = False
    constraints: dict[str, Any] = field(default_factory=dict)
    min_items: int | None = None
    max_items: int | None = None
    map_kv: bool = False
    description: str = ""
    sensitive: bool = False  # Terraform hides the value in plans and output (secret_key)

    @property
    def is_collection(self) -> bool:
        return isinstance(self.type, list)

    @property
    def is_set(self) -> bool:
        return isinstance(self.type, list) and self.type[0] == "set"

    def to_pb(self) -> pb.Schema.Attribute:
        from tf.gen import tfplugin_pb2 as pb

        return pb.Schema.Attribute(
            name=self.name,
            type=json.dumps(self.type).encode(),
            required=self.required,
            optional=self.optional,
            computed=self.computed,
            sensitive=self.sensitive,
            description=self.description,
            description_kind=pb.PLAIN,
        )


@dataclass(frozen=True)
class Block:
    """A nested block (or the resource root, whose ``name`` is empty).

    :param single: the wire value is one object (the block holds at most one element);
        otherwise the wire value is an array of objects.
    :param nesting: ``list`` or ``set``, as Terraform sees the repeated block.
    :param union: the wire object is a tagged union: at most one member may be set.
    :param union_required: ... and at least one must be.
    """

    name: str
    wire: str
    single: bool = True
    nesting: str = "list"
    min_items: int = 0
    max_items: int = 0
    attributes: tuple[Attribute, ...] = ()
    blocks: tuple[Block, ...] = ()
    union: bool = False
    union_required: bool = False
    list_min_items: int | None = None
    description: str = ""

    @property
    def is_set(self) -> bool:
        return self.nesting == "set"

    def attribute(self, name: str) -> Attribute:
        return next(a for a in self.attributes if a.name == name)

    def block(self, name: str) -> Block:
        return next(b for b in self.blocks if b.name == name)

    def member_names(self) -> list[str]:
        """Wire members of this object, attributes first."""
        return [a.wire for a in self.attributes if a.wire] + [b.wire for b in self.blocks]

    def object_type(self) -> CtyType:
        """The cty type of one element of this block (used for computed ``spec`` in data sources)."""
        members: dict[str, CtyType] = {a.name: a.type for a in self.attributes}
        for b in self.blocks:
            members[b.name] = [b.nesting, b.object_type()]
        return ["object", members]

    def block_pb(self) -> pb.Schema.Block:
        from tf.gen import tfplugin_pb2 as pb

        return pb.Schema.Block(
            attributes=[a.to_pb() for a in self.attributes],
            block_types=[b.nested_pb() for b in self.blocks],
            description=self.description,
            description_kind=pb.PLAIN,
        )

    def nested_pb(self) -> pb.Schema.NestedBlock:
        from tf.gen import tfplugin_pb2 as pb

        mode = pb.Schema.NestedBlock.SET if self.is_set else pb.Schema.NestedBlock.LIST
        return pb.Schema.NestedBlock(
            type_name=self.name,
            block=self.block_pb(),
            nesting=mode,
            min_items=self.min_items,
            max_items=self.max_items,
        )


def snake(name: str) -> str:
    """``portMapping`` -> ``port_mapping``; ``http2Route`` -> ``http2_route``; ``awsCloudMap`` -> ``aws_cloud_map``."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def singular(name: str) -> str:
    """The HCL block name for one element of a list: ``listeners`` -> ``listener``, ``entries`` -> ``entry``."""
    if name.endswith("ies"):
        return name[:-3] + "y"
    if name.endswith("s") and not name.endswith("ss"):
        return name[:-1]
    return name


class OpenApi:
    """Resolves ``$ref``/``allOf``/nullable wrappers in one OpenAPI document."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.components: dict[str, Any] = doc.get("components", {}).get("schemas", {})

    def component(self, name: str) -> dict[str, Any]:
        try:
            return self.resolve(self.components[name])
        except KeyError:
            raise KeyError(f"openapi.json has no component {name!r}") from None

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        """The schema with references followed and wrappers merged (outer keywords win)."""
        seen = 0
        while True:
            seen += 1
            if seen > 50:
                raise ValueError("reference cycle in openapi.json")
            if "$ref" in schema:
                target = self.components[schema["$ref"].rsplit("/", 1)[-1]]
                schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
                continue
            for key in ("allOf", "anyOf", "oneOf"):
                parts = [p for p in schema.get(key, []) if p.get("type") != "null"]
                if len(parts) == 1:
                    rest = {k: v for k, v in schema.items() if k != key}
                    schema = {**self.resolve(parts[0]), **rest}
                    break
            else:
                break
        kind = schema.get("type")
        if isinstance(kind, list):  # OpenAPI 3.1 nullable: ["string", "null"]
            kinds = [k for k in kind if k != "null"]
            schema = {**schema, "type": kinds[0] if kinds else None}
        return schema


def _scalar_type(schema: dict[str, Any]) -> CtyType:
    kind = schema.get("type")
    if kind in ("integer", "number"):
        return "number"
    if kind == "boolean":
        return "bool"
    return "string"


def _is_object(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "object" or "properties" in schema


class SchemaBuilder:
    """Builds the ``spec`` block of one resource from its OpenAPI component and overrides."""

    def __init__(self, api: OpenApi, overrides: dict[str, dict[str, Any]]) -> None:
        self.api = api
        self.overrides = overrides

    def override(self, path: str) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for pattern, value in self.overrides.items():
            if fnmatch.fnmatchcase(path, pattern) and len(pattern.split(".")) == len(path.split(".")):
                merged.update(value)
        return merged

    def spec_block(self, component: str, required: bool) -> Block:
        return self.object_block(
            self.api.component(component), "spec", "spec", "spec", single=True,
            min_items=1 if required else 0, max_items=1,
        )

    def object_block(self, schema: dict[str, Any], name: str, wire: str, path: str, *, single: bool,
                     min_items: int, max_items: int, nesting: str = "list",
                     list_min_items: int | None = None) -> Block:
        required = set(schema.get("required", []))
        attributes: list[Attribute] = []
        blocks: list[Block] = []
        for member, raw in sorted(schema.get("properties", {}).items()):
            sub = self.api.resolve(raw)
            sub_path = f"{path}.{member}"
            ov = self.override(sub_path)
            if ov.get("hidden") or sub.get("readOnly"):
                continue
            is_required = member in required
            if _is_object(sub) and not isinstance(sub.get("additionalProperties"), dict):
                blocks.append(self.object_block(
                    sub, ov.get("name", snake(member)), member, sub_path, single=True,
                    min_items=1 if is_required else 0, max_items=1,
                ))
            elif _is_object(sub) and isinstance(sub.get("additionalProperties"), dict):
                attributes.append(Attribute(
                    ov.get("name", snake(member)), ["map", _scalar_type(self.api.resolve(sub["additionalProperties"]))],
                    wire=member, required=is_required, optional=not is_required,
                ))
            elif sub.get("type") == "array":
                items = self.api.resolve(sub.get("items", {}))
                if _is_object(items) and ov.get("type") == "map":
                    attributes.append(Attribute(
                        ov.get("name", snake(member)), ["map", "string"], wire=member, required=is_required,
                        optional=not is_required, map_kv=True,
                        min_items=sub.get("minItems"), max_items=sub.get("maxItems"),
                    ))
                elif _is_object(items):
                    blocks.append(self.object_block(
                        items, ov.get("name", singular(snake(member))), member, sub_path, single=False,
                        nesting=ov.get("nesting", "list"),
                        min_items=max(1, sub.get("minItems", 1)) if is_required else 0,
                        max_items=sub.get("maxItems", 0), list_min_items=sub.get("minItems"),
                    ))
                else:
                    attributes.append(Attribute(
                        ov.get("name", snake(member)), [ov.get("nesting", "set"), _scalar_type(items)], wire=member,
                        required=is_required, optional=not is_required,
                        constraints={k: items[k] for k in SCALAR_CONSTRAINTS if k in items},
                        min_items=sub.get("minItems"), max_items=sub.get("maxItems"),
                    ))
            else:
                attributes.append(Attribute(
                    ov.get("name", snake(member)), _scalar_type(sub), wire=member, required=is_required,
                    optional=not is_required, constraints={k: sub[k] for k in SCALAR_CONSTRAINTS if k in sub},
                    description=sub.get("description", ""),
                ))
        return Block(
            name=name, wire=wire, single=single, nesting=nesting, min_items=min_items, max_items=max_items,
            attributes=tuple(attributes), blocks=tuple(blocks),
            union=schema.get("maxProperties") == 1, union_required=schema.get("minProperties", 0) >= 1,
            list_min_items=list_min_items, description=schema.get("description", ""),
        )
