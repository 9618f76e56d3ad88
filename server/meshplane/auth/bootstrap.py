"""What `meshplane serve` does about authentication once, before its workers start.

* ``--auth none``: warn (every start) that anyone who reaches the listeners may change every mesh.
* ``--auth sigv4`` and no key in the database yet: create an admin key and write it, as
  ``meshplane keys create`` prints it, to ``<db>.admin-key.json`` (mode 0600) next to the database,
  logging only that file's path, so that a first start is usable and nothing secret reaches a log.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

from meshplane.config import Config

log = logging.getLogger("meshplane.auth")

FIRST_KEY_NAME = "admin"


def admin_key_path(config: Config) -> Path:
    """Where the first-start admin key is written: ``<db>.admin-key.json``."""
    return Path(config.files_base() + ".admin-key.json")


def on_start(config: Config) -> Path | None:
    """Run the start-up steps above; returns the admin key file when one was written.

    Call after migrations and before forking workers. Two servers starting at once over one
    database create one key between them (the insert happens only while the table is empty).
    """
    if config.auth == "none":
        log.warning(
            "authentication is off (--auth none): anyone who reaches %s%s can read and change every mesh",
            config.api_listen, "" if config.xds_listen == "off" else f" or {config.xds_listen}",
        )
        return None
    if config.auth != "sigv4":
        return None
    from meshplane.auth.keys import KeyStore, key_file_path

    store = KeyStore(config)
    try:
        if store.count():
            if not key_file_path(config).exists():
                log.error("access keys exist but their key file %s is missing: every key will be refused; "
                          "restore the file (or pass --key-file) or create new keys", key_file_path(config))
            return None
        key = store.create(FIRST_KEY_NAME, admin=True, only_if_empty=True)
        if key is None:
            return None
        path = admin_key_path(config)
        try:
            _write_private(path, {"AccessKeyId": key.access_key_id, "SecretAccessKey": key.secret, "Name": key.name})
        except OSError:
            store.delete(key.access_key_id)  # a key nobody can read must not stay valid
            raise
    finally:
        store.close()
    log.warning(
        "no access key existed: created the admin key %s; its credentials are in %s (mode 0600). Move them "
        "somewhere safe and delete the file; `meshplane keys create` makes more keys",
        key.access_key_id, path,
    )
    return path


def _write_private(path: Path, document: dict[str, str]) -> None:
    """Write ``document`` as JSON to ``path``, mode 0600 from the first byte, replacing atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", dir=path.parent)  # created 0600
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(document, handle, indent=2)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
