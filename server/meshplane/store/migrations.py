"""Schema migrations, append-only: never edit a released migration, add a new one."""

from __future__ import annotations

from sqlite_utils import Database, Migrations

migrations = Migrations("meshplane")


@migrations()
def m001_resources(db: Database) -> None:
    """Resources, tags, the revisions feed, clientTokens and the reference index."""
    db.executescript(
        """
        CREATE TABLE resources (
            id INTEGER PRIMARY KEY,
            mesh TEXT NOT NULL,
            kind TEXT NOT NULL,
            parent TEXT NOT NULL DEFAULT '',   -- router of a route, gateway of a gateway route
            name TEXT NOT NULL,
            arn TEXT NOT NULL UNIQUE,
            uid TEXT NOT NULL UNIQUE,
            version INTEGER NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            mesh_owner TEXT NOT NULL,
            resource_owner TEXT NOT NULL,
            spec TEXT NOT NULL,                -- stored form (snake_case), read by the xDS process
            wire TEXT NOT NULL,                -- the same spec as the client sent it (camelCase), served as is
            UNIQUE (mesh, kind, parent, name)
        );
        CREATE TABLE tags (
            resource_id INTEGER NOT NULL REFERENCES resources(id) ON DELETE CASCADE,
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (resource_id, key)
        ) WITHOUT ROWID;
        -- Who references whom, kept in step with specs, so delete rules are index look-ups.
        CREATE TABLE refs (
            resource_id INTEGER NOT NULL REFERENCES resources(id) ON DELETE CASCADE,
            mesh TEXT NOT NULL,
            to_kind TEXT NOT NULL,
            to_name TEXT NOT NULL
        );
        CREATE INDEX refs_target ON refs (mesh, to_kind, to_name);
        CREATE INDEX refs_source ON refs (resource_id);
        CREATE TABLE revisions (
            rev INTEGER PRIMARY KEY AUTOINCREMENT,
            mesh TEXT NOT NULL,
            kind TEXT NOT NULL,
            name TEXT NOT NULL,
            parent TEXT NOT NULL DEFAULT '',
            op TEXT NOT NULL,
            version INTEGER NOT NULL,
            ts REAL NOT NULL
        );
        CREATE TABLE client_tokens (
            operation TEXT NOT NULL,
            resource TEXT NOT NULL,
            token TEXT NOT NULL,
            request_hash TEXT NOT NULL,
            response TEXT NOT NULL,
            ts REAL NOT NULL,
            PRIMARY KEY (operation, resource, token)
        ) WITHOUT ROWID;
        CREATE INDEX client_tokens_ts ON client_tokens (ts);
        """
    )


@migrations()
def m002_proxies(db: Database) -> None:
    """What the xDS process knows of each connected Envoy, for the REST side to read."""
    db.executescript(
        """
        CREATE TABLE proxy_streams (
            stream TEXT PRIMARY KEY,           -- '<xds process epoch>-<stream number>'
            node_id TEXT NOT NULL,
            mesh TEXT NOT NULL DEFAULT '',
            kind TEXT NOT NULL DEFAULT '',
            name TEXT NOT NULL DEFAULT '',
            protocol TEXT NOT NULL,            -- 'sotw' or 'delta'
            peer TEXT NOT NULL,
            connected INTEGER NOT NULL,
            connected_since REAL NOT NULL,
            last_seen REAL NOT NULL,
            types TEXT NOT NULL,               -- JSON: type URL -> sent/acked versions, state, error
            diagnostics TEXT NOT NULL          -- JSON list of strings
        );
        CREATE INDEX proxy_streams_node ON proxy_streams (node_id);
        CREATE INDEX proxy_streams_mesh ON proxy_streams (mesh);
        CREATE TABLE proxy_configs (
            node_id TEXT PRIMARY KEY,
            config TEXT NOT NULL,              -- JSON: the resources last published, by type
            updated_at REAL NOT NULL
        );
        CREATE TABLE xds_info (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        """
    )


