"""Reading the store into the common model, and rendering each export format."""

from __future__ import annotations

import json

from meshplane.formats.model import Resource
from meshplane.store import ResourceStore

FORMATS = ("json", "terraform", "cloudformation", "k8s")


def resources(store: ResourceStore, meshes: list[str] | None = None) -> list[Resource]:
    """Every stored resource (of ``meshes``, or all), parents first, with metadata and tags."""
    out = []
    for record, tags in store.snapshot(meshes):
        out.append(Resource(
            kind=record.kind, mesh=record.mesh, name=record.name, parent=record.parent,
            spec=json.loads(record.wire), tags=tags, arn=record.arn, uid=record.uid,
            created_at=record.created_at, updated_at=record.updated_at, mesh_owner=record.mesh_owner,
            resource_owner=record.resource_owner, version=record.version,
        ))
    return out


def render(fmt: str, items: list[Resource], store: ResourceStore, provider: str = "meshplane") -> dict[str, str]:
    """The files of export format ``fmt``: file name -> text.

    :param provider: for ``terraform``: ``meshplane`` (meshplane/meshplane) or ``aws`` (hashicorp/aws).
    :raises ValueError: unknown format.
    """
    config = store.config
    if fmt == "json":
        from meshplane.formats import json_format

        return {"meshplane-export.json": json_format.render(items, config.account_id, config.region)}
    if fmt == "terraform":
        from meshplane.formats import hcl

        return hcl.render(items, provider, config.region)
    if fmt == "cloudformation":
        from meshplane.formats import cloudformation

        return cloudformation.render(items)
    if fmt == "k8s":
        from meshplane.formats import k8s

        return k8s.render(items)
    raise ValueError(f"unknown export format {fmt!r} (one of {', '.join(FORMATS)})")
