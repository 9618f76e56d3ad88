"""State-of-the-world ADS against a real XdsServer, driven by the protocol client."""

from __future__ import annotations

import threading

import grpc
from adsclient import AdsClient, Xds, names, unpack, wait_until
from stream_resources import demo_snapshot, make_cla, make_cluster, make_listener, make_route, make_snapshot

from meshplane.stream import (
    CLUSTER,
    ENDPOINT,
    LISTENER,
    ROUTE,
    MemoryStatusSink,
    SnapshotCache,
    XdsServer,
    node_metadata,
)

ALL = (CLUSTER, ENDPOINT, LISTENER, ROUTE)
NAMES = {ENDPOINT: ["web"], ROUTE: ["routes"]}


def state(xds: Xds, type_url: str, node_id: str = "node-1") -> str:
    return str(xds.type_status(type_url, node_id)["state"])


def test_an_ack_moves_the_type_to_synced(xds: Xds) -> None:
    xds.cache.set_snapshot("node-1", demo_snapshot())
    client = xds.connect()
    client.request(CLUSTER)
    response = client.expect(CLUSTER)
    wait_until(lambda: state(xds, CLUSTER) == "STALE", message="sent but not yet acknowledged")
    client.ack(response)
    wait_until(lambda: state(xds, CLUSTER) == "SYNCED")
    status = xds.type_status(CLUSTER)
    assert status["version_sent"] == status["version_acked"] == response.version_info
    assert status["nonce_sent"] == status["nonce_acked"] == response.nonce
    assert status["sent_at"] <= status["acked_at"]
    assert status["error"] is None
    assert [xds.type_status(t)["state"] for t in (ENDPOINT, LISTENER, ROUTE)] == ["NOT_SENT"] * 3


def test_a_nack_records_the_error_and_the_same_version_is_not_sent_again(xds: Xds) -> None:
    xds.cache.set_snapshot("node-1", demo_snapshot())
    client = xds.connect()
    good = client.sync(CLUSTER)[CLUSTER]
    xds.cache.set_snapshot("node-1", demo_snapshot(timeout=2.0))
    bad = client.expect(CLUSTER)
    client.nack(bad, "Invalid duration: Expected positive duration", last_good_version=good.version_info)
    wait_until(lambda: state(xds, CLUSTER) == "ERROR")
    status = xds.type_status(CLUSTER)
    assert status["error"] == "Invalid duration: Expected positive duration"
    assert (status["version_sent"], status["version_acked"]) == (bad.version_info, good.version_info)
    assert xds.metric("meshplane_xds_nacks_total", type="CDS") == 1

    client.expect_nothing()
    xds.cache.set_snapshot("node-1", demo_snapshot(timeout=2.0))  # rebuilt, identical: same version
    client.expect_nothing()

    xds.cache.set_snapshot("node-1", demo_snapshot(timeout=3.0))  # a new snapshot is sent
    fixed = client.expect(CLUSTER)
    assert fixed.version_info not in (good.version_info, bad.version_info)
    client.ack(fixed)
    wait_until(lambda: state(xds, CLUSTER) == "SYNCED")
    assert xds.type_status(CLUSTER)["error"] is None


def test_a_request_with_a_stale_nonce_is_ignored(xds: Xds) -> None:
    xds.cache.set_snapshot("node-1", demo_snapshot(clusters=("web", "api")))
    client = xds.connect()
    old = client.sync(CLUSTER, ENDPOINT, resource_names=NAMES)[ENDPOINT]
    xds.cache.set_snapshot("node-1", demo_snapshot(clusters=("web", "api"), backend=9090))
    newer = client.expect(ENDPOINT)
    client.ack(newer)
    wait_until(lambda: state(xds, ENDPOINT) == "SYNCED")
    # A late request carrying the old nonce: neither an ACK, nor a NACK, nor a new subscription.
    client.request(ENDPOINT, ["web", "api"], version=old.version_info, nonce=old.nonce, error="late")
    client.expect_nothing()
    status = xds.type_status(ENDPOINT)
    assert (status["state"], status["error"], status["nonce_acked"]) == ("SYNCED", None, newer.nonce)
    client.request(ENDPOINT, ["web", "api"], version=newer.version_info, nonce=newer.nonce)
    assert names(client.expect(ENDPOINT)) == ["api", "web"]  # the same change with the current nonce


