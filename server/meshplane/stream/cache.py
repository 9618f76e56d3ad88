"""SnapshotCache: the latest Snapshot per node id, and the streams waiting on it.

Thread-safe. The owner (the propagation loop, a normal thread) calls ``set_snapshot``; the
streams live on the gRPC server's asyncio loop (another thread) and are woken with
``loop.call_soon_threadsafe``, so setting a snapshot never blocks on, or runs, stream code.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from envoy.config.core.v3 import base_pb2
from google.protobuf.json_format import MessageToDict

from meshplane.stream.snapshot import Snapshot

log = logging.getLogger(__name__)

FirstRequestHook = Callable[[str, base_pb2.Node], None]
"""``hook(node_id, node)``: a stream of ``node_id`` sent its first request (``node`` is Envoy's
Node proto, metadata included). Runs on a worker thread of the server's loop, never on the loop."""


def new_epoch() -> str:
    """A fresh version prefix: seconds since 1970 in hex plus 16 random bits (e.g. ``6740a1b23f9a``)."""
    return f"{int(time.time()):x}{secrets.token_hex(2)}"


def node_metadata(node: base_pb2.Node) -> dict[str, object]:
    """``node.metadata`` as a plain dict (JSON types), e.g. for a FirstRequestHook."""
    return MessageToDict(node.metadata)


@dataclass(frozen=True)
class Published:
    """A snapshot as set for one node, with the ``time.monotonic()`` it was set at."""

    snapshot: Snapshot
    set_at: float


class Watch:
    """A stream's registration for wake-ups about one node (returned by ``SnapshotCache.watch``)."""

    __slots__ = ("node_id", "loop", "callback")

    def __init__(self, node_id: str, loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
        self.node_id = node_id
        self.loop = loop
        self.callback = callback


class SnapshotCache:
    """Latest snapshot per node id; wakes that node's streams when it changes.

    :param epoch: version prefix for SotW type versions; a fresh one (``new_epoch()``) by default.
        Create the cache when the server process starts, so versions never repeat across restarts.
    :param on_first_request: optional ``FirstRequestHook``; also settable later with
        ``set_on_first_request``.
    """

    def __init__(self, epoch: str | None = None, on_first_request: FirstRequestHook | None = None) -> None:
        self.epoch = epoch or new_epoch()
        self._lock = threading.Lock()
        self._published: dict[str, Published] = {}
        self._watches: dict[str, set[Watch]] = {}
        self._hook = on_first_request

    # -- owner side ------------------------------------------------------------------------------
    def set_snapshot(self, node_id: str, snapshot: Snapshot) -> None:
        """Make ``snapshot`` the node's current one and wake the node's streams (non-blocking)."""
        self.set_snapshots({node_id: snapshot})

    def set_snapshots(self, snapshots: Mapping[str, Snapshot]) -> None:
        """``set_snapshot`` for many nodes at once, with one wake-up per event loop."""
        now = time.monotonic()
        woken: dict[asyncio.AbstractEventLoop, list[Callable[[], None]]] = {}
        with self._lock:
            for node_id, snapshot in snapshots.items():
                self._published[node_id] = Published(snapshot, now)
                for watch in self._watches.get(node_id, ()):
                    woken.setdefault(watch.loop, []).append(watch.callback)
        for loop, callbacks in woken.items():
            try:
                loop.call_soon_threadsafe(_call_all, callbacks)
            except RuntimeError:  # the loop was closed: the server stopped, nobody to wake
                pass

    def get(self, node_id: str) -> Snapshot | None:
        """The node's current snapshot, or None."""
        with self._lock:
            published = self._published.get(node_id)
        return published.snapshot if published else None

    def published(self, node_id: str) -> Published | None:
        """The node's current snapshot with the time it was set, or None."""
        with self._lock:
            return self._published.get(node_id)

    def clear(self, node_id: str) -> None:
        """Forget the node's snapshot. Its open streams keep what they were sent; nothing is pushed
        (an absent snapshot never means "delete everything") until a new snapshot is set."""
        with self._lock:
            self._published.pop(node_id, None)

    def node_ids(self) -> list[str]:
        """Every node id with a snapshot, sorted."""
        with self._lock:
            return sorted(self._published)

    def set_on_first_request(self, hook: FirstRequestHook | None) -> None:
        """Register (or remove, with None) the hook run when a stream sends its first request."""
        self._hook = hook

    # -- stream side -----------------------------------------------------------------------------
    def first_request(self, node_id: str, node: base_pb2.Node) -> None:
        """Run the FirstRequestHook, if any; exceptions are logged, never raised to the stream."""
        hook = self._hook
        if hook is None:
            return
        try:
            hook(node_id, node)
        except Exception:
            log.exception("on_first_request hook failed for node %s", node_id)

    def watch(self, node_id: str, loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> Watch:
        """Call ``callback`` on ``loop`` whenever the node's snapshot is set, until ``unwatch``."""
        watch = Watch(node_id, loop, callback)
        with self._lock:
            self._watches.setdefault(node_id, set()).add(watch)
        return watch

    def unwatch(self, watch: Watch) -> None:
        """Stop the wake-ups of ``watch``; idempotent."""
        with self._lock:
            watches = self._watches.get(watch.node_id)
            if watches is not None:
                watches.discard(watch)
                if not watches:
                    del self._watches[watch.node_id]


def _call_all(callbacks: list[Callable[[], None]]) -> None:
    for callback in callbacks:
        callback()
