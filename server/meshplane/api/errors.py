"""The one error handler: every failure leaves as an App Mesh error.

Header ``x-amzn-ErrorType`` and body ``{"__type", "message"}``; botocore reads the header.
"""

from __future__ import annotations

import json
import logging

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound, RequestEntityTooLarge

from meshplane.errors import (
    AppMeshError,
    BadRequestException,
    InternalServerErrorException,
    NotFoundException,
)

log = logging.getLogger("meshplane.api")


def error_response(error: AppMeshError) -> Response:
    """Render ``error`` in App Mesh's wire shape."""
    body = json.dumps({"__type": error.error_type, "message": error.message})
    response = Response(body, status=error.status, mimetype="application/json")
    response.headers["x-amzn-ErrorType"] = error.error_type
    return response


def install(app: Flask) -> None:
    """Register the handlers that turn every exception into :func:`error_response`, and the
    check of the path that runs before anything else (authentication included)."""

    @app.before_request
    def _no_empty_segment() -> None:
        # "/v20190125/meshes//virtualNodes": a name left empty. Werkzeug would strip leading
        # slashes and match, or redirect to the merged path (app.py turns that off); answer a 400,
        # not a 404, because clients (hashicorp/aws, our provider) read a 404 as "resource gone".
        path = request.environ.get("PATH_INFO", "")
        if "//" in path:
            raise BadRequestException(f"Invalid path {path}: empty path segment ('//'); a name is missing")

    @app.errorhandler(AppMeshError)
    def _appmesh(error: AppMeshError) -> Response:
        return error_response(error)

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> Response:
        if isinstance(error, RequestEntityTooLarge):
            return error_response(BadRequestException("Request body exceeds the maximum size of 1 MiB"))
        if isinstance(error, (NotFound, MethodNotAllowed)):
            return error_response(NotFoundException(f"No operation matches {request.method} {request.path}"))
        return error_response(BadRequestException(error.description or "Bad request"))

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return error_response(InternalServerErrorException("Internal error; see the server log"))
