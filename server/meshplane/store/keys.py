"""Access keys (table ``access_keys``, migration m004) and the resource tags policies read.

Rows only: encryption, caching and policy parsing live in :mod:`meshplane.auth.keys`. Every
``ref`` argument is an access key id or a key name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from meshplane.store.database import Connection, Pool

_COLUMNS = "access_key_id, name, secret, admin, policy, enabled, created_at, expires_at"


@dataclass(frozen=True)
class KeyRow:
    """One stored access key; ``secret`` is the encrypted blob."""

    access_key_id: str
    name: str
    secret: bytes = b""
    admin: bool = False
    policy: str | None = None
    enabled: bool = True
    created_at: float = 0.0
    expires_at: float | None = None

    def __repr__(self) -> str:  # the blob is encrypted, but it has no business in a log line either
        return f"KeyRow({self.access_key_id!r}, name={self.name!r}, admin={self.admin}, enabled={self.enabled})"

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> KeyRow:
        akid, name, secret, admin, policy, enabled, created, expires = row
        return cls(str(akid), str(name), bytes(secret), bool(admin), None if policy is None else str(policy),
                   bool(enabled), float(created), None if expires is None else float(expires))


class KeyRows:
    """The ``access_keys`` table over a connection pool (the API's, or one of its own)."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    def get(self, access_key_id: str) -> KeyRow | None:
        """The key with this id, or None."""
        row = self.pool.get().execute(
            f"SELECT {_COLUMNS} FROM access_keys WHERE access_key_id = ?", (access_key_id,)
        ).fetchone()
        return None if row is None else KeyRow.from_row(row)

    def find(self, ref: str) -> KeyRow | None:
        """The key whose id or name is ``ref``, or None."""
        row = self.pool.get().execute(
            f"SELECT {_COLUMNS} FROM access_keys WHERE access_key_id = ? OR name = ?", (ref, ref)
        ).fetchone()
        return None if row is None else KeyRow.from_row(row)

    def all(self) -> list[KeyRow]:
        """Every key, oldest first."""
        rows = self.pool.get().execute(f"SELECT {_COLUMNS} FROM access_keys ORDER BY created_at, name").fetchall()
        return [KeyRow.from_row(r) for r in rows]

    def count(self) -> int:
        """How many keys exist (enabled or not)."""
        return int(self.pool.get().execute("SELECT count(*) FROM access_keys").fetchone()[0])

    def insert(self, row: KeyRow, *, only_if_empty: bool = False) -> bool:
        """Store a new key.

        :param only_if_empty: insert only while the table is empty (the first-start admin key:
            two processes starting at once must not both create one). False when another key existed.
        :raises ValueError: the name or id is taken.
        """

        def txn(conn: Connection) -> bool:
            if only_if_empty and conn.execute("SELECT 1 FROM access_keys LIMIT 1").fetchone():
                return False
            try:
                conn.execute(  # RETURNING, read: a taken name fails here (PostgreSQL pipelines writes)
                    f"INSERT INTO access_keys ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING access_key_id",
                    (row.access_key_id, row.name, row.secret, int(row.admin), row.policy, int(row.enabled),
                     row.created_at, row.expires_at),
                ).fetchone()
            except self.pool.IntegrityError:
                raise ValueError(f"a key named {row.name!r} already exists") from None
            return True

        # Two replicas starting on an empty database must not both create the first admin key.
        return self.pool.write(txn, ["access_keys"])

    def update(self, ref: str, **values: object) -> KeyRow | None:
        """Set columns (``enabled``, ``admin``, ``policy``, ``expires_at``) of the key ``ref``;
        returns the updated row, or None when no key matches."""
        allowed = {"enabled", "admin", "policy", "expires_at"}
        assert set(values) <= allowed, values
        assignments = ", ".join(f"{name} = ?" for name in values)

        def txn(conn: Connection) -> KeyRow | None:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM access_keys WHERE access_key_id = ? OR name = ?", (ref, ref)
            ).fetchone()
            if row is None:
                return None
            key = KeyRow.from_row(row)
            params = [int(v) if isinstance(v, bool) else v for v in values.values()]
            conn.execute(f"UPDATE access_keys SET {assignments} WHERE access_key_id = ?", (*params, key.access_key_id))
            return self._get_in(conn, key.access_key_id)

        return self.pool.write(txn)

    def delete(self, ref: str) -> KeyRow | None:
        """Delete the key ``ref``; returns the deleted row, or None when no key matches."""

        def txn(conn: Connection) -> KeyRow | None:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM access_keys WHERE access_key_id = ? OR name = ?", (ref, ref)
            ).fetchone()
            if row is None:
                return None
            conn.execute("DELETE FROM access_keys WHERE access_key_id = ?", (row[0],))
            return KeyRow.from_row(row)

        return self.pool.write(txn)

    @staticmethod
    def _get_in(conn: Connection, access_key_id: str) -> KeyRow | None:
        row = conn.execute(f"SELECT {_COLUMNS} FROM access_keys WHERE access_key_id = ?", (access_key_id,)).fetchone()
        return None if row is None else KeyRow.from_row(row)

    def resource_tags(self, arn: str) -> dict[str, str] | None:
        """The tags of the resource with this ARN (for ``aws:ResourceTag/*``), or None when no
        such resource exists."""
        conn = self.pool.get()
        row = conn.execute("SELECT id FROM resources WHERE arn = ?", (arn,)).fetchone()
        if row is None:
            return None
        return dict(conn.execute("SELECT key, value FROM tags WHERE resource_id = ?", (row[0],)).fetchall())