@migrations()
def m003_resource_counts(db: Database) -> None:
    """Children per (mesh, kind, parent), kept by triggers, so quota checks are one look-up."""
    db.executescript(
        """
        CREATE TABLE resource_counts (
            mesh TEXT NOT NULL,
            kind TEXT NOT NULL,
            parent TEXT NOT NULL,
            n INTEGER NOT NULL,
            PRIMARY KEY (mesh, kind, parent)
        ) WITHOUT ROWID;
        INSERT INTO resource_counts (mesh, kind, parent, n)
            SELECT mesh, kind, parent, count(*) FROM resources GROUP BY mesh, kind, parent;
        CREATE TRIGGER resources_counted AFTER INSERT ON resources BEGIN
            INSERT INTO resource_counts (mesh, kind, parent, n) VALUES (NEW.mesh, NEW.kind, NEW.parent, 1)
                ON CONFLICT (mesh, kind, parent) DO UPDATE SET n = n + 1;
        END;
        CREATE TRIGGER resources_uncounted AFTER DELETE ON resources BEGIN
            UPDATE resource_counts SET n = n - 1
                WHERE mesh = OLD.mesh AND kind = OLD.kind AND parent = OLD.parent;
            DELETE FROM resource_counts
                WHERE mesh = OLD.mesh AND kind = OLD.kind AND parent = OLD.parent AND n <= 0;
        END;
        """
    )


@migrations()
def m004_access_keys(db: Database) -> None:
    """Access keys for SigV4 (meshplane.auth): secrets encrypted with the key file, never in clear."""
    db.executescript(
        """
        CREATE TABLE access_keys (
            access_key_id TEXT PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            secret BLOB NOT NULL,              -- AES-GCM: 12-byte nonce + ciphertext; associated data: the id
            admin INTEGER NOT NULL,
            policy TEXT,                       -- IAM policy document (JSON), or NULL
            enabled INTEGER NOT NULL,
            created_at REAL NOT NULL,
            expires_at REAL                    -- epoch seconds, or NULL: never
        );
        """
    )


@migrations()
def m005_mesh_ca(db: Database) -> None:
    """meshplane's mesh certificate authority (pki.mesh_ca), created on first start: one row."""
    db.executescript(
        """
        CREATE TABLE mesh_ca (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            cert TEXT NOT NULL,                -- PEM: the CA certificate
            key BLOB NOT NULL,                 -- AES-GCM (the key file): 12-byte nonce + ciphertext of the PEM key
            created_at REAL NOT NULL
        );
        """
    )


@migrations()
def m006_replicas(db: Database) -> None:
    """Replicas (store/replicas.py): who runs, who leads, which replica holds each proxy's stream,
    and the leader's job runs. Additive only, so replicas of the previous release keep working."""
    db.executescript(
        """
        ALTER TABLE proxy_streams ADD COLUMN replica TEXT NOT NULL DEFAULT '';
        CREATE INDEX proxy_streams_replica ON proxy_streams (replica);
        CREATE TABLE replicas (
            id TEXT PRIMARY KEY,
            host TEXT NOT NULL,
            pid INTEGER NOT NULL,
            api TEXT NOT NULL DEFAULT '',
            xds TEXT NOT NULL DEFAULT '',
            version TEXT NOT NULL DEFAULT '',
            started_at REAL NOT NULL,
            heartbeat_at REAL NOT NULL,
            leader INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE job_runs (
            job TEXT NOT NULL,
            replica TEXT NOT NULL,
            started_at REAL NOT NULL,
            finished_at REAL NOT NULL,
            outcome TEXT NOT NULL
        );
        CREATE INDEX job_runs_job ON job_runs (job, started_at);
        """
    )


@migrations()
def m007_proxy_config_parts(db: Database) -> None:
    """Last-published configs by type (store/proxies.py): a change rewrites only the types it changed.
    Rows of ``proxy_configs`` (whole dumps, written by earlier releases) are still read."""
    db.executescript(
        """
        CREATE TABLE proxy_config_parts (
            node_id TEXT NOT NULL,
            type_url TEXT NOT NULL,
            digest TEXT NOT NULL,              -- the type's hash: unchanged type, unchanged part
            data BLOB NOT NULL,                -- that type's part of the serialized CSDS ClientConfig
            updated_at REAL NOT NULL,
            PRIMARY KEY (node_id, type_url)
        );
        """
    )
