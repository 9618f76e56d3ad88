"""``POST /meshplane/v1/import`` and ``GET /meshplane/v1/export``: the formats/ import core over HTTP.

Import body: the file's content, any format ``meshplane import`` reads. Query: ``dryRun=true``,
``onConflict=fail|skip|replace`` (default fail), ``set=LogicalId=name`` (repeatable, CloudFormation).
Answer: ``{"format", "dryRun", "summary": {Kind: {created, unchanged, replaced, skipped}}, "totals",
"diff"}``. Invalid input: 400 naming the file part, resource and field; conflicts in ``fail`` mode:
409; in both cases nothing is written. Actions: ``meshplane:Import`` / ``meshplane:Export`` (admin only
once auth is on; see auth/actions.py).
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, current_app, request

from meshplane.errors import BadRequestException
from meshplane.store import ResourceStore

PREFIX = "/meshplane/v1"

#: An import body may be a large state file (2,000 nodes with their routes: ~10 MiB).
MAX_IMPORT_BYTES = 64 * 1024 * 1024


def _store() -> ResourceStore:
    store: ResourceStore = current_app.extensions["meshplane.store"]
    return store


def _flag(name: str) -> bool:
    raw = request.args.get(name, "false").lower()
    if raw not in ("true", "false", "1", "0", ""):
        raise BadRequestException(f"Value '{raw}' at '{name}' failed to satisfy constraint: Member must be true or false")
    return raw in ("true", "1")


def blueprint() -> Blueprint:
    bp = Blueprint("imports", __name__)

    @bp.post(f"{PREFIX}/import")
    def import_view() -> Response:
        """Validate and import the body (one file) in one transaction; report what changed."""
        from meshplane.formats import FormatError, read
        from meshplane.formats.importer import ON_CONFLICT, import_resources

        # Query first: a bad parameter is reported before the (possibly large) body is parsed.
        on_conflict = request.args.get("onConflict", "fail")
        if on_conflict not in ON_CONFLICT:
            raise BadRequestException(f"onConflict {on_conflict!r} must be one of {', '.join(ON_CONFLICT)}")
        dry_run = _flag("dryRun")
        request.max_content_length = MAX_IMPORT_BYTES
        try:
            text = request.get_data(cache=False).decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequestException("The import body must be UTF-8 text") from None
        names: dict[str, str] = {}
        for value in request.args.getlist("set"):
            logical, sep, physical = value.partition("=")
            if not sep or not logical or not physical:
                raise BadRequestException(f"Value '{value}' at 'set' failed to satisfy constraint: "
                                          "Member must be LogicalId=name")
            names[logical] = physical
        try:
            fmt, resources = read(text, "body", names)
        except FormatError as exc:
            raise BadRequestException(str(exc)) from None
        outcome = import_resources(_store(), resources, on_conflict=on_conflict, dry_run=dry_run)
        body = {"format": fmt, **outcome.as_json()}
        return Response(json.dumps(body, separators=(",", ":")), status=200, mimetype="application/json")

    @bp.get(f"{PREFIX}/export")
    def export_view() -> Response:
        """The meshes (``?mesh=`` repeatable; default all) as the lossless JSON export, or with
        ``?format=terraform|cloudformation|k8s`` as ``{"files": {name: text}}``."""
        from meshplane.formats import exporter

        fmt = request.args.get("format", "json")
        if fmt not in exporter.FORMATS:
            raise BadRequestException(f"Value '{fmt}' at 'format' failed to satisfy constraint: "
                                      f"Member must satisfy enum value set: [{', '.join(exporter.FORMATS)}]")
        provider = request.args.get("provider", "meshplane")
        if provider not in ("meshplane", "aws"):
            raise BadRequestException(f"Value '{provider}' at 'provider' failed to satisfy constraint: "
                                      "Member must satisfy enum value set: [meshplane, aws]")
        meshes = request.args.getlist("mesh") or None
        store = _store()
        files = exporter.render(fmt, exporter.resources(store, meshes), store, provider)
        if fmt == "json":
            (text,) = files.values()
            return Response(text, status=200, mimetype="application/json")
        return Response(json.dumps({"files": files}), status=200, mimetype="application/json")

    return bp
