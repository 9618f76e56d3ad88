"""The mesh graph the console draws: boxes, edges in the direction traffic flows, and a layout.

Pure functions over what the store returns (a mesh's rows, its proxies' status rows); no Flask,
no SQL. The layout is a small layered (Sugiyama-style) one, computed here rather than in the
browser, so the browser only draws SVG and needs no graph library:

1. cycles (a node calling a service that routes back to it) are broken by a depth-first search
   that ignores the edges closing a cycle for layering (they are still drawn);
2. layers by longest path from the sources, then each source moved right next to its successors;
3. order within layers by barycentre sweeps (fewer crossings), then y positions pulled towards the
   boxes feeding each box while keeping the order and a minimum gap.

Every step is linear or close to it in boxes + edges, so 500 boxes lay out in milliseconds.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: Box size and gaps in SVG user units (the browser scales the drawing).
BOX_W, BOX_H = 184, 46
COL_GAP, ROW_GAP = 76, 18
#: The order in which kinds start the depth-first search: entry points first.
_KIND_RANK = {"virtualGateway": 0, "gatewayRoute": 1, "virtualNode": 2, "virtualService": 3,
              "virtualRouter": 4, "route": 5}
#: How bad a proxy state is; a box shows the worst state among its connected proxies.
_STATE_RANK = {"SYNCED": 0, "NOT_SENT": 1, "STALE": 2, "ERROR": 3}
ROUTE_TYPES = ("http_route", "http2_route", "grpc_route", "tcp_route")


@dataclass
class Box:
    """One resource (or a missing one a reference names) on the graph."""

    id: str
    kind: str
    name: str
    parent: str = ""
    missing: bool = False
    detail: str = ""  # a one-line summary (route match, provider...)
    state: str = ""  # worst proxy state, "" when no proxy is connected for it
    proxies: int = 0
    states: dict[str, int] = field(default_factory=dict)
    folded: list[str] = field(default_factory=list)  # ids collapsed into this box
    layer: int = 0
    order: int = 0
    x: float = 0.0
    y: float = 0.0

    def as_json(self) -> dict[str, Any]:
        """Members at their defaults (no parent, no proxies, nothing folded...) are left out:
        a 500-box graph is sent on every change."""
        out: dict[str, Any] = {"id": self.id, "kind": self.kind, "name": self.name, "x": round(self.x),
                               "y": round(self.y)}
        for name in ("parent", "missing", "detail", "state", "proxies", "states", "folded"):
            value = getattr(self, name)
            if value:
                out[name] = value
        return out


@dataclass
class Edge:
    """A directed edge: ``rel`` is contains | target | provider | weighted | backend."""

    src: str
    dst: str
    rel: str
    label: str = ""
    weight: int | None = None
    back: bool = False  # closes a cycle: drawn, but not used for layering

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"src": self.src, "dst": self.dst, "rel": self.rel}
        if self.label:
            out["label"] = self.label
        if self.weight is not None:
            out["weight"] = self.weight
        if self.back:
            out["back"] = True
        return out


@dataclass
class Graph:
    boxes: dict[str, Box]
    edges: list[Edge]
    width: float = 0.0
    height: float = 0.0
    mode: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"boxes": [b.as_json() for b in self.boxes.values()], "edges": [e.as_json() for e in self.edges],
                "width": round(self.width), "height": round(self.height), "layout": self.mode,
                "boxWidth": BOX_W, "boxHeight": BOX_H}


def box_id(kind: str, name: str, parent: str = "") -> str:
    """The id of a resource's box: ``kind/name`` or ``kind/parent/name`` for routes."""
    return f"{kind}/{parent}/{name}" if parent else f"{kind}/{name}"


