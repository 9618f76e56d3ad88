"""Stored records → App Mesh wire JSON (the bare *Data object, and list Refs).

Responses are assembled as text around the stored wire spec so a describe never re-parses
and re-dumps the spec: it is served exactly as the client sent it.
"""

from __future__ import annotations

import json
from typing import Any

from meshplane import kinds
from meshplane.store import Record


def _names(record: Record) -> dict[str, Any]:
    kind = kinds.BY_KEY[record.kind]
    out: dict[str, Any] = {"meshName": record.mesh}
    if kind.parent:
        out[kinds.BY_KEY[kind.parent].name_key] = record.parent
    if kind is not kinds.MESH:
        out[kind.name_key] = record.name
    return out


def metadata(record: Record) -> dict[str, Any]:
    """ResourceMetadata: timestamps are epoch seconds (numbers), as rest-json clients expect."""
    return {
        "arn": record.arn,
        "createdAt": record.created_at,
        "lastUpdatedAt": record.updated_at,
        "meshOwner": record.mesh_owner,
        "resourceOwner": record.resource_owner,
        "uid": record.uid,
        "version": record.version,
    }


def data(record: Record, status: str = "ACTIVE") -> str:
    """The resource's *Data object as JSON text (status DELETED for a delete's answer)."""
    head = _names(record)
    head["metadata"] = metadata(record)
    head["status"] = {"status": status}
    return json.dumps(head, separators=(",", ":"))[:-1] + ',"spec":' + record.wire + "}"


def ref(record: Record) -> dict[str, Any]:
    """The resource's *Ref list item (no uid, spec or status)."""
    out = _names(record)
    out.update(
        arn=record.arn,
        createdAt=record.created_at,
        lastUpdatedAt=record.updated_at,
        meshOwner=record.mesh_owner,
        resourceOwner=record.resource_owner,
        version=record.version,
    )
    return out
