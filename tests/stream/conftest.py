"""Fixtures for the stream tests: a real XdsServer on port 0 and ADS clients connected to it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from adsclient import AdsClient

from meshplane.stream import MemoryStatusSink, SnapshotCache, XdsServer


@dataclass
class Xds:
    """A running server and what tests poke at."""

    cache: SnapshotCache
    sink: MemoryStatusSink
    server: XdsServer
    port: int
    clients: list[AdsClient] = field(default_factory=list)

    def connect(self, node_id: str = "node-1", delta: bool = False, **kwargs: Any) -> AdsClient:
        client = AdsClient(self.port, node_id, delta=delta, **kwargs)
        self.clients.append(client)
        return client

    def status(self, node_id: str = "node-1") -> dict[str, Any]:
        """The status dict of the node's only stream."""
        streams = self.sink.node(node_id)
        assert len(streams) == 1, streams
        return streams[0]

    def type_status(self, type_url: str, node_id: str = "node-1") -> dict[str, Any]:
        return self.status(node_id)["types"][type_url]

    def metric(self, name: str, **labels: str) -> float:
        value = self.server.metrics.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value


@pytest.fixture
def xds() -> Iterator[Xds]:
    cache = SnapshotCache()
    sink = MemoryStatusSink()
    server = XdsServer(cache, sink)
    port = server.start()
    env = Xds(cache, sink, server, port)
    try:
        yield env
    finally:
        for client in env.clients:
            client.close()
        server.stop(0)
