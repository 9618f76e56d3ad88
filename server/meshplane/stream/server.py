"""The ADS gRPC server: ``AdsServicer`` (both protocols) and ``XdsServer``, which runs it on a
``grpc.aio`` server in a background thread with its own event loop.

Responses are written as pre-serialized bytes (the method handlers' response serializer is the
identity), so a snapshot is serialized once per type, not once per stream.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from collections.abc import AsyncIterator, Sequence

import grpc
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2

from meshplane.stream.admission import Admit
from meshplane.stream.cache import SnapshotCache
from meshplane.stream.delta import DeltaSession
from meshplane.stream.metrics import XdsMetrics
from meshplane.stream.sotw import SotwSession
from meshplane.stream.status import StatusSink

log = logging.getLogger(__name__)

ADS_SERVICE = "envoy.service.discovery.v3.AggregatedDiscoveryService"

# Chosen for thousands of long-lived, mostly idle streams (one HTTP/2 connection per proxy):
SERVER_OPTIONS: tuple[tuple[str, int], ...] = (
    # Ping idle connections every 30 s and drop them if no answer in 10 s: finds dead proxies
    # (and half-open NAT entries) without per-stream cost.
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    # Accept client keepalive pings as often as every 10 s (Envoy's xDS cluster may enable them)
    # rather than answering with GOAWAY "too_many_pings".
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),
    ("grpc.http2.max_ping_strikes", 0),
    # Delta reconnects carry every resource version; large meshes exceed the 4 MB default.
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.max_send_message_length", -1),
    # Never share the port with another process: two servers on one port would split proxies
    # between unrelated caches.
    ("grpc.so_reuseport", 0),
)


class AdsServicer(ads_pb2_grpc.AggregatedDiscoveryServiceServicer):
    """AggregatedDiscoveryService over grpc.aio: each stream is one ``SotwSession``/``DeltaSession``.

    Register it with ``add_to_server`` (not the generated helper): the responses are bytes.
    """

    def __init__(self, cache: SnapshotCache, status_sink: StatusSink, metrics: XdsMetrics,
                 admit: Admit | None = None) -> None:
        self.cache = cache
        self.status_sink = status_sink
        self.metrics = metrics
        self.admit = admit
        self._stream_ids = itertools.count(1)

    async def StreamAggregatedResources(  # noqa: N802 - the gRPC method name
        self, request_iterator: AsyncIterator[discovery_pb2.DiscoveryRequest], context: grpc.aio.ServicerContext
    ) -> None:
        session = SotwSession(next(self._stream_ids), self.cache, self.status_sink, self.metrics, self.admit)
        await session.run(request_iterator, context)

    async def DeltaAggregatedResources(  # noqa: N802 - the gRPC method name
        self, request_iterator: AsyncIterator[discovery_pb2.DeltaDiscoveryRequest],
        context: grpc.aio.ServicerContext,
    ) -> None:
        session = DeltaSession(next(self._stream_ids), self.cache, self.status_sink, self.metrics, self.admit)
        await session.run(request_iterator, context)

    def add_to_server(self, server: grpc.aio.Server) -> None:
        """Register both ADS methods on ``server``, writing responses as pre-serialized bytes."""
        handlers = {
            "StreamAggregatedResources": grpc.stream_stream_rpc_method_handler(
                self.StreamAggregatedResources,
                request_deserializer=discovery_pb2.DiscoveryRequest.FromString,
                response_serializer=None,
            ),
            "DeltaAggregatedResources": grpc.stream_stream_rpc_method_handler(
                self.DeltaAggregatedResources,
                request_deserializer=discovery_pb2.DeltaDiscoveryRequest.FromString,
                response_serializer=None,
            ),
        }
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(ADS_SERVICE, handlers),))


class XdsServer:
    """The ADS server on ``listen`` (``host:port``; port 0 picks a free one), in its own thread.

    :param cache: where the snapshots come from.
    :param status_sink: receives every stream's status events (on the server's loop thread).
    :param listen: address to bind.
    :param metrics: the Prometheus metrics; a fresh ``XdsMetrics`` (own registry) by default.
    :param options: gRPC server options; ``SERVER_OPTIONS`` by default.
    :param credentials: TLS server credentials; None serves plaintext.
    :param admit: the admission hook run on each stream's first request (stream.admission);
        None admits every stream.
    """

    def __init__(self, cache: SnapshotCache, status_sink: StatusSink, listen: str = "127.0.0.1:0",
                 metrics: XdsMetrics | None = None,
                 options: Sequence[tuple[str, int | str]] = SERVER_OPTIONS,
                 credentials: grpc.ServerCredentials | None = None, admit: Admit | None = None) -> None:
        self.credentials = credentials
        self.admit = admit
        self.cache = cache
        self.status_sink = status_sink
        self.listen = listen
        self.metrics = metrics or XdsMetrics()
        self.options = tuple(options)
        self.port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: grpc.aio.Server | None = None
        self._stopped = threading.Event()

    def start(self) -> int:
        """Bind, start serving in a background thread, and return the bound port.

        Raises ``RuntimeError`` when the address cannot be bound or the server already started.
        """
        if self._thread is not None:
            raise RuntimeError("XdsServer already started")
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=self._run_loop, args=(loop,), name="xds-server", daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread
        try:
            self.port = asyncio.run_coroutine_threadsafe(self._start(), loop).result()
        except BaseException:
            self._shutdown_loop()
            raise
        log.info("xDS server listening on %s (port %d)", self.listen, self.port)
        return self.port

    async def _start(self) -> int:
        server = grpc.aio.server(options=self.options)
        AdsServicer(self.cache, self.status_sink, self.metrics, self.admit).add_to_server(server)
        try:
            if self.credentials is not None:
                port = server.add_secure_port(self.listen, self.credentials)
            else:
                port = server.add_insecure_port(self.listen)
        except RuntimeError as error:
            raise RuntimeError(f"cannot listen on {self.listen}: {error}") from None
        if port == 0:
            raise RuntimeError(f"cannot listen on {self.listen}")
        await server.start()
        self._server = server
        return port

    def stop(self, grace: float | None = 1.0) -> None:
        """Stop accepting streams, give open ones ``grace`` seconds, then cancel them and end the
        thread. Proxies keep their last configuration and reconnect. Idempotent."""
        loop, server = self._loop, self._server
        if loop is None or loop.is_closed():
            return
        if server is not None:
            try:
                asyncio.run_coroutine_threadsafe(self._stop(server, grace), loop).result()
            except RuntimeError:  # the loop already stopped
                pass
        self._shutdown_loop()

    @staticmethod
    async def _stop(server: grpc.aio.Server, grace: float | None) -> None:
        await server.stop(grace)
        # The streams are cancelled now; let their clean-up (unwatch, on_disconnect) finish
        # before the loop stops, and cancel only what is still left after that.
        tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=2.0)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1.0)

    def wait_for_termination(self, timeout: float | None = None) -> bool:
        """Block until ``stop`` finished (from another thread or a signal handler); True if it did."""
        return self._stopped.wait(timeout)

    def _shutdown_loop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(loop.stop)
            if thread is not None:
                thread.join()
            loop.close()
        self._stopped.set()

    @staticmethod
    def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        loop.run_forever()
