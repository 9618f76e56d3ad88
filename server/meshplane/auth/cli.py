"""`meshplane keys`: create, list, disable, enable, delete access keys and set their policies.

Every command works on the database directly (``--db`` / ``MESHPLANE_DB``), also while the server
runs: servers re-read a key at most ``keys.CACHE_TTL_S`` after it changed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sys
import time
from typing import Any

import click

_DURATION = re.compile(r"(\d+)([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def _options(fn: Any) -> Any:
    fn = click.option("--key-file", help="key encrypting the secrets [MESHPLANE_KEY_FILE; default <db>.key, or meshplane.key with PostgreSQL]")(fn)
    fn = click.option("--db", help="SQLite database file or postgresql:// URL [MESHPLANE_DB; default meshplane.db]")(fn)
    return fn


def _store(db: str | None, key_file: str | None) -> Any:
    from meshplane.auth.keys import KeyStore
    from meshplane.config import Config
    from meshplane.store import migrate

    try:
        # These commands listen on nothing, so the listeners' auth rule does not apply to them.
        config = Config.from_env(db=db, key_file=key_file, auth=os.environ.get("MESHPLANE_AUTH") or "none")
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    migrate(config.db)
    return KeyStore(config)


def _policy(path: str | None) -> Any:
    if path is None:
        return None
    from meshplane.auth.policy import Policy

    try:
        text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()  # noqa: SIM115
    except OSError as exc:
        raise click.BadParameter(f"cannot read {path}: {exc.strerror}", param_hint="--policy") from None
    try:
        return Policy.parse(text)
    except ValueError as exc:
        raise click.BadParameter(f"{path}: {exc}", param_hint="--policy") from None


def parse_expiry(value: str, now: float | None = None) -> float:
    """``--expires``: a duration from now (``90d``, ``12h``, ``30m``, ``2w``, ``3600s``) or a date
    (``2027-01-31``, midnight UTC) or date and time (``2027-01-31T12:00:00Z``; UTC when no zone).

    :raises ValueError: neither, or a time already past.
    """
    now = time.time() if now is None else now
    match = _DURATION.fullmatch(value.strip())
    if match:
        at = now + int(match.group(1)) * _UNITS[match.group(2)]
    else:
        try:
            parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{value!r} is neither a duration (90d, 12h, 30m, 2w) nor a date (2027-01-31)") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.timezone.utc)
        at = parsed.timestamp()
    if at <= now:
        raise ValueError(f"{value!r} is not in the future")
    return at


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2))


@click.group("keys")
def keys() -> None:
    """Access keys: SigV4 credentials for the API (serve --auth sigv4) and xDS."""


@keys.command("create")
@click.option("--name", required=True, help="a unique name (A-Z a-z 0-9 + = , . @ _ -), shown in the audit log")
@click.option("--admin", is_flag=True, help="allowed everything")
@click.option("--policy", "policy_file", metavar="FILE", help="IAM policy document (JSON; '-' reads standard input)")
@click.option("--expires", help="duration (90d, 12h) or date (2027-01-31); default: never")
@_options
def create(name: str, admin: bool, policy_file: str | None, expires: str | None, db: str | None,
           key_file: str | None) -> None:
    """Create a key and print it once as {"AccessKeyId", "SecretAccessKey", "Name"}."""
    if admin == (policy_file is not None):
        raise click.UsageError("give exactly one of --admin and --policy FILE")
    policy = _policy(policy_file)
    try:
        expires_at = None if expires is None else parse_expiry(expires)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--expires") from None
    store = _store(db, key_file)
    try:
        key = store.create(name, admin=admin, policy=policy, expires_at=expires_at)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()
    _echo_json({"AccessKeyId": key.access_key_id, "SecretAccessKey": key.secret, "Name": key.name})


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="print JSON (with each policy document)")
@_options
def list_keys(as_json: bool, db: str | None, key_file: str | None) -> None:
    """List the keys (never their secrets)."""
    store = _store(db, key_file)
    try:
        found = store.list()
    finally:
        store.close()
    if as_json:
        _echo_json([k.describe() for k in found])
        return
    now = time.time()
    rows = [("ACCESS KEY ID", "NAME", "ACCESS", "STATE", "EXPIRES")]
    for k in found:
        state = "disabled" if not k.enabled else "expired" if k.expires_at and k.expires_at <= now else "enabled"
        access = "admin" if k.admin else "policy" if k.policy else "none"
        rows.append((k.access_key_id, k.name, access, state, k.describe()["ExpiresAt"] or "never"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        click.echo("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())


def _change(ref: str, db: str | None, key_file: str | None, verb: str, **kwargs: Any) -> None:
    store = _store(db, key_file)
    try:
        if verb == "delete":
            key = store.delete(ref)
        elif verb == "set-policy":
            key = store.set_policy(ref, **kwargs)
        else:
            key = store.set_enabled(ref, verb == "enable")
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()
    if key is None:
        raise click.ClickException(f"no key with id or name {ref!r}")
    done = {"delete": "deleted", "set-policy": "policy set on", "enable": "enabled", "disable": "disabled"}[verb]
    click.echo(f"{done} {key.access_key_id} ({key.name})")


@keys.command("disable")
@click.argument("ref", metavar="KEY")
@_options
def disable(ref: str, db: str | None, key_file: str | None) -> None:
    """Refuse KEY (id or name) from now on (running servers: within 2 s); `enable` undoes it."""
    _change(ref, db, key_file, "disable")


@keys.command("enable")
@click.argument("ref", metavar="KEY")
@_options
def enable(ref: str, db: str | None, key_file: str | None) -> None:
    """Accept KEY (id or name) again."""
    _change(ref, db, key_file, "enable")


@keys.command("delete")
@click.argument("ref", metavar="KEY")
@_options
def delete(ref: str, db: str | None, key_file: str | None) -> None:
    """Delete KEY (id or name) for good."""
    _change(ref, db, key_file, "delete")


@keys.command("set-policy")
@click.argument("ref", metavar="KEY")
@click.option("--admin", is_flag=True, help="allowed everything")
@click.option("--policy", "policy_file", metavar="FILE", help="IAM policy document (JSON; '-' reads standard input)")
@_options
def set_policy(ref: str, admin: bool, policy_file: str | None, db: str | None, key_file: str | None) -> None:
    """Replace what KEY (id or name) is allowed: --admin, or the policy in FILE."""
    if admin == (policy_file is not None):
        raise click.UsageError("give exactly one of --admin and --policy FILE")
    _change(ref, db, key_file, "set-policy", admin=admin, policy=_policy(policy_file))
