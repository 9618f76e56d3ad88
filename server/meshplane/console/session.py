"""Console sign-in: an access key id + secret, exchanged once for a signed session cookie.

With ``--auth sigv4`` every ``/ui/api/*`` request but the sign-in itself needs the cookie. The
browser never holds the secret after signing in: the server checks it against the key store
(``meshplane.auth.keys``) and answers a cookie ``mp_console`` (HttpOnly: no script can read it;
SameSite=Strict: no other site's page sends it; Secure on TLS) carrying

    v1.<access key id>.<expiry>.<nonce>.<HMAC-SHA256 under the key's own secret>

so no session state is kept (every API worker process can check it), and disabling, deleting or
rotating the key ends its sessions at once. Writes also need the header ``X-CSRF-Token`` (an HMAC
of the session nonce, handed to the page by ``GET /ui/api/session``) and a same-origin ``Origin``.

Without authentication (the loopback default, or ``--auth none``) the console is open like the API;
writes still need the ``X-Meshplane-Console`` header and a same-origin ``Origin``, which a page of
another site cannot send without a CORS preflight that meshplane never grants.

:func:`cookie_key` is the public hook for ``meshplane.api.auth``: it returns the Key a console
cookie names (or None), so the API's own authentication may accept console sessions too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from flask import Request, Response, current_app, g, request

from meshplane.errors import AppMeshError, BadRequestException

COOKIE = "mp_console"
CSRF_HEADER = "X-CSRF-Token"
CONSOLE_HEADER = "X-Meshplane-Console"
#: How long a sign-in lasts (seconds).
SESSION_TTL_S = 8 * 3600
PREFIX = "/ui/"
_OPEN_PATHS = ("/ui/api/session",)


class ConsoleAuthError(AppMeshError):
    """403 for a console request without a valid session (used when meshplane.auth has no class)."""

    status = 403
    error_type = "UnrecognizedClientException"


def _error(name: str, message: str) -> AppMeshError:
    """The auth package's 403 error class ``name`` when it exists, else ConsoleAuthError."""
    from meshplane import errors

    cls = getattr(errors, name, None)
    if isinstance(cls, type) and issubclass(cls, AppMeshError):
        return cls(message)
    return ConsoleAuthError(message)


def _config() -> Any:
    return current_app.extensions["meshplane.config"]


def required() -> bool:
    """True when the console needs a signed-in key (the server runs with ``--auth sigv4``)."""
    return str(getattr(_config(), "auth", "") or "").lower() == "sigv4"


def _keys() -> Any:
    """The server's key store (``meshplane.auth.keys.KeyStore``), one per app."""
    # The API's own key store when it verifies requests (one cache per worker), else our own.
    store = getattr(current_app.extensions.get("meshplane.auth"), "keys", None)
    if store is None:
        store = current_app.extensions.get("meshplane.console.keys")
    if store is None:
        from meshplane.auth.keys import KeyStore  # only with --auth sigv4

        store = KeyStore(_config(), pool=current_app.extensions["meshplane.store"].pool)
        current_app.extensions["meshplane.console.keys"] = store
    return store


def _usable(key: Any) -> bool:
    if key is None or not getattr(key, "enabled", True):
        return False
    expires = getattr(key, "expires_at", None)
    return expires is None or expires > time.time()


def _mac(secret: str, *parts: str) -> str:
    return hmac.new(secret.encode(), "|".join(parts).encode(), hashlib.sha256).hexdigest()


def _token(key: Any, expires: int, nonce: str) -> str:
    mac = _mac(key.secret, "console-session", key.access_key_id, str(expires), nonce)
    return f"v1.{key.access_key_id}.{expires}.{nonce}.{mac}"


def _csrf(key: Any, nonce: str) -> str:
    return _mac(key.secret, "console-csrf", nonce)


