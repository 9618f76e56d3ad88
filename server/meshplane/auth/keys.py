"""Access keys: what a SigV4 signature is checked against, and whom a policy speaks for.

A key is an access key id (``MPAK`` + 16 upper-case letters and digits, shaped like AWS's ``AKIA…``)
and a 40-character secret, usable as AWS credentials as they are. Its secret is stored encrypted
with AES-GCM under a 256-bit key kept in a file next to the database (``<db>.key``, mode 0600,
created on first use) or one the operator names (``key_file``): a copy of the database alone
reveals no secret. Secrets are never logged and shown only once, when the key is created.

Keys are read by every API worker through :class:`KeyStore`, which caches each look-up for
``CACHE_TTL_S``: ``meshplane keys disable`` (another process, same database) takes effect within
that time, and a busy server does not read the table on every request.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import secrets
import string
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from meshplane.auth.policy import Policy
from meshplane.config import Config
from meshplane.store.database import Pool, open_pool
from meshplane.store.keys import KeyRow, KeyRows

log = logging.getLogger("meshplane.auth")

#: How long a looked-up key (or its absence) is trusted before the database is read again.
CACHE_TTL_S = 1.0
KEY_ID_PREFIX = "MPAK"
_KEY_ID_ALPHABET = string.ascii_uppercase + string.digits
#: IAM user names: what a principal ARN may hold.
_NAME = re.compile(r"[A-Za-z0-9+=,.@_-]{1,64}")
_CACHE_MAX = 10_000


@dataclass(frozen=True)
class Key:
    """An access key as the server uses it.

    :param access_key_id: ``MPAK…`` (20 characters).
    :param name: the operator's name for it (unique), also the end of ``principal_arn``.
    :param principal_arn: who the key is in messages and audit lines, ``arn:aws:iam::<account>:user/<name>``.
    :param admin: allowed everything; no policy is evaluated.
    :param policy: the IAM policy a non-admin key is allowed by (None: allowed nothing).
    :param enabled: a disabled key is refused as unknown.
    :param expires_at: epoch seconds after which the key is refused as expired, or None.
    :param secret: the secret access key, decrypted; never logged, never in ``repr``; ``""`` in
        :meth:`KeyStore.list` results.
    :param created_at: epoch seconds.
    """

    access_key_id: str
    name: str
    principal_arn: str
    admin: bool
    policy: Policy | None
    enabled: bool
    expires_at: float | None
    secret: str = field(default="", repr=False)
    created_at: float = 0.0

    def describe(self) -> dict[str, Any]:
        """The key as ``meshplane keys list`` shows it (no secret)."""
        return {
            "AccessKeyId": self.access_key_id,
            "Name": self.name,
            "Principal": self.principal_arn,
            "Admin": self.admin,
            "Enabled": self.enabled,
            "CreatedAt": _iso(self.created_at),
            "ExpiresAt": None if self.expires_at is None else _iso(self.expires_at),
            "Policy": None if self.policy is None else self.policy.document,
        }


def key_file_path(config: Config) -> Path:
    """Where the secrets' encryption key lives: ``key_file``, or ``<db>.key`` next to the database."""
    return Path(config.key_file) if config.key_file else Path(config.files_base() + ".key")


def load_or_create_key_file(path: Path) -> bytes:
    """Read the 256-bit key in ``path``; create the file (mode 0600, atomically) when it is absent.

    :raises ValueError: the file exists but does not hold a key meshplane wrote.
    """
    try:
        return _read_key_file(path)
    except FileNotFoundError:
        pass
    material = AESGCM.generate_key(bit_length=256)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", dir=path.parent)  # mkstemp creates it 0600
    try:
        os.write(fd, base64.b64encode(material) + b"\n")
        os.fsync(fd)
        os.close(fd)
        try:
            os.link(tmp, path)  # fails if another process created it first: then use theirs
        except FileExistsError:
            return _read_key_file(path)
    finally:
        os.unlink(tmp)
    log.info("created the key file %s (it encrypts access key secrets; back it up with the database)", path)
    return material


