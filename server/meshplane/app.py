"""The Flask application factory: the only way to get an app."""

from __future__ import annotations

from flask import Flask

from meshplane.api import register_api
from meshplane.config import Config
from meshplane.store import ResourceStore, migrate
from meshplane.store.proxies import ProxyStore

MAX_BODY_BYTES = 1024 * 1024


def create_app(config: Config | None = None, *, run_migrations: bool = True) -> Flask:
    """Build the REST application over the database named in ``config``.

    :param run_migrations: apply pending migrations first (``serve`` does it once before forking
        workers and passes False).
    """
    config = config or Config.from_env()
    if run_migrations:
        migrate(config.db)
    app = Flask("meshplane")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["meshplane.config"] = config
    store = ResourceStore(config)
    app.extensions["meshplane.store"] = store
    app.extensions["meshplane.proxies"] = ProxyStore(store.pool)
    register_api(app, config)
    return app
