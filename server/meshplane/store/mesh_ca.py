"""The mesh certificate authority's row (table ``mesh_ca``, migration m005).

Rows only: the key is stored encrypted (``pki.mesh_ca`` encrypts and decrypts it); this module
never sees a clear private key.
"""

from __future__ import annotations

from dataclasses import dataclass

from meshplane.store.database import Connection, Pool


@dataclass(frozen=True)
class MeshCaRow:
    """The stored CA: its PEM certificate and the encrypted PEM key."""

    cert: str
    key: bytes
    created_at: float

    def __repr__(self) -> str:  # the blob is encrypted, but it has no business in a log line either
        return f"MeshCaRow(created_at={self.created_at})"


class MeshCaRows:
    """The one-row ``mesh_ca`` table over a connection pool."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    def get(self) -> MeshCaRow | None:
        """The stored CA, or None before the first start created one."""
        row = self.pool.get().execute("SELECT cert, key, created_at FROM mesh_ca WHERE id = 1").fetchone()
        return None if row is None else MeshCaRow(str(row[0]), bytes(row[1]), float(row[2]))

    def insert_if_absent(self, row: MeshCaRow) -> MeshCaRow:
        """Store ``row`` unless a CA exists already; returns the stored one (two xDS processes
        starting at once both end up with the same CA)."""

        def txn(conn: Connection) -> MeshCaRow:
            conn.execute("INSERT INTO mesh_ca (id, cert, key, created_at) VALUES (1, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                         (row.cert, row.key, row.created_at))
            found = conn.execute("SELECT cert, key, created_at FROM mesh_ca WHERE id = 1").fetchone()
            return MeshCaRow(str(found[0]), bytes(found[1]), float(found[2]))

        return self.pool.write(txn)
