"""TagResource, UntagResource and ListTagsForResource."""

from __future__ import annotations

import json

from flask import Blueprint, Response, current_app, request

from meshplane import schemas
from meshplane.api import params
from meshplane.api.resources import PREFIX
from meshplane.errors import BadRequestException
from meshplane.store import ResourceStore


def _store() -> ResourceStore:
    store: ResourceStore = current_app.extensions["meshplane.store"]
    return store


def _ok(payload: dict[str, object]) -> Response:
    return Response(json.dumps(payload, separators=(",", ":")), status=200, mimetype="application/json")


def blueprint() -> Blueprint:
    """A blueprint carrying the three tagging operations."""
    bp = Blueprint("tags", __name__)

    @bp.get(f"{PREFIX}/tags")
    def list_tags() -> Response:
        page, token = _store().tags_of(
            params.resource_arn(request), params.limit(request, maximum=50), params.next_token(request)
        )
        out: dict[str, object] = {"tags": page}
        if token:
            out["nextToken"] = token
        return _ok(out)

    @bp.put(f"{PREFIX}/tag")
    def tag() -> Response:
        arn = params.resource_arn(request)
        payload = params.body(request, {"tags"})
        if "tags" not in payload:
            raise params.missing("tags")
        _store().tag(arn, schemas.validate_tags(payload["tags"]))
        return _ok({})

    @bp.put(f"{PREFIX}/untag")
    def untag() -> Response:
        arn = params.resource_arn(request)
        payload = params.body(request, {"tagKeys"})
        keys = payload.get("tagKeys")
        if keys is None:
            raise params.missing("tagKeys")
        if not isinstance(keys, list) or not all(isinstance(k, str) and 1 <= len(k) <= 128 for k in keys):
            raise BadRequestException(
                "Value at 'tagKeys' failed to satisfy constraint: Member must be a list of strings of 1 to 128 characters"
            )
        if len(keys) > 50:
            raise BadRequestException("Value at 'tagKeys' failed to satisfy constraint: Member must have at most 50 items")
        _store().untag(arn, keys)
        return _ok({})

    return bp
