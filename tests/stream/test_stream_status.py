"""Status bookkeeping, metrics and the server's life cycle."""

from __future__ import annotations

import json
import threading
import time

import pytest
from adsclient import AdsClient, Xds, wait_until
from stream_resources import demo_snapshot

from meshplane.stream import CLUSTER, ENDPOINT, LISTENER, ROUTE, MemoryStatusSink, SnapshotCache, XdsServer


def test_the_status_of_a_stream_is_plain_data_with_every_core_type(xds: Xds) -> None:
    xds.cache.set_snapshot("node-1", demo_snapshot())
    client = xds.connect()
    before = time.time()
    response = client.sync(CLUSTER)[CLUSTER]
    wait_until(lambda: xds.type_status(CLUSTER)["state"] == "SYNCED")
    status = xds.status()
    assert set(status) == {"stream_id", "node_id", "protocol", "peer", "connected_since", "last_seen", "types"}
    assert (status["node_id"], status["protocol"]) == ("node-1", "sotw")
    assert status["peer"].startswith("ipv4:127.0.0.1:")
    assert status["connected_since"] <= before + 1 and status["last_seen"] >= status["connected_since"]
    assert list(status["types"]) == [CLUSTER, ENDPOINT, LISTENER, ROUTE]
    assert status["types"][CLUSTER] == {
        "type": "CDS", "state": "SYNCED",
        "version_sent": response.version_info, "nonce_sent": response.nonce,
        "sent_at": status["types"][CLUSTER]["sent_at"],
        "version_acked": response.version_info, "nonce_acked": response.nonce,
        "acked_at": status["types"][CLUSTER]["acked_at"],
        "error": None, "error_at": None,
    }
    assert status["types"][ROUTE]["state"] == "NOT_SENT"


def test_last_seen_moves_with_every_request(xds: Xds) -> None:
    xds.cache.set_snapshot("node-1", demo_snapshot())
    client = xds.connect()
    client.sync(CLUSTER)
    seen = wait_until(lambda: xds.status()["last_seen"])
    time.sleep(0.02)
    client.request(ENDPOINT, ["nothing-here"])
    wait_until(lambda: xds.status()["last_seen"] > seen)


def test_a_disconnected_stream_leaves_the_status_and_the_gauge(xds: Xds) -> None:
    xds.cache.set_snapshot("node-1", demo_snapshot())
    client = xds.connect()
    client.sync(CLUSTER)
    wait_until(lambda: xds.metric("meshplane_xds_connected_proxies") == 1)
    client.close()
    wait_until(lambda: xds.sink.snapshot() == [] and xds.metric("meshplane_xds_connected_proxies") == 0)


def test_metrics_count_pushes_nacks_and_convergence_per_type(xds: Xds) -> None:
    xds.cache.set_snapshot("node-1", demo_snapshot())
    client = xds.connect()
    client.sync(CLUSTER, ENDPOINT, resource_names={ENDPOINT: ["web"]})
    xds.cache.set_snapshot("node-1", demo_snapshot(timeout=2.0))
    client.nack(client.expect(CLUSTER), "no")
    client.ack(client.expect(ENDPOINT))
    wait_until(lambda: xds.metric("meshplane_xds_convergence_seconds_count", type="EDS") == 2)
    assert xds.metric("meshplane_xds_pushes_total", type="CDS") == 2
    assert xds.metric("meshplane_xds_pushes_total", type="EDS") == 2
    assert xds.metric("meshplane_xds_nacks_total", type="CDS") == 1
    assert xds.metric("meshplane_xds_convergence_seconds_count", type="CDS") == 1  # only the ACKed one
    assert 0 < xds.metric("meshplane_xds_convergence_seconds_sum", type="EDS") < 5


def test_two_servers_keep_separate_metrics_and_status() -> None:
    servers = [XdsServer(SnapshotCache(), MemoryStatusSink()) for _ in range(2)]
    ports = [server.start() for server in servers]
    try:
        servers[0].cache.set_snapshot("node-1", demo_snapshot())
        client = AdsClient(ports[0])
        try:
            client.sync(CLUSTER)
            wait_until(lambda: servers[0].metrics.registry.get_sample_value("meshplane_xds_connected_proxies") == 1)
            assert servers[1].metrics.registry.get_sample_value("meshplane_xds_connected_proxies") == 0
            assert servers[1].status_sink.snapshot() == []  # type: ignore[attr-defined]
        finally:
            client.close()
    finally:
        for server in servers:
            server.stop(0)


