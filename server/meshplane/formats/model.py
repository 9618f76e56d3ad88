"""The in-memory model every format reads into and writes from: a list of :class:`Resource`.

A Resource is one App Mesh object in wire terms (camelCase spec, as the API takes it), with
whatever metadata its source carried. ``None`` always means "the source does not say": the import
core then keeps what is stored (or makes it up, for a new resource), never an empty value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from meshplane import kinds
from meshplane.kinds import Kind


class FormatError(ValueError):
    """A file cannot be read as the format it looks like; the message names the file and the place."""


@dataclass
class Resource:
    """One App Mesh resource read from (or to be written to) a file.

    :param kind: kind key (kinds.py): ``mesh``, ``virtualNode`` ...
    :param mesh: the mesh name (for a mesh: its own name).
    :param parent: the virtual router of a route, the virtual gateway of a gateway route, else ``""``.
    :param name: the resource's own name (for a mesh: the mesh name again).
    :param spec: the wire spec (camelCase), not yet validated.
    :param tags: the complete tag set ``[{"key", "value"}]``, or None when the source has no tags.
    :param source: where it came from, for messages: ``state.tfstate: aws_appmesh_route.r["a"]``.
    """

    kind: str
    mesh: str
    name: str
    spec: Any  # dict from every reader; None when the source has none (reported by the import)
    parent: str = ""
    tags: list[dict[str, str]] | None = None
    arn: str | None = None
    uid: str | None = None
    created_at: float | None = None
    updated_at: float | None = None
    mesh_owner: str | None = None
    resource_owner: str | None = None
    version: int | None = None
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def kind_info(self) -> Kind:
        return kinds.BY_KEY[self.kind]

    @property
    def key(self) -> tuple[str, str, str, str]:
        """Identity: (mesh, kind, parent, name)."""
        return (self.mesh, self.kind, self.parent, self.name)

    @property
    def label(self) -> str:
        """``VirtualNode demo/svc-a`` (``Route demo/router/r``, ``Mesh demo``)."""
        path = self.mesh if self.kind == "mesh" else "/".join(p for p in (self.mesh, self.parent, self.name) if p)
        return f"{self.kind_info.label} {path}"


def kind_for_label(label: str) -> Kind | None:
    """``VirtualNode`` -> the Kind (case-insensitive), or None."""
    lowered = label.lower()
    return next((k for k in kinds.ALL if k.label.lower() == lowered), None)


def tags_from_map(tags: dict[str, Any] | None) -> list[dict[str, str]]:
    """A ``{key: value}`` map as App Mesh's sorted ``[{"key", "value"}]`` list."""
    return [{"key": str(k), "value": "" if v is None else str(v)} for k, v in sorted((tags or {}).items())]


def names_of(resource: Resource) -> dict[str, str]:
    """The wire name members of a resource: ``{"meshName", "virtualRouterName", "routeName"}``."""
    kind = resource.kind_info
    out = {"meshName": resource.mesh}
    if kind.parent:
        out[kinds.BY_KEY[kind.parent].name_key] = resource.parent
    if kind is not kinds.MESH:
        out[kind.name_key] = resource.name
    return out


def sort_parents_first(resources: list[Resource]) -> list[Resource]:
    """Meshes, then per kind in kinds.ALL order (routers before routes); stable otherwise."""
    order = {k.key: i for i, k in enumerate(kinds.ALL)}
    return sorted(resources, key=lambda r: order[r.kind])
