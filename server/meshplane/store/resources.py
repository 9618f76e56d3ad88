"""ResourceStore: every read and write of App Mesh resources, on either backend (database.open_pool).

One write door (:meth:`ResourceStore._write`): a write transaction that does the
clientToken, existence, quota and dependency checks, the write, the version bump and the append
to the revisions feed, and commits before the caller answers 200. Nothing else writes.
"""

from __future__ import annotations

import base64
import builtins
import dataclasses
import logging
import hashlib
import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from meshplane import kinds
from meshplane.config import Config
from meshplane.errors import (
    BadRequestException,
    ConflictException,
    LimitExceededException,
    NotFoundException,
    ResourceInUseException,
    TooManyTagsException,
)
from meshplane.kinds import Kind
from meshplane.store.database import Connection, first_line, open_pool
from meshplane.store.references import mentions, references

T = TypeVar("T")

log = logging.getLogger("meshplane.store")

MAX_TAGS = 50

#: The lock of writes that count or create meshes (the account-wide mesh quota).
ACCOUNT_LOCK = "*"

_UPSERT_TAG = (
    "INSERT INTO tags (resource_id, key, value) VALUES (?,?,?) "
    "ON CONFLICT (resource_id, key) DO UPDATE SET value=excluded.value"
)


def mesh_lock(mesh: str) -> str:
    """The lock of writes to ``mesh`` and its resources (see ResourceStore._write)."""
    return "mesh:" + mesh


def _locks(kind: Kind, mesh: str) -> builtins.list[str]:
    """A create's locks: its mesh, and for a new mesh the account (the mesh count)."""
    return [ACCOUNT_LOCK, mesh_lock(mesh)] if kind is kinds.MESH else [mesh_lock(mesh)]


def _arn_lock(arn: str) -> str:
    """The mesh lock of the resource ``arn`` names (``...:mesh/<mesh>[/...]``)."""
    _, _, path = arn.partition(":mesh/")
    return mesh_lock(path.split("/", 1)[0]) if path else "arn:" + arn



_COLUMNS = (
    "id, mesh, kind, parent, name, arn, uid, version, created_at, updated_at, "
    "mesh_owner, resource_owner, spec, wire"
)


@dataclass(frozen=True)
class Record:
    """One stored resource, as the API renders it."""

    id: int
    mesh: str
    kind: str
    parent: str
    name: str
    arn: str
    uid: str
    version: int
    created_at: float
    updated_at: float
    mesh_owner: str
    resource_owner: str
    spec: str  # JSON text, stored (snake_case) form
    wire: str  # JSON text, wire (camelCase) form

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> Record:
        # Hot (a list page builds 100): filling __dict__ at once skips the frozen dataclass's
        # per-field object.__setattr__, which costs about as much again; the result is the same.
        record = object.__new__(cls)
        record.__dict__.update(zip(_RECORD_FIELDS, row))
        return record


_RECORD_FIELDS = tuple(f.name for f in dataclasses.fields(Record))


@dataclass(frozen=True)
class Revision:
    """One row of the revisions feed."""

    rev: int
    mesh: str
    kind: str
    name: str
    parent: str
    op: str
    version: int
    ts: float


@dataclass(frozen=True)
class ImportItem:
    """One resource for :meth:`ResourceStore.import_batch`: a create, or a replace of ``expect_version``.

    :param spec: stored form (snake_case); ``wire``: the same spec in wire form, served as is.
    :param tags: the complete tag set to write, or None to leave tags alone.
    """

    kind: str
    mesh: str
    parent: str
    name: str
    arn: str
    uid: str
    version: int
    created_at: float
    updated_at: float
    mesh_owner: str
    resource_owner: str
    spec: dict[str, Any]
    wire: dict[str, Any]
    tags: list[dict[str, str]] | None
    expect_version: int | None = None


@dataclass(frozen=True)
class Written:
    """The outcome of a write: the record, and whether a clientToken replay answered it.

    :param response: the JSON response text to send (on a replay, the original one, verbatim).
    """

    record: Record | None
    response: str | None = None


