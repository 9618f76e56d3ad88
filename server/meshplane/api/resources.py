"""The 35 resource operations: Create/Describe/Update/Delete/List for the seven kinds.

One generic view per URL shape, parameterised by :class:`meshplane.kinds.Kind` (Flask's
``register_api`` pattern); each handler only parses, calls the store and renders.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from flask import Blueprint, Response, current_app, request

from meshplane import kinds, schemas
from meshplane.api import params, render
from meshplane.kinds import Kind
from meshplane.store import ResourceStore, Written, request_digest

PREFIX = "/v20190125"


def _store() -> ResourceStore:
    store: ResourceStore = current_app.extensions["meshplane.store"]
    return store


def _json(text: str) -> Response:
    return Response(text, status=200, mimetype="application/json")


def _paths(kind: Kind) -> tuple[str, str]:
    """(collection URL rule, item URL rule) for ``kind``."""
    if kind is kinds.MESH:
        return f"{PREFIX}/meshes", f"{PREFIX}/meshes/<mesh>"
    if kind.parent:
        base = f"{PREFIX}/meshes/<mesh>/{kind.parent}/<parent>/{kind.collection}"
    else:
        base = f"{PREFIX}/meshes/<mesh>/{kind.collection}"
    return base, base + "/<name>"


def _bind_parent_check(kind: Kind, spec: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], None] | None:
    """The cross-resource rule between a child's spec and its parent's (route type vs listeners)."""
    if kind is kinds.ROUTE:
        return lambda parent_spec: schemas.check_route_fits_router(spec, parent_spec)
    if kind is kinds.GATEWAY_ROUTE:
        return lambda parent_spec: schemas.check_gateway_route_fits_gateway(spec, parent_spec)
    return None


def _load_spec(kind: Kind, payload: dict[str, Any], required: bool) -> tuple[dict[str, Any] | None, Any]:
    if "spec" not in payload:
        if required:
            raise params.missing("spec")
        return None, None
    wire = payload["spec"]
    return schemas.load_spec(kind.key, wire), wire


def make_views(kind: Kind) -> tuple[Callable[..., Response], Callable[..., Response]]:
    """The collection view (List, Create) and the item view (Describe, Update, Delete) of ``kind``."""
    create_members = {"clientToken", kind.name_key, "spec", "tags"}
    update_members = {"clientToken", "spec"}

    def collection(mesh: str | None = None, parent: str = "") -> Response:
        store = _store()
        if kind is not kinds.MESH:
            store.check_owner(params.mesh_owner(request), mesh or "")
        if request.method == "GET":
            records, token = store.list(
                kind, mesh or "", parent, params.limit(request), params.next_token(request)
            )
            out: dict[str, Any] = {kind.list_key: [render.ref(r) for r in records]}
            if token:
                out["nextToken"] = token
            return _json(json.dumps(out, separators=(",", ":")))
        payload = params.body(request, create_members)
        name = schemas.check_name(kind.name_key, payload.get(kind.name_key))
        mesh_name = name if kind is kinds.MESH else (mesh or "")
        spec, wire = _load_spec(kind, payload, required=kind is not kinds.MESH)
        if spec is None:
            spec, wire = {}, {}
        tags = schemas.validate_tags(payload["tags"]) if "tags" in payload else []
        digest = request_digest([mesh_name, parent, name, wire, tags])
        written = store.create(
            kind, mesh_name, parent, name, spec, wire, tags,
            params.client_token(payload), digest, render.data, _bind_parent_check(kind, spec),
        )
        return _answer(written)

    def item(mesh: str, name: str | None = None, parent: str = "") -> Response:
        store = _store()
        own_name = mesh if kind is kinds.MESH else (name or "")
        if kind is not kinds.MESH or request.method == "GET":
            store.check_owner(params.mesh_owner(request), mesh)
        if request.method == "GET":
            return _json(render.data(store.get(kind, mesh, parent, own_name)))
        if request.method == "DELETE":
            return _json(render.data(store.delete(kind, mesh, parent, own_name), status="DELETED"))
        payload = params.body(request, update_members)
        spec, wire = _load_spec(kind, payload, required=kind is not kinds.MESH)
        digest = request_digest([mesh, parent, own_name, wire])
        check = _bind_parent_check(kind, spec) if spec is not None else None
        written = store.update(
            kind, mesh, parent, own_name, spec, wire, params.client_token(payload), digest, render.data, check
        )
        return _answer(written)

    return collection, item


def _answer(written: Written) -> Response:
    if written.response is not None:
        return _json(written.response)
    assert written.record is not None
    return _json(render.data(written.record))


def blueprint() -> Blueprint:
    """A blueprint carrying the resource operations of all seven kinds."""
    bp = Blueprint("resources", __name__)
    for kind in kinds.ALL:
        collection, item = make_views(kind)
        collection_rule, item_rule = _paths(kind)
        bp.add_url_rule(collection_rule, f"{kind.key}_collection", collection, methods=["GET", "PUT"])
        bp.add_url_rule(item_rule, f"{kind.key}_item", item, methods=["GET", "PUT", "DELETE"])
    return bp
