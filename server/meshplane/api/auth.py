"""Authentication: the single hook every request passes through.

meshplane accepts any caller today (like a local AWS endpoint: clients sign with SigV4 and the
signature is not checked). A later issue adds verification here and nowhere else.
"""

from __future__ import annotations

from flask import Request


def authenticate(request: Request) -> None:
    """Accept or reject ``request``; raising an AppMeshError (ForbiddenException) rejects it."""
    return None
