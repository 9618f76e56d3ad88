"""Reading what a request carries: JSON bodies and App Mesh query parameters."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from flask import Request

from meshplane.errors import BadRequestException


#: Where :func:`json_value` keeps its result in the WSGI environ (one per request).
_PARSED = "meshplane.json_body"
#: What :func:`json_value` gives for a blank body.
EMPTY_BODY = object()


def json_value(request: Request) -> Any:
    """The body parsed as JSON, once per request (authorization reads it before the handler does):
    the value, :data:`EMPTY_BODY` for a blank body, or the ``ValueError`` it raised. Callers must not
    change the value: the next caller gets the same object."""
    environ = request.environ
    try:
        return environ[_PARSED]
    except KeyError:
        pass
    raw = request.get_data(cache=True)
    value: Any
    if not raw.strip():
        value = EMPTY_BODY
    else:
        try:
            value = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            value = ValueError(str(exc))
    environ[_PARSED] = value
    return value


def body(request: Request, allowed: Iterable[str]) -> dict[str, Any]:
    """The JSON object in the body; ``{}`` when empty.

    :raises BadRequestException: not JSON, not an object, or a member not in ``allowed``.
    """
    value = json_value(request)
    if value is EMPTY_BODY:
        return {}
    if isinstance(value, ValueError):
        raise BadRequestException(f"Request body is not valid JSON: {value}")
    if not isinstance(value, dict):
        raise BadRequestException("Request body must be a JSON object")
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise BadRequestException(f"Unknown member(s) in request body: {', '.join(unknown)}")
    return value


def limit(request: Request, maximum: int = 100) -> int:
    """The ``limit`` query parameter: 1..maximum, default ``maximum``."""
    raw = request.args.get("limit")
    if raw is None or raw == "":
        return maximum
    try:
        value = int(raw)
    except ValueError:
        raise BadRequestException(f"Value '{raw}' at 'limit' failed to satisfy constraint: Member must be a number") from None
    if not 1 <= value <= maximum:
        raise BadRequestException(
            f"Value '{value}' at 'limit' failed to satisfy constraint: "
            f"Member must have value between 1 and {maximum}"
        )
    return value


def next_token(request: Request) -> str | None:
    """The ``nextToken`` query parameter, or None."""
    return request.args.get("nextToken") or None


def mesh_owner(request: Request) -> str | None:
    """The ``meshOwner`` query parameter (exactly 12 characters), or None."""
    raw = request.args.get("meshOwner")
    if raw is None:
        return None
    if len(raw) != 12:
        raise BadRequestException(
            f"Value '{raw}' at 'meshOwner' failed to satisfy constraint: Member must have length 12"
        )
    return raw


def client_token(payload: dict[str, Any]) -> str | None:
    """The body's ``clientToken`` (botocore sends a uuid4 on every create and update)."""
    token = payload.get("clientToken")
    if token is None:
        return None
    if not isinstance(token, str) or not 1 <= len(token) <= 64:
        raise BadRequestException("Value at 'clientToken' failed to satisfy constraint: Member must be a string of 1 to 64 characters")
    return token


def resource_arn(request: Request) -> str:
    """The required ``resourceArn`` query parameter of the tagging operations."""
    arn = request.args.get("resourceArn")
    if not arn:
        raise missing("resourceArn")
    return arn


def missing(field: str) -> BadRequestException:
    """The error for a required member that is absent, in AWS's words."""
    return BadRequestException(f"Value null at '{field}' failed to satisfy constraint: Member must not be null")
