"""Delta (incremental) ADS against a real XdsServer, driven by the protocol client."""

from __future__ import annotations

from adsclient import Xds, names, wait_until
from stream_resources import demo_snapshot, make_cla, make_cluster, make_listener, make_route, make_snapshot

from meshplane.stream import CLUSTER, ENDPOINT, LISTENER, ROUTE

ALL = (CLUSTER, ENDPOINT, LISTENER, ROUTE)
NAMES = {ENDPOINT: ["web"], ROUTE: ["routes"]}


def state(xds: Xds, type_url: str, node_id: str = "node-1") -> str:
    return str(xds.type_status(type_url, node_id)["state"])


def versions(response) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {resource.name: resource.version for resource in response.resources}


def test_an_ack_moves_the_type_to_synced_and_resources_carry_content_versions(xds: Xds) -> None:
    snapshot = demo_snapshot()
    xds.cache.set_snapshot("node-1", snapshot)
    client = xds.connect(delta=True)
    client.subscribe(CLUSTER)
    response = client.expect(CLUSTER)
    assert versions(response) == {"web": snapshot.resource_version(CLUSTER, "web")}
    assert response.system_version_info == snapshot.version(CLUSTER, xds.cache.epoch)
    client.ack(response)
    wait_until(lambda: state(xds, CLUSTER) == "SYNCED")
    assert xds.status()["protocol"] == "delta"


def test_a_nack_records_the_error_and_the_resource_is_not_sent_again_on_its_own(xds: Xds) -> None:
    xds.cache.set_snapshot("node-1", demo_snapshot(clusters=("web", "api")))
    client = xds.connect(delta=True)
    client.sync(CLUSTER)
    xds.cache.set_snapshot("node-1", demo_snapshot(clusters=("web", "api"), timeout=2.0))
    rejected = client.expect(CLUSTER)
    assert names(rejected) == ["api", "web"]
    client.nack(rejected, "bad timeout")
    wait_until(lambda: state(xds, CLUSTER) == "ERROR")
    assert xds.type_status(CLUSTER)["error"] == "bad timeout"
    client.expect_nothing()

    # Another change of the type carries the rejected resources along, so Envoy judges them again.
    changed = make_snapshot(clusters=[make_cluster("web", 2.0), make_cluster("api", 2.0), make_cluster("db")])
    xds.cache.set_snapshot("node-1", changed)
    again = client.expect(CLUSTER)
    assert names(again) == ["api", "db", "web"]
    client.ack(again)
    wait_until(lambda: state(xds, CLUSTER) == "SYNCED")


def test_an_empty_first_subscription_is_a_wildcard_for_cds_and_lds_and_star_is_anywhere(xds: Xds) -> None:
    xds.cache.set_snapshot("node-1", demo_snapshot(clusters=("web", "api")))
    client = xds.connect(delta=True)
    responses = client.sync(CLUSTER, LISTENER)
    assert names(responses[CLUSTER]) == ["api", "web"]
    assert names(responses[LISTENER]) == ["ingress"]
    client.subscribe(ENDPOINT, ["*"])
    assert names(client.expect(ENDPOINT)) == ["api", "web"]

    xds.cache.set_snapshot("node-1", demo_snapshot(clusters=("web", "db")))
    update = client.expect(CLUSTER)
    assert (names(update), list(update.removed_resources)) == (["db"], ["api"])


def test_named_subscriptions_follow_subscribe_and_unsubscribe(xds: Xds) -> None:
    xds.cache.set_snapshot("node-1", make_snapshot(
        endpoints=[make_cla(n, [("127.0.0.1", 1)]) for n in ("a", "b")],
        routes=[make_route("r1", "a"), make_route("r2", "b")],
    ))
    client = xds.connect(delta=True)
    client.subscribe(ENDPOINT, ["a"])
    first = client.expect(ENDPOINT)
    assert names(first) == ["a"]
    client.subscribe(ENDPOINT, ["b", "missing"], nonce=first.nonce)  # ACK + subscribe in one
    second = client.expect(ENDPOINT)
    # A name that does not exist is answered at once in removed_resources.
    assert (names(second), list(second.removed_resources)) == (["b"], ["missing"])
    client.ack(second)
    client.subscribe(ENDPOINT, unsubscribe=["b"])
    client.expect_nothing()

    xds.cache.set_snapshot("node-1", make_snapshot(
        endpoints=[make_cla(n, [("127.0.0.1", 2)]) for n in ("a", "b", "missing")],
        routes=[make_route("r1", "a"), make_route("r2", "b")],
    ))
    update = client.expect(ENDPOINT)
    assert names(update) == ["a", "missing"]  # b is unsubscribed; missing now exists
    client.ack(update)
    client.subscribe(ENDPOINT, ["a"])  # subscribed again: sent again, "the client may have forgotten"
    assert names(client.expect(ENDPOINT)) == ["a"]

    client.subscribe(ROUTE, ["r2"])
    assert names(client.expect(ROUTE)) == ["r2"]


