"""The two store backends keep one contract: same migrations, same SQL, passwords never shown."""

from __future__ import annotations

import pytest

from meshplane.config import Config
from meshplane.store import migrations_pg
from meshplane.store.database import describe, is_postgres, migrate, open_pool
from meshplane.store.migrations import migrations
from meshplane.store.postgres import _to_psycopg, redact


def test_both_backends_have_the_same_migrations_in_the_same_order():
    assert [m.name for m in migrations._migrations] == [name for name, _ in migrations_pg.MIGRATIONS]


def test_placeholders_become_psycopg_ones_and_percent_signs_stay_literal():
    assert _to_psycopg("SELECT 1 FROM t WHERE a=? AND b LIKE '%x%'") == "SELECT 1 FROM t WHERE a=%s AND b LIKE '%%x%%'"


@pytest.mark.parametrize("url, shown", [
    ("postgresql://mp:s3cr3t@db.internal:5432/meshplane", "postgresql://mp:***@db.internal:5432/meshplane"),
    ("postgresql://mp@db:5432/m?sslmode=require", "postgresql://mp@db:5432/m?sslmode=require"),
    ("postgres://u:p%40ss@h/d", "postgres://u:***@h/d"),
])
def test_urls_are_logged_without_their_password(url, shown):
    assert redact(url) == shown
    assert describe(url) == shown


def test_the_backend_follows_the_db_value(tmp_path):
    assert is_postgres("postgresql://h/d") and is_postgres("postgres://h/d") and not is_postgres("x.db")
    db = str(tmp_path / "m.db")
    migrate(db)
    pool = open_pool(db)
    try:
        assert pool.dialect == "sqlite" and not pool.shared
    finally:
        pool.close()


def test_a_bad_postgresql_url_is_refused_naming_the_setting():
    with pytest.raises(ValueError, match="db: the PostgreSQL URL"):
        Config.from_env({}, db="postgresql://u:p@h:notaport/d")


def test_files_kept_beside_the_database_move_to_the_working_directory_with_postgresql():
    assert Config.from_env({}, db="/var/lib/mp/m.db").files_base() == "/var/lib/mp/m.db"
    assert Config.from_env({}, db="postgresql://h/d").files_base() == "meshplane"


def test_postgresql_migrations_apply_once_and_the_pool_reads_and_writes(pg_url):
    assert migrations_pg.apply(pg_url)[-1] == migrations_pg.MIGRATIONS[-1][0]
    assert migrations_pg.apply(pg_url) == []  # re-running is a no-op
    pool = open_pool(pg_url)
    try:
        assert pool.dialect == "postgresql" and pool.shared
        pool.write(lambda conn: conn.execute("INSERT INTO xds_info (key, value) VALUES (?, ?)", ("k", "50%")))
        assert pool.get().execute("SELECT value FROM xds_info WHERE key=?", ("k",)).fetchone() == ("50%",)
        with pytest.raises(pool.IntegrityError):
            pool.write(lambda conn: conn.execute("INSERT INTO xds_info (key, value) VALUES (?, ?)", ("k", "x")))
        assert pool.get().execute("SELECT count(*) FROM xds_info").fetchone() == (1,)
    finally:
        pool.close()
