"""The stream layer's admission hook (stream.admission), generic: called once per stream with the
node and the call's metadata; a Refusal ends the stream with its code, reaches the status sink and
the refused-streams counter; admitted streams behave as without a hook."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import grpc
import pytest
from adsclient import AdsClient, Xds, wait_until
from stream_resources import make_cluster, make_snapshot

from meshplane.stream import CLUSTER, MemoryStatusSink, Refusal, SnapshotCache, StreamOpening, XdsServer

seen: list[StreamOpening] = []


def hook(opening: StreamOpening) -> Refusal | None:
    seen.append(opening)
    if opening.node.id == "blocked":
        return Refusal(grpc.StatusCode.PERMISSION_DENIED, "blocked is not welcome")
    if opening.node.id == "broken":
        raise RuntimeError("the hook failed")
    return None


async def async_hook(opening: StreamOpening) -> Refusal | None:
    await asyncio.sleep(0)
    return hook(opening)


@pytest.fixture(params=[hook, async_hook], ids=["sync", "async"])
def xds_admit(request: pytest.FixtureRequest) -> Iterator[Xds]:
    seen.clear()
    cache, sink = SnapshotCache(), MemoryStatusSink()
    server = XdsServer(cache, sink, admit=request.param)
    env = Xds(cache, sink, server, server.start())
    try:
        yield env
    finally:
        for client in env.clients:
            client.close()
        server.stop(0)


def test_admitted_streams_are_served_and_the_hook_runs_once(xds_admit: Xds) -> None:
    xds_admit.cache.set_snapshot("ok", make_snapshot(clusters=[make_cluster("c")]))
    client = xds_admit.connect("ok")
    client.sync(CLUSTER)
    client.request(CLUSTER, nonce="stale")  # more requests on the stream: no second admission
    assert [o.node.id for o in seen] == ["ok"]
    assert seen[0].protocol == "sotw" and seen[0].peer.startswith("ipv4:127.0.0.1:")
    assert isinstance(seen[0].metadata, tuple) and seen[0].auth_context.get("transport_security_type") in (None, [b"insecure"])
    assert xds_admit.metric("meshplane_xds_connected_proxies") == 1


@pytest.mark.parametrize("delta", [False, True])
def test_refused_streams_end_with_the_code_and_are_reported(xds_admit: Xds, delta: bool) -> None:
    client = xds_admit.connect("blocked", delta=delta)
    if delta:
        client.subscribe(CLUSTER)
    else:
        client.request(CLUSTER)
    error = client.expect_error()
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED and error.details() == "blocked is not welcome"
    refused = xds_admit.sink.refusals[-1]
    assert refused.node_id == "blocked" and refused.refused == "PERMISSION_DENIED: blocked is not welcome"
    assert refused.protocol == ("delta" if delta else "sotw")
    assert xds_admit.sink.snapshot() == []  # never connected
    assert xds_admit.metric("meshplane_xds_refused_streams_total", code="PERMISSION_DENIED") == 1
    assert xds_admit.metric("meshplane_xds_connected_proxies") == 0


def test_a_failing_hook_refuses_with_unavailable(xds_admit: Xds) -> None:
    client = xds_admit.connect("broken")
    client.request(CLUSTER)
    assert client.expect_error().code() == grpc.StatusCode.UNAVAILABLE
    wait_until(lambda: xds_admit.metric("meshplane_xds_refused_streams_total", code="UNAVAILABLE") == 1)


def test_metadata_reaches_the_hook(xds_admit: Xds) -> None:
    xds_admit.cache.set_snapshot("ok", make_snapshot(clusters=[make_cluster("c")]))
    client = AdsClient(xds_admit.port, "ok")
    xds_admit.clients.append(client)
    # AdsClient sends no metadata of its own: gRPC's user agent is what the hook sees.
    client.sync(CLUSTER)
    assert any(key == "user-agent" for key, _ in seen[-1].metadata)
