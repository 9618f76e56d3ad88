"""Gateway routes: App Mesh's two routing steps folded into one Envoy route table.

App Mesh matches a gateway route, rewrites the request (Host to the target virtual service, the
matched prefix to ``/``) and then applies the virtual service's own routes to the *rewritten*
request. Envoy matches once, so for every (gateway route G, service route R) pair we emit one
route whose match holds exactly when G matches the original request and R matches the
rewritten one, carrying R's action plus G's rewrites. G's routes come first in G's priority
order; after them a route with G's bare match answers 404 (G matched, no service route did),
so a request never falls through to a later gateway route.
"""

from __future__ import annotations

import re
from typing import Literal
from typing import NamedTuple

from . import ir

PathRewrite = Literal["keep", "strip", "prefix", "exact"]


class GatewayRoute(NamedTuple):
    """A gateway route, App Mesh defaults applied.

    :param path_rewrite: ``keep``; ``strip`` (App Mesh's default for prefix matches: the
        prefix and a following ``/`` become ``/``); ``prefix`` (the prefix becomes
        ``rewrite_value``); ``exact`` (the whole path becomes ``rewrite_value``).
    :param host: the Host to send upstream (the virtual service name), None to keep the client's.
    """

    name: str
    match: ir.HttpMatch
    service: str
    port: int | None
    path_rewrite: PathRewrite = "keep"
    rewrite_value: str = ""
    host: str | None = None


def _esc(text: str) -> str:
    return re.escape(text)


def _path_header(kind: str, value: str) -> ir.HeaderMatch:
    # ``:path`` includes the query string, so full-match regexes allow an optional one.
    if kind == "prefix":
        return ir.HeaderMatch(":path", "prefix", value)
    pattern = _esc(value) if kind == "path" else f"(?:{value})"
    return ir.HeaderMatch(":path", "regex", pattern + r"(?:\?.*)?")


def _static(path: ir.PathMatch, value: str) -> bool | None:
    """Does ``path`` match the fixed path ``value``? None when a regex cannot be evaluated."""
    if path.kind == "prefix":
        return value.startswith(path.value)
    if path.kind == "path":
        return value == path.value
    try:
        return re.fullmatch(path.value, value) is not None
    except re.error:
        return None


def combine_paths(g: GatewayRoute, inner: ir.PathMatch) -> tuple[ir.PathMatch, tuple[ir.HeaderMatch, ...]] | None | str:
    """The original-request path condition for "G matches and ``inner`` matches after G's rewrite".

    Returns (path, extra header conditions), None when the pair can never match, or a reason
    string when the pair cannot be expressed.
    """
    outer = g.match.path
    rewrite = g.path_rewrite
    if rewrite == "exact" or (rewrite == "keep" and outer.kind == "path"):
        fixed = g.rewrite_value if rewrite == "exact" else outer.value
        verdict = _static(inner, fixed)
        if verdict is None:
            return f"cannot evaluate regex {inner.value!r}"
        return (outer, ()) if verdict else None
    if rewrite == "keep":
        return _intersect(outer, inner)
    prefix = outer.value
    if rewrite == "prefix":
        value = g.rewrite_value
        if inner.kind == "prefix":
            if inner.value.startswith(value):
                return ir.PathMatch("prefix", prefix + inner.value[len(value) :]), ()
            return (outer, ()) if value.startswith(inner.value) else None
        if inner.kind == "path":
            return (ir.PathMatch("path", prefix + inner.value[len(value) :]), ()) if inner.value.startswith(value) else None
        return f"cannot combine a prefix rewrite with regex {inner.value!r}"
    # strip: P = stem + ["/"] + rest  ->  "/" + rest
    if inner.kind == "regex":
        return f"cannot combine the default prefix rewrite with regex {inner.value!r}"
    if not inner.value.startswith("/"):
        return None
    tail = inner.value[1:]
    if inner.kind == "prefix" and not tail:
        return outer, ()
    if prefix.endswith("/"):
        return ir.PathMatch(inner.kind, prefix + tail), ()
    pattern = _esc(prefix) + "/?" + _esc(tail) + (".*" if inner.kind == "prefix" else "")
    return ir.PathMatch("regex", pattern), ()


def _intersect(outer: ir.PathMatch, inner: ir.PathMatch) -> tuple[ir.PathMatch, tuple[ir.HeaderMatch, ...]] | None:
    """Both conditions on the same path (no rewrite)."""
    if outer.kind == "prefix":
        if inner.kind == "prefix":
            if inner.value.startswith(outer.value):
                return inner, ()
            return (outer, ()) if outer.value.startswith(inner.value) else None
        if inner.kind == "path":
            return (inner, ()) if inner.value.startswith(outer.value) else None
        return inner, (() if outer.value == "/" else (_path_header("prefix", outer.value),))
    # outer is a regex
    if inner.kind == "path":
        verdict = _static(outer, inner.value)
        if verdict is not None:
            return (inner, ()) if verdict else None
    if inner.kind == "prefix" and inner.value == "/":
        return outer, ()
    return outer, (_path_header(inner.kind, inner.value),)


def _rewrite(g: GatewayRoute) -> ir.Rewrite | None:
    prefix = regex = None
    if g.path_rewrite == "strip":
        stem = g.match.path.value
        if stem.endswith("/"):
            prefix = "/"
        else:
            regex = ("^" + _esc(stem) + "/?", "/")
    elif g.path_rewrite == "prefix":
        prefix = g.rewrite_value
    elif g.path_rewrite == "exact":
        if g.match.path.kind == "path":
            prefix = g.rewrite_value
        else:
            regex = ("^.*$", g.rewrite_value)
    if g.host is None and prefix is None and regex is None:
        return None
    return ir.Rewrite(host=g.host, prefix=prefix, regex=regex)


def compose(g: GatewayRoute, routes: tuple[ir.HttpRoute, ...], diagnostics: list[str]) -> list[ir.HttpRoute]:
    """The Envoy routes for gateway route ``g`` over the target service's ordered ``routes``."""
    rewrite = _rewrite(g)
    result: list[ir.HttpRoute] = []
    covered = False
    for route in routes:
        combined = combine_paths(g, route.match.path)
        if combined is None:
            continue
        if isinstance(combined, str):
            diagnostics.append(f"gateway route {g.name}: route {route.name} skipped: {combined}")
            continue
        path, extra = combined
        match = ir.HttpMatch(
            path=path,
            headers=g.match.headers + extra + route.match.headers,
            query=g.match.query + route.match.query,
        )
        covered = covered or match == g.match
        result.append(route._replace(name=f"{g.name} -> {route.name}", match=match, rewrite=rewrite))
    if not covered:
        result.append(ir.HttpRoute(name=f"{g.name} (no route of {g.service} matched)", match=g.match, direct_status=404))
    return result
