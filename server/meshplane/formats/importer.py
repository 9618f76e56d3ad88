"""The import core: validate every resource with the API's schemas, compare with what is stored,
then write everything in one transaction (store.ResourceStore.import_batch), or nothing.

Used by ``meshplane import`` (formats/cli.py) and ``POST /meshplane/v1/import`` (api/imports.py).
A resource is *unchanged* when its spec and (if the source has tags) its tag set equal what is
stored; the stored metadata (uid, dates) is then kept. Anything else that exists is a conflict,
handled by ``on_conflict``: ``fail`` (the default; nothing is written), ``skip`` or ``replace``.
"""

from __future__ import annotations

import difflib
import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from meshplane import kinds, schemas
from meshplane.errors import AppMeshError, BadRequestException, ConflictException
from meshplane.formats.model import Resource, sort_parents_first
from meshplane.store import ImportItem, Record, ResourceStore

ON_CONFLICT = ("fail", "skip", "replace")
OUTCOMES = ("created", "unchanged", "replaced", "skipped")

#: At most this many problems are listed in one error message.
MAX_LISTED = 20


class ImportFailed(BadRequestException):
    """Validation failed: nothing was written. The message lists each problem (file, resource, field)."""

    @property
    def error_type(self) -> str:
        return "BadRequestException"  # what clients match on; the subclass only helps callers catch it


@dataclass
class Outcome:
    """What an import did (or, on a dry run, would do).

    :param counts: kind key -> outcome (created/unchanged/replaced/skipped) -> number.
    :param diff: the changes as text lines (``+`` created, ``~`` replaced with a unified diff, ``!`` skipped).
    """

    dry_run: bool
    counts: dict[str, Counter[str]] = field(default_factory=dict)
    diff: list[str] = field(default_factory=list)

    def add(self, kind: str, outcome: str) -> None:
        self.counts.setdefault(kind, Counter())[outcome] += 1

    def total(self, outcome: str) -> int:
        return sum(c[outcome] for c in self.counts.values())

    def summary(self) -> str:
        """One line per kind: ``VirtualNode: 3 created, 1 unchanged``; then the totals."""
        lines = []
        for kind in kinds.ALL:
            counter = self.counts.get(kind.key)
            if counter:
                parts = ", ".join(f"{counter[o]} {o}" for o in OUTCOMES if counter[o])
                lines.append(f"{kind.label}: {parts}")
        totals = ", ".join(f"{self.total(o)} {o}" for o in OUTCOMES)
        head = "dry run, nothing written: " if self.dry_run else ""
        lines.append(f"{head}{totals}")
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        return {
            "dryRun": self.dry_run,
            "summary": {kinds.BY_KEY[k].label: {o: c[o] for o in OUTCOMES} for k, c in self.counts.items()},
            "totals": {o: self.total(o) for o in OUTCOMES},
            "diff": self.diff,
        }


@dataclass
class _Checked:
    resource: Resource
    spec: dict[str, Any]  # stored form
    tags: list[dict[str, str]] | None


