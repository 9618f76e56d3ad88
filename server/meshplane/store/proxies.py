"""Proxy status: written by the xDS process, read by the REST API.

The xDS process batches what its streams report and writes it here in one transaction per
flush (these rows are not revisions: they describe proxies, not the mesh).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from meshplane.store.database import ConnectionPool


@dataclass(frozen=True)
class StreamRow:
    """One xDS stream's status, as stored."""

    stream: str
    node_id: str
    mesh: str
    kind: str
    name: str
    protocol: str
    peer: str
    connected: bool
    connected_since: float
    last_seen: float
    types: Mapping[str, Any] | str  # per type URL short name; a writer may pass the JSON text itself
    diagnostics: list[str] | str  # or its JSON text (see ProxyStore.streams(raw=True))


class ProxyStore:
    """Reads and writes of proxy status.

    :param pool: connections to the meshplane database.
    """

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    def _write(self, statements: Iterable[tuple[str, Iterable[tuple[Any, ...]]]]) -> None:
        def run(conn: sqlite3.Connection) -> None:
            for sql, rows in statements:
                conn.executemany(sql, rows)

        self.pool.write(run)

    def reset(self, info: Mapping[str, str]) -> None:
        """At xDS start: every stream and the metrics of a previous run are gone; record this run's
        facts (listen address)."""
        self._write([
            ("UPDATE proxy_streams SET connected=0 WHERE connected=1", [()]),
            ("DELETE FROM xds_info WHERE key='metrics' OR substr(key, 1, 8)='metrics/'", [()]),
            ("INSERT OR REPLACE INTO xds_info (key, value) VALUES (?, ?)", list(info.items())),
        ])

    def save(self, streams: Iterable[StreamRow], configs: Mapping[str, bytes], info: Mapping[str, str]) -> None:
        """Upsert stream rows, last-published configs (serialized CSDS ClientConfigs) and info in one
        transaction."""
        now_rows = [
            (s.stream, s.node_id, s.mesh, s.kind, s.name, s.protocol, s.peer, int(s.connected),
             s.connected_since, s.last_seen,
             s.types if isinstance(s.types, str) else json.dumps(s.types, sort_keys=True), json.dumps(s.diagnostics))
            for s in streams
        ]
        config_rows = [(node, cfg, _now()) for node, cfg in configs.items()]
        self._write([
            ("INSERT OR REPLACE INTO proxy_streams (stream, node_id, mesh, kind, name, protocol, peer, connected, "
             "connected_since, last_seen, types, diagnostics) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", now_rows),
            ("INSERT OR REPLACE INTO proxy_configs (node_id, config, updated_at) VALUES (?,?,?)", config_rows),
            ("INSERT OR REPLACE INTO xds_info (key, value) VALUES (?, ?)", list(info.items())),
        ])

    def set_info(self, info: Mapping[str, str]) -> None:
        """Record facts of the running xDS process (``listen``)."""
        self._write([("INSERT OR REPLACE INTO xds_info (key, value) VALUES (?, ?)", list(info.items()))])

    def disconnect_streams(self, prefix: str) -> None:
        """Mark the streams whose id starts with ``prefix`` disconnected (a restarted xDS worker's
        predecessor's streams)."""
        self._write([
            ("UPDATE proxy_streams SET connected=0 WHERE connected=1 AND substr(stream, 1, ?)=?",
             [(len(prefix), prefix)]),
        ])

    def prune(self, older_than: float) -> None:
        """Forget disconnected streams last seen before ``older_than``."""
        self._write([("DELETE FROM proxy_streams WHERE connected=0 AND last_seen<?", [(older_than,)])])

    def streams(self, mesh: str | None = None, node_id: str | None = None, *, raw: bool = False) -> list[StreamRow]:
        """Stored streams, connected first, then by node id.

        :param raw: leave ``types`` and ``diagnostics`` as the stored JSON text (for a caller that
            only passes them on: parsing thousands of rows to re-encode them is most of the work).
        """
        sql = ("SELECT stream, node_id, mesh, kind, name, protocol, peer, connected, connected_since, last_seen, "
               "types, diagnostics FROM proxy_streams")
        where, args = [], []
        if mesh is not None:
            where.append("mesh=?")
            args.append(mesh)
        if node_id is not None:
            where.append("node_id=?")
            args.append(node_id)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY connected DESC, node_id, connected_since"
        rows = self.pool.get().execute(sql, args).fetchall()
        decode = (lambda text: text) if raw else json.loads
        return [
            StreamRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], bool(r[7]), r[8], r[9], decode(r[10]),
                      decode(r[11]))
            for r in rows
        ]

    def config(self, node_id: str) -> bytes | Any | None:
        """The resources last published to ``node_id``, or None: a serialized CSDS ClientConfig
        (bytes), or, in a row an earlier meshplane wrote, their JSON value."""
        row = self.pool.get().execute("SELECT config FROM proxy_configs WHERE node_id=?", (node_id,)).fetchone()
        if row is None:
            return None
        return row[0] if isinstance(row[0], bytes) else json.loads(row[0])

    def info(self, key: str) -> str | None:
        """A fact the xDS process recorded (``listen``, ``metrics``), or None."""
        row = self.pool.get().execute("SELECT value FROM xds_info WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def infos(self, key: str) -> list[str]:
        """Every value recorded under ``key`` or ``key/<worker>`` (one per xDS worker), by key."""
        rows = self.pool.get().execute(
            "SELECT value FROM xds_info WHERE key=? OR substr(key, 1, ?)=? ORDER BY key",
            (key, len(key) + 1, key + "/"),
        ).fetchall()
        return [str(r[0]) for r in rows]


def _now() -> float:
    return round(time.time(), 3)
