"""Per-stream sync status: what each connected proxy was sent, and what it accepted or rejected.

The streams report every event to a ``StatusSink``; ``MemoryStatusSink`` keeps the latest state
in memory and renders it as plain dicts. A sink that persists elsewhere (a database) implements
the same six methods. They are called on the gRPC server's event loop thread, in event order,
and must return quickly (buffer, never block on I/O). Times are ``time.time()`` seconds.

States per stream and type URL (the CSDS ``ConfigStatus`` names, as in ``istioctl proxy-status``):

* ``NOT_SENT``: nothing of this type was sent on this stream yet;
* ``SYNCED``:   the proxy ACKed the latest response (acked == sent);
* ``STALE``:    a newer response was sent and is not acknowledged yet;
* ``ERROR``:    the proxy NACKed the latest response; ``error`` keeps its error_detail.message.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from meshplane.stream.types import SEND_ORDER, short_name


class SyncState(str, Enum):
    SYNCED = "SYNCED"
    STALE = "STALE"
    NOT_SENT = "NOT_SENT"
    ERROR = "ERROR"


class StatusSink(Protocol):
    """Receives every status event of every stream. ``stream_id`` is unique per server."""

    def on_connect(self, stream_id: int, node_id: str, protocol: str, peer: str, at: float) -> None:
        """A stream identified itself (its first request): ``protocol`` is ``"sotw"`` or ``"delta"``."""

    def on_request(self, stream_id: int, type_url: str, at: float) -> None:
        """Any request arrived (including ACKs, NACKs and stale ones): the proxy was last seen ``at``."""

    def on_send(self, stream_id: int, type_url: str, version: str, nonce: str, at: float) -> None:
        """A response of ``version`` with ``nonce`` was written to the stream."""

    def on_ack(self, stream_id: int, type_url: str, version: str, nonce: str, at: float) -> None:
        """The proxy accepted the response ``nonce`` (of ``version``)."""

    def on_nack(self, stream_id: int, type_url: str, version: str, nonce: str, message: str,
                at: float) -> None:
        """The proxy rejected the response ``nonce`` (of ``version``); ``message`` is its error_detail."""

    def on_disconnect(self, stream_id: int, at: float) -> None:
        """The stream ended (either side)."""

    def on_refused(self, stream_id: int, node_id: str, protocol: str, peer: str, reason: str,
                   at: float) -> None:
        """The admission hook refused the stream (it never connected); ``reason`` is
        ``<gRPC code name>: <message>``."""


@dataclass
class TypeStatus:
    """Bookkeeping for one type URL on one stream."""

    version_sent: str | None = None
    nonce_sent: str | None = None
    sent_at: float | None = None
    version_acked: str | None = None
    nonce_acked: str | None = None
    acked_at: float | None = None
    error: str | None = None
    error_at: float | None = None
    nonce_nacked: str | None = None

    @property
    def state(self) -> SyncState:
        if self.nonce_sent is None:
            return SyncState.NOT_SENT
        if self.nonce_nacked == self.nonce_sent:
            return SyncState.ERROR
        if self.nonce_acked == self.nonce_sent:
            return SyncState.SYNCED
        return SyncState.STALE

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "version_sent": self.version_sent,
            "nonce_sent": self.nonce_sent,
            "sent_at": self.sent_at,
            "version_acked": self.version_acked,
            "nonce_acked": self.nonce_acked,
            "acked_at": self.acked_at,
            "error": self.error,
            "error_at": self.error_at,
        }


@dataclass
class StreamStatus:
    """Everything known about one connected stream."""

    stream_id: int
    node_id: str
    protocol: str
    peer: str
    connected_since: float
    last_seen: float
    types: dict[str, TypeStatus] = field(default_factory=dict)
    refused: str | None = None  # set on a stream the admission hook refused: why

    def as_dict(self) -> dict[str, Any]:
        """Plain data: the four core types always appear (``NOT_SENT`` until sent), others once used."""
        type_urls = list(SEND_ORDER) + sorted(set(self.types).difference(SEND_ORDER))
        return {
            "stream_id": self.stream_id,
            "node_id": self.node_id,
            "protocol": self.protocol,
            "peer": self.peer,
            "connected_since": self.connected_since,
            "last_seen": self.last_seen,
            "types": {
                t: {"type": short_name(t), **self.types.get(t, TypeStatus()).as_dict()} for t in type_urls
            },
        }


class MemoryStatusSink:
    """The default StatusSink: the live status of every connected stream, in memory.

    Disconnected streams are dropped; the last REFUSALS_KEPT refused streams are kept in
    ``refusals``. ``snapshot()`` may be called from any thread.
    """

    REFUSALS_KEPT = 100

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._streams: dict[int, StreamStatus] = {}
        self.refusals: deque[StreamStatus] = deque(maxlen=self.REFUSALS_KEPT)

    def on_connect(self, stream_id: int, node_id: str, protocol: str, peer: str, at: float) -> None:
        with self._lock:
            self._streams[stream_id] = StreamStatus(stream_id, node_id, protocol, peer, at, at)

    def on_request(self, stream_id: int, type_url: str, at: float) -> None:
        with self._lock:
            stream = self._streams.get(stream_id)
            if stream is not None:
                stream.last_seen = at

    def on_send(self, stream_id: int, type_url: str, version: str, nonce: str, at: float) -> None:
        with self._lock:
            status = self._type(stream_id, type_url)
            if status is not None:
                status.version_sent, status.nonce_sent, status.sent_at = version, nonce, at

    def on_ack(self, stream_id: int, type_url: str, version: str, nonce: str, at: float) -> None:
        with self._lock:
            status = self._type(stream_id, type_url)
            if status is not None:
                status.version_acked, status.nonce_acked, status.acked_at = version, nonce, at
                status.error = status.error_at = status.nonce_nacked = None
                self._streams[stream_id].last_seen = at

    def on_nack(self, stream_id: int, type_url: str, version: str, nonce: str, message: str,
                at: float) -> None:
        with self._lock:
            status = self._type(stream_id, type_url)
            if status is not None:
                status.error, status.error_at, status.nonce_nacked = message, at, nonce
                self._streams[stream_id].last_seen = at

    def on_disconnect(self, stream_id: int, at: float) -> None:
        with self._lock:
            self._streams.pop(stream_id, None)

    def on_refused(self, stream_id: int, node_id: str, protocol: str, peer: str, reason: str,
                   at: float) -> None:
        with self._lock:
            self.refusals.append(StreamStatus(stream_id, node_id, protocol, peer, at, at, refused=reason))

    def snapshot(self) -> list[dict[str, Any]]:
        """Every connected stream as a plain dict (see ``StreamStatus.as_dict``), by node id."""
        with self._lock:
            streams = sorted(self._streams.values(), key=lambda s: (s.node_id, s.stream_id))
            return [stream.as_dict() for stream in streams]

    def node(self, node_id: str) -> list[dict[str, Any]]:
        """The connected streams of one node as plain dicts (usually one)."""
        with self._lock:
            streams = [s for s in self._streams.values() if s.node_id == node_id]
            return [stream.as_dict() for stream in sorted(streams, key=lambda s: s.stream_id)]

    def _type(self, stream_id: int, type_url: str) -> TypeStatus | None:
        stream = self._streams.get(stream_id)
        if stream is None:
            return None
        return stream.types.setdefault(type_url, TypeStatus())
