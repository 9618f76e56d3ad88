"""meshplane.auth.keys (KeyStore, encryption at rest), the first-start admin key, the audit log."""

from __future__ import annotations

import json
import re
import stat
import time
from pathlib import Path

import pytest

from meshplane.auth import audit, bootstrap, keys
from meshplane.auth.cli import parse_expiry
from meshplane.auth.policy import Policy
from meshplane.config import Config
from meshplane.store import migrate

POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "appmesh:Describe*", "Resource": "*"}]}


@pytest.fixture
def config(tmp_path: Path) -> Config:
    config = Config(db=str(tmp_path / "k.db"))
    migrate(config.db)
    return config


@pytest.fixture
def store(config: Config):  # type: ignore[no-untyped-def]
    store = keys.KeyStore(config)
    yield store
    store.close()


def test_create_get_and_shapes(store: keys.KeyStore, config: Config) -> None:
    created = store.create("ci", policy=Policy.parse(POLICY))
    assert created is not None
    assert re.fullmatch(r"MPAK[A-Z0-9]{16}", created.access_key_id)
    assert len(created.secret) == 40
    assert created.principal_arn == "arn:aws:iam::111122223333:user/ci"
    got = store.get(created.access_key_id)
    assert got is not None and got.secret == created.secret and not got.admin
    assert got.policy is not None and got.policy.decide("appmesh:DescribeMesh", "*", {}) is True
    assert store.get("MPAKNOPE000000000000") is None
    assert [k.name for k in store.list()] == ["ci"] and store.list()[0].secret == ""
    assert created.secret not in repr(created) and created.secret not in json.dumps(created.describe())


def test_secrets_are_encrypted_at_rest_with_a_0600_key_file(store: keys.KeyStore, config: Config) -> None:
    created = store.create("ci", admin=True)
    assert created is not None
    key_file = Path(config.db + ".key")
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    store.pool.get().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for path in Path(config.db).parent.glob("k.db*"):
        assert created.secret.encode() not in path.read_bytes(), path


def test_a_replaced_key_file_makes_keys_unknown(store: keys.KeyStore, config: Config) -> None:
    created = store.create("ci", admin=True)
    assert created is not None
    Path(config.db + ".key").unlink()
    other = keys.KeyStore(config)
    try:
        other.create("other", admin=True)  # creates a new key file
        assert other.get(created.access_key_id) is None
    finally:
        other.close()


