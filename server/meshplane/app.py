"""The Flask application factory: the only way to get an app."""

from __future__ import annotations

from flask import Flask

from meshplane.api import register_api
from meshplane.api.drain import DrainRequestBody
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
    app = Flask("meshplane", static_folder=None)
    # A path with an empty segment ("/v20190125//meshes") gets an App Mesh error like any other
    # unknown path (api/errors.py), not Werkzeug's 308 redirect to the merged path, which SDKs
    # do not follow for PUT/DELETE and which would hide the missing name. Set before any rule.
    app.url_map.merge_slashes = False
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["meshplane.config"] = config
    store = ResourceStore(config)
    app.extensions["meshplane.store"] = store
    app.extensions["meshplane.proxies"] = ProxyStore(store.pool, config.ensure_replica_id())
    register_api(app, config)
    __import__("meshplane.console", fromlist=["register"]).register(app, config)  # /ui/ (docs/console.md)
    # Outermost: an answer given before the body was read must not cost the client its connection.
    app.wsgi_app = DrainRequestBody(app.wsgi_app)  # type: ignore[method-assign]
    return app