def test_subscription_changes_are_honoured_even_with_a_stale_nonce(xds: Xds) -> None:
    xds.cache.set_snapshot("node-1", make_snapshot(endpoints=[make_cla(n, [("127.0.0.1", 1)]) for n in "abc"]))
    client = xds.connect(delta=True)
    client.subscribe(ENDPOINT, ["a"])
    first = client.expect(ENDPOINT)
    client.ack(first)
    client.subscribe(ENDPOINT, ["b"], nonce=first.nonce)
    second = client.expect(ENDPOINT)
    client.subscribe(ENDPOINT, ["c"], nonce=first.nonce, error="late")  # stale nonce: no NACK ...
    client.ack(second)
    assert names(client.expect(ENDPOINT)) == ["c"]  # ... but c is subscribed
    assert xds.type_status(ENDPOINT)["error"] is None


def test_a_reconnecting_delta_client_gets_only_what_changed(xds: Xds) -> None:
    xds.cache.set_snapshot("node-1", demo_snapshot(clusters=("web", "api", "db")))
    client = xds.connect(delta=True)
    before = client.sync(*ALL, resource_names={ENDPOINT: ["web", "api", "db"], ROUTE: ["routes"]})
    client.close()

    xds.cache.set_snapshot("node-1", make_snapshot(
        clusters=[make_cluster("web"), make_cluster("api", 9.0)],
        endpoints=[make_cla("web", [("127.0.0.1", 8080)]), make_cla("api", [("127.0.0.1", 8080)])],
        listeners=[make_listener("ingress", 10000, "routes")],
        routes=[make_route("routes", "web")],
    ))
    again = xds.connect(delta=True)
    again.subscribe(CLUSTER, initial_versions=versions(before[CLUSTER]))
    clusters = again.expect(CLUSTER)
    assert (names(clusters), list(clusters.removed_resources)) == (["api"], ["db"])
    again.ack(clusters)
    again.subscribe(ENDPOINT, ["web", "api"], initial_versions={
        k: v for k, v in versions(before[ENDPOINT]).items() if k != "db"})
    endpoints = again.expect(ENDPOINT)
    assert names(endpoints) == ["api"]  # the changed cluster's CLA, re-sent for warming; web unchanged
    again.subscribe(LISTENER, initial_versions=versions(before[LISTENER]))
    listeners = again.expect(LISTENER)  # the first request is always answered, here with nothing
    assert (names(listeners), list(listeners.removed_resources)) == ([], [])


def test_a_removed_cluster_is_removed_only_after_the_route_update_is_acked(xds: Xds) -> None:
    def snapshot(route_to: str, clusters: tuple[str, ...]):  # type: ignore[no-untyped-def]
        return make_snapshot(
            clusters=[make_cluster(c) for c in clusters],
            endpoints=[make_cla(c, [("127.0.0.1", 1)]) for c in clusters],
            listeners=[make_listener("ingress", 10000, "routes")],
            routes=[make_route("routes", route_to)],
        )

    xds.cache.set_snapshot("node-1", snapshot("old", ("web", "old")))
    client = xds.connect(delta=True)
    client.sync(*ALL, resource_names={ENDPOINT: ["old", "web"], ROUTE: ["routes"]})
    xds.cache.set_snapshot("node-1", snapshot("web", ("web",)))
    route = client.expect(ROUTE)
    client.expect_nothing()  # "old" and its CLA stay while the route update is unacknowledged
    client.ack(route)
    clusters = client.expect(CLUSTER)
    assert (names(clusters), list(clusters.removed_resources)) == ([], ["old"])
    endpoints = client.expect(ENDPOINT)
    assert (names(endpoints), list(endpoints.removed_resources)) == ([], ["old"])


def test_a_changed_cluster_resends_its_cluster_load_assignment(xds: Xds) -> None:
    xds.cache.set_snapshot("node-1", demo_snapshot(clusters=("web", "api")))
    client = xds.connect(delta=True)
    before = client.sync(*ALL, resource_names={ENDPOINT: ["web", "api"], ROUTE: ["routes"]})
    xds.cache.set_snapshot("node-1", make_snapshot(
        clusters=[make_cluster("web", 4.0), make_cluster("api")],
        endpoints=[make_cla(c, [("127.0.0.1", 8080)]) for c in ("web", "api")],
        listeners=[make_listener("ingress", 10000, "routes")],
        routes=[make_route("routes", "web")],
    ))
    assert names(client.expect(CLUSTER)) == ["web"]
    endpoints = client.expect(ENDPOINT)
    assert versions(endpoints) == {"web": versions(before[ENDPOINT])["web"]}  # same CLA, sent again


def test_two_delta_streams_are_isolated_when_one_nacks(xds: Xds) -> None:
    for node in ("node-1", "node-2"):
        xds.cache.set_snapshot(node, demo_snapshot())
    rejecting, accepting = xds.connect("node-1", delta=True), xds.connect("node-2", delta=True)
    for client in (rejecting, accepting):
        client.sync(CLUSTER)
    for node in ("node-1", "node-2"):
        xds.cache.set_snapshot(node, demo_snapshot(timeout=2.0))
    rejecting.nack(rejecting.expect(CLUSTER), "no")
    accepting.ack(accepting.expect(CLUSTER))
    wait_until(lambda: state(xds, CLUSTER, "node-1") == "ERROR" and state(xds, CLUSTER, "node-2") == "SYNCED")
