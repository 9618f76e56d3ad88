"""App Mesh route and gateway-route fragments -> IR matches, retry policies and timeouts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import ir
from . import names
from . import specs

# App Mesh httpRetryEvents -> Envoy retry_on conditions (plus status codes).
_HTTP_RETRY_EVENTS: dict[str, tuple[str, tuple[int, ...]]] = {
    "server-error": ("5xx", ()),
    "gateway-error": ("gateway-error", ()),
    "client-error": ("retriable-status-codes", (409,)),
    "stream-error": ("refused-stream", ()),
}
_TCP_RETRY_EVENTS = {"connection-error": "connect-failure"}
_GRPC_RETRY_EVENTS = frozenset({"cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable"})


def header_match(name: str, method: Any, invert: bool) -> ir.HeaderMatch:
    """A HeaderMatchMethod union (exact|prefix|suffix|regex|range) or presence when absent."""
    if isinstance(method, Mapping):
        for kind in ("exact", "prefix", "suffix", "regex"):
            value = method.get(kind)
            if isinstance(value, str):
                return ir.HeaderMatch(name, kind, value, invert=invert)  # type: ignore[arg-type]
        bounds = method.get("range")
        if isinstance(bounds, Mapping) and isinstance(bounds.get("start"), int) and isinstance(bounds.get("end"), int):
            return ir.HeaderMatch(name, "range", start=bounds["start"], end=bounds["end"], invert=invert)
    return ir.HeaderMatch(name, "present", invert=invert)


def _headers(entries: Any) -> list[ir.HeaderMatch]:
    result = []
    for entry in entries or ():
        if isinstance(entry, Mapping) and isinstance(entry.get("name"), str):
            result.append(header_match(entry["name"], entry.get("match"), bool(entry.get("invert", False))))
    return result


def _query(entries: Any) -> tuple[ir.QueryMatch, ...]:
    result = []
    for entry in entries or ():
        if isinstance(entry, Mapping) and isinstance(entry.get("name"), str):
            exact = specs.sub(entry, "match").get("exact")
            result.append(ir.QueryMatch(entry["name"], exact if isinstance(exact, str) else None))
    return tuple(result)


def path_match(match: specs.Spec) -> ir.PathMatch:
    """``prefix`` | ``path.exact`` | ``path.regex``; a match with none of them matches every path."""
    prefix = match.get("prefix")
    if isinstance(prefix, str):
        return ir.PathMatch("prefix", prefix)
    path = specs.sub(match, "path")
    if isinstance(path.get("exact"), str):
        return ir.PathMatch("path", path["exact"])
    if isinstance(path.get("regex"), str):
        return ir.PathMatch("regex", path["regex"])
    return ir.ROOT


_PREFIXES: dict[str, ir.HttpMatch] = {}


def http_match(match: specs.Spec) -> ir.HttpMatch:
    """An httpRoute/http2Route match: path, headers, method, scheme and query parameters."""
    if len(match) == 1 and type(match.get("prefix")) is str:
        # The common case (a bare prefix) is shared, which also makes equal matches identical.
        found = _PREFIXES.get(match["prefix"])
        if found is None:
            found = ir.HttpMatch(ir.PathMatch("prefix", match["prefix"]))
            if len(_PREFIXES) < 4096:
                _PREFIXES[match["prefix"]] = found
        return found
    headers = _headers(match.get("headers"))
    if isinstance(match.get("method"), str):
        headers.append(ir.HeaderMatch(":method", "exact", match["method"]))
    if isinstance(match.get("scheme"), str):
        headers.append(ir.HeaderMatch(":scheme", "exact", match["scheme"]))
    return ir.HttpMatch(path_match(match), tuple(headers), _query(match.get("query_parameters")))


def grpc_path(service: Any, method: Any) -> ir.PathMatch:
    """gRPC calls are ``POST /<service>/<method>``."""
    if isinstance(service, str) and service:
        if isinstance(method, str) and method:
            return ir.PathMatch("path", f"/{service}/{method}")
        return ir.PathMatch("prefix", f"/{service}/")
    return ir.ROOT


def grpc_match(match: specs.Spec) -> ir.HttpMatch:
    """A grpcRoute match: service and method name as the path, metadata as headers."""
    return ir.HttpMatch(
        grpc_path(match.get("service_name"), match.get("method_name")), tuple(_headers(match.get("metadata")))
    )


def retry_policy(spec: Any, diagnostics: list[str], where: str) -> ir.RetryPolicy:
    """A route's retry policy, or App Mesh's silent default when it has none."""
    if not isinstance(spec, Mapping):
        return ir.DEFAULT_RETRY
    retry_on: set[str] = set()
    codes: set[int] = set()
    for event in spec.get("http_retry_events") or ():
        mapped = _HTTP_RETRY_EVENTS.get(event)
        if mapped is None:
            diagnostics.append(f"{where}: unknown httpRetryEvent {event!r} ignored")
            continue
        retry_on.add(mapped[0])
        codes.update(mapped[1])
    for event in spec.get("tcp_retry_events") or ():
        if event in _TCP_RETRY_EVENTS:
            retry_on.add(_TCP_RETRY_EVENTS[event])
    for event in spec.get("grpc_retry_events") or ():
        if event in _GRPC_RETRY_EVENTS:
            retry_on.add(event)
    retries = spec.get("max_retries")
    return ir.RetryPolicy(
        retry_on=tuple(sorted(retry_on)),
        num_retries=retries if isinstance(retries, int) and not isinstance(retries, bool) else names.DEFAULT_MAX_RETRIES,
        per_try_timeout_ms=specs.duration_ms(spec.get("per_retry_timeout")),
        retriable_status_codes=tuple(sorted(codes)),
    )


def timeouts(timeout: specs.Spec) -> tuple[int, int | None]:
    """(per-request, idle) in ms from an HttpTimeout/GrpcTimeout; per-request defaults to 15 s."""
    if not timeout:
        return names.DEFAULT_PER_REQUEST_TIMEOUT_MS, None
    per_request = specs.duration_ms(timeout.get("per_request"))
    idle = specs.duration_ms(timeout.get("idle"))
    return (names.DEFAULT_PER_REQUEST_TIMEOUT_MS if per_request is None else per_request), idle


def default_order(match: ir.HttpMatch) -> tuple[int, int, int, int]:
    """App Mesh's ordering among equal priorities: the most specific match first.

    Exact paths first; then prefixes and regexes by the length of their text, longest first
    (so ``/`` comes last), a prefix before a regex of equal length; more header and query
    conditions break the remaining ties.
    """
    path = match.path
    kind = path.kind
    return (0 if kind == "path" else 1, -len(path.value), 1 if kind == "regex" else 0, -len(match.headers) - len(match.query))