def _read_key_file(path: Path) -> bytes:
    raw = path.read_bytes().strip()
    try:
        material = base64.b64decode(raw, validate=True)
    except ValueError:
        material = b""
    if len(material) != 32:
        raise ValueError(f"key file {path} does not hold a base64 256-bit key")
    return material


def new_access_key_id() -> str:
    """``MPAK`` + 16 random upper-case letters and digits."""
    return KEY_ID_PREFIX + "".join(secrets.choice(_KEY_ID_ALPHABET) for _ in range(16))


def new_secret() -> str:
    """40 random characters of the base64 alphabet, like an AWS secret access key."""
    return base64.b64encode(secrets.token_bytes(30)).decode()


def check_name(name: str) -> str:
    """A key name: 1..64 of ``A-Za-z0-9+=,.@_-`` (an IAM user name), not shaped like a key id.

    :raises ValueError: naming the rule.
    """
    if not _NAME.fullmatch(name):
        raise ValueError(f"key name {name!r} must be 1 to 64 characters of A-Z a-z 0-9 + = , . @ _ -")
    if name.startswith(KEY_ID_PREFIX) and len(name) == 20:
        raise ValueError(f"key name {name!r} looks like an access key id; choose another")
    return name


class KeyStore:
    """Access keys in the database named by ``config``.

    :param config: ``db``, ``key_file`` and ``account_id`` are read.
    :param pool: a connection pool to share (the API's); default: one of its own, closed by :meth:`close`.
    """

    def __init__(self, config: Config, pool: Pool | None = None) -> None:
        self.config = config
        self._own_pool = pool is None
        self.pool = pool or open_pool(config.db, synchronous=config.synchronous,
                                      busy_timeout_ms=config.busy_timeout_ms)
        self.rows = KeyRows(self.pool)
        self._aead: AESGCM | None = None
        self._cache: dict[str, tuple[float, Key | None]] = {}
        self._known: dict[str, tuple[KeyRow, Key]] = {}  # the row each cached Key was made from
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the connections this store opened itself."""
        if self._own_pool:
            self.pool.close()

    # -- the server's side ---------------------------------------------------------------------

    def get(self, access_key_id: str) -> Key | None:
        """The key with this id (secret decrypted), or None; cached for ``CACHE_TTL_S``.

        A key whose secret does not decrypt (the key file was replaced) counts as unknown.
        """
        now = time.monotonic()
        hit = self._cache.get(access_key_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        if not access_key_id.isalnum() or len(access_key_id) > 128:  # junk never reaches SQLite
            return None
        row = self.rows.get(access_key_id)
        key = None
        if row is not None:
            known = self._known.get(access_key_id)
            if known is not None and known[0] == row:
                # Unchanged since the last look: the same Key (and Policy) object, so that the API's
                # per-policy decision memo stays valid, and no decrypting or parsing again.
                key = known[1]
            else:
                secret = self._decrypt(row)
                key = None if secret is None else self._to_key(row, secret)
        with self._lock:
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
                self._known.clear()
            self._cache[access_key_id] = (now + CACHE_TTL_S, key)
            if row is not None and key is not None:
                self._known[access_key_id] = (row, key)
            else:
                self._known.pop(access_key_id, None)
        return key

    def resource_tags(self, arn: str) -> dict[str, str] | None:
        """The tags of the resource ``arn`` (None: no such resource), for ``aws:ResourceTag/*``."""
        return self.rows.resource_tags(arn)

    # -- the operator's side (meshplane keys) ----------------------------------------------------

    def create(self, name: str, *, admin: bool = False, policy: Policy | None = None,
               expires_at: float | None = None, only_if_empty: bool = False) -> Key | None:
        """Create a key and return it with its secret (the only time the secret is shown).

        :param only_if_empty: create it only if no key exists yet; None when one did.
        :raises ValueError: the name is invalid or taken, or neither/both of admin and policy.
        """
        check_name(name)
        if admin and policy is not None:
            raise ValueError("a key is either --admin or has a --policy, not both")
        if not admin and policy is None:
            raise ValueError("a key needs --admin or --policy FILE")
        access_key_id, secret = new_access_key_id(), new_secret()
        row = KeyRow(
            access_key_id=access_key_id,
            name=name,
            secret=self._encrypt(access_key_id, secret),
            admin=admin,
            policy=None if policy is None else json.dumps(policy.document, separators=(",", ":")),
            enabled=True,
            created_at=time.time(),
            expires_at=expires_at,
        )
        if not self.rows.insert(row, only_if_empty=only_if_empty):
            return None
        return self._to_key(row, secret)

    def list(self) -> list[Key]:
        """Every key, oldest first, without secrets."""
        return [self._to_key(row) for row in self.rows.all()]

    def count(self) -> int:
        """How many keys exist."""
        return self.rows.count()

    def find(self, ref: str) -> Key | None:
        """The key whose id or name is ``ref`` (no secret), or None."""
        row = self.rows.find(ref)
        return None if row is None else self._to_key(row)

    def set_enabled(self, ref: str, enabled: bool) -> Key | None:
        """Enable or disable the key ``ref``; None when there is no such key."""
        return self._updated(self.rows.update(ref, enabled=enabled))

    def set_policy(self, ref: str, *, admin: bool = False, policy: Policy | None = None) -> Key | None:
        """Make ``ref`` an admin key, or give it ``policy`` (replacing admin rights)."""
        if admin == (policy is not None):
            raise ValueError("give either --admin or --policy FILE")
        document = None if policy is None else json.dumps(policy.document, separators=(",", ":"))
        return self._updated(self.rows.update(ref, admin=admin, policy=document))

    def set_expiry(self, ref: str, expires_at: float | None) -> Key | None:
        """Set (or clear, with None) when the key ``ref`` expires."""
        return self._updated(self.rows.update(ref, expires_at=expires_at))

    def delete(self, ref: str) -> Key | None:
        """Delete the key ``ref``; returns it (no secret), or None when there was none."""
        return self._updated(self.rows.delete(ref))

    # -- internals ---------------------------------------------------------------------------

    def _updated(self, row: KeyRow | None) -> Key | None:
        if row is None:
            return None
        self._cache.pop(row.access_key_id, None)
        return self._to_key(row)

    def _cipher(self, *, create: bool = True) -> AESGCM:
        """The AEAD over the key file; only a writer (``create``) may create a missing file: a reader
        creating one would hide a lost key file behind keys that can never decrypt."""
        if self._aead is None:
            path = key_file_path(self.config)
            self._aead = AESGCM(load_or_create_key_file(path) if create else _read_key_file(path))
        return self._aead

    def _encrypt(self, access_key_id: str, secret: str) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._cipher().encrypt(nonce, secret.encode(), access_key_id.encode())

    def _decrypt(self, row: KeyRow) -> str | None:
        try:
            cipher = self._cipher(create=False)
        except (OSError, ValueError) as exc:
            log.error("cannot read the key file %s (%s): access key %s is refused", key_file_path(self.config),
                      exc, row.access_key_id)
            return None
        try:
            return cipher.decrypt(row.secret[:12], row.secret[12:], row.access_key_id.encode()).decode()
        except (InvalidTag, ValueError):
            log.error("the secret of access key %s does not decrypt with %s (was the key file replaced?); "
                      "the key is refused", row.access_key_id, key_file_path(self.config))
            return None

    def _to_key(self, row: KeyRow, secret: str = "") -> Key:
        policy = None
        if row.policy is not None:
            try:
                policy = Policy.parse(json.loads(row.policy))
            except ValueError as exc:  # stored by an older version with other rules: allow nothing
                log.error("the policy of access key %s is invalid (%s); the key is allowed nothing",
                          row.access_key_id, exc)
        return Key(
            access_key_id=row.access_key_id,
            name=row.name,
            principal_arn=principal_arn(self.config.account_id, row.name),
            admin=row.admin,
            policy=policy,
            enabled=row.enabled,
            expires_at=row.expires_at,
            secret=secret,
            created_at=row.created_at,
        )


def principal_arn(account_id: str, name: str) -> str:
    """``arn:aws:iam::<account>:user/<name>``: the key's identity in AccessDenied messages."""
    return f"arn:aws:iam::{account_id}:user/{name}"


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
