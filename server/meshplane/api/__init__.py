"""HTTP only: parse the request, call the store, render the answer.

With auth on, every request passes through :func:`meshplane.api.auth.authenticate` first: the one
place where requests are authenticated (SigV4) and authorized (IAM policies), without touching a handler.
"""

from __future__ import annotations

import uuid

from flask import Flask, Response, request

from meshplane.api import auth, errors, imports, proxies, resources, tags
from meshplane.api.throttle import TokenBucket
from meshplane.config import Config


def register_api(app: Flask, config: Config) -> None:
    """Mount the App Mesh API (/v20190125) and meshplane's own endpoints on ``app``."""
    errors.install(app)
    auth.install(app, config)  # --auth sigv4: keys, verification (a before_request hook), the audit log
    if config.rate_limit > 0:
        share = config.rate_limit / max(1, config.workers)
        bucket = TokenBucket(rate=share, burst=max(1.0, share))
        app.before_request(lambda: None if request.path == "/healthz" else bucket.take())
    app.after_request(_request_id)
    app.register_blueprint(resources.blueprint())
    app.register_blueprint(tags.blueprint())
    app.register_blueprint(proxies.blueprint())
    app.register_blueprint(imports.blueprint())  # /meshplane/v1/import, /export (formats/)

    @app.get("/healthz")
    def healthz() -> Response:
        return Response('{"status":"ok"}', mimetype="application/json")


def _request_id(response: Response) -> Response:
    # botocore surfaces this as ResponseMetadata.RequestId; AWS sends one on every response.
    response.headers["x-amzn-RequestId"] = str(uuid.uuid4())
    return response
