"""meshplane's own endpoints: per-proxy sync status, last-sent config, and Prometheus metrics.

The xDS process writes what its streams report into the database; these views only read it.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, current_app, request

from meshplane.errors import NotFoundException
from meshplane.store.proxies import ProxyStore, StreamRow

PREFIX = "/meshplane/v1"


def _proxies() -> ProxyStore:
    store: ProxyStore = current_app.extensions["meshplane.proxies"]
    return store


def render_stream(row: StreamRow) -> dict[str, Any]:
    """One stream's status in the API's camelCase shape."""
    return {
        "nodeId": row.node_id,
        "meshName": row.mesh,
        "kind": row.kind,
        "name": row.name,
        "stream": row.stream,
        "protocol": row.protocol,
        "peer": row.peer,
        "connected": row.connected,
        "connectedSince": row.connected_since,
        "lastSeen": row.last_seen,
        "replica": row.replica,
        "state": row.state,
        "types": row.types,
        "diagnostics": row.diagnostics,
    }


def _streams_json(rows: list[StreamRow]) -> Response:
    """``{"proxies": [...]}`` from rows read with ``raw=True``: each row's stored ``types`` and
    ``diagnostics`` JSON text is spliced in as is (the same document render_stream would give)."""
    items = []
    for row in rows:
        head = render_stream(row)
        types, diagnostics = head.pop("types"), head.pop("diagnostics")
        text = json.dumps(head, separators=(",", ":"))
        items.append(f'{text[:-1]},"types":{types},"diagnostics":{diagnostics}}}')
    return Response('{"proxies":[' + ",".join(items) + "]}", status=200, mimetype="application/json")


def _json(payload: Any) -> Response:
    return Response(json.dumps(payload, separators=(",", ":")), status=200, mimetype="application/json")


def _render(dump: bytes) -> dict[str, Any]:
    # Imported on first use: the protobuf modules are only needed here, and the translator's
    # import registers every message type its resources can contain (extensions included).
    import meshplane.translate  # noqa: F401
    from meshplane.stream.dump import render_client_config

    return render_client_config(dump)


def blueprint() -> Blueprint:
    """A blueprint with the proxy status endpoints and /metrics."""
    bp = Blueprint("proxies", __name__)

    @bp.get(f"{PREFIX}/proxies")
    def list_proxies() -> Response:
        """Every known proxy stream (filter with ?mesh=NAME), connected first."""
        return _streams_json(_proxies().streams(mesh=request.args.get("mesh"), raw=True))

    @bp.get(f"{PREFIX}/proxies/<path:node_id>/config")
    def proxy_config(node_id: str) -> Response:
        """The resources last published to the proxy, by type (node id unencoded, slashes and all)."""
        config = _proxies().config(node_id)
        if config is None:
            raise NotFoundException(f"No configuration was published to proxy {node_id}")
        if isinstance(config, bytes):
            config = _render(config)
        return _json({"nodeId": node_id, "resources": config})

    @bp.get(f"{PREFIX}/proxies/<path:node_id>")
    def proxy(node_id: str) -> Response:
        """The streams of one proxy node id."""
        rows = _proxies().streams(node_id=node_id, raw=True)
        if not rows:
            raise NotFoundException(f"No proxy with node id {node_id} has connected")
        return _streams_json(rows)

    @bp.get(f"{PREFIX}/replicas")
    def list_replicas() -> Response:
        """The replicas sharing this database: heartbeat, leadership, liveness."""
        import time

        from meshplane.store.proxies import REPLICA_DEAD_S
        from meshplane.store.replicas import ReplicaRows

        now = time.time()
        rows = ReplicaRows(_proxies().pool).all()
        me = _proxies().replica
        return _json({"replicas": [
            {"id": r.id, "host": r.host, "pid": r.pid, "api": r.api, "xds": r.xds, "version": r.version,
             "startedAt": r.started_at, "heartbeatAt": r.heartbeat_at, "leader": r.leader,
             "alive": now - r.heartbeat_at < REPLICA_DEAD_S, "self": r.id == me}
            for r in rows
        ]})

    @bp.get("/metrics")
    def metrics() -> Response:
        """Prometheus metrics of the xDS streamer (pushes, NACKs, connected proxies, convergence)."""
        from meshplane.stream.metrics import merge_exposition  # only this view needs it

        text = merge_exposition(_proxies().infos("metrics"))
        return Response(text, status=200, mimetype="text/plain; version=0.0.4")

    return bp
