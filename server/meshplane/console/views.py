"""The console's HTTP side: the page shell, its static files, and the JSON the page reads.

Everything here reads through the store's public classes (ResourceStore, ProxyStore,
store.overview); the one write, the weight action, goes through ``ResourceStore.update`` like
UpdateRoute, with the version the page read as a precondition.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import zlib
from collections import OrderedDict
from pathlib import Path
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Response, current_app, g, render_template, request, send_from_directory

from meshplane import kinds, schemas
from meshplane.api import render
from meshplane.console import graph as mgraph
from meshplane.console import session
from meshplane.errors import BadRequestException, NotFoundException
from meshplane.store import ResourceStore, request_digest
from meshplane.store import overview
from meshplane.store.proxies import ProxyStore, StreamRow

PREFIX = "/ui"
API = f"{PREFIX}/api"
STATIC = Path(__file__).parent / "static"


def _asset_version() -> str:
    """A digest of static/: the page asks for ``?v=<this>``, so browsers may cache the files for
    long and still never run an old script against a new server."""
    digest = hashlib.sha256()
    for path in sorted(STATIC.iterdir()):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


ASSET_VERSION = _asset_version()
#: How long browsers keep a static file (its URL changes with its content).
STATIC_MAX_AGE_S = 7 * 24 * 3600


def _store() -> ResourceStore:
    store: ResourceStore = current_app.extensions["meshplane.store"]
    return store


def _proxies() -> ProxyStore:
    proxies: ProxyStore = current_app.extensions["meshplane.proxies"]
    return proxies


def _json(payload: Any, status: int = 200) -> Response:
    response = Response(json.dumps(payload, separators=(",", ":")), status=status, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


def stream_json(row: StreamRow) -> dict[str, Any]:
    """One proxy stream as the page shows it (the /meshplane/v1/proxies shape, plus its state)."""
    types = row.types if isinstance(row.types, Mapping) else json.loads(row.types)
    diagnostics = row.diagnostics if isinstance(row.diagnostics, list) else json.loads(row.diagnostics)
    return {
        "nodeId": row.node_id, "meshName": row.mesh, "kind": row.kind, "name": row.name, "stream": row.stream,
        "protocol": row.protocol, "peer": row.peer, "connected": row.connected,
        "connectedSince": row.connected_since, "lastSeen": row.last_seen, "types": types,
        "diagnostics": diagnostics, "state": mgraph.stream_state(types) if row.connected else "DISCONNECTED",
    }


def status_version(mesh: str | None = None) -> str:
    """A number that changes whenever anything the pages show changes: the newest revision, and a
    checksum of the proxies' states (not their last-seen times, which move every few seconds)."""
    crc = 0
    for row in _proxies().streams(mesh=mesh, raw=True):
        crc = zlib.crc32(f"{row.stream}|{int(row.connected)}|{row.types}|{row.diagnostics}\n".encode(), crc)
    return f"{_store().last_revision()}.{crc:08x}"


def _mesh_arn(mesh: str) -> str:
    return _store().arn(kinds.MESH, mesh, "", mesh)


def _node_arn(node_id: str) -> str:
    """The ARN an xDS node id names, for authorization ("*" for a malformed id)."""
    config = _store().config
    try:
        from meshplane.auth.arns import node_arn
    except ImportError:
        return "*"
    try:
        return node_arn(node_id, config.account_id, config.region)
    except ValueError:
        return "*"


def _visible_streams(mesh: str | None, **kwargs: Any) -> list[StreamRow]:
    """Proxy streams the signed-in key may list (meshplane:ListProxies on ``*`` or on their mesh)."""
    rows = _proxies().streams(mesh=mesh, **kwargs)
    if session.permitted("meshplane:ListProxies", "*"):
        return rows
    allowed: dict[str, bool] = {}
    out = []
    for row in rows:
        if row.mesh not in allowed:
            allowed[row.mesh] = bool(row.mesh) and session.permitted("meshplane:ListProxies", _mesh_arn(row.mesh))
        if allowed[row.mesh]:
            out.append(row)
    return out


