"""The xDS process's loop: tail the revisions feed, rebuild the proxies a change affects, publish.

* A proxy is registered when its first request arrives (the stream layer calls
  :meth:`Propagator.on_first_request`); its config is built at once from the current mesh.
* :meth:`Propagator.run` polls ``PRAGMA data_version`` (a few microseconds), reads new revisions,
  collects the touched dependency keys per mesh, and debounces each mesh on its own: it rebuilds a
  mesh after ``debounce_ms`` without a new change to it, or ``debounce_max_ms`` after its first one,
  whichever comes first. Only
  proxies whose dependency keys (translate.proxy_dependencies) meet the touched keys are rebuilt.
* :class:`PersistentStatus` keeps every stream's status in memory and flushes what changed to the
  database several times a second, so the REST process can answer /meshplane/v1/proxies.
"""

from __future__ import annotations

import json
import logging
from json.encoder import encode_basestring_ascii  # type: ignore[attr-defined]
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from envoy.config.core.v3 import base_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from prometheus_client import generate_latest

from meshplane.config import Config
from meshplane.errors import ServiceUnavailableException
from meshplane.discovery import CloudMapPoller, Query
from meshplane.store import ResourceStore
from meshplane.store.proxies import ProxyStore, StreamRow
from meshplane.stream.cache import SnapshotCache, node_metadata
from meshplane.stream.metrics import XdsMetrics
from meshplane.stream.snapshot import Snapshot, SnapshotBuilder
from meshplane.stream.status import MemoryStatusSink, StreamStatus, TypeStatus
from meshplane.stream.types import SEND_ORDER, short_name
from meshplane.translate import ENDPOINT_TYPE, LocalOverrides, MeshState, ProxyConfig, ProxyRef, Settings, Translator
from meshplane.translate.cloudmap import CloudMapInstance, CloudMapKey, cloud_map_key, describe
from meshplane.translate.deps import revision_keys
from meshplane.translate.identity import node_dns_names
from meshplane.translate.names import MESH_CERTIFICATE_SECRET
from meshplane.stream.snapshot import Entry
from meshplane.stream.types import SECRET

if TYPE_CHECKING:
    from meshplane.pki.issuer import MeshIssuer  # imported on first use: cryptography costs a start

log = logging.getLogger("meshplane.xds")

Key = tuple[str, str]

#: Status flush interval (seconds), stretched up to FLUSH_MAX_S after slow flushes.
FLUSH_S = 0.2
FLUSH_MAX_S = 2.0
#: A due flush waits until the streams have been quiet (no send, ACK or NACK) this long, or until
#: it is FLUSH_MAX_S overdue: writing status holds the GIL and the sink's lock, which the streams
#: need to push a change and take its ACKs.
QUIET_S = 0.05
#: A rebuild publishes snapshots this many proxies at a time.
PUBLISH_CHUNK = 200

_STATE_FIELDS = {
    "virtualNode": "virtual_nodes",
    "virtualService": "virtual_services",
    "virtualRouter": "virtual_routers",
    "virtualGateway": "virtual_gateways",
}


SpecKey = tuple[str, str, str, str]  # kind, parent, name, stored spec JSON


def load_mesh_state(
    store: ResourceStore, mesh: str, parsed: dict[SpecKey, Any] | None = None
) -> MeshState | None:
    """The stored mesh as a MeshState (read in one statement), or None when it does not exist.

    :param parsed: specs parsed by the previous load of this mesh, by (kind, parent, name, JSON);
        a resource whose stored JSON did not change reuses its parsed spec (a change usually
        touches a few of thousands). Replaced in place by this load's specs.
    """
    previous = parsed or {}
    current: dict[SpecKey, Any] = {}
    data: dict[str, Any] = {"mesh_name": mesh, "routes": {}, "gateway_routes": {}}
    found = False
    for row in store.mesh_rows(mesh):
        kind, parent, name, spec_json = row
        spec = previous.get(row)
        if spec is None:
            spec = json.loads(spec_json)
        current[row] = spec
        if kind == "mesh":
            data["mesh_spec"] = spec
            found = True
        elif kind == "route":
            data["routes"].setdefault(parent, {})[name] = spec
        elif kind == "gatewayRoute":
            data["gateway_routes"].setdefault(parent, {})[name] = spec
        else:
            data.setdefault(_STATE_FIELDS[kind], {})[name] = spec
    if parsed is not None:
        parsed.clear()
        parsed.update(current)
    return MeshState.from_dict(data) if found else None


