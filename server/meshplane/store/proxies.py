"""Proxy status: written by the xDS processes, read by the REST API of any replica.

Each xDS process batches what its streams report and writes it here in one transaction per
flush (these rows are not revisions: they describe proxies, not the mesh). Every stream row names
the replica that holds the stream; facts a replica records about itself (its listen address,
its workers' metrics) are kept under its own id, so replicas sharing one database never mix them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from meshplane.store.database import Connection, Pool

#: A replica whose heartbeat is older than this is dead: its streams are not connected any more
#: (their proxies are reconnecting elsewhere). Heartbeats come every HEARTBEAT_S (replicas.py).
REPLICA_DEAD_S = 15.0
#: A proxy whose last stream ended less than this ago, and that has no stream now, is shown
#: reconnecting (Envoy retries at once); after it, disconnected.
RECONNECT_WINDOW_S = 60.0


@dataclass(frozen=True)
class StreamRow:
    """One xDS stream's status, as stored.

    :param replica: the id of the replica holding the stream ('' when written by a release
        without replicas).
    :param state: ``connected``, ``reconnecting`` or ``disconnected``, as read (see streams()).
    """

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
    replica: str = ""
    state: str = ""


_UPSERT_STREAM = (
    "INSERT INTO proxy_streams (stream, node_id, mesh, kind, name, protocol, peer, connected, connected_since, "
    "last_seen, types, diagnostics, replica) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (stream) DO UPDATE SET "
    "node_id=excluded.node_id, mesh=excluded.mesh, kind=excluded.kind, name=excluded.name, "
    "protocol=excluded.protocol, peer=excluded.peer, connected=excluded.connected, "
    "connected_since=excluded.connected_since, last_seen=excluded.last_seen, types=excluded.types, "
    "diagnostics=excluded.diagnostics, replica=excluded.replica"
)
_UPSERT_CONFIG = (
    "INSERT INTO proxy_configs (node_id, config, updated_at) VALUES (?,?,?) ON CONFLICT (node_id) DO UPDATE SET "
    "config=excluded.config, updated_at=excluded.updated_at"
)
_UPSERT_PART = (
    "INSERT INTO proxy_config_parts (node_id, type_url, digest, data, updated_at) VALUES (?,?,?,?,?) "
    "ON CONFLICT (node_id, type_url) DO UPDATE SET digest=excluded.digest, data=excluded.data, "
    "updated_at=excluded.updated_at"
)
#: A published config by type: (type URL, the type's hash, its part of the CSDS ClientConfig).
ConfigParts = Sequence[tuple[str, str, bytes]]
_UPSERT_INFO = "INSERT INTO xds_info (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value=excluded.value"


class ProxyStore:
    """Reads and writes of proxy status.

    :param pool: connections to the meshplane database.
    :param replica: this replica's id (``Config.replica_id``): written into its stream rows, and
        the namespace of the facts it records (``info``/``infos``).
    """

    def __init__(self, pool: Pool, replica: str = "") -> None:
        self.pool = pool
        self.replica = replica
        self._ns = f"{replica}:" if replica else ""
        # node -> type URL -> hash of the part this process last stored: unchanged parts (most
        # of a proxy's config after a route change, its certificate) are not written again.
        self._stored: dict[str, dict[str, str]] = {}

    def _write(self, statements: Iterable[tuple[str, Iterable[tuple[Any, ...]]]]) -> None:
        def run(conn: Connection) -> None:
            for sql, rows in statements:
                conn.executemany(sql, rows)

        self.pool.write(run)

    def _info_rows(self, info: Mapping[str, str]) -> list[tuple[str, str]]:
        # Sorted: two transactions upserting overlapping rows in one order never deadlock.
        return sorted((self._ns + key, value) for key, value in info.items())

    def reset(self, info: Mapping[str, str]) -> None:
        """At xDS start: this replica's earlier streams (every stream, on a database only one host
        uses) and its recorded metrics are gone; record this run's facts (listen address)."""
        if self.pool.shared:
            disconnect = ("UPDATE proxy_streams SET connected=0 WHERE connected=1 AND replica=?", [(self.replica,)])
        else:
            disconnect = ("UPDATE proxy_streams SET connected=0 WHERE connected=1", [()])
        prefix = self._ns + "metrics"
        self._write([
            disconnect,
            ("DELETE FROM xds_info WHERE key=? OR substr(key, 1, ?)=?", [(prefix, len(prefix) + 1, prefix + "/")]),
            (_UPSERT_INFO, self._info_rows(info)),
        ])

    def save(self, streams: Iterable[StreamRow], configs: Mapping[str, bytes | ConfigParts],
             info: Mapping[str, str]) -> None:
        """Upsert stream rows, last-published configs and info in one transaction.

        A config is a serialized CSDS ClientConfig (stored whole), or its parts by type
        (:data:`ConfigParts`): then only the parts whose hash differs from what this store last
        wrote for the node are written, and types the node no longer has are removed.
        """
        now_rows = sorted(
            (s.stream, s.node_id, s.mesh, s.kind, s.name, s.protocol, s.peer, int(s.connected),
             s.connected_since, s.last_seen,
             s.types if isinstance(s.types, str) else json.dumps(s.types, sort_keys=True), json.dumps(s.diagnostics),
             self.replica)
            for s in streams
        )
        now = _now()
        config_rows = sorted((node, cfg, now) for node, cfg in configs.items() if isinstance(cfg, bytes))
        part_rows: list[tuple[str, str, str, bytes, float]] = []
        gone_rows: list[tuple[str, str]] = []
        cleared: list[tuple[str]] = []
        stored: dict[str, dict[str, str]] = {}
        for node in sorted(configs):
            parts = configs[node]
            if isinstance(parts, bytes):
                continue
            before = self._stored.get(node)
            if before is None:
                cleared.append((node,))  # first write of this node by this process: start afresh
                before = {}
            after = {type_url: digest for type_url, digest, _ in parts}
            part_rows.extend((node, type_url, digest, data, now) for type_url, digest, data in parts
                             if before.get(type_url) != digest)
            gone_rows.extend((node, type_url) for type_url in sorted(before.keys() - after.keys()))
            stored[node] = after
        self._write([
            (_UPSERT_STREAM, now_rows),
            (_UPSERT_CONFIG, config_rows),
            ("DELETE FROM proxy_config_parts WHERE node_id=?", cleared),
            ("DELETE FROM proxy_config_parts WHERE node_id=? AND type_url=?", gone_rows),
            (_UPSERT_PART, part_rows),
            (_UPSERT_INFO, self._info_rows(info)),
        ])
        self._stored.update(stored)  # only once committed: a failed write is written in full again

    def set_info(self, info: Mapping[str, str]) -> None:
        """Record facts of the running xDS process (``listen``)."""
        self._write([(_UPSERT_INFO, self._info_rows(info))])

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
        """Stored streams, connected first, then by node id, each with its ``state``.

        A stream stored as connected whose replica stopped sending heartbeats (for REPLICA_DEAD_S)
        is not connected any more; a proxy with no connected stream whose last one ended less than
        RECONNECT_WINDOW_S ago is ``reconnecting``.

        :param raw: leave ``types`` and ``diagnostics`` as the stored JSON text (for a caller that
            only passes them on: parsing thousands of rows to re-encode them is most of the work).
        """
        now = time.time()
        sql = ("SELECT s.stream, s.node_id, s.mesh, s.kind, s.name, s.protocol, s.peer, s.connected, "
               "s.connected_since, s.last_seen, s.types, s.diagnostics, s.replica, "
               "CASE WHEN r.id IS NOT NULL AND r.heartbeat_at < ? THEN 1 ELSE 0 END "
               "FROM proxy_streams s LEFT JOIN replicas r ON r.id = s.replica")
        where: list[str] = []
        args: list[Any] = [now - REPLICA_DEAD_S]
        if mesh is not None:
            where.append("s.mesh=?")
            args.append(mesh)
        if node_id is not None:
            where.append("s.node_id=?")
            args.append(node_id)
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self.pool.get().execute(sql, args).fetchall()
        decode = (lambda text: text) if raw else json.loads
        live: set[str] = {r[1] for r in rows if r[7] and not r[13]}
        out = []
        for r in rows:
            connected = bool(r[7]) and not r[13]
            if connected:
                state = "connected"
            elif r[1] not in live and (r[13] or now - float(r[9]) < RECONNECT_WINDOW_S):
                state = "reconnecting"
            else:
                state = "disconnected"
            out.append(StreamRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], connected, r[8], r[9], decode(r[10]),
                                 decode(r[11]), r[12], state))
        out.sort(key=lambda s: (not s.connected, s.node_id, s.connected_since))
        return out

    def config(self, node_id: str) -> bytes | Any | None:
        """The resources last published to ``node_id``, or None: a serialized CSDS ClientConfig
        (bytes), or, in a row an earlier meshplane wrote, their JSON value."""
        conn = self.pool.get()
        parts = conn.execute("SELECT type_url, data FROM proxy_config_parts WHERE node_id=?", (node_id,)).fetchall()
        if parts:  # by type (sorted here: a database's collation need not be byte order)
            return b"".join(bytes(data) for _, data in sorted(parts, key=lambda part: str(part[0])))
        row = conn.execute("SELECT config FROM proxy_configs WHERE node_id=?", (node_id,)).fetchone()
        if row is None:
            return None
        value = row[0]
        if isinstance(value, memoryview):
            value = value.tobytes()
        return value if isinstance(value, bytes) else json.loads(value)

    def info(self, key: str) -> str | None:
        """A fact this replica's xDS process recorded (``listen``, ``metrics``), or None."""
        row = self.pool.get().execute("SELECT value FROM xds_info WHERE key=?", (self._ns + key,)).fetchone()
        return None if row is None else str(row[0])

    def infos(self, key: str) -> list[str]:
        """Every value this replica recorded under ``key`` or ``key/<worker>`` (one per xDS worker), by key."""
        key = self._ns + key
        rows = self.pool.get().execute(
            "SELECT value FROM xds_info WHERE key=? OR substr(key, 1, ?)=? ORDER BY key",
            (key, len(key) + 1, key + "/"),
        ).fetchall()
        return [str(r[0]) for r in rows]


def _now() -> float:
    return round(time.time(), 3)
