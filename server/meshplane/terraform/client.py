"""A small App Mesh REST client: one urllib request per call, so threads share nothing.

Errors follow the App Mesh wire contract (docs/architecture.md, errors.py): the type comes from
the ``x-amzn-ErrorType`` header or the body's ``__type``, the text from ``message``.
Throttling (429) and unavailability (503) are retried a few times with a short back-off.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

USER_AGENT = "terraform-provider-meshplane"
RETRY_STATUSES = (429, 503)
ATTEMPTS = 4


class ApiError(Exception):
    """An error answer (or no answer) from the server."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}" if code else message)
        self.status = status
        self.code = code
        self.message = message

    @property
    def not_found(self) -> bool:
        return self.status == 404 or self.code == "NotFoundException"


class Client:
    """Calls one meshplane endpoint (``http://127.0.0.1:8080``); immutable, thread-safe."""

    def __init__(self, endpoint: str, timeout: float = 30.0) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.timeout = timeout

    def call(self, method: str, path: str, query: dict[str, str] | None = None,
             body: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send one request; return the decoded JSON body (``{}`` when empty) or raise ApiError."""
        url = self.endpoint + path
        query = {k: v for k, v in (query or {}).items() if v}
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if data is not None:
            headers["Content-Type"] = "application/json"
        for attempt in range(ATTEMPTS):
            request = urllib.request.Request(url, data=data, method=method, headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    raw = response.read()
                return json.loads(raw) if raw.strip() else {}
            except urllib.error.HTTPError as exc:
                error = _api_error(exc)
                if exc.code in RETRY_STATUSES and attempt + 1 < ATTEMPTS:
                    time.sleep(0.2 * 2**attempt)
                    continue
                raise error from None
            except (urllib.error.URLError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                raise ApiError(0, "", f"cannot reach meshplane at {self.endpoint}: {reason}") from None
        raise AssertionError("unreachable")


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
