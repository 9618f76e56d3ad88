"""The REST client every client meshplane ships uses: the Terraform provider and ``meshplane proxy-status``.

One urllib request per call, so threads share nothing. When credentials are given, each request
is signed with AWS Signature Version 4 (service ``appmesh``) by botocore's ``SigV4Auth``, over
exactly the bytes sent: the URL (path and query as they go on the wire), the ``Host`` header (set
here, so the HTTP library cannot send another), the headers and the body. Retries are re-signed
(a fresh date each time). HTTPS endpoints are verified against ``ca_file`` when one is given,
else against the system's trust store.

Why this module serves ``proxy-status`` too (rather than a top-level ``sigv4_client`` module): the
provider is the main client, ``proxy-status`` is one more GET needing the same signing, TLS and
App Mesh error handling, and this module imports nothing but the standard library and botocore,
so the CLI loads no gRPC or tf stubs through it. One client, one place to get signing right.

Errors follow the App Mesh wire contract (docs/architecture.md, errors.py): the type comes from
the ``x-amzn-ErrorType`` header or the body's ``__type``, the text from ``message``.
Throttling (429) and unavailability (503) are retried a few times with a short back-off;
authentication and authorization refusals (403) never are.
"""

from __future__ import annotations

import json
import os
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

USER_AGENT = "terraform-provider-meshplane"
RETRY_STATUSES = (429, 503)
ATTEMPTS = 4
SERVICE = "appmesh"
DEFAULT_REGION = "us-east-1"  # meshplane's default --region

# Where credentials come from when the caller passes none, in order (docs/terraform/index.md).
MESHPLANE_KEY_ENV = ("MESHPLANE_ACCESS_KEY_ID", "MESHPLANE_SECRET_ACCESS_KEY")
AWS_KEY_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
AWS_TOKEN_ENV = "AWS_SESSION_TOKEN"
REGION_ENV = ("AWS_REGION", "AWS_DEFAULT_REGION")
CA_FILE_ENV = ("MESHPLANE_CA_FILE", "AWS_CA_BUNDLE")

# 403 codes of a refused signature or key (errors.py, auth.md §3) and what to check for each.
AUTH_HINTS = {
    "MissingAuthenticationTokenException":
        "The server requires signed requests and none was signed: set access_key and secret_key, or "
        "MESHPLANE_ACCESS_KEY_ID and MESHPLANE_SECRET_ACCESS_KEY (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY).",
    "IncompleteSignatureException": "The request's signature was incomplete or malformed.",
    "UnrecognizedClientException":
        "The server has no enabled key with this access key id: check access_key (create one with "
        "`meshplane keys create`).",
    "InvalidSignatureException":
        "Check the secret key, the region (it must be one the server serves) and this machine's clock.",
    "ExpiredTokenException": "The access key has expired: create a new one with `meshplane keys create`.",
    "AccessDeniedException": "The key is valid but its policy does not allow this action on this resource.",
}


@dataclass(frozen=True)
class Credentials:
    """An access key to sign with; ``source`` says where it came from. The secret never shows in repr."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)
    source: str = "arguments"


def resolve_credentials(access_key: str | None = None, secret_key: str | None = None,
                        env: Mapping[str, str] | None = None, *,
                        names: tuple[str, str] = ("access_key", "secret_key"),
                        source: str = "the provider configuration") -> Credentials | None:
    """The key to sign with: the arguments, else MESHPLANE_ACCESS_KEY_ID/MESHPLANE_SECRET_ACCESS_KEY,
    else AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN); None when none is set
    (requests then go unsigned, as a server without authentication accepts).

    Each source gives both halves or neither: a half pair raises ValueError naming what is missing
    (mixing halves from two sources would sign with a key nobody meant). ``names`` and ``source``
    say how the caller's user knows the arguments (``--access-key-id`` for the CLI).
    """
    env = os.environ if env is None else env
    sources = [(names, (access_key, secret_key), source)]
    for variables in (MESHPLANE_KEY_ENV, AWS_KEY_ENV):
        sources.append((variables, (env.get(variables[0]), env.get(variables[1])), variables[0]))
    for (id_name, secret_name), (key_id, secret), origin in sources:
        if not key_id and not secret:
            continue
        if not key_id or not secret:
            given, missing = (id_name, secret_name) if key_id else (secret_name, id_name)
            raise ValueError(f"{given} is set but {missing} is not: set both, or neither")
        # A session token belongs to temporary AWS credentials; meshplane's own keys have none.
        token = (env.get(AWS_TOKEN_ENV) or None) if origin == AWS_KEY_ENV[0] else None
        return Credentials(key_id, secret, token, origin)
    return None


def resolve_region(region: str | None = None, env: Mapping[str, str] | None = None) -> str:
    """The signing region: the argument, else AWS_REGION, AWS_DEFAULT_REGION, else us-east-1."""
    env = os.environ if env is None else env
    return region or next((env[n] for n in REGION_ENV if env.get(n)), DEFAULT_REGION)


def resolve_ca_file(ca_file: str | None = None, env: Mapping[str, str] | None = None) -> str | None:
    """The CA bundle for HTTPS endpoints: the argument, else MESHPLANE_CA_FILE, else AWS_CA_BUNDLE."""
    env = os.environ if env is None else env
    return ca_file or next((env[n] for n in CA_FILE_ENV if env.get(n)), None)


def host_header(url: str) -> str:
    """The ``Host`` value for ``url``: lower-cased host, the port kept unless it is the scheme's default."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None and parts.port != {"http": 80, "https": 443}.get(parts.scheme):
        host = f"{host}:{parts.port}"
    return host


