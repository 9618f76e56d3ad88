"""Terraform state v4 (``terraform.tfstate``, ``terraform state pull``): ``aws_appmesh_*`` and ``meshplane_*``.

Spec conversion reuses the meshplane provider's own schema tree and converters
(meshplane.terraform.spec / values): the provider's blocks reproduce hashicorp/aws's HCL (block
names in the singular, one-element lists for objects, ``attributes`` as a map), so one mapping
serves both providers. What keeps a later ``terraform plan`` at "No changes"
(shared/reference/import.md §3): the ARN verbatim, tags = ``tags_all``, the spec as state holds it;
uid (``id``, except for meshes) and the dates are carried over too.
"""

from __future__ import annotations

import functools
from typing import Any

from meshplane import kinds
from meshplane.formats.model import FormatError, Resource, tags_from_map
from meshplane.formats.timefmt import parse_time

PREFIXES = ("aws_appmesh_", "meshplane_")


@functools.cache
def provider_spec() -> Any:
    """The meshplane provider's ProviderSpec (read once; immutable)."""
    from meshplane.terraform import spec

    return spec.load()


def is_state(doc: Any) -> bool:
    return isinstance(doc, dict) and isinstance(doc.get("resources"), list) and (
        "terraform_version" in doc or "lineage" in doc) and isinstance(doc.get("version"), int)


def resource_spec(type_name: str) -> Any | None:
    """The provider ResourceSpec for ``aws_appmesh_<x>`` or ``meshplane_<x>``, or None."""
    for prefix in PREFIXES:
        if type_name.startswith(prefix):
            return provider_spec().resources.get("meshplane_" + type_name[len(prefix):])
    return None


def address(res: dict[str, Any], instance: dict[str, Any]) -> str:
    """``module.m.aws_appmesh_route.r["a"]``, as Terraform prints it."""
    text = f"{res.get('type')}.{res.get('name')}"
    if res.get("module"):
        text = f"{res['module']}.{text}"
    if "index_key" in instance:
        key = instance["index_key"]
        text += f"[{key}]" if isinstance(key, int) else f'["{key}"]'
    return text


def parse(doc: dict[str, Any], source: str) -> list[Resource]:
    """Every App Mesh resource instance in the state.

    Data sources, deposed objects and resources of other types are left out.
    :raises FormatError: a state version other than 4, or an instance without the attributes it needs.
    """
    if doc.get("version") != 4:
        raise FormatError(f"{source}: Terraform state version {doc.get('version')!r} is not supported "
                          "(only 4, written by Terraform 0.12 and later)")
    from meshplane.terraform import values

    out: list[Resource] = []
    for res in doc["resources"]:
        if not isinstance(res, dict) or res.get("mode") != "managed":
            continue
        rs = resource_spec(str(res.get("type", "")))
        if rs is None:
            continue
        for instance in res.get("instances") or []:
            if not isinstance(instance, dict) or instance.get("deposed"):
                continue
            where = f"{source}: {address(res, instance)}"
            attrs = instance.get("attributes")
            if attrs is None:
                raise FormatError(f"{where}: instance has no 'attributes' (legacy attributes_flat state: "
                                  "run `terraform apply -refresh-only` with Terraform >= 0.12 first)")
            zero_is_unset = str(res.get("type")).startswith("aws_appmesh_")
            out.append(_resource(rs, attrs, where, values, zero_is_unset))
    return out


def _resource(rs: Any, attrs: dict[str, Any], where: str, values: Any, zero_is_unset: bool) -> Resource:
    kind = kinds.BY_KEY[rs.kind]
    name = attrs.get("name")
    mesh = name if kind is kinds.MESH else attrs.get("mesh_name")
    parent: Any = ""
    if kind.parent:
        parent = attrs.get("virtual_router_name" if kind is kinds.ROUTE else "virtual_gateway_name")
    for label, value in (("name", name), ("mesh_name", mesh), ("parent", parent)):
        if not isinstance(value, str):
            raise FormatError(f"{where}: attribute {label} must be a string, found {value!r}")
    assert isinstance(name, str) and isinstance(mesh, str) and isinstance(parent, str)  # for mypy
    raw_spec = attrs.get("spec")
    if zero_is_unset and isinstance(raw_spec, list):
        raw_spec = [unset_zero_values(rs.spec, item) for item in raw_spec]
    try:
        spec = values.spec_to_wire(rs.spec, raw_spec) or {}
    except (AttributeError, TypeError, KeyError, IndexError) as exc:
        raise FormatError(f"{where}: spec is not in the provider's shape ({exc})") from None
    tags = attrs.get("tags_all")
    if tags is None:
        tags = attrs.get("tags")
    return Resource(
        kind=kind.key, mesh=mesh, name=name, parent=parent, spec=spec,
        tags=tags_from_map(tags) if isinstance(tags, dict) or tags is None else None,
        arn=attrs.get("arn") or None,
        uid=None if kind is kinds.MESH else (attrs.get("id") or None),
        created_at=_date(attrs.get("created_date"), where),
        updated_at=_date(attrs.get("last_updated_date"), where),
        mesh_owner=attrs.get("mesh_owner") or None, resource_owner=attrs.get("resource_owner") or None,
        source=where,
    )


def _date(value: Any, where: str) -> float | None:
    if not value:
        return None
    try:
        return parse_time(str(value))
    except ValueError:
        raise FormatError(f"{where}: date {value!r} is not RFC 3339") from None


#: Numbers hashicorp/aws sends even when 0 (every other number it sends only when > 0).
ZERO_IS_SENT = frozenset({"weight", "max_retries"})


def unset_zero_values(block: Any, obj: Any) -> Any:
    """hashicorp/aws (plugin SDKv2) state stores an unset optional string as ``""``, an unset number
    as ``0`` and an unset set as ``[]``, and its expanders (``internal/service/appmesh/flex.go``)
    leave those out of the API request: strings only when non-empty, numbers only when > 0 (but
    ``weight`` and ``max_retries`` always), sets only when non-empty. Turn them back into "unset"
    (None) the same way, so the spec is the one the provider sent: a route's ``priority = 0`` in
    state was never sent and must not become "highest priority". Booleans are always sent: kept.
    """
    if not isinstance(obj, dict):
        return obj
    out = dict(obj)
    for attr in block.attributes:
        value = out.get(attr.name)
        if value == "" or (isinstance(value, (list, dict)) and not value):
            out[attr.name] = None
        elif (isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0
              and attr.name not in ZERO_IS_SENT):
            out[attr.name] = None
    for sub in block.blocks:
        items = out.get(sub.name)
        if isinstance(items, list):
            out[sub.name] = [unset_zero_values(sub, item) for item in items]
    return out