def route_body(spec: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
    """(route type key, its body) of a stored route or gateway route spec; ("", {}) when none."""
    for key in ROUTE_TYPES:
        body = spec.get(key)
        if isinstance(body, Mapping):
            return key, body
    return "", {}


def _match_summary(body: Mapping[str, Any]) -> str:
    match = body.get("match") or {}
    if not isinstance(match, Mapping):
        return ""
    if "prefix" in match:
        return f"prefix {match['prefix']}"
    path = match.get("path")
    if isinstance(path, Mapping):
        return f"path {path.get('exact') or path.get('regex') or ''}"
    if "service_name" in match:
        return f"service {match['service_name']}"
    return ""


def build(rows: Iterable[tuple[str, str, str, str]], streams: Iterable[Any]) -> Graph:
    """The graph of one mesh.

    :param rows: (kind, parent, name, stored spec JSON) of every resource (ResourceStore.mesh_rows).
    :param streams: the mesh's proxy status rows (StreamRow, ``types`` decoded); only connected
        ones colour their box.
    """
    boxes: dict[str, Box] = {}
    specs: dict[str, Mapping[str, Any]] = {}
    for kind, parent, name, text in rows:
        if kind == "mesh":
            continue
        bid = box_id(kind, name, parent)
        boxes[bid] = Box(bid, kind, name, parent)
        try:
            spec = json.loads(text)
        except ValueError:
            spec = {}
        specs[bid] = spec if isinstance(spec, Mapping) else {}
    edges: list[Edge] = []

    def link(src: str, kind: str, name: Any, rel: str, **extra: Any) -> None:
        if not isinstance(name, str) or not name:
            return
        dst = box_id(kind, name)
        if dst not in boxes:
            boxes[dst] = Box(dst, kind, name, missing=True, detail="does not exist")
        edges.append(Edge(src, dst, rel, **extra))

    for bid, spec in list(specs.items()):
        box = boxes[bid]
        if box.kind in ("route", "gatewayRoute"):
            owner_kind = "virtualRouter" if box.kind == "route" else "virtualGateway"
            owner = box_id(owner_kind, box.parent)
            if owner not in boxes:
                boxes[owner] = Box(owner, owner_kind, box.parent, missing=True, detail="does not exist")
            edges.append(Edge(owner, bid, "contains"))
            rtype, body = route_body(spec)
            box.detail = " ".join(x for x in (rtype.replace("_route", ""), _match_summary(body)) if x)
            action = body.get("action") or {}
            if box.kind == "route":
                targets = action.get("weighted_targets") or []
                total = sum(int(t.get("weight") or 0) for t in targets if isinstance(t, Mapping)) or 1
                for t in targets:
                    if isinstance(t, Mapping):
                        weight = int(t.get("weight") or 0)
                        label = f"{weight} ({100 * weight / total:.0f}%)" if len(targets) > 1 else str(weight)
                        link(bid, "virtualNode", t.get("virtual_node"), "weighted", label=label, weight=weight)
            else:
                target = ((action.get("target") or {}).get("virtual_service") or {})
                link(bid, "virtualService", target.get("virtual_service_name"), "target")
        elif box.kind == "virtualService":
            provider = spec.get("provider") or {}
            if "virtual_router" in provider:
                box.detail = "router"
                link(bid, "virtualRouter", (provider["virtual_router"] or {}).get("virtual_router_name"), "provider")
            elif "virtual_node" in provider:
                box.detail = "node"
                link(bid, "virtualNode", (provider["virtual_node"] or {}).get("virtual_node_name"), "provider")
            else:
                box.detail = "no provider"
        elif box.kind == "virtualNode":
            backends = spec.get("backends") or []
            for backend in backends:
                service = (backend or {}).get("virtual_service") or {}
                link(bid, "virtualService", service.get("virtual_service_name"), "backend")
            discovery = spec.get("service_discovery") or {}
            if "dns" in discovery:
                box.detail = f"dns {(discovery['dns'] or {}).get('hostname', '')}"
            elif "aws_cloud_map" in discovery:
                box.detail = "cloud map"
        elif box.kind in ("virtualRouter", "virtualGateway"):
            ports = [str(((l or {}).get("port_mapping") or {}).get("port", "")) for l in spec.get("listeners") or []]
            box.detail = ("listens " + ",".join(ports)) if ports else ""
    _colour(boxes, streams)
    return Graph(boxes, edges)


def _colour(boxes: Mapping[str, Box], streams: Iterable[Any]) -> None:
    for row in streams:
        if not row.connected or row.kind not in ("virtualNode", "virtualGateway"):
            continue
        box = boxes.get(box_id(row.kind, row.name))
        if box is None:
            continue
        state = stream_state(row.types)
        box.proxies += 1
        box.states[state] = box.states.get(state, 0) + 1
        if not box.state or _STATE_RANK.get(state, 0) > _STATE_RANK.get(box.state, 0):
            box.state = state


def stream_state(types: Mapping[str, Any]) -> str:
    """The worst state over a stream's types (ERROR > STALE > NOT_SENT > SYNCED)."""
    worst = "SYNCED"
    for status in types.values():
        state = str((status or {}).get("state") or "NOT_SENT")
        if _STATE_RANK.get(state, 0) > _STATE_RANK[worst]:
            worst = state
    return worst


def collapse(graph: Graph) -> Graph:
    """Fold each router that provides exactly one service (and its routes) into that service's box:
    the service then points at the routes' targets with their weights. Fewer boxes, same traffic."""
    provides: dict[str, list[str]] = {}
    for e in graph.edges:
        if e.rel == "provider" and graph.boxes[e.dst].kind == "virtualRouter":
            provides.setdefault(e.dst, []).append(e.src)
    into: dict[str, str] = {}
    for router, services in provides.items():
        if len(services) == 1 and not graph.boxes[router].missing:
            into[router] = services[0]
    for e in graph.edges:
        if e.rel == "contains" and e.src in into:
            into[e.dst] = into[e.src]
    boxes = {bid: b for bid, b in graph.boxes.items() if bid not in into}
    for bid, target in into.items():
        boxes[target].folded.append(bid)
    edges: list[Edge] = []
    seen: set[tuple[str, str, str]] = set()
    for e in graph.edges:
        src, dst = into.get(e.src, e.src), into.get(e.dst, e.dst)
        if src == dst:
            continue
        key = (src, dst, e.label)
        if key in seen:
            continue
        seen.add(key)
        edges.append(Edge(src, dst, e.rel, e.label, e.weight))
    return Graph(boxes, edges)


def keep_matching(graph: Graph, text: str) -> Graph:
    """Only the boxes whose name contains ``text`` (case-insensitive), with their direct neighbours."""
    needle = text.lower()
    hits = {bid for bid, b in graph.boxes.items() if needle in b.name.lower() or needle in b.parent.lower()}
    keep = set(hits)
    for e in graph.edges:
        if e.src in hits:
            keep.add(e.dst)
        if e.dst in hits:
            keep.add(e.src)
    boxes = {bid: b for bid, b in graph.boxes.items() if bid in keep}
    edges = [e for e in graph.edges if e.src in keep and e.dst in keep]
    return Graph(boxes, edges)


#: Columns per kind for the ``kind`` layout: entry points left, the nodes that serve right.
_KIND_COLUMN = {"virtualGateway": 0, "gatewayRoute": 1, "virtualService": 2, "virtualRouter": 3, "route": 4,
                "virtualNode": 5}
#: ``auto`` lays out by traffic flow unless that takes more columns than this (a long call chain
#: would make a strip too wide to read); then by kind.
AUTO_MAX_COLUMNS = 24
LAYOUTS = ("auto", "flow", "kind")


def layout(graph: Graph, mode: str = "auto") -> Graph:
    """Give every box a layer (x) and a position in it (y), left to right as traffic flows.

    :param mode: ``flow`` (layers follow the traffic: caller, service, router, route, node, the
        node's backends...), ``kind`` (one column per kind; a node's calls to its backends then
        loop back leftwards), or ``auto`` (``flow`` unless deeper than AUTO_MAX_COLUMNS columns).
        The mode used is stored in ``graph.mode``.
    """
    ids = sorted(graph.boxes, key=lambda b: (_KIND_RANK.get(graph.boxes[b].kind, 9), b))
    succ: dict[str, list[Edge]] = {b: [] for b in ids}
    indeg: dict[str, int] = {b: 0 for b in ids}
    for e in graph.edges:
        succ[e.src].append(e)
        indeg[e.dst] += 1
    _break_cycles(ids, succ, indeg)
    layer = _flow_layers(ids, graph.edges) if mode in ("auto", "flow") else {}
    if mode == "kind" or (mode == "auto" and layer and max(layer.values()) + 1 > AUTO_MAX_COLUMNS):
        mode = "kind"
        layer = {b: _KIND_COLUMN.get(graph.boxes[b].kind, 5) for b in ids}
        for e in graph.edges:
            e.back = layer[e.dst] <= layer[e.src]
    graph.mode = "flow" if mode == "auto" else mode
    preds: dict[str, list[str]] = {b: [] for b in ids}
    nexts: dict[str, list[str]] = {b: [] for b in ids}
    for e in graph.edges:
        if not e.back:
            preds[e.dst].append(e.src)
            nexts[e.src].append(e.dst)
    order = _topological(ids, preds, nexts)
    layers: dict[int, list[str]] = {}
    for b in order:
        layers.setdefault(layer[b], []).append(b)
    columns = [layers[k] for k in sorted(layers)]
    _reduce_crossings(columns, preds, nexts)
    ys = _place(columns, preds, nexts)
    for col, members in enumerate(columns):
        for i, b in enumerate(members):
            box = graph.boxes[b]
            box.layer, box.order = col, i
            box.x = col * (BOX_W + COL_GAP)
            box.y = ys[b]
    graph.width = max(1, len(columns)) * (BOX_W + COL_GAP) - COL_GAP
    graph.height = max((b.y for b in graph.boxes.values()), default=0) + BOX_H
    return graph


def _flow_layers(ids: Sequence[str], edges: Sequence[Edge]) -> dict[str, int]:
    """Longest-path layers over the edges not marked ``back``; each source then moves right,
    next to its nearest successor."""
    preds: dict[str, list[str]] = {b: [] for b in ids}
    nexts: dict[str, list[str]] = {b: [] for b in ids}
    for e in edges:
        if not e.back:
            preds[e.dst].append(e.src)
            nexts[e.src].append(e.dst)
    order = _topological(ids, preds, nexts)
    layer = {b: 0 for b in ids}
    for b in order:
        for n in nexts[b]:
            layer[n] = max(layer[n], layer[b] + 1)
    for b in reversed(order):
        if not preds[b] and nexts[b]:
            layer[b] = min(layer[n] for n in nexts[b]) - 1
    return layer


def _break_cycles(ids: Sequence[str], succ: Mapping[str, list[Edge]], indeg: Mapping[str, int]) -> None:
    """Mark the edges that close a cycle (to a box on the current depth-first path) as ``back``."""
    state: dict[str, int] = {}  # 1: on the path, 2: done
    roots = [b for b in ids if indeg[b] == 0] + list(ids)
    for root in roots:
        if root in state:
            continue
        state[root] = 1
        stack: list[tuple[str, int]] = [(root, 0)]
        while stack:
            node, i = stack[-1]
            out = succ[node]
            if i < len(out):
                stack[-1] = (node, i + 1)
                e = out[i]
                seen = state.get(e.dst)
                if seen == 1:
                    e.back = True
                elif seen is None:
                    state[e.dst] = 1
                    stack.append((e.dst, 0))
            else:
                state[node] = 2
                stack.pop()


def _topological(ids: Sequence[str], preds: Mapping[str, list[str]], nexts: Mapping[str, list[str]]) -> list[str]:
    remaining = {b: len(preds[b]) for b in ids}
    ready = [b for b in ids if remaining[b] == 0]
    out: list[str] = []
    while ready:
        b = ready.pop()
        out.append(b)
        for n in reversed(nexts[b]):
            remaining[n] -= 1
            if remaining[n] == 0:
                ready.append(n)
    return out


def _reduce_crossings(columns: list[list[str]], preds: Mapping[str, list[str]],
                      nexts: Mapping[str, list[str]], sweeps: int = 6) -> None:
    """Barycentre heuristic: sort each column by the mean position of its neighbours in the column
    before (sweeping right) or after (sweeping left); the original order breaks ties."""
    pos: dict[str, float] = {}
    for members in columns:
        for i, b in enumerate(members):
            pos[b] = i / max(1, len(members))
    for sweep in range(sweeps):
        rightwards = sweep % 2 == 0
        seq = columns if rightwards else list(reversed(columns))
        for members in seq:
            def key(item: tuple[int, str]) -> tuple[float, int]:
                i, b = item
                near = preds[b] if rightwards else nexts[b]
                if not near:
                    return (pos[b], i)
                return (sum(pos[n] for n in near) / len(near), i)

            members[:] = [b for _, b in sorted(enumerate(members), key=key)]
            for i, b in enumerate(members):
                pos[b] = i / max(1, len(members))


def _place(columns: list[list[str]], preds: Mapping[str, list[str]], nexts: Mapping[str, list[str]]) -> dict[str, float]:
    """y of every box: in column order, each box as near as it can get to the mean y of the boxes
    feeding it (or, for a source, fed by it), never closer than one row to the box above."""
    step = BOX_H + ROW_GAP
    ys: dict[str, float] = {}
    tallest = max((len(c) for c in columns), default=0)
    for members in columns:  # start: each column centred against the tallest one
        offset = (tallest - len(members)) * step / 2
        for i, b in enumerate(members):
            ys[b] = offset + i * step
    for rightwards in (True, False, True):
        seq = columns if rightwards else list(reversed(columns))
        for members in seq:
            wanted = []
            for b in members:
                near = preds[b] if rightwards else nexts[b]
                wanted.append(sum(ys[n] for n in near) / len(near) if near else ys[b])
            _fit(members, wanted, ys, step)
    low = min(ys.values(), default=0.0)
    return {b: y - low for b, y in ys.items()}


def _fit(members: Sequence[str], wanted: Sequence[float], ys: dict[str, float], step: float) -> None:
    """Place ``members`` (in order) as close to ``wanted`` as a minimum gap of ``step`` allows:
    pack downwards from the wanted positions, then shift each run of touching boxes up so the run
    is centred on what its members wanted."""
    placed: list[float] = []
    for w in wanted:
        placed.append(w if not placed else max(w, placed[-1] + step))
    # Runs of boxes pushed against each other: move each run up to its members' mean wish.
    start = 0
    for i in range(1, len(placed) + 1):
        if i == len(placed) or placed[i] > placed[i - 1] + step + 1e-6:
            run = range(start, i)
            shift = sum(placed[j] - wanted[j] for j in run) / len(run)
            floor = placed[start - 1] + step if start else float("-inf")
            shift = min(shift, placed[start] - floor)
            for j in run:
                placed[j] -= shift
            start = i
    for b, y in zip(members, placed):
        ys[b] = y