@dataclass
class _Proxy:
    node_id: str
    ref: ProxyRef | None
    overrides: LocalOverrides
    deps: frozenset[Key] = frozenset()
    diagnostics: tuple[str, ...] = ()
    cloud_map: frozenset[CloudMapKey] = frozenset()  # Cloud Map queries of the nodes it reaches
    agent: bool = False  # bootstrapped by App Mesh's agent (aws.appmesh.* node metadata)


#: The static EDS cluster App Mesh's agent adds in its unix:// variant (cluster_manager's
#: local_cluster_name, fleet.md §1.4): it asks ADS for this assignment. No zone-aware routing
#: is configured, so an empty assignment is the whole answer.
LOCAL_CLUSTER = "local_cluster"
_LOCAL_CLUSTER_CLA = endpoint_pb2.ClusterLoadAssignment(cluster_name=LOCAL_CLUSTER)


def _with_local_cluster(resources: Mapping[str, Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """``resources`` plus the empty ``local_cluster`` assignment (only sent to proxies asking for it)."""
    endpoints = dict(resources.get(ENDPOINT_TYPE, {}))
    endpoints.setdefault(LOCAL_CLUSTER, _LOCAL_CLUSTER_CLA)
    return {**resources, ENDPOINT_TYPE: endpoints}


@dataclass
class _MeshPending:
    """The dependency keys a mesh's revisions touched since its last rebuild, and when."""

    keys: set[Key]
    first_at: float
    last_at: float


@dataclass
class _Pending:
    """Changes waiting out their debounce, per mesh: writes to one mesh never hold back (nor
    hurry) another mesh's push, so a steady stream of writes elsewhere cannot stretch a mesh's
    wait to ``debounce_max_ms``."""

    meshes: dict[str, _MeshPending] = field(default_factory=dict)

    def add(self, mesh: str, keys: set[Key], now: float) -> None:
        waiting = self.meshes.get(mesh)
        if waiting is None:
            self.meshes[mesh] = _MeshPending(set(keys), now, now)
        else:
            waiting.keys |= keys
            waiting.last_at = now

    def due(self, now: float, quiet_s: float, most_s: float) -> dict[str, set[Key]]:
        """The meshes quiet for ``quiet_s``, or waiting for ``most_s``, with their keys."""
        return {mesh: p.keys for mesh, p in self.meshes.items()
                if now - p.last_at >= quiet_s or now - p.first_at >= most_s}

    def drop(self, meshes: Iterable[str]) -> None:
        for mesh in meshes:
            self.meshes.pop(mesh, None)


class PersistentStatus(MemoryStatusSink):
    """A StatusSink that also remembers which streams changed, for :meth:`Propagator.flush_status`."""

    def __init__(self) -> None:
        super().__init__()
        self._dirty: set[int] = set()
        self._gone: dict[int, StreamStatus] = {}
        self.last_event = 0.0  # time.monotonic() of the last change of any stream's status
        self._fragments: dict[int, dict[str, str]] = {}  # stream -> type URL -> its JSON member

    def on_connect(self, stream_id: int, node_id: str, protocol: str, peer: str, at: float) -> None:
        super().on_connect(stream_id, node_id, protocol, peer, at)
        self._mark(stream_id)

    def on_send(self, stream_id: int, type_url: str, version: str, nonce: str, at: float) -> None:
        super().on_send(stream_id, type_url, version, nonce, at)
        self._mark(stream_id, type_url)

    def on_ack(self, stream_id: int, type_url: str, version: str, nonce: str, at: float) -> None:
        super().on_ack(stream_id, type_url, version, nonce, at)
        self._mark(stream_id, type_url)

    def on_nack(self, stream_id: int, type_url: str, version: str, nonce: str, message: str, at: float) -> None:
        super().on_nack(stream_id, type_url, version, nonce, message, at)
        self._mark(stream_id, type_url)

    def on_disconnect(self, stream_id: int, at: float) -> None:
        with self._lock:
            stream = self._streams.get(stream_id)
            if stream is not None:
                stream.last_seen = at
                self._gone[stream_id] = stream  # no longer changed by anyone: kept as is
        super().on_disconnect(stream_id, at)
        self._mark(stream_id)

    def on_refused(self, stream_id: int, node_id: str, protocol: str, peer: str, reason: str, at: float) -> None:
        super().on_refused(stream_id, node_id, protocol, peer, reason, at)
        with self._lock:
            self._gone[stream_id] = self.refusals[-1]  # written once, as a disconnected stream
        self._mark(stream_id)

    def mark_nodes(self, node_ids: set[str]) -> None:
        """Have the streams of these nodes written at the next flush (their diagnostics changed)."""
        with self._lock:
            streams = [s for s, stream in self._streams.items() if stream.node_id in node_ids]
        for stream_id in streams:
            self._mark(stream_id)

    def _mark(self, stream_id: int, type_url: str | None = None) -> None:
        with self._lock:
            self._dirty.add(stream_id)
            if type_url is not None:
                self._fragments.get(stream_id, {}).pop(type_url, None)
            self.last_event = time.monotonic()

    def take_dirty(self) -> tuple[list[tuple[StreamStatus, str]], list[tuple[StreamStatus, str]]]:
        """(changed connected streams, streams that disconnected) since the last call, each with
        its per-type status already encoded as JSON (under the sink's lock: a consistent view).
        A type's JSON is kept until that type changes: a change usually touches one type."""
        with self._lock:
            dirty, self._dirty = self._dirty, set()
            gone, self._gone = self._gone, {}
            fragments = self._fragments
            live = [
                (stream, types_json(stream, fragments.setdefault(s, {})))
                for s in sorted(dirty) if (stream := self._streams.get(s))
            ]
            ended = [(stream, types_json(stream, fragments.pop(s, {}))) for s, stream in gone.items()]
        return live, ended

    def restore(self, live: list[tuple[StreamStatus, str]], ended: list[tuple[StreamStatus, str]]) -> None:
        """Put back what :meth:`take_dirty` returned when writing it failed (the database was down):
        the next flush writes it, or anything newer."""
        with self._lock:
            self._dirty.update(stream.stream_id for stream, _ in live)
            for stream, _ in ended:
                self._gone.setdefault(stream.stream_id, stream)


_EMPTY_TYPE = TypeStatus()


def _json_value(value: str | float | None) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return encode_basestring_ascii(value)
    return repr(value)


def types_json(stream: StreamStatus, fragments: dict[str, str] | None = None) -> str:
    """The ``types`` object of a stream's status row as JSON text: per short type name, in sorted
    order, ``{ackedAt, error, sentAt, state, versionAcked, versionSent}`` (keys sorted). Written by
    hand because thousands of rows are encoded after every change: it is several times faster than
    building the dicts and calling json.dumps, and gives the same text.

    :param fragments: type URL -> its encoded member, reused where present and filled in where
        not; the caller drops a type's entry when that type's status changes.
    """
    if fragments is None:
        fragments = {}
    types = stream.types
    parts = []
    for url in _sorted_types(types):
        part = fragments.get(url)
        if part is None:
            t = types.get(url, _EMPTY_TYPE)
            part = fragments[url] = (
                f'{encode_basestring_ascii(short_name(url))}:{{"ackedAt":{_json_value(t.acked_at)},'
                f'"error":{_json_value(t.error)},"sentAt":{_json_value(t.sent_at)},"state":"{t.state.value}",'
                f'"versionAcked":{_json_value(t.version_acked)},"versionSent":{_json_value(t.version_sent)}}}'
            )
        parts.append(part)
    return "{" + ",".join(parts) + "}"


_CORE_TYPES = sorted(SEND_ORDER, key=short_name)


def _sorted_types(types: Mapping[str, object]) -> list[str]:
    """SEND_ORDER's types and any others the stream used, sorted by short name."""
    if len(types) <= len(SEND_ORDER) and all(url in SEND_ORDER for url in types):
        return _CORE_TYPES
    return sorted(set(SEND_ORDER).union(types), key=short_name)


def _dns_names_of(names_by_node: Mapping[str, tuple[str, ...]], ref: ProxyRef) -> tuple[str, ...]:
    """``ref``'s mesh certificate DNS names (translate.identity.node_dns_names; gateways: none)."""
    return names_by_node.get(ref.name, ()) if ref.kind == "virtualNode" else ()


class Propagator:
    """Keeps every connected proxy's snapshot in step with the database.

    :param config: database path and debounce settings.
    :param cache: the stream layer's snapshot cache (its first-request hook is set to ours).
    :param status: the stream layer's status sink.
    :param metrics: the stream layer's metrics (rendered into the database for /metrics).
    """

    def __init__(self, config: Config, cache: SnapshotCache, status: PersistentStatus,
                 metrics: XdsMetrics | None = None) -> None:
        self.config = config
        self.cache = cache
        self.status = status
        self.metrics = metrics
        self.store = ResourceStore(config)
        self.proxy_store = ProxyStore(self.store.pool, config.ensure_replica_id())
        self._lock = threading.RLock()
        self._proxies: dict[str, _Proxy] = {}
        self._states: dict[str, MeshState | None] = {}
        self._parsed: dict[str, dict[SpecKey, Any]] = {}  # per mesh, for load_mesh_state
        self._configs_to_save: dict[str, Snapshot] = {}
        self._last_rev = self.store.last_revision()
        self._last_data_version = self.store.data_version()
        self.info: dict[str, str] = {}
        # Mesh certificates (pki.issuer), set up when a proxy first references one.
        self._issuer: MeshIssuer | None = None
        self._issuer_error: str | None = None
        self._mesh_names: dict[str, dict[str, tuple[str, ...]]] = {}  # mesh -> node -> DNS SANs
        self._stop_issuer = threading.Event()
        # Stream ids are unique across replicas sharing a database: the replica id leads.
        self.run_id = f"{config.replica_id}-{int(time.time() * 1000):x}"
        self.metrics_key = "metrics"  # where flush_status stores the metrics text (per worker)
        # Cloud Map discovery: the poller runs (from `run`) for the queries stored nodes name;
        # its answers are translation input, a change rebuilds the proxies reaching those nodes.
        self.cloud_map = CloudMapPoller(config.cloudmap_interval, config.cloudmap_health_status, config.region,
                                        on_change=self._on_cloud_map_change, on_status=self._on_cloud_map_status)
        self._cloud_map_lock = threading.Lock()
        self._cloud_map_changed: set[Query] = set()
        self._cloud_map_restatus: set[Query] = set()
        self._cloud_map_nodes: dict[CloudMapKey, set[tuple[str, str]]] = {}  # query -> (mesh, node)
        self._cloud_map_index: dict[tuple[str, str], CloudMapKey] = {}  # (mesh, node) -> its query
        self._cloud_map_endpoints: dict[CloudMapKey, tuple[CloudMapInstance, ...]] = {}
        # The operator's translation choices, handed to translate/ as data.
        self._settings = Settings(aws_passthrough=config.aws_passthrough)
        self._refresh_cloud_map_queries()
        cache.set_on_first_request(self.on_first_request)

    # -- registering proxies ------------------------------------------------------------------

    def on_first_request(self, node_id: str, node: base_pb2.Node) -> None:
        """A stream of ``node_id`` identified itself: build its config now if it has none."""
        metadata = node_metadata(node)
        overrides = LocalOverrides.from_metadata(metadata)
        agent = any(key.startswith("aws.appmesh.") for key in metadata)
        with self._lock:
            known = self._proxies.get(node_id)
            if (known is not None and known.overrides == overrides and known.agent == agent
                    and self.cache.get(node_id) is not None):
                return
            self._proxies[node_id] = _Proxy(node_id, ProxyRef.parse(node_id), overrides, agent=agent)
            self._rebuild([node_id])

    # -- the loop -----------------------------------------------------------------------------

    def run(self, stop: threading.Event, poll_s: float = 0.01) -> None:
        """Tail the feed and push until ``stop`` is set."""
        pending = _Pending()
        next_flush = 0.0
        unavailable = False
        self.cloud_map.start()
        while not stop.wait(poll_s):
            try:
                self._collect(pending)
                self._apply_cloud_map()
                now = time.monotonic()
                due = pending.due(now, self.config.debounce_ms / 1000, self.config.debounce_max_ms / 1000)
                if due:
                    self.apply(due)
                    pending.drop(due)  # only once applied: a failed apply (database down) is retried
                # A flush holds the GIL the streams need to send and take ACKs: it waits for a
                # quiet moment (a pushed change has been answered), and after a big one
                # (thousands of proxies just changed) the next waits longer, so that writing
                # status takes at most about a fifth of the time. Ready status is seconds old
                # at worst; ACK times are stamped when the ACK arrives, not when written.
                if now >= next_flush and (
                    now - self.status.last_event >= QUIET_S or now >= next_flush + FLUSH_MAX_S
                ):
                    self.flush_status()
                    took = time.monotonic() - now
                    next_flush = now + min(FLUSH_MAX_S, max(FLUSH_S, 5 * took))
            except ServiceUnavailableException as exc:
                # The database is down: proxies keep their last snapshots; catch up once it is back
                # (the feed, read from the last revision seen, holds every change made meanwhile).
                if not unavailable:
                    log.warning("database unavailable (%s); serving the last configuration until it is back",
                                exc.message)
                unavailable = True
                time.sleep(0.5)
                continue
            except Exception:  # the loop must survive anything: log it, keep serving the last snapshots
                log.exception("propagation step failed")
                time.sleep(0.5)
            if unavailable:
                log.warning("database available again")
                unavailable = False
        self.cloud_map.stop()
        self.flush_status()

    def _collect(self, pending: _Pending) -> None:
        version = self.store.data_version()
        if version == self._last_data_version:
            return
        self._last_data_version = version
        revisions = self.store.revisions_since(self._last_rev)
        if not revisions:
            return
        self._last_rev = revisions[-1].rev
        now = time.monotonic()
        for rev in revisions:
            pending.add(rev.mesh, revision_keys(rev.kind, rev.name, rev.parent or None), now)
        if any(rev.kind in ("virtualNode", "mesh") for rev in revisions):
            self._refresh_cloud_map_queries()

    # -- Cloud Map discovery ----------------------------------------------------------------------

    def _refresh_cloud_map_queries(self) -> None:
        """Poll exactly the Cloud Map queries stored virtual nodes name (any mesh)."""
        nodes: dict[CloudMapKey, set[tuple[str, str]]] = {}
        index: dict[tuple[str, str], CloudMapKey] = {}
        for mesh, name, spec_json in self.store.cloud_map_nodes():
            spec = json.loads(spec_json)
            discovery = spec.get("service_discovery") if isinstance(spec, dict) else None
            key = cloud_map_key(discovery) if isinstance(discovery, dict) else None
            if key is not None:
                nodes.setdefault(key, set()).add((mesh, name))
                index[(mesh, name)] = key
        with self._lock:
            self._cloud_map_nodes, self._cloud_map_index = nodes, index
        self.cloud_map.set_queries(Query(*key) for key in nodes)

    def _on_cloud_map_change(self, queries: set[Query]) -> None:
        with self._cloud_map_lock:  # the poller's thread: the loop picks these up within poll_s
            self._cloud_map_changed |= queries

    def _on_cloud_map_status(self, queries: set[Query]) -> None:
        with self._cloud_map_lock:
            self._cloud_map_restatus |= queries

    def _apply_cloud_map(self) -> None:
        """Rebuild the proxies that reach nodes whose Cloud Map answer changed (no debounce: a
        change is already up to one poll interval old); rewrite the status of proxies whose
        queries' freshness changed."""
        if not self._cloud_map_changed and not self._cloud_map_restatus:
            return
        with self._cloud_map_lock:
            changed, self._cloud_map_changed = self._cloud_map_changed, set()
            restatus, self._cloud_map_restatus = self._cloud_map_restatus, set()
        if changed:
            answers = self.cloud_map.answers()
            touched: dict[str, set[Key]] = {}
            with self._lock:
                self._cloud_map_endpoints = {
                    (query.namespace, query.service, query.attributes):
                        tuple([CloudMapInstance(i.ipv4, i.ipv6) for i in instances])
                    for query, instances in answers.items()
                }
                for query in changed:
                    for mesh, node in self._cloud_map_nodes.get(tuple(query), ()):  # type: ignore[arg-type]
                        touched.setdefault(mesh, set()).add(("virtualNode", node))
            if touched:
                # Same stored state: only the endpoints differ, so only EDS changes and is sent.
                self.apply(touched, reload=False)
        if restatus:
            keys = {tuple(query) for query in restatus}
            with self._lock:
                nodes = {p.node_id for p in self._proxies.values() if p.cloud_map and not keys.isdisjoint(p.cloud_map)}
            if nodes:
                self.status.mark_nodes(nodes)

    def _cloud_map_keys(self, proxy: _Proxy) -> frozenset[CloudMapKey]:
        """The Cloud Map queries of the nodes ``proxy`` depends on (its own node's excepted)."""
        index = self._cloud_map_index
        if not index or proxy.ref is None:
            return frozenset()
        mesh, own = proxy.ref.mesh, (proxy.ref.name if proxy.ref.kind == "virtualNode" else None)
        return frozenset(
            index[(mesh, name)] for kind, name in proxy.deps
            if kind == "virtualNode" and name != own and (mesh, name) in index
        )

    def cloud_map_diagnostics(self, keys: frozenset[CloudMapKey], now: float | None = None) -> list[str]:
        """What the proxy status says about the Cloud Map answers a proxy uses: nothing while
        they are fresh; their age and the error while Cloud Map cannot be reached."""
        now = time.time() if now is None else now
        found = []
        for key in sorted(keys):
            status = self.cloud_map.status(key)
            label = f"Cloud Map {describe(key)}"
            if status is None or status.refreshed_at is None:
                error = f" (error: {status.error})" if status is not None and status.error else ""
                found.append(f"{label}: not discovered yet{error}")
            elif status.error is not None:
                at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(status.refreshed_at))
                found.append(f"{label}: last refreshed {max(0.0, now - status.refreshed_at):.0f} s ago "
                             f"({at}), keeping those endpoints (error: {status.error})")
            elif not status.instances:
                found.append(f"{label}: no instances found")
        return found

    def apply(self, touched: Mapping[str, set[Key]], reload: bool = True) -> None:
        """Reload the touched meshes (unless ``reload`` is False: the stored state is unchanged)
        and rebuild the proxies whose dependencies were touched."""
        with self._lock:
            for mesh in touched if reload else ():
                self._states.pop(mesh, None)
                self._mesh_names.pop(mesh, None)
            affected = [
                p.node_id for p in self._proxies.values()
                if p.ref is not None and p.ref.mesh in touched and (p.deps & touched[p.ref.mesh])
            ]
            self._rebuild(affected)
            self._check_certificate_names(touched)

    def _state(self, mesh: str) -> MeshState | None:
        if mesh not in self._states:
            self._states[mesh] = load_mesh_state(self.store, mesh, self._parsed.setdefault(mesh, {}))
        return self._states[mesh]

    def _rebuild(self, node_ids: Iterable[str]) -> None:
        # One Translator per mesh builds its proxies in sweeps (build_each) and hands the same
        # message object to every proxy that shares a resource; one SnapshotBuilder packs and
        # hashes each such object once per pass, not once per proxy (the fan-out's main cost),
        # and shares each type's set of entries between the proxies that have the same one.
        builder = SnapshotBuilder()
        unnamed: dict[str, Snapshot] = {}
        by_mesh: dict[str, list[_Proxy]] = {}
        for node_id in node_ids:
            proxy = self._proxies[node_id]
            if proxy.ref is None:
                config = ProxyConfig.empty(
                    f"node id {node_id!r} names no App Mesh resource: use mesh/<mesh>/virtualNode/<name>, "
                    "mesh/<mesh>/virtualGateway/<name> or the resource ARN"
                )
                proxy.diagnostics = config.diagnostics
                unnamed[node_id] = builder.build(
                    _with_local_cluster(config.resources) if proxy.agent else config.resources,
                    self.cache.get(node_id))
            else:
                by_mesh.setdefault(proxy.ref.mesh, []).append(proxy)
        self._publish(unnamed)
        for mesh, proxies in by_mesh.items():
            state = self._state(mesh)
            translator = Translator(state, self._cloud_map_endpoints, self._settings)
            # Published a chunk at a time: the streams start pushing (and the proxies answering,
            # on the other core) while the rest is built. The Translator's memos span the
            # chunks, so shared pieces are still built once.
            for start in range(0, len(proxies), PUBLISH_CHUNK):
                chunk = proxies[start:start + PUBLISH_CHUNK]
                configs = translator.build_each((proxy.ref, proxy.overrides) for proxy in chunk)  # type: ignore[misc]
                snapshots: dict[str, Snapshot] = {}
                for proxy, config in zip(chunk, configs):
                    assert proxy.ref is not None
                    proxy.deps = translator.dependencies(proxy.ref) if state is not None else frozenset(
                        {("mesh", mesh), (proxy.ref.kind, proxy.ref.name)})
                    proxy.diagnostics = config.diagnostics
                    proxy.cloud_map = self._cloud_map_keys(proxy)
                    resources = self._with_secrets(proxy, config, state)
                    # The proxy's current snapshot: what it holds alone (its ingress cluster, its
                    # certificate) and did not change keeps its packed entries and type sets.
                    snapshots[proxy.node_id] = builder.build(
                        _with_local_cluster(resources) if proxy.agent else resources, self.cache.get(proxy.node_id))
                self._publish(snapshots)

    # -- mesh certificates (SDS on the ADS stream) --------------------------------------------

    def issuer(self) -> MeshIssuer | None:
        """The mesh certificate issuer, loading the mesh CA (created on first use) and starting
        its renewal thread the first time; None (with the reason kept for diagnostics) when the
        CA cannot be loaded."""
        if self._issuer is None and self._issuer_error is None:
            from meshplane.pki.issuer import MeshIssuer
            from meshplane.pki.mesh_ca import load_mesh_ca

            try:
                authority = load_mesh_ca(self.config)
            except (OSError, ValueError) as exc:
                self._issuer_error = str(exc)
                log.error("mesh certificates unavailable: %s", exc)
                return None
            self._issuer = MeshIssuer(authority, ttl_s=self.config.mesh_cert_ttl,
                                  trust_domain=self.config.xds_trust_domain or "meshplane.local",
                                  account_id=self.config.account_id, region=self.config.region,
                                  on_rotated=self._on_certificates_renewed)
            self._issuer.start(self._stop_issuer)
        return self._issuer

    def _node_names(self, mesh: str, state: MeshState | None) -> dict[str, tuple[str, ...]]:
        names = self._mesh_names.get(mesh)
        if names is None:
            names = self._mesh_names[mesh] = node_dns_names(state) if state is not None else {}
        return names

    def _with_secrets(self, proxy: _Proxy, config: ProxyConfig, state: MeshState | None) -> Mapping[str, Mapping[str, Any]]:
        """``config.resources`` plus the meshplane secrets the config references (ProxyConfig.secrets)."""
        if not config.secrets:
            if self._issuer is not None:
                self._issuer.forget(proxy.node_id)
            return config.resources
        issuer = self.issuer()
        assert proxy.ref is not None
        if issuer is None:
            proxy.diagnostics = (*proxy.diagnostics, f"mesh certificates unavailable: {self._issuer_error}")
            return config.resources
        names = _dns_names_of(self._node_names(proxy.ref.mesh, state), proxy.ref)
        secrets = issuer.secrets(proxy.node_id, proxy.ref, names, config.secrets)
        return {**config.resources, SECRET: secrets}

    def _check_certificate_names(self, touched: Mapping[str, set[Key]]) -> None:
        """After a change, renew (in the background) certificates whose DNS names it changed: a
        new virtual service may name a node without the node's own config changing."""
        issuer = self._issuer
        if issuer is None:
            return
        for proxy in self._proxies.values():
            ref = proxy.ref
            if ref is None or ref.mesh not in touched:
                continue
            current = issuer.certificate(proxy.node_id)
            if current is None:
                continue
            names = _dns_names_of(self._node_names(ref.mesh, self._state(ref.mesh)), ref)
            if names != current.dns_names:
                issuer.secrets(proxy.node_id, ref, names, (MESH_CERTIFICATE_SECRET,))

    def _on_certificates_renewed(self, renewed: dict[str, Entry]) -> None:
        """Renewal thread: swap the renewed certificates into the nodes' current snapshots (every
        other type's set is shared as is: only SDS is due); Envoy replaces the secret in place."""
        with self._lock:
            snapshots = {}
            for node_id, entry in renewed.items():
                snapshot = self.cache.get(node_id)
                if snapshot is not None and MESH_CERTIFICATE_SECRET in snapshot.entries(SECRET):
                    snapshots[node_id] = snapshot.replaced(SECRET, {MESH_CERTIFICATE_SECRET: entry})
            self._publish(snapshots)

    def stop_issuer(self) -> None:
        """Stop the certificate renewal thread (if it runs)."""
        self._stop_issuer.set()
        if self._issuer is not None:
            self._issuer.wake()

    def _publish(self, snapshots: dict[str, Snapshot]) -> None:
        # A rebuild that changed nothing for a node gives back its current snapshot (the builder
        # keeps it): nothing to push, nothing new to store.
        cache = self.cache
        snapshots = {node: snapshot for node, snapshot in snapshots.items() if cache.get(node) is not snapshot}
        if snapshots:
            self._configs_to_save.update(snapshots)
            self.cache.set_snapshots(snapshots)

    # -- status for the REST side ---------------------------------------------------------------

    def flush_status(self) -> None:
        """Write changed stream status, newly published configs and metrics to the database.

        Configs go in the same transaction as the status, so a proxy shown SYNCED always has the
        config it synced to readable at /meshplane/v1/proxies/<id>/config.
        """
        live, gone = self.status.take_dirty()
        with self._lock:
            configs, self._configs_to_save = self._configs_to_save, {}
            rows = [self._row(s, t, connected=True) for s, t in live] + [
                self._row(s, t, connected=False) for s, t in gone]
        if not rows and not configs and self.metrics is None:
            return
        # Stored as CSDS bytes (a byte join per proxy); the REST side renders JSON when asked.
        dumps = {node: snapshot.client_config_parts() for node, snapshot in configs.items()}
        info = dict(self.info)
        if self.metrics is not None:
            info[self.metrics_key] = generate_latest(self.metrics.registry).decode()
        try:
            self.proxy_store.save(rows, dumps, info)
        except Exception:
            # The database is unreachable (PostgreSQL restarting): keep what was not written for
            # the next flush; proxies are unaffected, they keep being served from memory.
            self.status.restore(live, gone)
            with self._lock:
                for node, snapshot in configs.items():
                    self._configs_to_save.setdefault(node, snapshot)
            raise

    def _row(self, stream: StreamStatus, types: str, connected: bool) -> StreamRow:
        proxy = self._proxies.get(stream.node_id)
        ref = proxy.ref if proxy is not None else ProxyRef.parse(stream.node_id)
        if stream.refused is not None:
            # One row per refused node (and xDS run), replaced at each retry: a proxy with bad
            # credentials reconnects every few seconds.
            return StreamRow(
                stream=f"{self.run_id}-refused-{stream.node_id}", node_id=stream.node_id,
                mesh=ref.mesh if ref else "", kind=ref.kind if ref else "", name=ref.name if ref else "",
                protocol=stream.protocol, peer=stream.peer, connected=False,
                connected_since=stream.connected_since, last_seen=stream.last_seen, types=types,
                diagnostics=[f"refused: {stream.refused}"],
            )
        return StreamRow(
            stream=f"{self.run_id}-{stream.stream_id}",
            node_id=stream.node_id,
            mesh=ref.mesh if ref else "",
            kind=ref.kind if ref else "",
            name=ref.name if ref else "",
            protocol=stream.protocol,
            peer=stream.peer,
            connected=connected,
            connected_since=stream.connected_since,
            last_seen=stream.last_seen,
            types=types,
            diagnostics=(list(proxy.diagnostics) + self.cloud_map_diagnostics(proxy.cloud_map)
                         if proxy.cloud_map else list(proxy.diagnostics)) if proxy is not None else [],
        )