def test_the_server_starts_once_stops_idempotently_and_releases_waiters() -> None:
    server = XdsServer(SnapshotCache(), MemoryStatusSink())
    port = server.start()
    assert port > 0 and server.port == port
    with pytest.raises(RuntimeError, match="already started"):
        server.start()
    assert server.wait_for_termination(timeout=0.05) is False
    waiter = threading.Thread(target=server.wait_for_termination)
    waiter.start()
    server.stop(0.1)
    waiter.join(timeout=5)
    assert not waiter.is_alive()
    server.stop(0)


def test_an_address_that_cannot_be_bound_is_an_error() -> None:
    first = XdsServer(SnapshotCache(), MemoryStatusSink())
    port = first.start()
    try:
        with pytest.raises(RuntimeError, match="cannot listen"):
            XdsServer(SnapshotCache(), MemoryStatusSink(), listen=f"127.0.0.1:{port}").start()
    finally:
        first.stop(0)


def test_the_stored_status_row_encodes_every_type_like_json_dumps() -> None:
    import json

    from meshplane.propagate import PersistentStatus, types_json
    from meshplane.stream.types import SECRET

    sink = PersistentStatus()
    sink.on_connect(7, "mesh/m/virtualNode/a", "sotw", "ipv4:127.0.0.1:1", 1.5)
    sink.on_send(7, CLUSTER, "e-1", "1", 2.25)
    sink.on_ack(7, CLUSTER, "e-1", "1", 2.5)
    sink.on_send(7, ROUTE, "e-\"2\"", "2", 3.0)
    sink.on_nack(7, ROUTE, "e-\"2\"", "2", 'bad route "x" \u00e9', 3.5)
    sink.on_send(7, SECRET, "s-1", "3", 4.0)
    live, gone = sink.take_dirty()
    assert gone == [] and [s.stream_id for s, _ in live] == [7]
    stream, text = live[0]
    assert text == types_json(stream)
    expected = {
        t["type"]: {"state": t["state"], "versionSent": t["version_sent"], "versionAcked": t["version_acked"],
                    "sentAt": t["sent_at"], "ackedAt": t["acked_at"], "error": t["error"]}
        for t in stream.as_dict()["types"].values()
    }
    assert text == json.dumps(expected, sort_keys=True, separators=(",", ":"))
    assert json.loads(text)["RDS"]["state"] == "ERROR" and json.loads(text)["SDS"]["state"] == "STALE"
    sink.on_disconnect(7, 9.0)
    live, gone = sink.take_dirty()
    assert live == [] and gone[0][0].last_seen == 9.0


def test_a_stored_status_row_re_encodes_only_what_changed_and_stays_exact() -> None:
    from meshplane.propagate import PersistentStatus, types_json

    sink = PersistentStatus()
    sink.on_connect(3, "mesh/m/virtualNode/a", "sotw", "ipv4:127.0.0.1:1", 1.0)
    for type_url in (CLUSTER, ROUTE):
        sink.on_send(3, type_url, "e-1", "1", 2.0)
        sink.on_ack(3, type_url, "e-1", "1", 2.5)
    before = sink.last_event
    (stream, first), = sink.take_dirty()[0]
    assert sink.take_dirty() == ([], [])  # nothing changed since: no row to write
    sink.on_send(3, ROUTE, "e-2", "2", 3.0)
    (stream, second), = sink.take_dirty()[0]
    assert sink.last_event > before
    assert second == types_json(stream)  # the cached members of unchanged types are still exact
    assert json.loads(second)["RDS"]["state"] == "STALE" and json.loads(second)["CDS"] == json.loads(first)["CDS"]
    sink.on_ack(3, ROUTE, "e-2", "2", 3.5)
    (stream, third), = sink.take_dirty()[0]
    assert json.loads(third)["RDS"] == {"ackedAt": 3.5, "error": None, "sentAt": 3.0, "state": "SYNCED",
                                         "versionAcked": "e-2", "versionSent": "e-2"}