def cookie_key(req: Request) -> tuple[Any, str] | None:
    """(Key, session nonce) of a valid console cookie on ``req``, or None (absent, forged, expired,
    or its key disabled, deleted or rotated). Public: ``meshplane.api.auth`` may call it."""
    raw = req.cookies.get(COOKIE, "")
    parts = raw.split(".")
    if len(parts) != 5 or parts[0] != "v1" or not parts[2].isdigit():
        return None
    _, key_id, expires, nonce, mac = parts
    if int(expires) < time.time():
        return None
    try:
        key = _keys().get(key_id)
    except Exception:  # noqa: BLE001 - a broken key store must fail closed, never 500
        return None
    if not _usable(key) or not key.secret:
        return None
    if not hmac.compare_digest(_token(key, int(expires), nonce).rsplit(".", 1)[1], mac):
        return None
    return key, nonce


def handles(req: Request) -> bool:
    """True for a request the console authenticates itself (``/ui`` and everything under ``/ui/``,
    when the console is on): the API's SigV4 check (``meshplane.api.auth``) lets these through,
    and :func:`guard` requires the session cookie for their data. Public, for meshplane.api.auth."""
    if not (req.path == "/ui" or req.path.startswith(PREFIX)):
        return False
    config = current_app.extensions.get("meshplane.config")
    return bool(getattr(config, "ui", True))


def _same_origin(req: Request) -> bool:
    origin = req.headers.get("Origin")
    if origin is None:
        return True  # same-origin GETs and older browsers; cookies are SameSite=Strict anyway
    return urlsplit(origin).netloc == req.host


def guard() -> None:
    """Before every console request: the page and its files are public; ``/ui/api/*`` needs a
    session when auth is on; writes need the CSRF header and a same-origin Origin."""
    if not request.path.startswith("/ui/api/"):
        return None
    write = request.method not in ("GET", "HEAD", "OPTIONS")
    if write and not _same_origin(request):
        raise _error("AccessDeniedException", "Console writes must come from the console's own origin")
    if request.path in _OPEN_PATHS:
        return None
    if not required():
        if write and request.headers.get(CONSOLE_HEADER) != "1":
            raise _error("AccessDeniedException", f"Console writes need the {CONSOLE_HEADER} header")
        return None
    found = cookie_key(request)
    if found is None:
        exc = _error("MissingAuthenticationTokenException", "Sign in to the console with an access key")
        _audit("", "", None, "", "denied", f"{exc.error_type}: {exc.message}")
        raise exc
    key, nonce = found
    if write and not hmac.compare_digest(request.headers.get(CSRF_HEADER, ""), _csrf(key, nonce)):
        exc = _error("AccessDeniedException", "The console's CSRF token is missing or wrong; reload the page")
        _audit("", "", key, key.access_key_id, "denied", f"{exc.error_type}: {exc.message}")
        raise exc
    g.console_key = key
    return None


def _for_audit(action: str, key: Any) -> None:
    """Name the action and key of this console write for the API's after-request audit line."""
    g.meshplane_key = key
    try:
        from meshplane.auth.actions import Request as Wanted
    except ImportError:  # no auth package: nothing audits
        return
    g.meshplane_wanted = Wanted(action, ("*",))


def describe() -> dict[str, Any]:
    """Sign-in state for the page: ``{"required", "signedIn", "keyId", "name", "csrf"}``."""
    if not required():
        return {"required": False, "signedIn": True, "csrf": ""}
    found = cookie_key(request)
    if found is None:
        return {"required": True, "signedIn": False, "csrf": ""}
    key, nonce = found
    return {"required": True, "signedIn": True, "keyId": key.access_key_id, "name": getattr(key, "name", ""),
            "csrf": _csrf(key, nonce)}