def _mesh_summaries() -> list[dict[str, Any]]:
    """Every mesh the signed-in key may describe, with its counts and proxy states."""
    session.require("appmesh:ListMeshes", "*")
    store = _store()
    counts = overview.resource_counts(store.pool)
    per_mesh: dict[str, dict[str, int]] = {}
    for row in _visible_streams(None, raw=True):
        tally = per_mesh.setdefault(row.mesh, {"connected": 0, "disconnected": 0, "SYNCED": 0, "STALE": 0,
                                              "ERROR": 0, "NOT_SENT": 0})
        if not row.connected:
            tally["disconnected"] += 1
            continue
        tally["connected"] += 1
        state = mgraph.stream_state(json.loads(str(row.types)))
        tally[state] = tally.get(state, 0) + 1
    meshes = []
    token: str | None = None
    while True:
        records, token = store.list(kinds.MESH, "", "", 100, token)
        for record in records:
            if not session.permitted("appmesh:DescribeMesh", record.arn):
                continue
            spec = json.loads(record.spec)
            egress = ((spec.get("egress_filter") or {}).get("type")) or "DROP_ALL"
            mesh_counts = {k.key: counts.get(record.name, {}).get(k.key, 0) for k in kinds.ALL if k is not kinds.MESH}
            meshes.append({"name": record.name, "version": record.version, "egressFilter": egress,
                           "counts": mesh_counts, "proxies": per_mesh.get(record.name, {"connected": 0})})
        if not token:
            break
    return meshes


def _resource(mesh: str, kind_key: str, name: str, parent: str) -> dict[str, Any]:
    """A box's details: its spec (wire form) and version, its proxies, their diagnostics."""
    kind = kinds.BY_KEY.get(kind_key)
    if kind is None or kind is kinds.MESH:
        raise BadRequestException(f"kind {kind_key!r} is not a resource kind of a mesh")
    session.require(f"appmesh:Describe{kind.label}", _store().arn(kind, mesh, parent, name))
    try:
        record = _store().get(kind, mesh, parent, name)
    except NotFoundException as exc:
        return {"kind": kind_key, "name": name, "parent": parent, "missing": True, "message": str(exc)}
    out: dict[str, Any] = {"kind": kind_key, "name": name, "parent": parent, "missing": False,
                           "arn": record.arn, "version": record.version, "lastUpdatedAt": record.updated_at,
                           "spec": json.loads(record.wire)}
    proxies: list[dict[str, Any]] = []
    if kind in (kinds.VIRTUAL_NODE, kinds.VIRTUAL_GATEWAY):
        proxies = [stream_json(r) for r in _visible_streams(mesh) if r.kind == kind_key and r.name == name]
    out["proxies"] = proxies
    out["diagnostics"] = sorted({d for p in proxies if p["connected"] for d in p["diagnostics"]})
    if kind is kinds.ROUTE:
        rtype, body = mgraph.route_body(json.loads(record.spec))
        targets = (body.get("action") or {}).get("weighted_targets") or []
        out["weightedTargets"] = [{"virtualNode": t.get("virtual_node"), "weight": t.get("weight"),
                                   "port": t.get("port")} for t in targets]
    return out