def test_cds_and_lds_are_wildcard_subscriptions(xds: Xds) -> None:
    xds.cache.set_snapshot("node-1", demo_snapshot(clusters=("web", "api")))
    client = xds.connect()
    responses = client.sync(CLUSTER, LISTENER)
    assert names(responses[CLUSTER]) == ["api", "web"]
    assert names(responses[LISTENER]) == ["ingress"]

    xds.cache.set_snapshot("node-1", demo_snapshot(clusters=("web", "api", "db")))
    assert names(client.expect(CLUSTER)) == ["api", "db", "web"]  # full state: all of them again

    explicit = xds.connect("node-1")
    explicit.request(CLUSTER, ["*"])
    assert names(explicit.expect(CLUSTER)) == ["api", "db", "web"]


def test_eds_and_rds_send_only_subscribed_names_and_follow_resubscription(xds: Xds) -> None:
    snapshot = make_snapshot(
        clusters=[make_cluster(n) for n in ("a", "b")],
        endpoints=[make_cla(n, [("127.0.0.1", 1)]) for n in ("a", "b", "c")],
        routes=[make_route("r1", "a"), make_route("r2", "b")],
    )
    xds.cache.set_snapshot("node-1", snapshot)
    client = xds.connect()
    client.request(ENDPOINT, ["a"])
    only_a = client.expect(ENDPOINT)
    assert names(only_a) == ["a"]

    client.ack(only_a, ["a", "b"])  # subscribe to b too, in the ACK
    a_and_b = client.expect(ENDPOINT)
    assert names(a_and_b) == ["a", "b"]
    client.ack(a_and_b, ["a"])  # and drop b again
    assert names(client.expect(ENDPOINT)) == ["a"]

    client.request(ROUTE, ["r2"])
    assert names(client.expect(ROUTE)) == ["r2"]


def test_a_subscribed_name_that_appears_later_is_sent_then(xds: Xds) -> None:
    xds.cache.set_snapshot("node-1", make_snapshot(endpoints=[make_cla("a", [("127.0.0.1", 1)])]))
    client = xds.connect()
    client.sync(ENDPOINT, resource_names={ENDPOINT: ["a", "later"]})
    client.expect_nothing()
    xds.cache.set_snapshot("node-1", make_snapshot(endpoints=[make_cla(n, [("127.0.0.1", 1)]) for n in ("a", "later")]))
    assert names(client.expect(ENDPOINT)) == ["a", "later"]


def test_a_reconnecting_sotw_client_gets_everything_again(xds: Xds) -> None:
    xds.cache.set_snapshot("node-1", demo_snapshot())
    client = xds.connect()
    before = client.sync(*ALL, resource_names=NAMES)
    client.close()

    again = xds.connect()
    for type_url in ALL:  # Envoy re-requests with its last accepted version and no nonce
        again.request(type_url, NAMES.get(type_url, []), version=before[type_url].version_info)
        response = again.expect(type_url)
        assert names(response) == names(before[type_url])
        assert response.version_info == before[type_url].version_info


def test_a_removed_cluster_leaves_cds_only_after_the_route_update_is_acked(xds: Xds) -> None:
    def snapshot(route_to: str, clusters: tuple[str, ...]):  # type: ignore[no-untyped-def]
        return make_snapshot(
            clusters=[make_cluster(c) for c in clusters],
            endpoints=[make_cla(c, [("127.0.0.1", 1)]) for c in clusters],
            listeners=[make_listener("ingress", 10000, "routes")],
            routes=[make_route("routes", route_to)],
        )

    xds.cache.set_snapshot("node-1", snapshot("old", ("web", "old")))
    client = xds.connect()
    client.sync(*ALL, resource_names={ENDPOINT: ["old", "web"], ROUTE: ["routes"]})

    xds.cache.set_snapshot("node-1", snapshot("web", ("web",)))
    route = client.expect(ROUTE)  # make: the route moves to web first ...
    assert unpack(route)["routes"].virtual_hosts[0].routes[0].route.cluster == "web"
    client.expect_nothing()  # ... and CDS still holds "old" while the route is unacknowledged
    client.ack(route)
    clusters = client.expect(CLUSTER)  # break: only now does "old" leave CDS
    assert names(clusters) == ["web"]
    assert names(client.expect(ENDPOINT)) == ["web"]  # and its CLA no longer rides along
    client.expect_nothing()


