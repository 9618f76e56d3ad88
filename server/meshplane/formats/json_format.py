"""meshplane's own JSON export, and saved ``aws appmesh describe-*`` output.

The export (``meshplane export --format json``) is lossless: every resource as its describe
``*Data`` object (names, metadata, spec) plus ``kind`` and its ``tags``::

    {"format": "meshplane-export", "version": 1, "accountId": "...", "region": "...",
     "resources": [{"kind": "mesh", "meshName": "demo", "metadata": {...}, "spec": {...}, "tags": [...]}, ...]}

Saved CLI output is accepted as one JSON document or several concatenated (``for n in ...; do aws
appmesh describe-virtual-node ...; done > saved.json``): each a describe answer (``{"virtualNode":
{...}}``), a bare ``*Data`` object, or a JSON list of either. Describe output carries no tags (tags
then stay as stored, or empty for a new resource). ``list-*`` output carries no specs and is refused
with a message saying so.
"""

from __future__ import annotations

import json
from typing import Any

from meshplane import kinds
from meshplane.formats.model import FormatError, Resource, names_of

FORMAT_NAME = "meshplane-export"
FORMAT_VERSION = 1

_LIST_KEYS = {k.list_key: k for k in kinds.ALL}


def decode_documents(text: str) -> list[Any]:
    """Every JSON document in ``text`` (one, or several written one after the other).

    :raises ValueError: the text is not JSON.
    """
    decoder = json.JSONDecoder()
    docs: list[Any] = []
    pos, end = 0, len(text)
    while True:
        while pos < end and text[pos].isspace():
            pos += 1
        if pos >= end:
            return docs
        doc, pos = decoder.raw_decode(text, pos)
        docs.append(doc)


def is_export(doc: Any) -> bool:
    return isinstance(doc, dict) and doc.get("format") == FORMAT_NAME


def parse(docs: list[Any], source: str) -> list[Resource]:
    """Resources of a meshplane export or of saved describe output.

    :raises FormatError: naming ``source`` and the item that is not a resource.
    """
    out: list[Resource] = []
    for d, doc in enumerate(docs):
        where = source if len(docs) == 1 else f"{source} (document {d + 1})"
        if is_export(doc):
            if doc.get("version") != FORMAT_VERSION:
                raise FormatError(f"{where}: export version {doc.get('version')!r} is not {FORMAT_VERSION}")
            items = doc.get("resources")
            if not isinstance(items, list):
                raise FormatError(f"{where}: 'resources' must be a list")
            for i, item in enumerate(items):
                out.append(_resource(item, None, f"{where}: resources[{i}]"))
        elif isinstance(doc, list):
            for i, item in enumerate(doc):
                out.extend(_describe(item, f"{where}: [{i}]"))
        else:
            out.extend(_describe(doc, where))
    return out


def _describe(doc: Any, where: str) -> list[Resource]:
    if not isinstance(doc, dict):
        raise FormatError(f"{where}: expected a JSON object, found {type(doc).__name__}")
    if len(doc) == 1:
        (key, value), = doc.items()
        if key in kinds.BY_KEY and isinstance(value, dict):
            return [_resource(value, kinds.BY_KEY[key], where)]
        if key in _LIST_KEYS:
            raise FormatError(f"{where}: list-{_LIST_KEYS[key].collection} output holds no specs; save "
                              f"the describe output of each resource instead")
    if "spec" in doc and "meshName" in doc:
        return [_resource(doc, None, where)]
    raise FormatError(f"{where}: not a describe-* answer, a resource, or a meshplane export")


def _kind_from_names(item: dict[str, Any]) -> kinds.Kind | None:
    """The kind whose name members the object has (``routeName`` -> route ...)."""
    for kind in reversed(kinds.ALL):
        if kind is not kinds.MESH and kind.name_key in item:
            return kind
    return kinds.MESH if "meshName" in item else None


def _resource(item: Any, kind: kinds.Kind | None, where: str) -> Resource:
    if not isinstance(item, dict):
        raise FormatError(f"{where}: expected a JSON object")
    if kind is None:
        key = item.get("kind")
        kind = kinds.BY_KEY.get(key) if isinstance(key, str) else _kind_from_names(item)
        if kind is None:
            raise FormatError(f"{where}: unknown kind {key!r}")
    names: dict[str, str] = {}
    members = ["meshName"]
    if kind.parent:
        members.append(kinds.BY_KEY[kind.parent].name_key)
    if kind is not kinds.MESH:
        members.append(kind.name_key)
    for member in members:
        value = item.get(member)
        if not isinstance(value, str):
            raise FormatError(f"{where}: {member} must be a string, found {value!r}")
        names[member] = value
    mesh = names["meshName"]
    name = mesh if kind is kinds.MESH else names[kind.name_key]
    parent = names[kinds.BY_KEY[kind.parent].name_key] if kind.parent else ""
    spec = item.get("spec", {} if kind is kinds.MESH else None)
    meta = item.get("metadata") or {}
    if not isinstance(meta, dict):
        raise FormatError(f"{where}: metadata must be an object")
    tags = item.get("tags")
    if tags is not None and not isinstance(tags, list):
        raise FormatError(f"{where}: tags must be a list of {{key, value}}")
    return Resource(
        kind=kind.key, mesh=mesh, name=name, parent=parent, spec=spec, tags=tags,
        arn=meta.get("arn"), uid=meta.get("uid"), created_at=_time(meta.get("createdAt"), where),
        updated_at=_time(meta.get("lastUpdatedAt"), where), mesh_owner=meta.get("meshOwner"),
        resource_owner=meta.get("resourceOwner"), version=meta.get("version"),
        source=f"{where} ({kind.label} {'/'.join(p for p in (mesh, parent, name if kind is not kinds.MESH else '') if p)})",
    )


def _time(value: Any, where: str) -> float | None:
    """Epoch seconds (the API's numbers) or ISO-8601 text (what `aws` prints) as epoch seconds."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise FormatError(f"{where}: a timestamp must be a number or ISO-8601 text, found {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        from meshplane.formats.timefmt import parse_time

        try:
            return parse_time(value)
        except ValueError:
            raise FormatError(f"{where}: timestamp {value!r} is not ISO-8601") from None
    raise FormatError(f"{where}: a timestamp must be a number or ISO-8601 text, found {value!r}")


def render(resources: list[Resource], account_id: str, region: str) -> str:
    """The lossless export document: JSON text, one resource per line, ending with a newline."""
    items = []
    for r in resources:
        item: dict[str, Any] = {"kind": r.kind, **names_of(r)}
        item["metadata"] = {
            "arn": r.arn, "createdAt": r.created_at, "lastUpdatedAt": r.updated_at, "meshOwner": r.mesh_owner,
            "resourceOwner": r.resource_owner, "uid": r.uid, "version": r.version,
        }
        item["spec"] = r.spec
        item["tags"] = r.tags or []
        items.append(item)
    head = json.dumps({"format": FORMAT_NAME, "version": FORMAT_VERSION, "accountId": account_id,
                       "region": region})[:-1]
    # One resource per line, compact: readable in a diff, and written by json's C encoder (an
    # indented dump runs the pure-Python one, ~10x slower on thousands of resources).
    body = ",\n".join(json.dumps(item, separators=(",", ":")) for item in items)
    return f'{head}, "resources": [\n{body}\n]}}\n'