def import_resources(store: ResourceStore, resources: list[Resource], *, on_conflict: str = "fail",
                     dry_run: bool = False) -> Outcome:
    """Validate ``resources``, compare them with the store, and write them in one transaction.

    :raises ImportFailed: a resource is invalid (every problem listed; nothing written).
    :raises ConflictException: ``on_conflict="fail"`` and some resources differ from what is stored.
    :raises AppMeshError: the store refused the write (quota, a name taken meanwhile): nothing written.
    """
    if on_conflict not in ON_CONFLICT:
        raise BadRequestException(f"onConflict {on_conflict!r} must be one of {', '.join(ON_CONFLICT)}")
    checked = _validate(store, resources)
    meshes = sorted({c.resource.mesh for c in checked})
    stored = {(r.mesh, r.kind, r.parent, r.name): (r, tags) for r, tags in store.snapshot(meshes)} if meshes else {}
    _check_parents(checked, stored)
    outcome = Outcome(dry_run=dry_run)
    items: list[ImportItem] = []
    conflicts: list[str] = []
    now = round(time.time(), 3)
    for c in checked:
        r = c.resource
        existing = stored.get(r.key)
        if existing is None:
            items.append(_create_item(store, c, now))
            outcome.add(r.kind, "created")
            outcome.diff.append(f"+ {r.label}")
            continue
        record, current_tags = existing
        if _same(record, current_tags, c):
            outcome.add(r.kind, "unchanged")
            continue
        changes = _diff(record, current_tags, c)
        if on_conflict == "skip":
            outcome.add(r.kind, "skipped")
            outcome.diff.append(f"! {r.label} differs from what is stored; skipped")
            outcome.diff.extend(changes)
            continue
        if on_conflict == "fail":
            conflicts.append(f"{r.source}: {r.label} exists and differs")
            outcome.diff.append(f"! {r.label} differs from what is stored")
            outcome.diff.extend(changes)
            continue
        items.append(_replace_item(c, record, now))
        outcome.add(r.kind, "replaced")
        outcome.diff.append(f"~ {r.label}")
        outcome.diff.extend(changes)
    if conflicts and not dry_run:
        listed = "; ".join(conflicts[:MAX_LISTED]) + ("; ..." if len(conflicts) > MAX_LISTED else "")
        raise ConflictException(
            f"{len(conflicts)} resource(s) already exist with a different spec or tags, nothing was imported "
            f"(use onConflict skip or replace): {listed}"
        )
    if items and not dry_run:
        store.import_batch(items)
    return outcome


def _validate(store: ResourceStore, resources: list[Resource]) -> list[_Checked]:
    """Every resource checked as the API would check its Create request; all problems collected."""
    problems: list[str] = []
    checked: list[_Checked] = []
    seen: dict[tuple[str, str, str, str], _Checked] = {}
    account = store.config.account_id
    for r in sort_parents_first(resources):
        kind = r.kind_info
        where = f"{r.source}: " if r.source else ""
        try:
            schemas.check_name("meshName", r.mesh)
            if kind.parent:
                schemas.check_name(kinds.BY_KEY[kind.parent].name_key, r.parent)
            if kind is not kinds.MESH:
                schemas.check_name(kind.name_key, r.name)
            if r.spec is None:
                raise BadRequestException("spec is missing")
            spec = schemas.load_spec(r.kind, r.spec)
            tags = schemas.validate_tags(r.tags) if r.tags is not None else None
            _check_metadata(store, r, account)
        except AppMeshError as exc:
            problems.append(f"{where}{r.label}: {exc.message}")
            continue
        item = _Checked(r, spec, tags)
        previous = seen.get(r.key)
        if previous is not None:
            if previous.spec != spec or previous.tags != tags:
                problems.append(f"{where}{r.label} is also defined, differently, by {previous.resource.source}")
            continue
        seen[r.key] = item
        checked.append(item)
    if problems:
        _fail(problems)
    return checked


def _check_metadata(store: ResourceStore, r: Resource, account: str) -> None:
    expected = store.arn(r.kind_info, r.mesh, r.parent, r.name)
    if r.arn is not None and r.arn != expected:
        raise BadRequestException(
            f"ARN {r.arn} differs from this server's {expected}: run meshplane (and this import) with the "
            f"account id and region of the ARN (--account-id, --region)"
        )
    for member, value in (("meshOwner", r.mesh_owner), ("resourceOwner", r.resource_owner)):
        if value is not None and value != account:
            raise BadRequestException(
                f"{member} {value} differs from this server's account id {account}: run meshplane (and this "
                f"import) with --account-id {value}"
            )
    if r.version is not None and (isinstance(r.version, bool) or not isinstance(r.version, int) or r.version < 1):
        raise BadRequestException(f"metadata.version {r.version!r} must be a whole number >= 1")
    if r.uid is not None and (not isinstance(r.uid, str) or not r.uid):
        raise BadRequestException(f"metadata.uid {r.uid!r} must be a non-empty string")