def test_a_missing_key_file_is_not_recreated_by_readers(store: keys.KeyStore, config: Config,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    created = store.create("ci", admin=True)
    assert created is not None
    Path(config.db + ".key").unlink()
    reader = keys.KeyStore(config)
    try:
        assert reader.get(created.access_key_id) is None
        assert not Path(config.db + ".key").exists() and "cannot read the key file" in caplog.text
    finally:
        reader.close()
    config.auth = "sigv4"
    bootstrap.on_start(config)
    assert "their key file" in caplog.text and "is missing" in caplog.text


def test_operator_key_file(tmp_path: Path, config: Config) -> None:
    config.key_file = str(tmp_path / "secrets" / "meshplane.key")
    store = keys.KeyStore(config)
    try:
        created = store.create("ci", admin=True)
        assert created is not None and Path(config.key_file).exists()
        assert not Path(config.db + ".key").exists()
        assert store.get(created.access_key_id) is not None
    finally:
        store.close()


def test_bad_key_file_is_refused(tmp_path: Path, config: Config) -> None:
    bad = tmp_path / "bad.key"
    bad.write_text("not a key\n")
    config.key_file = str(bad)
    store = keys.KeyStore(config)
    try:
        with pytest.raises(ValueError, match="does not hold a base64 256-bit key"):
            store.create("ci", admin=True)
    finally:
        store.close()


def test_changes_reach_a_cached_reader_within_the_ttl(store: keys.KeyStore, config: Config) -> None:
    created = store.create("ci", admin=True)
    assert created is not None
    reader = keys.KeyStore(config)
    try:
        assert reader.get(created.access_key_id).enabled  # type: ignore[union-attr]
        store.set_enabled("ci", False)
        deadline = time.monotonic() + keys.CACHE_TTL_S + 0.5
        while reader.get(created.access_key_id).enabled:  # type: ignore[union-attr]
            assert time.monotonic() < deadline
            time.sleep(0.05)
        store.delete(created.access_key_id)
        time.sleep(keys.CACHE_TTL_S + 0.05)
        assert reader.get(created.access_key_id) is None
    finally:
        reader.close()


def test_names_policies_and_lifecycle(store: keys.KeyStore) -> None:
    with pytest.raises(ValueError, match="key name"):
        store.create("has space", admin=True)
    with pytest.raises(ValueError, match="--admin or --policy"):
        store.create("nothing")
    store.create("ci", admin=True)
    with pytest.raises(ValueError, match="already exists"):
        store.create("ci", admin=True)
    changed = store.set_policy("ci", policy=Policy.parse(POLICY))
    assert changed is not None and not changed.admin and changed.policy is not None
    assert store.set_enabled("nope", False) is None and store.delete("nope") is None
    assert store.create("second", admin=True, only_if_empty=True) is None


@pytest.mark.parametrize(("value", "seconds"), [("90d", 90 * 86400), ("12h", 43200), ("30m", 1800), ("2w", 14 * 86400)])
def test_parse_expiry_durations(value: str, seconds: int) -> None:
    assert parse_expiry(value, now=1000.0) == 1000.0 + seconds


def test_parse_expiry_dates() -> None:
    assert parse_expiry("2099-01-31", now=0) == 4073500800.0
    assert parse_expiry("2099-01-31T12:00:00Z", now=0) == 4073500800.0 + 43200
    for bad in ("yesterday", "2001-01-01", "-5d"):
        with pytest.raises(ValueError):
            parse_expiry(bad)


def test_first_start_admin_key(config: Config, caplog: pytest.LogCaptureFixture) -> None:
    config.auth = "sigv4"
    with caplog.at_level("INFO"):
        path = bootstrap.on_start(config)
    assert path is not None and stat.S_IMODE(path.stat().st_mode) == 0o600
    written = json.loads(path.read_text())
    assert set(written) == {"AccessKeyId", "SecretAccessKey", "Name"}
    assert written["SecretAccessKey"] not in caplog.text and str(path) in caplog.text
    assert bootstrap.on_start(config) is None  # a key exists: nothing more


def test_auth_none_warns(config: Config, caplog: pytest.LogCaptureFixture) -> None:
    config.auth = "none"
    bootstrap.on_start(config)
    assert "authentication is off (--auth none)" in caplog.text


def test_listening_beyond_loopback_needs_an_auth_mode() -> None:
    with pytest.raises(ValueError, match="pass --auth sigv4 .* or --auth none"):
        Config.from_env({}, api_listen="0.0.0.0:8080")
    with pytest.raises(ValueError, match="--auth sigv4"):
        Config.from_env({}, xds_listen="[::]:18000")
    assert Config.from_env({}, api_listen="0.0.0.0:8080", auth="none").auth == "none"
    assert Config.from_env({"MESHPLANE_AUTH": "sigv4"}, api_listen="0.0.0.0:8080").auth == "sigv4"
    assert Config.from_env({}, api_listen="[::1]:0", xds_listen="localhost:0").auth == ""
    with pytest.raises(ValueError, match="auth 'basic'"):
        Config.from_env({}, auth="basic")


def test_audit_lines(tmp_path: Path) -> None:
    target = tmp_path / "audit.log"
    audit.configure(Config(audit_log=str(target)))
    try:
        audit.record(key_id="MPAK1", key_name="ci", source="127.0.0.1", action="appmesh:CreateMesh",
                     arn="arn:x", outcome="allowed", reason=None, status=200)
        audit.record(key_id=None, key_name=None, source="10.0.0.1", action=None, arn=None, outcome="denied",
                     reason="MissingAuthenticationTokenException: Missing Authentication Token")
    finally:
        audit.configure(Config())
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert list(lines[0])[:8] == list(audit.FIELDS) and lines[0]["status"] == 200
    assert lines[1]["outcome"] == "denied" and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", lines[1]["time"])
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