class ResourceStore:
    """App Mesh resources in SQLite.

    :param config: account id, region, quotas, database path and pragmas.
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        self.pool = open_pool(config.db, synchronous=config.synchronous, busy_timeout_ms=config.busy_timeout_ms)

    def close(self) -> None:
        """Close this store's connections."""
        self.pool.close()

    # -- the write door ---------------------------------------------------------------------

    def _write(self, fn: Callable[[Connection], T], locks: builtins.list[str]) -> T:
        """Run ``fn`` inside one write transaction and commit it.

        :param locks: what the write reads and changes (:func:`mesh_lock`, :data:`ACCOUNT_LOCK`):
            writes sharing one take turns, so their checks hold when several replicas write at
            once (PostgreSQL); SQLite's single writer needs none.
        :raises ServiceUnavailableException: the database stayed locked past the busy timeout, or
            is unreachable.
        """
        return self.pool.write(fn, locks)

    # -- naming -------------------------------------------------------------------------------

    def arn(self, kind: Kind, mesh: str, parent: str, name: str) -> str:
        """The resource ARN, as AWS forms it (``arn:aws:appmesh:<region>:<acct>:mesh/<mesh>/...``)."""
        base = f"arn:aws:appmesh:{self.config.region}:{self.config.account_id}:mesh/{mesh}"
        if kind is kinds.MESH:
            return base
        if kind.parent:
            return f"{base}/{kind.parent}/{parent}/{kind.key}/{name}"
        return f"{base}/{kind.key}/{name}"

    def check_owner(self, mesh_owner: str | None, mesh: str) -> None:
        """A meshOwner other than our account names a mesh we cannot have: NotFound."""
        if mesh_owner is not None and mesh_owner != self.config.account_id:
            raise NotFoundException(f"Mesh {mesh} for account {mesh_owner} is not present")

    # -- reads --------------------------------------------------------------------------------

    def get(self, kind: Kind, mesh: str, parent: str, name: str) -> Record:
        """The resource, or NotFoundException naming what is missing."""
        row = self.pool.get().execute(
            f"SELECT {_COLUMNS} FROM resources WHERE mesh=? AND kind=? AND parent=? AND name=?",
            (mesh, kind.key, parent, name),
        ).fetchone()
        if row is None:
            self._raise_not_found(self.pool.get(), kind, mesh, parent, name)
        return Record.from_row(row)

    def list(
        self, kind: Kind, mesh: str, parent: str, limit: int, next_token: str | None
    ) -> tuple[list[Record], str | None]:
        """One page of ``kind`` under ``mesh`` (and ``parent``), in creation order.

        :raises BadRequestException: ``next_token`` did not come from this listing.
        :raises NotFoundException: the mesh or parent does not exist.
        """
        conn = self.pool.get()
        scope = _scope_hash(kind.key, mesh, parent)
        after = _decode_token(next_token, scope) if next_token else 0
        if kind is kinds.MESH:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM resources WHERE kind='mesh' AND id>? ORDER BY id LIMIT ?",
                (after, limit + 1),
            ).fetchall()
        else:
            self._require_parents(conn, kind, mesh, parent)
            # The page's ids come from the covering unique index; only those rows are then read.
            # (Selecting the columns directly made SQLite read and sort every row of the kind.)
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM resources WHERE id IN (SELECT id FROM resources "
                "WHERE mesh=? AND kind=? AND parent=? AND id>? ORDER BY id LIMIT ?) ORDER BY id",
                (mesh, kind.key, parent, after, limit + 1),
            ).fetchall()
        records = [Record.from_row(r) for r in rows[:limit]]
        token = _encode_token(records[-1].id, scope) if len(rows) > limit else None
        return records, token

    # -- writes -------------------------------------------------------------------------------

    def create(
        self,
        kind: Kind,
        mesh: str,
        parent: str,
        name: str,
        spec: Mapping[str, Any],
        wire: Mapping[str, Any],
        tags: list[dict[str, str]],
        client_token: str | None,
        request_hash: str,
        render: Callable[[Record], str],
        check_parent: Callable[[Mapping[str, Any]], None] | None = None,
    ) -> Written:
        """Create a resource; replay the original answer for a repeated clientToken.

        :param spec: stored form; ``wire``: the client's form of the same spec.
        :param request_hash: digest of the request (without its token), to tell a replay from a misuse.
        :param render: turns the new record into the response text remembered for replays.
        :param check_parent: validates the spec against the parent's spec (route vs router listeners).
        :raises ConflictException: the name exists, or the token was used with another request.
        :raises NotFoundException: the mesh or parent does not exist.
        :raises LimitExceededException: a quota would be exceeded.
        """
        if len(tags) > MAX_TAGS:
            raise TooManyTagsException(f"Number of tags {len(tags)} exceeds the maximum of {MAX_TAGS}")
        self._check_backends(spec)
        resource_key = f"{mesh}/{parent}/{name}"
        operation = "Create" + kind.label
        # Prepared before the transaction: the database's single write lock is held for less time.
        arn = self.arn(kind, mesh, parent, name)
        owner = self.config.account_id
        uid, spec_text, wire_text = str(uuid.uuid4()), _dumps(spec), _dumps(wire)
        now = _now()
        # Everything the answer shows is known before the transaction (the row id is not shown), so
        # the answer is rendered outside it: the database's write lock is held for less time.
        draft = Record(0, mesh, kind.key, parent, name, arn, uid, 1, now, now, owner, owner, spec_text, wire_text)
        text = render(draft)

        def txn(conn: Connection) -> Written:
            replay = self._replay(conn, operation, resource_key, client_token, request_hash)
            if replay is not None:
                return Written(None, replay)
            if kind is kinds.MESH:
                self._check_quota(conn, kind, mesh, parent)
            else:
                parent_spec = self._check_child_create(conn, kind, mesh, parent)
                if check_parent is not None and parent_spec is not None:
                    check_parent(parent_spec)
            try:
                (rid,) = conn.execute(
                    "INSERT INTO resources (mesh, kind, parent, name, arn, uid, version, created_at, "
                    "updated_at, mesh_owner, resource_owner, spec, wire) VALUES (?,?,?,?,?,?,1,?,?,?,?,?,?) "
                    "RETURNING id",
                    (mesh, kind.key, parent, name, arn, uid, now, now, owner, owner, spec_text, wire_text),
                ).fetchone()
            except self.pool.IntegrityError:
                raise ConflictException(
                    f"{kind.label} with name {name} already exists"
                    + ("" if kind is kinds.MESH else f" in mesh {mesh}")
                ) from None
            if tags:
                conn.executemany(_UPSERT_TAG, [(rid, t["key"], t["value"]) for t in tags])
            self._index_refs(conn, rid, kind, mesh, name, spec)
            # The row as just inserted (no trigger or default changes it): no need to read it back.
            record = dataclasses.replace(draft, id=rid)
            self._append_revision(conn, record, "create")
            self._remember(conn, operation, resource_key, client_token, request_hash, text)
            return Written(record, text)

        return self._write(txn, _locks(kind, mesh))

    def update(
        self,
        kind: Kind,
        mesh: str,
        parent: str,
        name: str,
        spec: Mapping[str, Any] | None,
        wire: Mapping[str, Any] | None,
        client_token: str | None,
        request_hash: str,
        render: Callable[[Record], str],
        check_parent: Callable[[Mapping[str, Any]], None] | None = None,
        expect_version: int | None = None,
    ) -> Written:
        """Replace a resource's spec (``None`` keeps it: UpdateMesh's spec is optional); version +1.

        :param expect_version: when given, the update applies only if the stored version is still
            this one (the console's weight action: a change made since it was read is not overwritten).
        :raises NotFoundException, ConflictException, LimitExceededException: as for create;
            ConflictException also when ``expect_version`` is no longer the stored version.
        """
        if spec is not None:
            self._check_backends(spec)
        resource_key = f"{mesh}/{parent}/{name}"
        operation = "Update" + kind.label
        # Prepared before the transaction: the database's single write lock is held for less time.
        spec_text = None if spec is None else _dumps(spec)
        wire_text = None if wire is None else _dumps(wire)

        def txn(conn: Connection) -> Written:
            replay = self._replay(conn, operation, resource_key, client_token, request_hash)
            if replay is not None:
                return Written(None, replay)
            current = self._get_in(conn, kind, mesh, parent, name)
            if expect_version is not None and current.version != expect_version:
                raise ConflictException(
                    f"{kind.label} {name} was changed meanwhile: it is at version {current.version}, "
                    f"not {expect_version}; reload it and apply again"
                )
            if check_parent is not None and spec is not None and kind.parent:
                parent_spec = self._require_parents(conn, kind, mesh, parent)
                if parent_spec is not None:
                    check_parent(parent_spec)
            new_spec = current.spec if spec_text is None else spec_text
            new_wire = current.wire if wire_text is None else wire_text
            updated_at = max(_now(), current.updated_at)
            # Compare-and-set on the version read above: the mesh lock already makes writers take
            # turns; this keeps versions exact even for a writer that did not take it.
            changed = conn.execute(
                "UPDATE resources SET version=version+1, updated_at=?, spec=?, wire=? WHERE id=? AND version=? "
                "RETURNING id",
                (updated_at, new_spec, new_wire, current.id, current.version),
            ).fetchone()
            if changed is None:
                raise ConflictException(f"{kind.label} {name} was changed meanwhile; retry the request")
            if spec is not None:
                conn.execute("DELETE FROM refs WHERE resource_id=?", (current.id,))
                self._index_refs(conn, current.id, kind, mesh, name, spec)
            # The row as just updated (the transaction holds the write lock): no need to read it back.
            record = dataclasses.replace(
                current, version=current.version + 1, updated_at=updated_at, spec=new_spec, wire=new_wire
            )
            self._append_revision(conn, record, "update")
            text = render(record)  # once: remembered for replays and sent
            self._remember(conn, operation, resource_key, client_token, request_hash, text)
            return Written(record, text)

        return self._write(txn, [mesh_lock(mesh)])

    def delete(self, kind: Kind, mesh: str, parent: str, name: str) -> Record:
        """Delete a resource that nothing depends on; its tags and references go with it.

        :raises ResourceInUseException: naming what still depends on it.
        :raises NotFoundException: it does not exist.
        """

        def txn(conn: Connection) -> Record:
            record = self._get_in(conn, kind, mesh, parent, name)
            self._check_unused(conn, kind, record)
            conn.execute("DELETE FROM resources WHERE id=?", (record.id,))
            self._append_revision(conn, record, "delete")
            return record

        return self._write(txn, [mesh_lock(mesh)])

    # -- tags ---------------------------------------------------------------------------------

    def tags_of(self, arn: str, limit: int, next_token: str | None) -> tuple[list[dict[str, str]], str | None]:
        """One page of the tags of the resource named by ``arn``, sorted by key.

        :raises NotFoundException: no resource has that ARN.
        """
        conn = self.pool.get()
        rid = self._id_by_arn(conn, arn)
        scope = _scope_hash("tags", arn, "")
        after = _decode_key_token(next_token, scope) if next_token else ""
        rows = conn.execute(
            "SELECT key, value FROM tags WHERE resource_id=? AND key>? ORDER BY key LIMIT ?",
            (rid, after, limit + 1),
        ).fetchall()
        page = [{"key": k, "value": v} for k, v in rows[:limit]]
        token = _encode_key_token(page[-1]["key"], scope) if len(rows) > limit else None
        return page, token

    def tag(self, arn: str, tags: list[dict[str, str]]) -> None:
        """Upsert tags by key.

        :raises TooManyTagsException: the resource would carry more than 50 tags.
        """

        def txn(conn: Connection) -> None:
            rid = self._id_by_arn(conn, arn)
            conn.executemany(_UPSERT_TAG, [(rid, t["key"], t["value"]) for t in tags])
            (count,) = conn.execute("SELECT count(*) FROM tags WHERE resource_id=?", (rid,)).fetchone()
            if count > MAX_TAGS:
                raise TooManyTagsException(
                    f"Number of tags {count} exceeds the maximum of {MAX_TAGS} for resource {arn}"
                )

        self._write(txn, [_arn_lock(arn)])

    def untag(self, arn: str, keys: list[str]) -> None:
        """Remove the tags with these keys (absent keys are ignored)."""

        def txn(conn: Connection) -> None:
            rid = self._id_by_arn(conn, arn)
            conn.executemany("DELETE FROM tags WHERE resource_id=? AND key=?", [(rid, k) for k in keys])

        self._write(txn, [_arn_lock(arn)])

    # -- bulk import and export (formats/) -----------------------------------------------------

    def snapshot(
        self, meshes: builtins.list[str] | None = None
    ) -> builtins.list[tuple[Record, builtins.list[dict[str, str]]]]:
        """Every resource (of ``meshes``, or all) with its tags, parents before children, in one read.

        Order: meshes, then per mesh the kinds in kinds.ALL order (routers before their routes),
        each in creation order. Reads in one transaction, so the result is one consistent view.
        """
        order = " ".join(f"WHEN '{k.key}' THEN {i}" for i, k in enumerate(kinds.ALL))
        where, args = "", ()
        if meshes is not None:
            where = f"WHERE mesh IN ({','.join('?' * len(meshes))})"
            args = tuple(meshes)
        with self.pool.read_snapshot() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM resources {where} ORDER BY mesh, CASE kind {order} END, id", args
            ).fetchall()
            tag_rows = conn.execute(
                "SELECT t.resource_id, t.key, t.value FROM tags t JOIN resources r ON r.id = t.resource_id "
                f"{where.replace('mesh', 'r.mesh')} ORDER BY t.resource_id, t.key", args
            ).fetchall()
        tags: dict[int, builtins.list[dict[str, str]]] = {}
        for rid, key, value in tag_rows:
            tags.setdefault(rid, []).append({"key": key, "value": value})
        return [(record, tags.get(record.id, [])) for record in map(Record.from_row, rows)]

    def import_batch(self, items: builtins.list[ImportItem]) -> builtins.list[Record]:
        """Write ``items`` in ONE transaction: all of them, or (on any error) none.

        Each item creates a resource (``expect_version`` None: the name must be free) or replaces
        one (``expect_version``: the stored version, which must not have changed since it was read).
        Items must come parents first (meshes, routers and gateways before their children). Metadata
        (ARN, uid, times, owners, version) is written as given; tags, when not None, replace the
        resource's tag set. Quotas are checked on the outcome. One revision per item, all committed
        together, so the xDS side sees one change.

        :raises ConflictException: a name, ARN or uid is taken, or a replaced resource changed meanwhile.
        :raises NotFoundException: a parent is missing.
        :raises LimitExceededException, TooManyTagsException: a quota would be exceeded.
        """
        for item in items:
            if item.tags is not None and len(item.tags) > MAX_TAGS:
                raise TooManyTagsException(
                    f"Number of tags {len(item.tags)} exceeds the maximum of {MAX_TAGS} for resource {item.arn}"
                )
            self._check_backends(item.spec)
        prepared = [(item, _dumps(item.spec), _dumps(item.wire)) for item in items]

        def txn(conn: Connection) -> builtins.list[Record]:
            written: builtins.list[Record] = []
            scopes: set[tuple[str, str, str]] = set()
            # Rows of the side tables, written with one executemany each at the end (thousands of
            # single INSERTs cost several times more).
            tag_rows: list[tuple[int, str, str]] = []
            ref_rows: list[tuple[int, str, str, str]] = []
            revision_rows: list[tuple[str, str, str, str, str, int, float]] = []
            present: set[tuple[str, str, str]] = set()  # (mesh, kind, name) of parents seen in this write
            ts = _now()
            for item, spec_text, wire_text in prepared:
                kind = kinds.BY_KEY[item.kind]
                values = (item.arn, item.uid, item.version, item.created_at, item.updated_at, item.mesh_owner,
                          item.resource_owner, spec_text, wire_text)
                try:
                    if item.expect_version is None:
                        if kind is not kinds.MESH:
                            needed = [(item.mesh, "mesh", item.mesh)]
                            if kind.parent:
                                needed.append((item.mesh, kind.parent, item.parent))
                            if not all(n in present for n in needed):
                                self._require_parents(conn, kind, item.mesh, item.parent)
                                present.update(needed)
                        (rid,) = conn.execute(
                            "INSERT INTO resources (mesh, kind, parent, name, arn, uid, version, created_at, "
                            "updated_at, mesh_owner, resource_owner, spec, wire) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?) "
                            "RETURNING id",
                            (item.mesh, item.kind, item.parent, item.name, *values),
                        ).fetchone()
                        op = "create"
                        scopes.add((item.mesh, item.kind, item.parent))
                        if kind is kinds.MESH or kind.key in ("virtualRouter", "virtualGateway"):
                            present.add((item.mesh, item.kind, item.name))
                    else:
                        row = conn.execute(
                            "SELECT id, version FROM resources WHERE mesh=? AND kind=? AND parent=? AND name=?",
                            (item.mesh, item.kind, item.parent, item.name),
                        ).fetchone()
                        if row is None or row[1] != item.expect_version:
                            raise ConflictException(
                                f"{kind.label} {item.name} in mesh {item.mesh} changed while importing; retry"
                            )
                        rid, op = int(row[0]), "update"
                        conn.execute(  # RETURNING, read: a taken ARN or uid fails here, not later
                            "UPDATE resources SET arn=?, uid=?, version=?, created_at=?, updated_at=?, "
                            "mesh_owner=?, resource_owner=?, spec=?, wire=? WHERE id=? RETURNING id", (*values, rid),
                        ).fetchone()
                        conn.execute("DELETE FROM refs WHERE resource_id=?", (rid,))
                        if item.tags is not None:
                            conn.execute("DELETE FROM tags WHERE resource_id=?", (rid,))
                except self.pool.IntegrityError as exc:
                    raise ConflictException(
                        f"{kind.label} {item.name} in mesh {item.mesh}: its name, ARN or uid is already taken "
                        f"({first_line(exc)})"
                    ) from None
                if item.tags:
                    tag_rows.extend((rid, t["key"], t["value"]) for t in item.tags)
                ref_rows.extend((rid, item.mesh, k, n) for k, n in sorted(references(kind.key, item.spec)))
                revision_rows.append((item.mesh, item.kind, item.name, item.parent, op, item.version, ts))
                written.append(Record(rid, item.mesh, item.kind, item.parent, item.name, *values))
            conn.executemany(_UPSERT_TAG, tag_rows)
            conn.executemany("INSERT INTO refs (resource_id, mesh, to_kind, to_name) VALUES (?,?,?,?)", ref_rows)
            self.pool.order_revisions(conn)
            conn.executemany(
                "INSERT INTO revisions (mesh, kind, name, parent, op, version, ts) VALUES (?,?,?,?,?,?,?)",
                revision_rows,
            )
            self._check_quotas_after(conn, scopes)
            return written

        locks = {mesh_lock(item.mesh) for item in items}
        if any(item.kind == "mesh" and item.expect_version is None for item in items):
            locks.add(ACCOUNT_LOCK)
        return self._write(txn, sorted(locks))

    def _check_quotas_after(self, conn: Connection, scopes: set[tuple[str, str, str]]) -> None:
        """Quota check on the outcome of a bulk write (counts include what the transaction added)."""
        for mesh, kind_key, parent in sorted(scopes):
            kind = kinds.BY_KEY[kind_key]
            limit = self.config.quotas.get(kind.collection)
            if limit is None:
                continue
            if kind is kinds.MESH:
                (count,) = conn.execute("SELECT count(*) FROM resources WHERE kind='mesh'").fetchone()
                scope = f"account {self.config.account_id}"
            else:
                row = conn.execute(
                    "SELECT n FROM resource_counts WHERE mesh=? AND kind=? AND parent=?", (mesh, kind_key, parent)
                ).fetchone()
                count = row[0] if row else 0
                scope = f"{kinds.BY_KEY[kind.parent].label} {parent}" if kind.parent else f"mesh {mesh}"
            if count > limit:
                raise LimitExceededException(
                    f"The maximum number of {kind.label}s ({limit}) for {scope} would be exceeded ({count})"
                )

    # -- the xDS side's reads -------------------------------------------------------------------

    def mesh_rows(self, mesh: str) -> list[tuple[str, str, str, str]]:
        """Every resource of ``mesh`` as (kind, parent, name, stored spec JSON), read in one statement."""
        return self.pool.get().execute(
            "SELECT kind, parent, name, spec FROM resources WHERE mesh=? ORDER BY id", (mesh,)
        ).fetchall()

    def cloud_map_nodes(self) -> builtins.list[tuple[str, str, str]]:
        """Every virtual node whose stored spec has ``aws_cloud_map`` discovery, in any mesh, as
        (mesh, name, stored spec JSON): what the xDS process polls Cloud Map for."""
        return self.pool.get().execute(
            "SELECT mesh, name, spec FROM resources WHERE kind='virtualNode' AND spec LIKE '%\"aws_cloud_map\"%'"
        ).fetchall()

    def revisions_since(self, rev: int, limit: int = 10000) -> list[Revision]:
        """Revisions after ``rev``, oldest first."""
        rows = self.pool.get().execute(
            "SELECT rev, mesh, kind, name, parent, op, version, ts FROM revisions WHERE rev>? "
            "ORDER BY rev LIMIT ?",
            (rev, limit),
        ).fetchall()
        return [Revision(*r) for r in rows]

    def last_revision(self) -> int:
        """The newest revision number (0 for an empty feed)."""
        (rev,) = self.pool.get().execute("SELECT coalesce(max(rev), 0) FROM revisions").fetchone()
        return int(rev)

    def data_version(self) -> int:
        """A number that changes when another connection may have written (a cheap poll): SQLite's
        ``PRAGMA data_version``; on PostgreSQL, notifications and the backup poll (store/postgres.py)."""
        return self.pool.data_version()

    def sweep_tokens(self) -> int:
        """Delete the clientTokens older than ``token_ttl_s`` (expired ones are ignored anyway; this is
        housekeeping, run by the leader, replicas/jobs.py); returns how many went."""
        oldest = _now() - self.config.token_ttl_s

        def txn(conn: Connection) -> int:
            return int(conn.execute("DELETE FROM client_tokens WHERE ts<?", (oldest,)).rowcount or 0)

        return self._write(txn, [])

    # -- internals ------------------------------------------------------------------------------

    def _get_in(self, conn: Connection, kind: Kind, mesh: str, parent: str, name: str) -> Record:
        row = conn.execute(
            f"SELECT {_COLUMNS} FROM resources WHERE mesh=? AND kind=? AND parent=? AND name=?",
            (mesh, kind.key, parent, name),
        ).fetchone()
        if row is None:
            self._raise_not_found(conn, kind, mesh, parent, name)
        return Record.from_row(row)

    def _raise_not_found(self, conn: Connection, kind: Kind, mesh: str, parent: str, name: str) -> None:
        acct = self.config.account_id
        if kind is kinds.MESH:
            raise NotFoundException(f"Mesh {name} for account {acct} is not present")
        self._require_parents(conn, kind, mesh, parent)
        where = f"under mesh {mesh}" if not kind.parent else f"under {kinds.BY_KEY[kind.parent].label} {parent} in mesh {mesh}"
        raise NotFoundException(f"{kind.label} with name {name} is not present {where} for account {acct}")

    def _require_parents(self, conn: Connection, kind: Kind, mesh: str, parent: str) -> dict[str, Any] | None:
        """Check the mesh (and the parent router/gateway) exist; return the parent's stored spec."""
        found = conn.execute(
            "SELECT 1 FROM resources WHERE mesh=? AND kind='mesh' AND parent='' AND name=?", (mesh, mesh)
        ).fetchone()
        if found is None:
            raise NotFoundException(f"Mesh {mesh} for account {self.config.account_id} is not present")
        if not kind.parent:
            return None
        row = conn.execute(
            "SELECT spec FROM resources WHERE mesh=? AND kind=? AND parent='' AND name=?",
            (mesh, kind.parent, parent),
        ).fetchone()
        if row is None:
            label = kinds.BY_KEY[kind.parent].label
            raise NotFoundException(
                f"{label} with name {parent} is not present under mesh {mesh} for account {self.config.account_id}"
            )
        spec: dict[str, Any] = json.loads(row[0])
        return spec

    def _check_child_create(self, conn: Connection, kind: Kind, mesh: str, parent: str) -> dict[str, Any] | None:
        """:meth:`_require_parents` and :meth:`_check_quota` for a resource inside a mesh, in one
        statement (a round trip less per create on PostgreSQL); returns the parent's stored spec."""
        mesh_found, parent_spec, count = conn.execute(
            "SELECT (SELECT 1 FROM resources WHERE mesh=? AND kind='mesh' AND parent='' AND name=?), "
            "(SELECT spec FROM resources WHERE mesh=? AND kind=? AND parent='' AND name=?), "
            "(SELECT n FROM resource_counts WHERE mesh=? AND kind=? AND parent=?)",
            (mesh, mesh, mesh, kind.parent, parent, mesh, kind.key, parent),
        ).fetchone()
        if mesh_found is None:
            raise NotFoundException(f"Mesh {mesh} for account {self.config.account_id} is not present")
        if kind.parent and parent_spec is None:
            raise NotFoundException(
                f"{kinds.BY_KEY[kind.parent].label} with name {parent} is not present under mesh {mesh} "
                f"for account {self.config.account_id}"
            )
        limit = self.config.quotas.get(kind.collection)
        if limit is not None and (count or 0) >= limit:
            scope = f"{kinds.BY_KEY[kind.parent].label} {parent}" if kind.parent else f"mesh {mesh}"
            raise LimitExceededException(
                f"The maximum number of {kind.label}s ({limit}) for {scope} has been reached"
            )
        return json.loads(parent_spec) if kind.parent else None

    def _check_quota(self, conn: Connection, kind: Kind, mesh: str, parent: str) -> None:
        limit = self.config.quotas.get(kind.collection)
        if limit is None:
            return
        if kind is kinds.MESH:
            (count,) = conn.execute("SELECT count(*) FROM resources WHERE kind='mesh'").fetchone()
            scope = f"account {self.config.account_id}"
        else:
            # resource_counts is kept by triggers on resources (migration m003): O(1) at any size.
            row = conn.execute(
                "SELECT n FROM resource_counts WHERE mesh=? AND kind=? AND parent=?", (mesh, kind.key, parent)
            ).fetchone()
            count = row[0] if row else 0
            scope = f"{kinds.BY_KEY[kind.parent].label} {parent}" if kind.parent else f"mesh {mesh}"
        if count >= limit:
            raise LimitExceededException(
                f"The maximum number of {kind.label}s ({limit}) for {scope} has been reached"
            )

    def _check_backends(self, spec: Mapping[str, Any]) -> None:
        limit = self.config.quotas.get("backends")
        backends = spec.get("backends")
        if limit is not None and backends is not None and len(backends) > limit:
            raise LimitExceededException(
                f"Number of backends {len(backends)} exceeds the maximum of {limit} per VirtualNode"
            )

    def _check_unused(self, conn: Connection, kind: Kind, record: Record) -> None:
        acct = self.config.account_id
        if kind is kinds.MESH:
            for child in kinds.ALL[1:]:
                found = conn.execute(
                    "SELECT 1 FROM resources WHERE mesh=? AND kind=? LIMIT 1", (record.mesh, child.key)
                ).fetchone()
                if found:
                    raise ResourceInUseException(
                        f"Mesh {record.mesh} for account {acct} has active {child.label}s, "
                        f"please delete {child.label}s before deleting the Mesh"
                    )
            return
        if kind in (kinds.VIRTUAL_ROUTER, kinds.VIRTUAL_GATEWAY):
            child = kinds.ROUTE if kind is kinds.VIRTUAL_ROUTER else kinds.GATEWAY_ROUTE
            found = conn.execute(
                "SELECT 1 FROM resources WHERE mesh=? AND kind=? AND parent=? LIMIT 1",
                (record.mesh, child.key, record.name),
            ).fetchone()
            if found:
                raise ResourceInUseException(
                    f"{kind.label} with name {record.name} has active {child.label}s, "
                    f"please delete {child.label}s before deleting the {kind.label}"
                )
        users = conn.execute(
            "SELECT r.kind, r.parent, r.name FROM refs JOIN resources r ON r.id = refs.resource_id "
            "WHERE refs.mesh=? AND refs.to_kind=? AND refs.to_name=? ORDER BY r.id LIMIT 20",
            (record.mesh, kind.key, record.name),
        ).fetchall()
        if users:
            described = ", ".join(
                f"{kinds.BY_KEY[k].label} {p + '/' if p else ''}{n}" for k, p, n in users
            )
            if any(k == "virtualService" for k, _, _ in users):
                reason = "it is a VirtualService provider"
            elif any(k == "gatewayRoute" for k, _, _ in users):
                reason = "it is the target of a GatewayRoute"
            else:
                reason = "it is a weighted target of a Route"
            raise ResourceInUseException(
                f"{kind.label} with name {record.name} cannot be deleted because {reason}; "
                f"referenced by: {described}"
            )

    def _index_refs(
        self, conn: Connection, rid: int, kind: Kind, mesh: str, name: str, spec: Mapping[str, Any]
    ) -> None:
        for to_kind, to_name in sorted(mentions(kind.key, spec)):
            # Every kind a spec names is top-level (parent ''): with it the unique index finds the
            # row directly instead of scanning every resource of that kind in the mesh.
            found = conn.execute(
                "SELECT 1 FROM resources WHERE mesh=? AND kind=? AND parent='' AND name=? LIMIT 1",
                (mesh, to_kind, to_name),
            ).fetchone()
            if found is None:
                # Allowed, as on AWS (backends usually name services created later); the xDS side
                # reports it per proxy until it resolves.
                log.info("mesh %s: %s %s references %s %s, which does not exist (yet)",
                         mesh, kind.label, name, kinds.BY_KEY[to_kind].label, to_name)
        refs = references(kind.key, spec)
        if refs:
            conn.executemany(
                "INSERT INTO refs (resource_id, mesh, to_kind, to_name) VALUES (?,?,?,?)",
                [(rid, mesh, k, n) for k, n in sorted(refs)],
            )

    def _append_revision(self, conn: Connection, record: Record, op: str) -> None:
        self.pool.order_revisions(conn)  # last in the transaction: revision order is commit order
        conn.execute(
            "INSERT INTO revisions (mesh, kind, name, parent, op, version, ts) VALUES (?,?,?,?,?,?,?)",
            (record.mesh, record.kind, record.name, record.parent, op, record.version, _now()),
        )

    def _replay(
        self, conn: Connection, operation: str, resource: str, token: str | None, request_hash: str
    ) -> str | None:
        if not token:
            return None
        oldest = _now() - self.config.token_ttl_s  # expired tokens are swept by the leader (sweep_tokens)
        row = conn.execute(
            "SELECT request_hash, response FROM client_tokens "
            "WHERE operation=? AND resource=? AND token=? AND ts>=?",
            (operation, resource, token, oldest),
        ).fetchone()
        if row is None:
            return None
        if row[0] != request_hash:
            raise ConflictException(
                "The request contains a client token that was used for a previous "
                f"{operation} call with different specifications"
            )
        response: str = row[1]
        return response

    def _remember(
        self, conn: Connection, operation: str, resource: str, token: str | None, request_hash: str,
        response: str,
    ) -> None:
        if token:
            # An upsert: an expired row for the same token may not have been swept yet.
            conn.execute(
                "INSERT INTO client_tokens (operation, resource, token, request_hash, response, ts) "
                "VALUES (?,?,?,?,?,?) ON CONFLICT (operation, resource, token) DO UPDATE SET "
                "request_hash=excluded.request_hash, response=excluded.response, ts=excluded.ts",
                (operation, resource, token, request_hash, response, _now()),
            )

    def _id_by_arn(self, conn: Connection, arn: str) -> int:
        row = conn.execute("SELECT id FROM resources WHERE arn=?", (arn,)).fetchone()
        if row is None:
            raise NotFoundException(f"Resource with ARN {arn} is not present for account {self.config.account_id}")
        return int(row[0])


def request_digest(payload: Any) -> str:
    """A stable digest of a request's parameters, for clientToken comparison."""
    return hashlib.sha256(_dumps(payload).encode()).hexdigest()


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _now() -> float:
    return round(time.time(), 3)


def _scope_hash(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:8]


def _encode_token(last_id: int, scope: str) -> str:
    return base64.urlsafe_b64encode(f"{scope}:{last_id}".encode()).decode()


def _decode_token(token: str, scope: str) -> int:
    try:
        got_scope, last = base64.urlsafe_b64decode(token.encode()).decode().split(":", 1)
        if got_scope != scope:
            raise ValueError
        return int(last)
    except (ValueError, UnicodeError):
        raise BadRequestException(f"Invalid nextToken {token!r}") from None


def _encode_key_token(last_key: str, scope: str) -> str:
    return base64.urlsafe_b64encode(f"{scope}:{last_key}".encode()).decode()


def _decode_key_token(token: str, scope: str) -> str:
    try:
        got_scope, last = base64.urlsafe_b64decode(token.encode()).decode().split(":", 1)
        if got_scope != scope:
            raise ValueError
        return last
    except (ValueError, UnicodeError):
        raise BadRequestException(f"Invalid nextToken {token!r}") from None