def test_a_changed_cluster_resends_its_cluster_load_assignment(xds: Xds) -> None:
    xds.cache.set_snapshot("node-1", demo_snapshot())
    client = xds.connect()
    before = client.sync(*ALL, resource_names=NAMES)
    xds.cache.set_snapshot("node-1", demo_snapshot(timeout=5.0))  # the cluster changes, its CLA does not
    assert names(client.expect(CLUSTER)) == ["web"]
    endpoints = client.expect(ENDPOINT)  # without waiting for the CDS ACK: Envoy needs it to warm
    assert names(endpoints) == ["web"]
    assert endpoints.version_info == before[ENDPOINT].version_info
    assert endpoints.nonce != before[ENDPOINT].nonce


def test_several_changes_go_out_in_the_order_cds_eds_lds_rds(xds: Xds) -> None:
    xds.cache.set_snapshot("node-1", demo_snapshot())
    client = xds.connect()
    client.sync(*ALL, resource_names=NAMES)
    xds.cache.set_snapshot("node-1", demo_snapshot(port=10001, backend=9090, route_to="api",
                                                   clusters=("web", "api")))
    assert [client.expect().type_url for _ in range(4)] == list(ALL)


def test_routes_wait_while_a_newer_cds_is_held_behind_an_unacknowledged_one(xds: Xds) -> None:
    xds.cache.set_snapshot("node-1", demo_snapshot())
    client = xds.connect()
    client.sync(*ALL, resource_names=NAMES)
    xds.cache.set_snapshot("node-1", demo_snapshot(timeout=2.0))
    first_cds = client.expect(CLUSTER)
    client.ack(client.expect(ENDPOINT))  # the forced CLA; CDS stays unacknowledged
    xds.cache.set_snapshot("node-1", demo_snapshot(timeout=2.0, route_to="api", clusters=("web", "api")))
    client.expect_nothing()  # the route to "api" must not overtake the cluster "api"
    client.ack(first_cds)
    assert names(client.expect(CLUSTER)) == ["api", "web"]
    assert client.expect().type_url in (ENDPOINT, ROUTE)


def test_two_streams_are_isolated_when_one_nacks(xds: Xds) -> None:
    for node in ("node-1", "node-2"):
        xds.cache.set_snapshot(node, demo_snapshot())
    rejecting, accepting = xds.connect("node-1"), xds.connect("node-2")
    for client in (rejecting, accepting):
        client.sync(CLUSTER)
    for node in ("node-1", "node-2"):
        xds.cache.set_snapshot(node, demo_snapshot(timeout=2.0))
    rejecting.nack(rejecting.expect(CLUSTER), "no")
    accepting.ack(accepting.expect(CLUSTER))
    wait_until(lambda: state(xds, CLUSTER, "node-1") == "ERROR" and state(xds, CLUSTER, "node-2") == "SYNCED")

    for node in ("node-1", "node-2"):
        xds.cache.set_snapshot(node, demo_snapshot(timeout=3.0))
    accepting.ack(accepting.expect(CLUSTER))
    wait_until(lambda: state(xds, CLUSTER, "node-2") == "SYNCED")
    assert state(xds, CLUSTER, "node-1") == "STALE"  # sent the new version, waiting for its answer

    rejecting.close()  # a stream going away leaves the other alone
    xds.cache.set_snapshot("node-2", demo_snapshot(timeout=4.0))
    accepting.ack(accepting.expect(CLUSTER))
    wait_until(lambda: state(xds, CLUSTER, "node-2") == "SYNCED")


def test_a_snapshot_set_before_connect_is_served_immediately(xds: Xds) -> None:
    xds.cache.set_snapshot("node-1", demo_snapshot())
    client = xds.connect()
    client.request(CLUSTER)
    assert names(client.expect(CLUSTER, timeout=1.0)) == ["web"]


