"""AWS Signature Version 4, the server side: check a request's signature exactly as AWS computes it.

The canonical request is rebuilt from what the client sent (docs: /work/shared/reference/auth.md §1):

* the path as sent (still percent-encoded), dot segments and empty segments removed, then
  percent-encoded a second time (every service but S3 does this: ``a%20b`` is signed as ``a%2520b``);
* the query string as sent, split on ``&`` and the first ``=``, sorted, never decoded;
* the headers named in ``SignedHeaders`` (never a fixed list: Terraform signs ``amz-sdk-*`` and
  ``content-length``), values trimmed with inner runs of spaces collapsed;
* the payload hash: ``X-Amz-Content-SHA256`` when sent, else the SHA-256 of the body.

The checks run in AWS's order and raise its errors (all 403): no credentials
(MissingAuthenticationToken), a malformed header or date (IncompleteSignature), a wrong scope or a
time outside the ±5 minute window (InvalidSignature), an unknown or disabled key
(UnrecognizedClient), an expired key (ExpiredToken), a wrong signature (InvalidSignature).
Presigned URLs (``X-Amz-Algorithm`` & co. in the query) are accepted too.

Cost: what SDKs send (header auth, ``X-Amz-Date``, the same credential scope and SignedHeaders on
every request of a day) is verified with that part of the header parsed and checked once
(``_verify_known_scope``): the same canonical request and checks, and any request it cannot accept
goes through the full check, which raises the error. HMACs continue SHA-256 states prepared once per
signing key (``Signer``).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import hmac
import logging
import re
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Protocol
from functools import lru_cache
from urllib.parse import quote

from botocore.auth import EMPTY_SHA256_HASH, SIGV4_TIMESTAMP
from botocore.utils import normalize_url_path

from meshplane.auth.keys import Key
from meshplane.errors import (
    ExpiredTokenException,
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)

log = logging.getLogger("meshplane.auth")

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
#: AWS accepts a signature up to five minutes from its timestamp, in both directions.
SKEW_S = 5 * 60
#: The longest lifetime a presigned URL may ask for (seven days, as AWS).
PRESIGN_MAX_S = 7 * 24 * 3600
EMPTY_PAYLOAD_SHA256 = EMPTY_SHA256_HASH

MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS "
    "Secret Access Key and signing method. Consult the service documentation for details."
)
UNKNOWN_KEY = "The security token included in the request is invalid."
EXPIRED_KEY = "The security token included in the request is expired"
_BASIC_DATE = re.compile(r"\d{8}T\d{6}Z")
_COMMON_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=([^,\s]+), ?SignedHeaders=([^,\s]+), ?Signature=([^,\s]+)"
)

Lookup = Callable[[str], "Key | None"]


class Headers(Protocol):
    """What verify reads of the request headers: ``get(name)``, case-insensitive by name (werkzeug's
    headers, a dict wrapper over gRPC metadata, ``meshplane.api.auth.WSGIHeaders``)."""

    def get(self, name: str, /) -> str | None: ...


def verify(
    method: str,
    raw_path: str | Sequence[str],
    raw_query: str,
    headers: Headers,
    payload_sha256: str | None,
    *,
    lookup: Lookup,
    service: str,
    regions: Collection[str],
    now: float | None = None,
    host: str | None = None,
) -> Key:
    """Verify a SigV4-signed request and return the key that signed it.

    :param method: the HTTP method (``POST`` for a gRPC call).
    :param raw_path: the path as sent, still percent-encoded (no query). A sequence gives
        alternatives tried in order (a server that only sees the decoded path re-encodes it, and a
        client may have left some reserved characters unencoded); the first one whose signature
        matches wins.
    :param raw_query: the query string as sent, without ``?``.
    :param headers: the request headers, looked up case-insensitively with ``get`` (werkzeug's
        headers, or gRPC metadata wrapped in a mapping of lower-case names).
    :param payload_sha256: lower-case hex SHA-256 of the body; None when the caller has no body to
        hash (gRPC: the ``x-amz-content-sha256`` header, or the empty payload's hash, is used).
    :param lookup: access key id -> Key (or None when unknown).
    :param service: the signing name expected in the credential scope (``appmesh``).
    :param regions: the regions the credential scope may name.
    :param now: the current time (epoch seconds); default ``time.time()``.
    :param host: the ``host`` value signed, overriding the ``host`` header (gRPC has no ``host``
        in its metadata: ``:authority`` is not passed to the server).
    :raises MissingAuthenticationTokenException, IncompleteSignatureException,
        InvalidSignatureException, UnrecognizedClientException, ExpiredTokenException: 403 errors,
        with AWS's messages. Nothing secret ever enters a message.
    """
    now = time.time() if now is None else now
    authorization = headers.get("authorization")
    if authorization is not None:
        known = _verify_known_scope(method, raw_path, raw_query, headers, payload_sha256, authorization,
                                    lookup=lookup, service=service, regions=regions, now=now, host=host)
        if known is not None:
            return known
    presigned = authorization is None and "X-Amz-Algorithm=" in raw_query
    if presigned:
        parts = _presigned_parts(raw_query)
    elif authorization is None:
        raise MissingAuthenticationTokenException("Missing Authentication Token")
    else:
        parts = _parse_authorization(authorization)
    credential, signed_names, signature = parts["Credential"], parts["SignedHeaders"], parts["Signature"]

    scope = credential.split("/")
    if len(scope) != 5:
        raise IncompleteSignatureException(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, "
            f"got '{credential}'"
        )
    access_key_id, scope_date, region, scope_service, terminator = scope

    if presigned:
        timestamp, signed_at = _basic_date(parts.get("X-Amz-Date", ""))
        expires = _presign_expiry(parts.get("X-Amz-Expires", ""))
    else:
        timestamp, signed_at = _request_timestamp(headers)
        expires = None
    names = _check_signed_names(signed_names, headers, presigned)

    if scope_date != timestamp[:8]:
        raise InvalidSignatureException(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{scope_date}' != '{timestamp[:8]}', from '{timestamp}'."
        )
    if region not in regions:
        raise InvalidSignatureException(f"Credential should be scoped to a valid region, not '{region}'. ")
    if scope_service != service:
        raise InvalidSignatureException(f"Credential should be scoped to correct service: '{service}'. ")
    if terminator != TERMINATOR:
        raise InvalidSignatureException(
            f"Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{terminator}'. "
        )
    _check_time(timestamp, signed_at, now, expires)

    key = lookup(access_key_id)
    if key is None or not key.enabled:
        raise UnrecognizedClientException(UNKNOWN_KEY)
    if key.expires_at is not None and key.expires_at <= now:
        raise ExpiredTokenException(EXPIRED_KEY)

    content_sha = headers.get("x-amz-content-sha256")
    body_hash = _body_hash(content_sha, payload_sha256)
    query = _canonical_query(raw_query, drop_signature=presigned)
    header_block = _header_block(names, headers, host)
    signer = signer_for(key.secret, scope_date, region, service)
    paths = (raw_path,) if isinstance(raw_path, str) else tuple(raw_path)
    canonical = ""
    for path in paths:
        canonical = "\n".join(
            (method.upper(), canonical_path(path), query, header_block, signed_names, body_hash)
        )
        string_to_sign = "\n".join(
            (ALGORITHM, timestamp, f"{scope_date}/{region}/{service}/{TERMINATOR}",
             hashlib.sha256(canonical.encode("utf-8")).hexdigest())
        )
        if hmac.compare_digest(signer.hexdigest(string_to_sign), signature):
            break
    else:
        # The canonical request holds no secret; it is what an operator compares with the client's
        # debug output (botocore logs its own at DEBUG). Never sent back to the client.
        log.info("signature mismatch for key %s; canonical request was:\n%s", access_key_id, canonical)
        raise InvalidSignatureException(MISMATCH)
    if content_sha is not None and payload_sha256 is not None and content_sha != payload_sha256:
        # The signature covers the header, not the body: a body that does not match it was changed.
        raise InvalidSignatureException("The provided 'x-amz-content-sha256' header does not match what was computed.")
    return key


@lru_cache(maxsize=4096)  # clients repeat paths (describe, list): normalizing and quoting is most of the work
def canonical_path(raw_path: str) -> str:
    """The path as SigV4 signs it: dot segments and ``//`` removed, then percent-encoded again.

    >>> canonical_path("/v20190125/meshes/a%20b%3Ac/virtualNodes")
    '/v20190125/meshes/a%2520b%253Ac/virtualNodes'
    """
    return quote(normalize_url_path(raw_path), safe="/~")


def encode_path(path: str | bytes, *, keep: str = "") -> str:
    """Percent-encode a decoded path the way SDKs encode their URI labels (everything but the
    unreserved characters ``A-Za-z0-9-._~``, ``/`` and ``keep``): the raw path back from a server
    that only passes the decoded one on (Granian's WSGI ``PATH_INFO``)."""
    return quote(path, safe="/~" + keep)


def payload_hash(body: bytes) -> str:
    """Lower-case hex SHA-256 of ``body``."""
    return hashlib.sha256(body).hexdigest() if body else EMPTY_PAYLOAD_SHA256


def signing_key_for(secret: str, date: str, region: str, service: str) -> bytes:
    """``HMAC("AWS4"+secret, date) -> region -> service -> "aws4_request"`` (remembered through
    :func:`signer_for`: a busy server derives it once a day per key)."""
    k = hmac.digest(f"AWS4{secret}".encode(), date.encode(), "sha256")
    for part in (region, service, TERMINATOR):
        k = hmac.digest(k, part.encode(), "sha256")
    return k


class Signer:
    """HMAC-SHA256 under one signing key, its padded key blocks hashed once (RFC 2104): signing a
    string is then two SHA-256 continuations, a quarter of what ``hmac.digest`` costs (OpenSSL 3
    looks the digest up and sets up a context on every one-shot call)."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        block = key.ljust(64, b"\0")  # a signing key is a 32-byte HMAC-SHA256 output: never longer than a block
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))

    def hexdigest(self, message: str) -> str:
        """Lower-case hex HMAC-SHA256 of ``message`` (UTF-8)."""
        inner = self._inner.copy()
        inner.update(message.encode("utf-8"))
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()


@lru_cache(maxsize=1024)
def signer_for(secret: str, date: str, region: str, service: str) -> Signer:
    """The :class:`Signer` of a key's signing key for one date, region and service, remembered."""
    return Signer(signing_key_for(secret, date, region, service))


@dataclass(frozen=True)
class _Scope:
    """What an ``Authorization`` header says besides its signature, checked once: a client sends the
    same credential scope and SignedHeaders on every request of a day."""

    access_key_id: str
    date: str
    region: str
    service: str
    signed_names: str
    names: tuple[str, ...]
    credential_scope: str


#: Authorization header without its signature -> its checked scope (None: not the common, valid shape).
_SCOPES: dict[str, _Scope | None] = {}
_SCOPES_MAX = 4096


def _known_scope(head: str) -> _Scope | None:
    """The scope of ``head`` (``AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...``), when it is
    the common shape and valid on its own: five scope elements ending ``aws4_request``, SignedHeaders
    lower-case, sorted, naming ``host`` and ``x-amz-date``. Anything else is None, and left to the
    full check, which says what is wrong."""
    try:
        return _SCOPES[head]
    except KeyError:
        pass
    scope = None
    common = _COMMON_AUTHORIZATION.fullmatch(head + ", Signature=x")
    if common is not None:
        parts = common[1].split("/")
        names = _split_signed_names(common[2])
        if len(parts) == 5 and parts[4] == TERMINATOR and names and "host" in names and "x-amz-date" in names:
            scope = _Scope(parts[0], parts[1], parts[2], parts[3], common[2], names, "/".join(parts[1:]))
    if len(_SCOPES) >= _SCOPES_MAX:
        _SCOPES.clear()
    _SCOPES[head] = scope
    return scope


def _verify_known_scope(method: str, raw_path: str | Sequence[str], raw_query: str, headers: Headers,
                        payload_sha256: str | None, authorization: str, *, lookup: Lookup, service: str,
                        regions: Collection[str], now: float, host: str | None) -> Key | None:
    """:func:`verify` for what SDKs send (header auth, ``X-Amz-Date``, a scope seen before): the key
    when every check passes, else None and the full check runs (and raises AWS's error). The same
    checks and the same canonical request, without parsing and checking the scope again."""
    head, sep, signature = authorization.rpartition(", Signature=")
    scope = _known_scope(head) if sep else None
    if scope is None or scope.service != service or scope.region not in regions:
        return None
    timestamp = headers.get("x-amz-date")
    if timestamp is None or timestamp[:8] != scope.date or not _BASIC_DATE.fullmatch(timestamp):
        return None
    signed_at = _epoch(timestamp)
    if signed_at is None or not now - SKEW_S <= signed_at <= now + SKEW_S:
        return None
    key = lookup(scope.access_key_id)
    if key is None or not key.enabled or (key.expires_at is not None and key.expires_at <= now):
        return None
    content_sha = headers.get("x-amz-content-sha256")
    if content_sha is not None and payload_sha256 is not None and content_sha != payload_sha256:
        return None
    body_hash = _body_hash(content_sha, payload_sha256)
    query = _canonical_query(raw_query, drop_signature=False)
    header_block = _header_block(scope.names, headers, host)
    signer = signer_for(key.secret, scope.date, scope.region, service)
    prefix = f"{ALGORITHM}\n{timestamp}\n{scope.credential_scope}\n"
    method = method.upper()
    for path in (raw_path,) if isinstance(raw_path, str) else raw_path:
        canonical = "\n".join((method, canonical_path(path), query, header_block, scope.signed_names, body_hash))
        digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
        if hmac.compare_digest(signer.hexdigest(prefix + digest), signature):
            return key
    return None


def _parse_authorization(value: str) -> dict[str, str]:
    common = _COMMON_AUTHORIZATION.fullmatch(value)
    if common is not None:  # what every SDK sends, in one regex match
        return {"Credential": common[1], "SignedHeaders": common[2], "Signature": common[3]}
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise IncompleteSignatureException(f"Unsupported AWS 'algorithm': '{algorithm}'")
    parts: dict[str, str] = {}
    for item in rest.split(","):
        name, sep, val = item.strip().partition("=")
        if sep:
            parts[name] = val
    missing = [name for name in ("Credential", "Signature", "SignedHeaders") if not parts.get(name)]
    if missing:
        raise IncompleteSignatureException(
            " ".join(f"Authorization header requires '{name}' parameter." for name in missing)
        )
    return parts


def _presigned_parts(raw_query: str) -> dict[str, str]:
    from urllib.parse import unquote

    parts: dict[str, str] = {}
    for pair in raw_query.split("&"):
        name, _, value = pair.partition("=")
        if name.startswith("X-Amz-"):
            parts[name[len("X-Amz-"):]] = unquote(value)
    if parts.get("Algorithm") != ALGORITHM:
        raise IncompleteSignatureException(f"Unsupported AWS 'algorithm': '{parts.get('Algorithm', '')}'")
    missing = [name for name in ("Credential", "Signature", "SignedHeaders", "Date") if not parts.get(name)]
    if missing:
        raise IncompleteSignatureException(
            " ".join(f"AWS query-string parameters must include 'X-Amz-{name}'." for name in missing)
        )
    return {**parts, "X-Amz-Date": parts["Date"], "X-Amz-Expires": parts.get("Expires", "")}


def _presign_expiry(raw: str) -> int:
    if not raw.isdigit() or not 1 <= int(raw) <= PRESIGN_MAX_S:
        raise IncompleteSignatureException(
            f"X-Amz-Expires must be a number of seconds between 1 and {PRESIGN_MAX_S}, got '{raw}'"
        )
    return int(raw)


def _basic_date(raw: str) -> tuple[str, float]:
    """``raw`` (``YYYYMMDDTHHMMSSZ``) and the time it names, in epoch seconds."""
    at = _epoch(raw) if _BASIC_DATE.fullmatch(raw) else None
    if at is None:
        raise IncompleteSignatureException(
            f"Date must be in ISO-8601 'basic format'. Got '{raw}'. See http://en.wikipedia.org/wiki/ISO_8601"
        )
    return raw, at


@lru_cache(maxsize=512)
def _epoch(timestamp: str) -> float | None:
    """``YYYYMMDDTHHMMSSZ`` as epoch seconds (None if no such time). Remembered: the requests of one
    second share their timestamp, and strptime or even a datetime costs more than the rest of the check."""
    try:
        return dt.datetime(int(timestamp[0:4]), int(timestamp[4:6]), int(timestamp[6:8]), int(timestamp[9:11]),
                           int(timestamp[11:13]), int(timestamp[13:15]), tzinfo=dt.timezone.utc).timestamp()
    except ValueError:
        return None


def _request_timestamp(headers: Headers) -> tuple[str, float]:
    """``X-Amz-Date``, or the ``Date`` header reformatted (botocore signs a ``Date`` it rewrote as
    ``Tue, 01 Dec 2026 20:16:25 -0000`` with the basic-format time in the string to sign)."""
    amz = headers.get("x-amz-date")
    if amz is not None:
        return _basic_date(amz.strip())
    date = headers.get("date")
    if date is None:
        raise IncompleteSignatureException(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
        )
    try:
        parsed = email.utils.parsedate_to_datetime(date)
    except (TypeError, ValueError, IndexError):
        parsed = None
    if parsed is None:
        raise IncompleteSignatureException(f"Date must be in RFC 1123 format. Got '{date}'.")
    if parsed.tzinfo is None:  # "-0000": UTC, per RFC 2822
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.astimezone(dt.timezone.utc).strftime(SIGV4_TIMESTAMP), parsed.timestamp()


def _check_signed_names(signed_names: str, headers: Headers, presigned: bool) -> tuple[str, ...]:
    """The names of ``SignedHeaders``, checked: lower-case, sorted, ``host`` and the date among them."""
    names = _split_signed_names(signed_names)
    if names is None:
        raise IncompleteSignatureException(
            "SignedHeaders must be lower-case header names, sorted and separated by ';'."
        )
    if "host" not in names:
        raise InvalidSignatureException("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
    if not presigned:
        dated = "x-amz-date" if headers.get("x-amz-date") is not None else "date"
        if dated not in names:
            raise InvalidSignatureException(f"'{dated}' must be a 'SignedHeader' in the AWS Authorization.")
    return names


@lru_cache(maxsize=256)  # a client sends the same few lists on every request
def _split_signed_names(signed_names: str) -> tuple[str, ...] | None:
    """``SignedHeaders`` split on ``;``, or None unless lower-case, sorted and without empty names."""
    names = signed_names.split(";")
    if names != sorted(names) or any(not n or n != n.lower() for n in names):
        return None
    return tuple(names)


def _check_time(timestamp: str, signed_at: float, now: float, expires: int | None) -> None:
    stamp = _stamp
    if expires is not None:  # presigned: valid from (signed - skew) until (signed + expires)
        if now > signed_at + expires:
            raise InvalidSignatureException(
                f"Signature expired: {timestamp} is now earlier than {stamp(now - expires)} "
                f"({stamp(now)} - {expires} sec.)"
            )
    elif signed_at < now - SKEW_S:
        raise InvalidSignatureException(
            f"Signature expired: {timestamp} is now earlier than {stamp(now - SKEW_S)} ({stamp(now)} - 5 min.)"
        )
    if signed_at > now + SKEW_S:
        raise InvalidSignatureException(
            f"Signature not yet current: {timestamp} is still later than {stamp(now + SKEW_S)} "
            f"({stamp(now)} + 5 min.)"
        )


def _stamp(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime(SIGV4_TIMESTAMP)


def _canonical_query(raw_query: str, *, drop_signature: bool) -> str:
    if not raw_query:
        return ""
    pairs = []
    for pair in raw_query.split("&"):
        name, _, value = pair.partition("=")
        if drop_signature and name == "X-Amz-Signature":
            continue
        pairs.append((name, value))
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))


def _body_hash(content_sha: str | None, payload_sha256: str | None) -> str:
    """The payload hash signed: ``X-Amz-Content-SHA256`` when sent, else the body's."""
    if content_sha is not None:
        return content_sha
    return payload_sha256 if payload_sha256 is not None else EMPTY_PAYLOAD_SHA256


def _header_block(names: Sequence[str], headers: Headers, host: str | None) -> str:
    """The canonical headers: ``name:value\\n`` for each signed name, in order."""
    return "".join([f"{name}:{_header_value(name, headers, host)}\n" for name in names])


def _header_value(name: str, headers: Headers, host: str | None) -> str:
    if name == "host" and host is not None:
        value: str | None = host
    else:
        value = headers.get(name)
    if value is None:
        # A header named in SignedHeaders but not sent: the signature cannot match; AWS answers
        # with the mismatch too (the client signed something else than what arrived).
        return ""
    return " ".join(value.split())
