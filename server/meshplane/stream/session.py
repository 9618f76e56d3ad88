"""One ADS stream: the machinery the SotW and delta protocols share.

A ``Session`` runs for the life of one gRPC stream on the server's event loop:

* a reader task applies each request to the per-type state (subscription, ACK, NACK) and then
  answers it; the first request identifies the node, goes to the owner's admission hook if there
  is one (stream.admission: a refused stream ends there), registers the stream with the cache
  (which wakes the session when the node's snapshot is set) and runs the owner's first-request hook;
* answering, or being woken, means making *passes*: for each requested type, in send order, work
  out what the proxy should have (the ``Target``) and send what it lacks. Only one pass runs at
  a time; a cheap check (``due``) skips types whose resources and subscription did not change.

Rules every pass follows (reference xds.md §2.5, §7):

* at most one unacknowledged response per type (the next goes out when the proxy answers);
* a rejected (NACKed) version is not sent again; only a new snapshot produces a new response;
* LDS/RDS wait while a newer CDS response is held back, so routes never outrun clusters;
* removals wait ("make before break"): a cluster (or its endpoints) the proxy has but the new
  snapshot lacks stays in the target until the LDS and RDS updates are ACKed;
* a changed EDS cluster re-sends its ClusterLoadAssignment (Envoy re-warms it);
* an exception while handling one request or pass is logged and the stream carries on: a
  broken stream makes Envoy reconnect in a tight loop, and never harms other streams.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any, ClassVar

import grpc
from envoy.config.core.v3 import base_pb2

from meshplane.stream.admission import Admit, Refusal, StreamOpening
from meshplane.stream.cache import Published, SnapshotCache, Watch
from meshplane.stream.metrics import XdsMetrics
from meshplane.stream.snapshot import Entry, Snapshot, type_version
from meshplane.stream.status import StatusSink
from meshplane.stream.types import (
    ENDPOINT,
    REMOVAL_WAITS_FOR,
    SEND_WAITS_FOR,
    WILDCARD_TYPES,
    ordered,
    short_name,
)

log = logging.getLogger(__name__)


class TypeState:
    """What one stream knows about one type URL: subscription, last response, the proxy's answer."""

    __slots__ = (
        "type_url", "label", "requested", "first", "wildcard", "names", "ever_named", "changed_at",
        "nonce", "inflight", "sent_version", "sent_origin", "acked_version", "nacked_version",
        "sent", "have", "force", "absent_sent", "rejected", "last_names", "quiet_hash", "retaining",
    )

    def __init__(self, type_url: str) -> None:
        self.type_url = type_url
        self.label = short_name(type_url)
        self.requested = False          # a request for this type arrived
        self.first = False              # answer the latest request even if nothing changed
        self.wildcard = False
        self.names: set[str] = set()    # explicitly subscribed names
        self.ever_named = False         # SotW legacy wildcard: empty means "*" only until named
        self.changed_at = 0.0           # monotonic time the subscription last changed
        self.nonce: str | None = None   # last nonce sent
        self.inflight: str | None = None  # that nonce, while unanswered
        self.sent_version: str | None = None
        self.sent_origin = 0.0          # monotonic start of the convergence clock for the response
        self.acked_version: str | None = None
        self.nacked_version: str | None = None
        self.sent: Mapping[str, Entry] = {}   # SotW: the resources of the last response
        self.have: dict[str, str] = {}  # delta: name -> version the proxy holds, as far as we know
        self.force: set[str] = set()    # names to send again although the proxy has the version
        self.absent_sent: set[str] = set()  # delta: names already reported as removed/nonexistent
        self.rejected: set[str] = set()     # delta: names in NACKed responses
        self.last_names: tuple[str, ...] = ()  # delta: names carried by the last response
        # The type hash of the resources for which nothing was due, as long as neither the
        # subscription nor what was sent changed since: a pass skips such types cheaply.
        self.quiet_hash: str | None = None
        self.retaining = False  # the proxy holds resources the snapshot dropped (removal pending)

    def subscribed(self, name: str) -> bool:
        return self.wildcard or name in self.names


