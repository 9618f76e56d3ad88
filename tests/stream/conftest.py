"""Fixtures for the stream tests: a real XdsServer on port 0 and ADS clients connected to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from adsclient import Xds

from meshplane.stream import MemoryStatusSink, SnapshotCache, XdsServer


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
