"""Authentication and authorization: the single hook every request passes through.

With ``auth = sigv4`` every request but ``/healthz`` must carry a SigV4 signature by a meshplane
access key (``meshplane.auth.sigv4.verify``), and the key must be allowed the request's action on
its ARN(s) (``meshplane.auth.authorize``). Refusals are AWS's 403 errors, raised here before any
handler runs, so a refused request changes nothing. In the other modes every caller is accepted
(clients sign, nobody checks), as before.

The audit log (``meshplane.auth.audit``) gets one line per successful write and per refusal when
auth is ``sigv4`` or an ``audit_log`` file is configured.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from flask import Flask, Request, Response, g, request

from meshplane import kinds
from meshplane.api import params
from meshplane.auth import audit, authorize, denial_message, sigv4
from meshplane.auth.actions import Request as Wanted
from meshplane.auth.actions import ADMIN_ONLY_ACTIONS, meshplane_request, resource_request, tagging_request
from meshplane.auth.keys import Key, KeyStore
from meshplane.config import Config
from meshplane.console import session as console_session
from meshplane.errors import AccessDeniedException, AppMeshError, ForbiddenException

SERVICE = "appmesh"
#: Reserved characters RFC 3986 allows unencoded in a path segment. A client may send them raw
#: (and sign them single-encoded) or encoded (signed double-encoded); the decoded path Granian
#: gives cannot tell, so a path holding one is checked both ways.
_SUB_DELIMS = "!$&'()*+,;=:@"
_WRITES = frozenset(("PUT", "POST", "DELETE", "PATCH"))
_TAGGING = {"tags.list_tags": "ListTagsForResource", "tags.tag": "TagResource", "tags.untag": "UntagResource"}
_CLAIMED_KEY = re.compile(r"Credential=([A-Za-z0-9]{1,128})/")
_OPEN_PATHS = frozenset(("/healthz",))
#: Bound of each per-worker memo below (cleared whole when full: the entries are cheap to remake).
_MEMO_MAX = 8192
#: What a request without a body asks for, by (endpoint, method, path arguments, query): describes,
#: lists and deletes repeat, and working the ARNs out again costs a fifth of the whole check.
_WANTED: dict[tuple[str, str, tuple[tuple[str, Any], ...], str], Wanted | None] = {}
#: Decisions by (policy, principal, action, resources, source address, scheme), for requests whose
#: decision depends on nothing else (no request tags, no resource-tag conditions). A parsed policy is
#: immutable and a key's refresh brings a new one, so a remembered decision never goes stale; the
#: value keeps the policy object alive and is checked for identity (ids are reused after a free).
_DECISIONS: dict[tuple[int, str, str, tuple[str, ...], str, str], tuple[object, str | None]] = {}


@dataclass
class _Auth:
    """Per-app (so per-worker) authentication state."""

    config: Config
    keys: KeyStore | None  # None: no verification (auth "" or "none")
    audit: bool
    regions: frozenset[str]
    body_limits: dict[tuple[str, str], int]


def install(app: Flask, config: Config) -> None:
    """Set up authentication for ``app`` according to ``config.auth`` (call once, at creation)."""
    keys = None
    if config.auth == "sigv4":
        keys = KeyStore(config, pool=app.extensions["meshplane.store"].pool)
    auditing = config.auth == "sigv4" or bool(config.audit_log)
    if auditing:
        audit.configure(config)
    state = _Auth(config, keys, auditing, frozenset([config.region]), _body_limits())
    app.extensions["meshplane.auth"] = state
    # The hooks hold the state: no application-context look-up per request, and none at all for
    # what is switched off (without sigv4 nothing is verified; without auditing nothing runs after).
    if keys is not None:
        app.before_request(lambda: authenticate(state, request._get_current_object()))  # type: ignore[attr-defined]
    if auditing:
        app.after_request(lambda response: _after(state, response))


def authenticate(state: _Auth, request: Request) -> None:
    """Accept ``request`` (the request object itself, not Flask's proxy) or raise a 403 AppMeshError
    (MissingAuthenticationToken, InvalidSignature, UnrecognizedClient, ExpiredToken,
    IncompleteSignature, AccessDenied). Installed as a before_request hook when auth is sigv4."""
    assert state.keys is not None
    if request.path in _OPEN_PATHS:
        return
    if console_session.handles(request):
        return  # the console checks its own signed session cookie (meshplane/console/session.py)
    environ = request.environ
    limit = state.body_limits.get((request.method, request.url_rule.rule if request.url_rule else ""))
    if limit:  # an endpoint taking larger bodies (import): its own limit, since the hash reads it here
        request.max_content_length = limit
    try:
        key = sigv4.verify(
            request.method,
            _raw_paths(environ),
            environ.get("QUERY_STRING", ""),
            WSGIHeaders(environ),
            _payload_hash(request, environ),
            lookup=state.keys.get,
            service=SERVICE,
            regions=state.regions,
        )
    except ForbiddenException as exc:
        _refused(state, request, None, exc)
        raise
    flask_g = g._get_current_object()  # type: ignore[attr-defined]
    flask_g.meshplane_key = key
    if key.admin:
        return
    wanted = _describe_remembered(request, state.config)
    if wanted is None:
        return  # no route matches: the 404 that follows reveals nothing
    flask_g.meshplane_wanted = wanted
    source, scheme = request.remote_addr or "", request.scheme
    memo = None
    if not wanted.context and not (wanted.existing and key.policy is not None and key.policy.uses_resource_tags):
        memo = (id(key.policy), key.principal_arn, wanted.action, wanted.resources, source, scheme)
        hit = _DECISIONS.get(memo)
        if hit is not None and hit[0] is key.policy:
            if hit[1] is None:
                return
            exc = AccessDeniedException(hit[1])
            _refused(state, request, key, exc, wanted)
            raise exc
    context: dict[str, Any] = {
        "aws:sourceip": source,
        "aws:securetransport": "true" if scheme == "https" else "false",
        **wanted.context,
    }
    try:
        if wanted.action in ADMIN_ONLY_ACTIONS:  # imports, and endpoints the actions table does not name
            raise AccessDeniedException(denial_message(key.principal_arn, wanted.action, wanted.resources[0]))
        authorize(key, wanted.action, wanted.resources, context,
                  resource_tags=state.keys.resource_tags if wanted.existing else None)
    except AccessDeniedException as exc:
        if memo is not None:
            _remember(memo, key, exc.message)
        _refused(state, request, key, exc, wanted)
        raise
    except AppMeshError as exc:
        _refused(state, request, key, exc, wanted)
        raise
    if memo is not None:
        _remember(memo, key, None)


def _remember(memo: tuple[int, str, str, tuple[str, ...], str, str], key: Key, denied: str | None) -> None:
    if len(_DECISIONS) >= _MEMO_MAX:
        _DECISIONS.clear()
    _DECISIONS[memo] = (key.policy, denied)


def _describe_remembered(request: Request, config: Config) -> Wanted | None:
    """:func:`describe`, remembered for requests without a body (what they ask for depends only on
    their endpoint, method, path arguments and query)."""
    if request.method not in ("GET", "HEAD", "DELETE") or request.endpoint is None:
        return describe(request, config)
    memo = (request.endpoint, request.method, tuple((request.view_args or {}).items()),
            request.environ.get("QUERY_STRING", ""))
    try:
        return _WANTED[memo]
    except KeyError:
        pass
    wanted = describe(request, config)
    if len(_WANTED) >= _MEMO_MAX:
        _WANTED.clear()
    _WANTED[memo] = wanted
    return wanted


def describe(request: Request, config: Config) -> Wanted | None:
    """The action and ARN(s) ``request`` asks for, from its Flask endpoint (None: no route)."""
    rule = request.url_rule
    endpoint = request.endpoint
    if rule is None or endpoint is None:
        return None
    view_args = request.view_args or {}
    args = request.args if request.environ.get("QUERY_STRING") else {}  # parsing an empty query costs too
    method = "GET" if request.method in ("HEAD", "OPTIONS") else request.method  # Flask answers these from GET's rule
    if endpoint.startswith("resources."):
        kind_key, _, shape = endpoint[len("resources."):].rpartition("_")
        kind = kinds.BY_KEY[kind_key]
        item = shape == "item"
        body = _json_body(request) if not item and method == "PUT" else None
        return resource_request(kind, item, method, view_args, args, body,
                                account=config.account_id, region=config.region)
    operation = _TAGGING.get(endpoint)
    if operation is not None:
        return tagging_request(operation, args, _json_body(request) if method == "PUT" else None)
    return meshplane_request(method, rule.rule, view_args, args,
                             account=config.account_id, region=config.region)


def _after(state: _Auth, response: Response) -> Response:
    """Audit a successful write (registered only when auditing)."""
    if response.status_code >= 400:
        return response
    req = request._get_current_object()  # type: ignore[attr-defined]  # one context look-up, not five
    if req.method not in _WRITES:
        return response
    flask_g = g._get_current_object()  # type: ignore[attr-defined]
    key: Key | None = getattr(flask_g, "meshplane_key", None)
    wanted: Wanted | None = getattr(flask_g, "meshplane_wanted", None) or describe(req, state.config)
    environ = req.environ
    audit.record(
        key_id=key.access_key_id if key else None,
        key_name=key.name if key else None,
        source=environ.get("REMOTE_ADDR"),
        action=wanted.action if wanted else None,
        arn=",".join(wanted.resources) if wanted else None,
        outcome="allowed",
        reason=None,
        status=response.status_code,
        method=req.method,
        path=req.path,
    )
    return response


def _refused(state: _Auth, request: Request, key: Key | None, exc: AppMeshError,
             wanted: Wanted | None = None) -> None:
    if not state.audit:
        return
    if wanted is None:
        try:
            wanted = describe(request, state.config)
        except Exception:  # noqa: BLE001 - an audit line must never turn a 403 into a 500
            wanted = None
    claimed = _CLAIMED_KEY.search(request.headers.get("Authorization", ""))
    arn = None
    if wanted is not None:
        # The message names the resource refused (the first one not allowed).
        arn = next((r for r in wanted.resources if f"on resource: {r} " in exc.message), wanted.resources[0])
    audit.record(
        key_id=key.access_key_id if key else (claimed.group(1) if claimed else None),
        key_name=key.name if key else None,
        source=request.remote_addr,
        action=wanted.action if wanted else None,
        arn=arn,
        outcome="denied",
        reason=f"{exc.error_type}: {exc.message}",
        status=exc.status,
        method=request.method,
        path=request.path,
    )


class WSGIHeaders:
    """The request headers straight from the WSGI environ, case-insensitively by name: all
    :func:`sigv4.verify` reads (``get``), at a fraction of werkzeug's EnvironHeaders' cost."""

    __slots__ = ("environ",)

    #: header name as asked -> environ key (``X-Amz-Date`` -> ``HTTP_X_AMZ_DATE``), memoized: the same
    #: few names are asked for on every request.
    _KEYS: dict[str, str] = {"content-type": "CONTENT_TYPE", "content-length": "CONTENT_LENGTH"}

    def __init__(self, environ: dict[str, Any]) -> None:
        self.environ = environ

    def get(self, name: str, default: str | None = None) -> str | None:
        key = self._KEYS.get(name)
        if key is None:
            lower = name.lower()
            key = self._KEYS.get(lower) or "HTTP_" + lower.upper().replace("-", "_")
            if len(self._KEYS) < 1024:  # names come from clients' SignedHeaders: keep the memo bounded
                self._KEYS[name] = key
        value: str | None = self.environ.get(key)
        return default if value is None else value


def _raw_paths(environ: dict[str, Any]) -> tuple[str, ...]:
    """The path as the client sent it, still percent-encoded: ``RAW_URI``/``REQUEST_URI`` where the
    server provides one (werkzeug's, gunicorn); Granian passes only the decoded ``PATH_INFO``
    (PEP 3333: UTF-8 bytes as latin-1 text), so it is encoded again as SDKs encode URI labels,
    plus, for a path holding a sub-delimiter, the variant leaving those unencoded."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        return (raw.split("?", 1)[0],)
    return _encoded_paths(environ.get("PATH_INFO", "/"))


@lru_cache(maxsize=4096)  # clients repeat paths (describes, lists)
def _encoded_paths(decoded: str) -> tuple[str, ...]:
    try:
        octets = decoded.encode("latin-1")
    except UnicodeEncodeError:
        octets = decoded.encode("utf-8")
    first = sigv4.encode_path(octets)
    if any(c in decoded for c in _SUB_DELIMS):
        return first, sigv4.encode_path(octets, keep=_SUB_DELIMS)
    return (first,)


def _body_limits() -> dict[tuple[str, str], int]:
    """Endpoints whose bodies may exceed the app's limit (the signature check reads the body first)."""
    try:
        from meshplane.api.imports import MAX_IMPORT_BYTES
    except ImportError:
        return {}
    return {("POST", "/meshplane/v1/import"): MAX_IMPORT_BYTES}


def _payload_hash(request: Request, environ: dict[str, Any]) -> str:
    """SHA-256 of the body (read once and kept for the handler); a request without Content-Length
    or Transfer-Encoding has no body in HTTP/1.1, and skipping the stream set-up saves a few
    microseconds on every GET."""
    if environ.get("CONTENT_LENGTH", "") in ("", "0") and "HTTP_TRANSFER_ENCODING" not in environ:
        return sigv4.EMPTY_PAYLOAD_SHA256
    return sigv4.payload_hash(request.get_data(cache=True))


def _json_body(request: Request) -> Any:
    """The parsed body (shared with the handler: see ``params.json_value``), None when it is not JSON."""
    value = params.json_value(request)
    return None if value is params.EMPTY_BODY or isinstance(value, ValueError) else value