def sign_in(body: Any) -> Response:
    """Check ``{"accessKeyId", "secretAccessKey"}`` once and set the session cookie."""
    if not required():
        return _answer({"required": False, "signedIn": True, "csrf": ""})
    if not isinstance(body, dict) or not isinstance(body.get("accessKeyId"), str) \
            or not isinstance(body.get("secretAccessKey"), str):
        raise BadRequestException("Sign-in needs accessKeyId and secretAccessKey")
    key_id, secret = body["accessKeyId"].strip(), body["secretAccessKey"]
    try:
        key = _keys().get(key_id) if key_id else None
    except Exception:  # noqa: BLE001 - fail closed
        key = None
    # A key read without its secret (secret "") can never match: an empty secret is refused too.
    if key is None or not _usable(key) or not key.secret or not secret \
            or not hmac.compare_digest(key.secret.encode(), secret.encode()):
        _audit("meshplane:ConsoleSignIn", "", None, key_id, "denied",
               "unknown key, wrong secret, disabled or expired")
        # One message for every failure: it must not tell which of id and secret was wrong.
        raise _error("UnrecognizedClientException", "The access key id or secret is not valid")
    _for_audit("meshplane:ConsoleSignIn", key)
    expires = int(time.time()) + SESSION_TTL_S
    nonce = secrets.token_hex(16)
    response = _answer({"required": True, "signedIn": True, "keyId": key.access_key_id,
                        "name": getattr(key, "name", ""), "csrf": _csrf(key, nonce)})
    response.set_cookie(COOKIE, _token(key, expires, nonce), max_age=SESSION_TTL_S, path="/ui/",
                        httponly=True, samesite="Strict", secure=request.is_secure)
    return response


def sign_out() -> Response:
    found = cookie_key(request) if required() else None
    _for_audit("meshplane:ConsoleSignOut", found[0] if found else None)
    response = _answer({"required": required(), "signedIn": False, "csrf": ""})
    response.delete_cookie(COOKIE, path="/ui/", httponly=True, samesite="Strict", secure=request.is_secure)
    return response


def _answer(payload: dict[str, Any]) -> Response:
    response = Response(json.dumps(payload), mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


def _decide(key: Any, action: str, arn: str) -> None:
    from meshplane.auth import authorize

    tags = getattr(_keys(), "resource_tags", None)
    authorize(key, action, [arn], {"aws:sourceip": request.remote_addr or "",
                                   "aws:securetransport": "true" if request.is_secure else "false"},
              resource_tags=tags)


def permitted(action: str, arn: str) -> bool:
    """May the signed-in key do ``action`` on ``arn``? Always, without authentication or for an
    admin key. For filtering lists (a refusal here is not audited)."""
    key = getattr(g, "console_key", None)
    if key is None or getattr(key, "admin", False):
        return True
    try:
        _decide(key, action, arn)
    except AppMeshError:
        return False
    return True


def require(action: str, arn: str) -> None:
    """Refuse (AccessDeniedException, audited) unless the signed-in key may do ``action`` on
    ``arn``: the console shows a key only what the API would show it."""
    key = getattr(g, "console_key", None)
    if key is None or getattr(key, "admin", False):
        return
    try:
        _decide(key, action, arn)
    except AppMeshError as exc:
        _audit(action, arn, key, key.access_key_id, "denied", f"{exc.error_type}: {exc.message}")
        raise


@contextmanager
def audited(action: str, arn: str) -> Iterator[None]:
    """Around a console write: authorize the signed-in key for ``action`` on ``arn`` (when auth is
    on), and have the API's audit (``meshplane.api.auth``) record it as the same action would be
    through the REST API: its after-request hook writes the success line from ``g``; a refusal is
    written here, as the API writes its own refusals."""
    key = getattr(g, "console_key", None)
    g.meshplane_key = key
    try:
        from meshplane.auth.actions import Request as Wanted

        g.meshplane_wanted = Wanted(action, (arn,))
    except ImportError:  # no auth package: nothing audits
        pass
    require(action, arn)
    yield


def _audit(action: str, arn: str, key: Any, key_id: str, outcome: str, reason: str) -> None:
    """One audit line, when the server audits (``--auth sigv4`` or ``--audit-log``), like the API."""
    state = current_app.extensions.get("meshplane.auth")
    if state is None or not getattr(state, "audit", False):
        return
    try:
        from meshplane.auth import audit

        audit.record(key_id=key_id or None, key_name=getattr(key, "name", None), source=request.remote_addr,
                     action=action, arn=arn or None, outcome=outcome, reason=f"console: {reason}",
                     status=403 if outcome == "denied" else 200, method=request.method, path=request.path)
    except Exception:  # noqa: BLE001 - an audit hiccup must not turn a request into a 500
        current_app.logger.exception("console: audit record failed")