def _check_parents(checked: list[_Checked], stored: dict[tuple[str, str, str, str], tuple[Record, Any]]) -> None:
    """Mesh and router/gateway of each resource exist (in the import or the store); routes fit them."""
    specs: dict[tuple[str, str, str, str], dict[str, Any]] = {
        key: json.loads(record.spec) for key, (record, _) in stored.items()
        if record.kind in ("mesh", "virtualRouter", "virtualGateway")
    }
    specs.update({c.resource.key: c.spec for c in checked})
    problems = []
    for c in checked:
        r = c.resource
        if r.kind == "mesh":
            continue
        where = f"{r.source}: " if r.source else ""
        if (r.mesh, "mesh", "", r.mesh) not in specs:
            problems.append(f"{where}{r.label}: Mesh {r.mesh} is neither in the import nor stored")
            continue
        kind = r.kind_info
        if not kind.parent:
            continue
        parent_spec = specs.get((r.mesh, kind.parent, "", r.parent))
        if parent_spec is None:
            label = kinds.BY_KEY[kind.parent].label
            problems.append(f"{where}{r.label}: {label} {r.parent} is neither in the import nor stored")
            continue
        try:
            if kind is kinds.ROUTE:
                schemas.check_route_fits_router(c.spec, parent_spec)
            else:
                schemas.check_gateway_route_fits_gateway(c.spec, parent_spec)
        except AppMeshError as exc:
            problems.append(f"{where}{r.label}: {exc.message}")
    if problems:
        _fail(problems)


def _fail(problems: list[str]) -> None:
    listed = "\n".join(problems[:MAX_LISTED])
    more = f"\n... and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
    raise ImportFailed(f"{len(problems)} problem(s), nothing was imported:\n{listed}{more}")


def _same(record: Record, tags: list[dict[str, str]], c: _Checked) -> bool:
    if json.loads(record.spec) != c.spec:
        return False
    return c.tags is None or _tag_map(c.tags) == _tag_map(tags)


def _tag_map(tags: list[dict[str, str]]) -> dict[str, str]:
    return {t["key"]: t["value"] for t in tags}


def _diff(record: Record, tags: list[dict[str, str]], c: _Checked) -> list[str]:
    """Unified diff (indented) of the stored wire spec and tags against the imported ones."""
    before = {"spec": json.loads(record.wire), "tags": _tag_map(tags)}
    after = {"spec": c.resource.spec, "tags": _tag_map(c.tags) if c.tags is not None else before["tags"]}
    lines = difflib.unified_diff(
        json.dumps(before, indent=2, sort_keys=True).splitlines(),
        json.dumps(after, indent=2, sort_keys=True).splitlines(),
        "stored", "imported", lineterm="", n=2,
    )
    return ["    " + line for line in lines]


def _create_item(store: ResourceStore, c: _Checked, now: float) -> ImportItem:
    r = c.resource
    account = store.config.account_id
    created = r.created_at if r.created_at is not None else now
    return ImportItem(
        kind=r.kind, mesh=r.mesh, parent=r.parent, name=r.name,
        arn=store.arn(r.kind_info, r.mesh, r.parent, r.name), uid=r.uid or str(uuid.uuid4()),
        version=r.version or 1, created_at=created,
        updated_at=r.updated_at if r.updated_at is not None else created,
        mesh_owner=account, resource_owner=account, spec=c.spec, wire=r.spec, tags=c.tags or [],
    )


def _replace_item(c: _Checked, record: Record, now: float) -> ImportItem:
    r = c.resource
    return ImportItem(
        kind=r.kind, mesh=r.mesh, parent=r.parent, name=r.name, arn=record.arn, uid=r.uid or record.uid,
        version=max(r.version or 0, record.version + 1),
        created_at=r.created_at if r.created_at is not None else record.created_at,
        updated_at=r.updated_at if r.updated_at is not None else max(now, record.updated_at),
        mesh_owner=record.mesh_owner, resource_owner=record.resource_owner, spec=c.spec, wire=r.spec,
        tags=c.tags, expect_version=record.version,
    )