def set_weights(mesh: str, router: str, route: str, weights: Any, version: Any) -> dict[str, Any]:
    """Replace the weights of a route's weighted targets (in their order) if the route is still at
    ``version``: the same store write as UpdateRoute (validation, revision, xDS push).

    :raises BadRequestException: malformed weights (each 0..100, as many as targets, total > 0).
    :raises ConflictException: the route changed since ``version`` was read.
    """
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise BadRequestException("version: a whole number >= 1 (the version the route was read at)")
    if not isinstance(weights, list) or not all(isinstance(w, int) and not isinstance(w, bool) for w in weights):
        raise BadRequestException("weights: a list of whole numbers, one per weighted target")
    store = _store()
    record = store.get(kinds.ROUTE, mesh, router, route)
    wire = json.loads(record.wire)
    rtype = next((k for k in ("httpRoute", "http2Route", "grpcRoute", "tcpRoute") if k in wire), None)
    targets = ((wire.get(rtype) or {}).get("action") or {}).get("weightedTargets") if rtype else None
    if not targets:
        raise BadRequestException(f"Route {route} has no weighted targets")
    if len(weights) != len(targets):
        raise BadRequestException(f"weights: {len(weights)} given, the route has {len(targets)} weighted targets")
    for i, w in enumerate(weights):
        if not 0 <= w <= 100:
            raise BadRequestException(f"weights[{i}]: {w} is not between 0 and 100")
    if sum(weights) <= 0:
        raise BadRequestException("weights: at least one weight must be above 0")
    for target, w in zip(targets, weights):
        target["weight"] = w
    spec = schemas.load_spec(kinds.ROUTE.key, wire)
    digest = request_digest([mesh, router, route, wire])

    def check(parent_spec: Mapping[str, Any]) -> None:
        schemas.check_route_fits_router(spec, dict(parent_spec))

    written = store.update(kinds.ROUTE, mesh, router, route, spec, wire, None, digest, render.data, check,
                           expect_version=version)
    assert written.record is not None
    return {"version": written.record.version, "route": json.loads(written.response or "{}")}


class _Recent:
    """The last few laid-out graphs of this process, by what they were built from: a reload, a
    second viewer or the next poll of an unchanged mesh costs a look-up, not a layout."""

    def __init__(self, size: int = 16) -> None:
        self._items: OrderedDict[tuple[Any, ...], dict[str, Any]] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> dict[str, Any] | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: tuple[Any, ...], value: dict[str, Any]) -> None:
        with self._lock:
            self._items[key] = value
            while len(self._items) > self._size:
                self._items.popitem(last=False)


_GRAPHS = _Recent()


def _graph_cache_key(mesh: str, version: str, collapse: bool, text: str, mode: str) -> tuple[Any, ...] | None:
    """The key a graph is kept under, or None (not kept): what a box shows depends on the viewer's
    permissions (proxy states), so only graphs everyone may see in full are shared; ``version``
    changes with every revision and every proxy state change."""
    key = getattr(g, "console_key", None)
    if key is not None and not getattr(key, "admin", False):
        return None
    return (current_app.extensions["meshplane.config"].db, mesh, version, collapse, text, mode)


