"""store/: quota counters, clientToken expiry and the revisions feed on both backends (real SQLite
files, a real PostgreSQL database), and SQLite's background WAL checkpoints and group commit."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

import pytest
import sqlite_utils

from meshplane import kinds
from meshplane.api import render
from meshplane.config import Config
from meshplane.errors import ConflictException, LimitExceededException
from meshplane.store import ResourceStore, migrate
from backends import BACKENDS
from meshplane.store.database import connect, open_pool
from meshplane.store.migrations import migrations

NODE_SPEC = {"listeners": [{"port_mapping": {"port": 80, "protocol": "http"}}]}
NODE_WIRE = {"listeners": [{"portMapping": {"port": 80, "protocol": "http"}}]}


def _store(tmp_path: Path | str, **settings: object) -> ResourceStore:
    """A store over ``tmp_path`` (a directory: a SQLite file in it) or a database URL."""
    db = tmp_path if isinstance(tmp_path, str) else str(tmp_path / "store.db")
    config = Config(db=db, **settings)  # type: ignore[arg-type]
    migrate(config.db)
    return ResourceStore(config)


def _create(store: ResourceStore, kind: kinds.Kind, mesh: str, name: str, token: str | None = None,
            spec: dict | None = None, wire: dict | None = None) -> str:
    spec = {} if kind is kinds.MESH else (NODE_SPEC if spec is None else spec)
    wire = {} if kind is kinds.MESH else (NODE_WIRE if wire is None else wire)
    written = store.create(kind, mesh, "", name, spec, wire, [], token, json.dumps([name, wire]), render.data)
    assert written.response is not None
    return written.response


def _counts(db: str) -> dict[tuple[str, str, str], int]:
    pool = open_pool(db)
    try:
        conn = pool.get()
        kept = dict(((m, k, p), n) for m, k, p, n in conn.execute(
            "SELECT mesh, kind, parent, n FROM resource_counts").fetchall())
        real = dict(((m, k, p), n) for m, k, p, n in conn.execute(
            "SELECT mesh, kind, parent, count(*) FROM resources GROUP BY mesh, kind, parent").fetchall())
    finally:
        pool.close()
    assert kept == real
    return kept


@pytest.mark.parametrize("backend", BACKENDS)
def test_quota_counter_follows_creates_and_deletes(make_db, backend):
    store = _store(make_db(backend), quotas={**Config().quotas, "virtualNodes": 3})
    try:
        _create(store, kinds.MESH, "m", "m")
        for i in range(3):
            _create(store, kinds.VIRTUAL_NODE, "m", f"n{i}")
        with pytest.raises(LimitExceededException, match=r"VirtualNodes \(3\)"):
            _create(store, kinds.VIRTUAL_NODE, "m", "n3")
        assert _counts(store.config.db)[("m", "virtualNode", "")] == 3
        store.delete(kinds.VIRTUAL_NODE, "m", "", "n0")
        _create(store, kinds.VIRTUAL_NODE, "m", "n3")  # room again after a delete
        for i in range(1, 4):
            store.delete(kinds.VIRTUAL_NODE, "m", "", f"n{i}")
        assert ("m", "virtualNode", "") not in _counts(store.config.db)  # empty scopes leave no row
    finally:
        store.close()


def test_counter_migration_counts_existing_resources(tmp_path):
    db = str(tmp_path / "old.db")
    conn = connect(db)
    try:
        database = sqlite_utils.Database(conn)
        migrations.apply(database, stop_before="m003_resource_counts")
        assert "resource_counts" not in database.table_names()
        for i in range(5):
            conn.execute(
                "INSERT INTO resources (mesh, kind, parent, name, arn, uid, version, created_at, updated_at, "
                "mesh_owner, resource_owner, spec, wire) VALUES ('m','virtualNode','',?,?,?,1,0,0,'a','a','{}','{}')",
                (f"n{i}", f"arn-{i}", f"uid-{i}"),
            )
    finally:
        conn.close()
    migrate(db)
    assert _counts(db) == {("m", "virtualNode", ""): 5}


@pytest.mark.parametrize("backend", BACKENDS)
def test_expired_client_token_is_forgotten(make_db, backend):
    store = _store(make_db(backend), token_ttl_s=1)
    try:
        _create(store, kinds.MESH, "m", "m")
        first = _create(store, kinds.VIRTUAL_NODE, "m", "a", token="t-1")
        assert _create(store, kinds.VIRTUAL_NODE, "m", "a", token="t-1") == first  # replay
        with pytest.raises(ConflictException, match="client token"):
            _create(store, kinds.VIRTUAL_NODE, "m", "a", token="t-1", spec={}, wire={"x": 1})
        time.sleep(1.2)
        store.delete(kinds.VIRTUAL_NODE, "m", "", "a")
        # The token expired: the same request now creates again (version 1, a new uid).
        again = _create(store, kinds.VIRTUAL_NODE, "m", "a", token="t-1")
        assert json.loads(again)["metadata"]["uid"] != json.loads(first)["metadata"]["uid"]
        time.sleep(1.2)
        assert store.sweep_tokens() == 1  # the leader's job (replicas/jobs.py) deletes expired tokens
        assert store.sweep_tokens() == 0
    finally:
        store.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_revisions_feed_follows_every_change_in_order(make_db, backend):
    store = _store(make_db(backend))
    try:
        start = store.last_revision()
        version = store.data_version()
        if backend == "postgresql":  # the first call starts the LISTEN thread, whose connect bumps it once
            deadline = time.monotonic() + 5
            while store.data_version() == version and time.monotonic() < deadline:
                time.sleep(0.01)
            version = store.data_version()
        _create(store, kinds.MESH, "m", "m")
        _create(store, kinds.VIRTUAL_NODE, "m", "a")
        store.update(kinds.VIRTUAL_NODE, "m", "", "a", NODE_SPEC, NODE_WIRE, None, "h", render.data)
        store.delete(kinds.VIRTUAL_NODE, "m", "", "a")
        feed = store.revisions_since(start)
        assert [(r.kind, r.name, r.op, r.version) for r in feed] == [
            ("mesh", "m", "create", 1), ("virtualNode", "a", "create", 1),
            ("virtualNode", "a", "update", 2), ("virtualNode", "a", "delete", 2)]
        assert [r.rev for r in feed] == sorted(r.rev for r in feed) and feed[-1].rev == store.last_revision()
        # Another connection's writes change data_version (PostgreSQL: through LISTEN/NOTIFY). The
        # notifications of this store's own writes above have arrived by now (a few ms).
        time.sleep(0.2)
        version = store.data_version()
        other = _store(store.config.db)
        try:
            _create(other, kinds.VIRTUAL_NODE, "m", "b")
        finally:
            other.close()
        deadline = time.monotonic() + 5
        while store.data_version() == version and time.monotonic() < deadline:
            time.sleep(0.01)
        assert store.data_version() != version
    finally:
        store.close()


def test_wal_is_checkpointed_off_the_request_path(tmp_path):
    store = _store(tmp_path)
    db = store.config.db
    try:
        conn = store.pool.get()
        assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        _create(store, kinds.MESH, "m", "m")
        size_before = os.path.getsize(db)
        for i in range(300):
            _create(store, kinds.VIRTUAL_NODE, "m", f"n{i}", token=f"t{i}")
        # The background checkpointer copies the WAL into the database file within moments.
        deadline = time.monotonic() + 10
        while os.path.getsize(db) <= size_before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert os.path.getsize(db) > size_before
    finally:
        store.close()
    assert store.pool._checkpointer is None  # close() stopped it


def test_group_commit_gives_each_writer_its_own_outcome(tmp_path, monkeypatch):
    """Many threads write at once, so the pool batches them into shared transactions: a write that
    raises is undone alone (even after it wrote), the others commit, each caller sees its own result."""
    import threading

    from meshplane.store import database
    from meshplane.store.database import ConnectionPool

    batch_sizes: list[int] = []
    run_each = database._run_each

    def counting(conn: sqlite3.Connection, batch: list) -> None:  # only observes: same behaviour
        batch_sizes.append(len(batch))
        run_each(conn, batch)

    monkeypatch.setattr(database, "_run_each", counting)
    db = str(tmp_path / "batch.db")
    migrate(db)
    pool = ConnectionPool(db)
    pool.write(lambda conn: conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY)"))
    results: dict[int, object] = {}
    start = threading.Barrier(24)

    def writer(k: int) -> None:
        def fn(conn: sqlite3.Connection) -> int:
            conn.execute("INSERT INTO t (k) VALUES (?)", (k,))
            if k % 3 == 0:
                raise ValueError(f"refused {k}")  # after writing: the row must not survive
            return k * 10

        start.wait()
        for _ in range(20):
            try:
                results[k] = pool.write(fn)
            except ValueError as exc:
                results[k] = str(exc)
            k += 1000  # next key for this thread

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        stored = {k for (k,) in pool.get().execute("SELECT k FROM t")}
    finally:
        pool.close()
    expected = {k + 1000 * i for k in range(24) for i in range(20) if (k + 1000 * i) % 3}
    assert stored == expected
    assert batch_sizes and max(batch_sizes) > 1  # writes really were grouped
    for k, outcome in results.items():
        assert outcome == (f"refused {k}" if k % 3 == 0 else k * 10)


def test_reloading_a_mesh_state_reuses_the_specs_that_did_not_change(tmp_path):
    from meshplane.propagate import load_mesh_state

    store = _store(tmp_path)
    _create(store, kinds.MESH, "m", "m")
    _create(store, kinds.VIRTUAL_NODE, "m", "a")
    _create(store, kinds.VIRTUAL_NODE, "m", "b")
    parsed: dict = {}
    first = load_mesh_state(store, "m", parsed)
    changed = {"listeners": [{"port_mapping": {"port": 81, "protocol": "http"}}]}
    store.update(kinds.VIRTUAL_NODE, "m", "", "b", changed, {}, None, "h", render.data)
    second = load_mesh_state(store, "m", parsed)
    assert first is not None and second is not None
    assert second.virtual_nodes["a"] is first.virtual_nodes["a"]  # same JSON: parsed once
    assert second.virtual_nodes["b"] == changed and first.virtual_nodes["b"] == NODE_SPEC
    assert second == load_mesh_state(store, "m")  # the same state a fresh load gives
    assert len(parsed) == 3  # this load's specs only
    store.delete(kinds.VIRTUAL_NODE, "m", "", "a")
    third = load_mesh_state(store, "m", parsed)
    assert third is not None and "a" not in third.virtual_nodes and len(parsed) == 2


@pytest.mark.parametrize("backend", BACKENDS)
def test_published_configs_are_stored_by_type_and_only_changed_types_are_written(make_db, backend):
    from meshplane.store.proxies import ProxyStore

    store = _store(make_db(backend))
    proxies = ProxyStore(store.pool, "r1")
    try:
        first = [("t/a", "h1", b"A1"), ("t/b", "h2", b"B1"), ("t/c", "h3", b"C1")]
        proxies.save([], {"node-1": first}, {})
        assert proxies.config("node-1") == b"A1B1C1"

        def stamps() -> dict[str, float]:
            rows = store.pool.get().execute(
                "SELECT type_url, updated_at FROM proxy_config_parts WHERE node_id=?", ("node-1",)).fetchall()
            return {str(t): float(u) for t, u in rows}

        before = stamps()
        time.sleep(0.01)
        # A route change: one type changes, one goes away; the unchanged part is not written again.
        proxies.save([], {"node-1": [("t/a", "h1", b"A1"), ("t/b", "h9", b"B2")]}, {})
        after = stamps()
        assert proxies.config("node-1") == b"A1B2"
        assert after["t/a"] == before["t/a"] and after["t/b"] > before["t/b"] and "t/c" not in after
        # Another process (a restarted xDS worker) starts afresh for the node.
        ProxyStore(store.pool, "r2").save([], {"node-1": [("t/z", "h", b"Z")]}, {})
        assert proxies.config("node-1") == b"Z"
    finally:
        store.close()