def test_a_proxy_without_snapshot_waits_and_the_first_request_hook_can_provide_one(xds: Xds) -> None:
    seen = []

    def build_lazily(node_id: str, node) -> None:  # type: ignore[no-untyped-def]
        seen.append((node_id, node_metadata(node)))
        if node_id == "lazy":
            xds.cache.set_snapshot(node_id, demo_snapshot())

    xds.cache.set_on_first_request(build_lazily)
    waiting = xds.connect("nobody", metadata={"role": "none"})
    waiting.request(CLUSTER)
    waiting.expect_nothing()
    lazy = xds.connect("lazy", metadata={"role": "web"})
    lazy.request(CLUSTER)
    assert names(lazy.expect(CLUSTER)) == ["web"]
    assert sorted(seen) == [("lazy", {"role": "web"}), ("nobody", {"role": "none"})]
    xds.cache.set_snapshot("nobody", demo_snapshot())
    assert names(waiting.expect(CLUSTER)) == ["web"]


def test_a_failing_first_request_hook_does_not_break_the_stream(xds: Xds) -> None:
    def broken(node_id: str, node) -> None:  # type: ignore[no-untyped-def]
        raise KeyError(node_id)

    xds.cache.set_on_first_request(broken)
    xds.cache.set_snapshot("node-1", demo_snapshot())
    client = xds.connect()
    client.request(CLUSTER)
    assert names(client.expect(CLUSTER)) == ["web"]


def test_a_first_request_without_node_id_is_refused(xds: Xds) -> None:
    client = xds.connect("")
    client.request(CLUSTER)
    assert client.expect_error().code() == grpc.StatusCode.INVALID_ARGUMENT


def test_versions_are_stable_across_identical_snapshots_and_differ_between_servers(xds: Xds) -> None:
    xds.cache.set_snapshot("node-1", demo_snapshot())
    client = xds.connect()
    first = client.sync(CLUSTER)[CLUSTER]
    xds.cache.set_snapshot("node-1", demo_snapshot())  # rebuilt from scratch, same content
    client.expect_nothing()

    other_cache = SnapshotCache()
    other = XdsServer(other_cache, MemoryStatusSink())
    port = other.start()
    try:
        other_cache.set_snapshot("node-1", demo_snapshot())
        elsewhere = AdsClient(port)
        try:
            response = elsewhere.sync(CLUSTER)[CLUSTER]
        finally:
            elsewhere.close()
    finally:
        other.stop(0)
    assert response.resources == first.resources
    assert response.version_info != first.version_info  # another epoch: never the same version twice
    assert response.version_info.split("-")[1] == first.version_info.split("-")[1]


def test_set_snapshot_from_many_threads_at_once_wakes_every_stream(xds: Xds) -> None:
    clients = [xds.connect(f"node-{i}") for i in range(8)]
    for client in clients:
        client.request(CLUSTER)
    threads = [threading.Thread(target=xds.cache.set_snapshot, args=(f"node-{i}", demo_snapshot()))
               for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for client in clients:
        assert names(client.expect(CLUSTER)) == ["web"]


def test_a_cluster_is_removed_once_its_listener_is_gone_and_nothing_waits_for_the_routes(xds: Xds) -> None:
    xds.cache.set_snapshot("node-1", demo_snapshot(clusters=("web", "old")))
    client = xds.connect()
    before = client.sync(*ALL, resource_names={ENDPOINT: ["old", "web"], ROUTE: ["routes"]})
    xds.cache.set_snapshot("node-1", make_snapshot(clusters=[make_cluster("web")],
                                                   endpoints=[make_cla("web", [("127.0.0.1", 8080)])]))
    listeners = client.expect(LISTENER)
    assert names(listeners) == []
    client.expect_nothing()  # "old" stays until the listener update is ACKed
    client.ack(listeners)
    # No empty RDS answer (SotW cannot delete; Envoy is dropping that subscription anyway) ...
    assert names(client.expect(CLUSTER)) == ["web"]  # ... so "old" goes right away
    assert names(client.expect(ENDPOINT)) == ["web"]
    client.request(ROUTE, [], version=before[ROUTE].version_info, nonce=before[ROUTE].nonce)  # unsubscribe
    client.expect_nothing()