def blueprint() -> Blueprint:
    """The console: ``/ui/`` (the page), ``/ui/static/*``, ``/ui/api/*`` (its JSON)."""
    bp = Blueprint("console", __name__, template_folder="templates")
    bp.before_request(session.guard)
    bp.after_request(_headers)

    @bp.get(f"{PREFIX}/static/<path:filename>", endpoint="static")
    def static(filename: str) -> Response:
        """The console's own files (cached: their URLs carry a digest of their content)."""
        return send_from_directory(STATIC, filename, max_age=STATIC_MAX_AGE_S)

    @bp.get(PREFIX)
    @bp.get(f"{PREFIX}/")
    def page() -> Response:
        """The single page (hash routes: #/meshes, #/mesh/<name>, #/proxies)."""
        html = render_template("console.html", v=ASSET_VERSION, auth=session.required())
        return Response(html, mimetype="text/html")

    @bp.get(f"{API}/session")
    def whoami() -> Response:
        """Whether sign-in is needed, who is signed in, and the CSRF token for writes."""
        return _json(session.describe())

    @bp.post(f"{API}/session")
    def sign_in() -> Response:
        """Exchange an access key id + secret for a session cookie (HttpOnly, SameSite=Strict)."""
        return session.sign_in(request.get_json(silent=True))

    @bp.delete(f"{API}/session")
    def sign_out() -> Response:
        return session.sign_out()

    @bp.get(f"{API}/version")
    def version() -> Response:
        """A cheap version the page polls; it fetches data again only when this changes."""
        return _json({"version": status_version(request.args.get("mesh") or None)})

    @bp.get(f"{API}/meshes")
    def meshes() -> Response:
        started = time.perf_counter()
        items = _mesh_summaries()
        return _json({"meshes": items, "version": status_version(),
                      "elapsedMs": round((time.perf_counter() - started) * 1000, 1)})

    @bp.get(f"{API}/meshes/<mesh>/graph")
    def mesh_graph(mesh: str) -> Response:
        """The mesh's boxes and edges, laid out; ?filter=TEXT keeps matching boxes and their
        neighbours, ?collapse=1 folds routers and routes into their services, ?layout=auto|flow|kind."""
        started = time.perf_counter()
        store = _store()
        session.require("appmesh:DescribeMesh", _mesh_arn(mesh))
        store.get(kinds.MESH, mesh, "", mesh)  # NotFound for an unknown mesh
        mode = request.args.get("layout") or "auto"
        if mode not in mgraph.LAYOUTS:
            raise BadRequestException(f"layout: {mode!r} is not one of {', '.join(mgraph.LAYOUTS)}")
        collapse = request.args.get("collapse") in ("1", "true")
        text = (request.args.get("filter") or "").strip()
        version = status_version(mesh)
        cache_key = _graph_cache_key(mesh, version, collapse, text, mode)
        out = _GRAPHS.get(cache_key) if cache_key else None
        if out is None:
            laid = mgraph.build(store.mesh_rows(mesh), _visible_streams(mesh))
            total = len(laid.boxes)
            if collapse:
                laid = mgraph.collapse(laid)
            if text:
                laid = mgraph.keep_matching(laid, text)
            mgraph.layout(laid, mode)
            out = laid.as_json()
            out.update(mesh=mesh, version=version, total=total)
            if cache_key:
                _GRAPHS.put(cache_key, out)
        return _json({**out, "elapsedMs": round((time.perf_counter() - started) * 1000, 1)})

    @bp.get(f"{API}/meshes/<mesh>/resource")
    def resource(mesh: str) -> Response:
        args = request.args
        return _json(_resource(mesh, args.get("kind", ""), args.get("name", ""), args.get("parent", "")))

    @bp.post(f"{API}/meshes/<mesh>/virtualRouters/<router>/routes/<route>/weights")
    def weights(mesh: str, router: str, route: str) -> Response:
        """The weight action: ``{"version": N, "weights": [w0, w1, ...]}`` in target order."""
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise BadRequestException("The body must be a JSON object with version and weights")
        arn = _store().arn(kinds.ROUTE, mesh, router, route)
        with session.audited("appmesh:UpdateRoute", arn):
            result = set_weights(mesh, router, route, body.get("weights"), body.get("version"))
        return _json(result)

    @bp.get(f"{API}/proxies")
    def proxies() -> Response:
        """Every proxy stream, filtered by ?mesh=, ?node= (substring of the node id), ?state=."""
        started = time.perf_counter()
        args = request.args
        if args.get("mesh"):
            session.require("meshplane:ListProxies", _mesh_arn(args["mesh"]))
        rows = [stream_json(r) for r in _visible_streams(args.get("mesh") or None)]
        node = (args.get("node") or "").lower()
        state = (args.get("state") or "").upper()
        if node:
            rows = [r for r in rows if node in r["nodeId"].lower()]
        if state:
            rows = [r for r in rows if r["state"] == state]
        return _json({"proxies": rows, "version": status_version(args.get("mesh") or None),
                      "elapsedMs": round((time.perf_counter() - started) * 1000, 1)})

    @bp.get(f"{API}/proxies/config")
    def proxy_config() -> Response:
        """The config last published to ?node=<node id> (as /meshplane/v1/proxies/<id>/config)."""
        node_id = request.args.get("node", "")
        session.require("meshplane:GetProxyConfig", _node_arn(node_id))
        config = _proxies().config(node_id)
        if config is None:
            raise NotFoundException(f"No configuration was published to proxy {node_id}")
        if isinstance(config, bytes):
            import meshplane.translate  # noqa: F401  (registers every message type a dump can hold)
            from meshplane.stream.dump import render_client_config

            config = render_client_config(config)
        return _json({"nodeId": node_id, "resources": config})

    return bp


def _headers(response: Response) -> Response:
    # The console only ever loads its own files: no inline script, no other origin, no framing.
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