def sign(credentials: Credentials, region: str, method: str, url: str,
         headers: Mapping[str, str], body: bytes | None) -> dict[str, str]:
    """The headers to send ``method url`` with, signed: ``headers`` plus Host, X-Amz-Date,
    Authorization (and X-Amz-Security-Token with a session token).

    ``url`` must be final (percent-encoded path and query exactly as sent). Every header returned
    but User-Agent is signed; the caller must send these headers and ``body`` unchanged.
    """
    from botocore.auth import SigV4Auth  # imported on first use: commands that never sign do not pay for it
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials as BotoCredentials

    request = AWSRequest(method=method, url=url, data=body or b"", headers={**headers, "Host": host_header(url)})
    keys = BotoCredentials(credentials.access_key_id, credentials.secret_access_key, credentials.session_token)
    SigV4Auth(keys, SERVICE, region).add_auth(request)
    return dict(request.headers.items())


class ApiError(Exception):
    """An error answer (or no answer) from the server; ``hint`` says what to check for auth refusals."""

    def __init__(self, status: int, code: str, message: str, hint: str = "") -> None:
        super().__init__(f"{code}: {message}" if code else message)
        self.status = status
        self.code = code
        self.message = message
        self.hint = hint

    @property
    def not_found(self) -> bool:
        return self.status == 404 or self.code == "NotFoundException"

    @property
    def detail(self) -> str:
        """The message, then the hint on its own paragraph (a Terraform diagnostic's detail)."""
        return f"{self.message}\n\n{self.hint}" if self.hint else self.message


class Client:
    """Calls one meshplane endpoint (``http://127.0.0.1:8080``); immutable, thread-safe.

    :param credentials: sign every request with this key (None: send unsigned requests).
    :param region: the region of the signature's credential scope.
    :param ca_file: PEM bundle that HTTPS endpoints are verified against (None: the system's).
    """

    def __init__(self, endpoint: str, credentials: Credentials | None = None, region: str = DEFAULT_REGION,
                 ca_file: str | None = None, timeout: float = 30.0, user_agent: str = USER_AGENT) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.credentials = credentials
        self.region = region
        self.timeout = timeout
        self.user_agent = user_agent
        self._tls = ssl.create_default_context(cafile=ca_file) if self.endpoint.startswith("https:") else None

    def url(self, path: str, query: Mapping[str, str] | None = None) -> str:
        """The URL sent for ``path`` (already percent-encoded) and ``query`` (empty values dropped).

        Query values are encoded as SigV4's canonical form encodes them (only ``-._~`` left as is),
        so any verifier, re-encoding or not, sees the same string.
        """
        pairs = [(k, v) for k, v in (query or {}).items() if v]
        encoded = urllib.parse.urlencode(pairs, quote_via=urllib.parse.quote, safe="-_.~")
        return self.endpoint + path + ("?" + encoded if encoded else "")

    def call(self, method: str, path: str, query: Mapping[str, str] | None = None,
             body: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send one request; return the decoded JSON body (``{}`` when empty) or raise ApiError."""
        url = self.url(path, query)
        data = json.dumps(body).encode() if body is not None else None
        base = {"Accept": "application/json", "User-Agent": self.user_agent}
        if data is not None:
            base["Content-Type"] = "application/json"
        for attempt in range(ATTEMPTS):
            headers = sign(self.credentials, self.region, method, url, base, data) if self.credentials else base
            request = urllib.request.Request(url, data=data, method=method, headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=self.timeout, context=self._tls) as response:
                    raw = response.read()
                return json.loads(raw) if raw.strip() else {}
            except urllib.error.HTTPError as exc:
                error = self._api_error(exc)
                if exc.code in RETRY_STATUSES and attempt + 1 < ATTEMPTS:
                    time.sleep(0.2 * 2**attempt)
                    continue
                raise error from None
            except (urllib.error.URLError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                hint = ""
                if isinstance(reason, ssl.SSLCertVerificationError):
                    hint = "To trust a private CA (e.g. `meshplane tls dev-ca`), set ca_file / --ca-file / MESHPLANE_CA_FILE."
                raise ApiError(0, "", f"cannot reach meshplane at {self.endpoint}: {reason}", hint) from None
        raise AssertionError("unreachable")

    def _api_error(self, exc: urllib.error.HTTPError) -> ApiError:
        error = _api_error(exc)
        hint = AUTH_HINTS.get(error.code, "") if error.status == 403 else ""
        if hint and self.credentials is not None and error.code != "MissingAuthenticationTokenException":
            hint += (f" (signed with access key {self.credentials.access_key_id} from {self.credentials.source},"
                     f" region {self.region})")
        error.hint = hint
        return error


def quote(value: str) -> str:
    """A path segment: names may hold dots but never slashes (App Mesh rejects ``/``)."""
    return urllib.parse.quote(value, safe="")


def _api_error(exc: urllib.error.HTTPError) -> ApiError:
    raw = b""
    try:
        raw = exc.read()
    except OSError:
        pass
    body: dict[str, Any] = {}
    try:
        decoded = json.loads(raw) if raw else {}
        body = decoded if isinstance(decoded, dict) else {}
    except ValueError:
        pass
    code = exc.headers.get("x-amzn-ErrorType", "") if exc.headers else ""
    code = code.split(":", 1)[0].rsplit("#", 1)[-1] or str(body.get("__type", "") or body.get("code", ""))
    message = str(body.get("message") or body.get("Message") or raw.decode(errors="replace") or exc.reason)
    return ApiError(exc.code, code, message)