class Target:
    """What the proxy should hold of one type: ``entries`` from the snapshot, plus ``retained``
    (name -> version) resources it still needs although the snapshot dropped them."""

    __slots__ = ("entries", "retained", "version", "whole")

    def __init__(self, entries: Mapping[str, Entry], retained: dict[str, str], version: str,
                 whole: bool) -> None:
        self.entries = entries
        self.retained = retained
        self.version = version
        self.whole = whole  # the snapshot's entire type, nothing retained: its shared body applies


class Session:
    """One ADS stream. Subclasses implement the request handling and responses of one protocol."""

    protocol: ClassVar[str] = ""

    def __init__(self, stream_id: int, cache: SnapshotCache, sink: StatusSink, metrics: XdsMetrics,
                 admit: Admit | None = None) -> None:
        self.stream_id = stream_id
        self.admit = admit
        self.cache = cache
        self.sink = sink
        self.metrics = metrics
        self.node_id: str | None = None
        self.types: dict[str, TypeState] = {}
        self._order: list[str] = []   # self.types in send order
        self._nonces = itertools.count(1)
        self._wake = asyncio.Event()
        self._flushing = False
        self._again = False
        self._closed = False
        self._error: tuple[grpc.StatusCode, str] | None = None
        self._watch: Watch | None = None
        self._peer = ""
        self._context: grpc.aio.ServicerContext | None = None

    # -- life cycle ------------------------------------------------------------------------------
    async def run(self, requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> None:
        """Serve the stream until the proxy closes it or the server stops.

        Requests are handled by a reader task, which also answers them (``_flush``) right away;
        this task only waits for snapshot changes (and the end), then flushes too.
        """
        self._context = context
        self._peer = context.peer() or ""
        reader = asyncio.create_task(self._read(requests))
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                if self._error is not None:
                    await context.abort(*self._error)
                if self._closed:
                    break
                await self._flush()
        finally:
            reader.cancel()
            if self._watch is not None:
                self.cache.unwatch(self._watch)
                self.sink.on_disconnect(self.stream_id, time.time())
                self.metrics.connected.dec()

    async def _read(self, requests: AsyncIterator[Any]) -> None:
        try:
            async for request in requests:
                if self.node_id is None and not await self._identify(request):
                    return
                try:
                    self.sink.on_request(self.stream_id, request.type_url, time.time())
                    self.on_request(request)
                except Exception:
                    log.exception("bad xDS request on stream %s (node %s)", self.stream_id, self.node_id)
                await self._flush()
        except asyncio.CancelledError:
            raise
        except Exception as error:  # the transport broke; the handler ends the stream
            log.debug("stream %s read ended: %r", self.stream_id, error)
        finally:
            self._closed = True
            self._wake.set()

    async def _identify(self, request: Any) -> bool:
        node: base_pb2.Node = request.node
        if not node.id:
            self._error = (grpc.StatusCode.INVALID_ARGUMENT, "the first request must carry node.id")
            self._wake.set()
            return False
        if self.admit is not None:
            refusal = await self._admission(node)
            if refusal is not None:
                self.sink.on_refused(self.stream_id, node.id, self.protocol, self._peer,
                                     f"{refusal.code.name}: {refusal.message}", time.time())
                self.metrics.refused(refusal.code.name)
                self._error = (refusal.code, refusal.message)
                self._wake.set()
                return False
        self.node_id = node.id
        loop = asyncio.get_running_loop()
        self._watch = self.cache.watch(node.id, loop, self._wake.set)
        self.sink.on_connect(self.stream_id, node.id, self.protocol, self._peer, time.time())
        self.metrics.connected.inc()
        # The owner may build a snapshot now (slow, maybe I/O): keep it off the event loop.
        loop.run_in_executor(None, self.cache.first_request, node.id, node)
        return True

    async def _admission(self, node: base_pb2.Node) -> Refusal | None:
        """The owner's verdict on this stream (see stream.admission); a failing hook refuses."""
        assert self.admit is not None and self._context is not None
        context = self._context
        try:
            opening = StreamOpening(node, self.protocol, tuple(context.invocation_metadata() or ()),
                                    context.auth_context() or {}, self._peer)
            verdict = self.admit(opening)
            if inspect.isawaitable(verdict):
                verdict = await verdict
            return verdict
        except Exception:
            log.exception("stream admission failed on stream %s (node %s)", self.stream_id, node.id)
            return Refusal(grpc.StatusCode.UNAVAILABLE, "stream admission failed; try again")

    async def _flush(self) -> None:
        """Make passes until nothing is due. One flush runs at a time: a request or wake-up that
        arrives while one is writing only asks it to make another pass."""
        if self._flushing:
            self._again = True
            return
        self._flushing = True
        try:
            self._again = True
            while self._again:
                self._again = False
                try:
                    await self._pass()
                except (asyncio.CancelledError, grpc.aio.AbortError):
                    raise
                except Exception:
                    assert self._context is not None
                    if self._context.done():  # the proxy went away mid-write: end quietly
                        self._closed = True
                        self._wake.set()
                        return
                    log.exception("xDS pass failed on stream %s (node %s)", self.stream_id, self.node_id)
        finally:
            self._flushing = False

    async def _pass(self) -> None:
        """Send, in send order, every response some requested type is due."""
        assert self.node_id is not None and self._context is not None
        published = self.cache.published(self.node_id)
        for type_url in self._order:
            if published is None:
                return  # no snapshot yet: the proxy waits; set_snapshot wakes us
            state = self.types[type_url]
            if not state.requested or state.inflight is not None or self._held(type_url, published):
                continue
            plan = self.due(state, published.snapshot)
            if plan is None:
                continue
            message = self.commit(state, plan, published)
            await self._context.write(message)
            published = self.cache.published(self.node_id)  # it may have changed meanwhile

    def due(self, state: TypeState, snapshot: Snapshot) -> Any | None:
        """``plan``, skipped when provably nothing changed since it last found nothing to send:
        same subscription, nothing sent since, and the same resources of the type (type hash)."""
        resources = snapshot.type_hash(state.type_url)
        if state.quiet_hash == resources and not state.first and not state.force:
            return None
        plan = self.plan(state, snapshot)
        state.quiet_hash = resources if plan is None and not state.retaining else None
        return plan

    # -- protocol hooks --------------------------------------------------------------------------
    def on_request(self, request: Any) -> None:
        """Apply one request (subscription changes, ACK/NACK) to ``self.types``."""
        raise NotImplementedError

    def plan(self, state: TypeState, snapshot: Snapshot) -> Any | None:
        """What to send for ``state`` now, or None; must not change any state."""
        raise NotImplementedError

    def commit(self, state: TypeState, plan: Any, published: Published) -> bytes:
        """Record ``plan`` as sent and return the serialized response."""
        raise NotImplementedError

    def client_has(self, state: TypeState) -> Mapping[str, str]:
        """Name -> version of the resources the proxy holds, as far as this stream knows."""
        raise NotImplementedError

    # -- shared rules ----------------------------------------------------------------------------
    def state(self, type_url: str) -> TypeState:
        state = self.types.get(type_url)
        if state is None:
            state = self.types[type_url] = TypeState(type_url)
            self._order = ordered(self.types)
        return state

    def target(self, type_url: str, snapshot: Snapshot) -> Target:
        """What the proxy should hold of ``type_url``, given its subscription and removal rules."""
        state = self.types[type_url]
        everything = snapshot.entries(type_url)
        entries: Mapping[str, Entry]
        if state.wildcard:
            entries = everything
        else:
            entries = {name: everything[name] for name in sorted(state.names) if name in everything}
            if len(entries) == len(everything):
                entries = everything  # subscribed to all of them: share the snapshot's body
        retained: dict[str, str] = {}
        waits_for = REMOVAL_WAITS_FOR.get(type_url)
        if waits_for:
            has = self.client_has(state)
            gone = [name for name in has if name not in entries and state.subscribed(name)]
            if gone and not all(self.settled(other, snapshot) for other in waits_for):
                retained = {name: has[name] for name in gone}
            state.retaining = bool(gone)
        if entries is everything and not retained:
            return Target(entries, retained, snapshot.version(type_url, self.cache.epoch), True)
        pairs = itertools.chain(((n, e.version) for n, e in entries.items()), retained.items())
        return Target(entries, retained, type_version(self.cache.epoch, pairs), False)

    def settled(self, type_url: str, snapshot: Snapshot) -> bool:
        """True when the proxy accepted the latest response of ``type_url`` and nothing newer is
        due (or it never asked for the type). A NACK leaves the type unsettled until an ACK."""
        state = self.types.get(type_url)
        if state is None or not state.requested:
            return True
        if state.inflight is not None or state.nacked_version is not None:
            return False
        return self.due(state, snapshot) is None

    def _held(self, type_url: str, published: Published) -> bool:
        for earlier in SEND_WAITS_FOR.get(type_url, ()):
            state = self.types.get(earlier)
            if (state is not None and state.requested and state.inflight is not None
                    and self.due(state, published.snapshot) is not None):
                return True
        return False

    def force_endpoints(self, clusters: Iterable[str], snapshot: Snapshot) -> None:
        """Mark the ClusterLoadAssignments of these (just sent, new or changed) EDS clusters for
        sending again: Envoy keeps a changed EDS cluster warming until a fresh CLA arrives, even
        an identical one, and does not ask for it (reference xds.md §2.5.1)."""
        endpoints = self.state(ENDPOINT)  # kept even before EDS is requested (delta reconnect)
        for cluster in clusters:
            eds_name = snapshot.eds_name(cluster)
            if eds_name is not None:
                endpoints.force.add(eds_name)

    def next_nonce(self) -> str:
        return str(next(self._nonces))

    # -- bookkeeping -----------------------------------------------------------------------------
    def sent(self, state: TypeState, version: str, nonce: str, published: Published) -> None:
        state.nonce = state.inflight = nonce
        state.sent_version = version
        state.first = False
        state.force.clear()
        # What was just sent is the target: until something changes, nothing more is due.
        state.quiet_hash = None if state.retaining else published.snapshot.type_hash(state.type_url)
        state.sent_origin = max(published.set_at, state.changed_at)
        self.sink.on_send(self.stream_id, state.type_url, version, nonce, time.time())
        self.metrics.pushed(state.label)

    def acked(self, state: TypeState) -> None:
        state.inflight = None
        state.acked_version = state.sent_version
        state.nacked_version = None
        assert state.nonce is not None and state.sent_version is not None
        self.sink.on_ack(self.stream_id, state.type_url, state.sent_version, state.nonce, time.time())
        self.metrics.converged(state.label, time.monotonic() - state.sent_origin)

    def nacked(self, state: TypeState, message: str) -> None:
        state.inflight = None
        state.nacked_version = state.sent_version
        assert state.nonce is not None and state.sent_version is not None
        log.warning("node %s rejected %s version %s: %s", self.node_id, state.label, state.sent_version,
                    message)
        self.sink.on_nack(self.stream_id, state.type_url, state.sent_version, state.nonce, message,
                          time.time())
        self.metrics.nacked(state.label)

    def subscription_changed(self, state: TypeState) -> None:
        state.changed_at = time.monotonic()
        state.quiet_hash = None


def legacy_wildcard(type_url: str) -> bool:
    """Whether an empty first subscription means "everything" for this type (LDS, CDS)."""
    return type_url in WILDCARD_TYPES

