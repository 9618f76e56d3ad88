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
    """Register the handlers that turn every exception into :func:`error_response`."""

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
