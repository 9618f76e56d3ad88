"""Snapshot: packing, versions, pre-serialized bodies, consistency; no server needed."""

from __future__ import annotations

import hashlib

import pytest
from envoy.service.discovery.v3 import discovery_pb2
from stream_resources import demo_snapshot, make_cla, make_cluster, make_listener, make_route, make_snapshot

from meshplane.stream import CLUSTER, ENDPOINT, LISTENER, ROUTE, SECRET, Snapshot, SnapshotBuilder, SnapshotCache
from meshplane.stream.snapshot import make_entry, type_version


def test_a_resource_version_is_the_sha256_of_its_serialized_bytes() -> None:
    cluster = make_cluster("web")
    snapshot = Snapshot({CLUSTER: {"web": cluster}})
    expected = hashlib.sha256(cluster.SerializeToString(deterministic=True)).hexdigest()[:16]
    assert snapshot.resource_version(CLUSTER, "web") == expected
    assert snapshot.resource(CLUSTER, "web").value == cluster.SerializeToString(deterministic=True)
    assert snapshot.resource_version(CLUSTER, "nope") is None


def test_a_type_version_is_the_epoch_and_a_hash_of_the_sorted_names_and_versions() -> None:
    snapshot = demo_snapshot(clusters=("web", "api"))
    pairs = [(n, snapshot.resource_version(CLUSTER, n)) for n in ("web", "api")]
    assert snapshot.version(CLUSTER, "e1") == type_version("e1", pairs) == type_version("e1", reversed(pairs))
    assert snapshot.version(CLUSTER, "e1").startswith("e1-")
    assert snapshot.version(CLUSTER, "e2") != snapshot.version(CLUSTER, "e1")


def test_identical_snapshots_have_identical_versions_and_any_change_shows() -> None:
    one, two = demo_snapshot(), demo_snapshot()
    assert [one.version(t, "e") for t in (CLUSTER, ENDPOINT, LISTENER, ROUTE)] == \
        [two.version(t, "e") for t in (CLUSTER, ENDPOINT, LISTENER, ROUTE)]
    changed = demo_snapshot(backend=9999)
    assert changed.version(ENDPOINT, "e") != one.version(ENDPOINT, "e")
    assert changed.version(CLUSTER, "e") == one.version(CLUSTER, "e")


def test_each_cache_picks_its_own_epoch() -> None:
    assert SnapshotCache().epoch != SnapshotCache().epoch
    assert SnapshotCache(epoch="fixed").epoch == "fixed"


def test_the_sotw_body_is_built_once_and_is_a_valid_discovery_response() -> None:
    snapshot = demo_snapshot(clusters=("web", "api"))
    version, body = snapshot.sotw_body(CLUSTER, "e")
    assert snapshot.sotw_body(CLUSTER, "e")[1] is body  # memoized: shared by every stream
    response = discovery_pb2.DiscoveryResponse.FromString(body + discovery_pb2.DiscoveryResponse(
        nonce="7").SerializeToString())
    assert (response.version_info, response.type_url, response.nonce) == (version, CLUSTER, "7")
    assert [r.value for r in response.resources] == [snapshot.resource(CLUSTER, n).value for n in ("api", "web")]


def test_a_resource_filed_under_the_wrong_type_or_name_is_refused() -> None:
    with pytest.raises(ValueError, match="filed under"):
        Snapshot({LISTENER: {"web": make_cluster("web")}})
    with pytest.raises(ValueError, match="names itself 'web'"):
        Snapshot({CLUSTER: {"api": make_cluster("web")}})
    with pytest.raises(ValueError, match="names itself 'web'"):
        Snapshot({ENDPOINT: {"api": make_cla("web", [])}})


def test_eds_clusters_know_their_load_assignment_name() -> None:
    snapshot = make_snapshot(clusters=[make_cluster("web"), make_cluster("api", service_name="api-v2")])
    assert (snapshot.eds_name("web"), snapshot.eds_name("api"), snapshot.eds_name("nope")) == ("web", "api-v2", None)


def test_consistency_check_names_missing_load_assignments_and_route_configs() -> None:
    assert demo_snapshot().check_consistent() == []
    broken = make_snapshot(clusters=[make_cluster("web")], listeners=[make_listener("ingress", 1, "routes")],
                           routes=[make_route("other", "web")])
    assert broken.check_consistent() == [
        "cluster 'web' uses EDS 'web', which is not in the snapshot",
        "listener 'ingress' uses RDS 'routes', which is not in the snapshot",
    ]


def test_an_entry_made_once_can_be_shared_by_many_snapshots() -> None:
    shared = make_entry(CLUSTER, "web", make_cluster("web"))
    one = Snapshot({CLUSTER: {"web": shared}})
    two = Snapshot({CLUSTER: {"web": shared}})
    assert one.entries(CLUSTER)["web"] is two.entries(CLUSTER)["web"] is shared
    assert one.version(CLUSTER, "e") == Snapshot({CLUSTER: {"web": make_cluster("web")}}).version(CLUSTER, "e")
    assert one.eds_name("web") == "web"
    with pytest.raises(ValueError, match="filed as 'api'"):
        Snapshot({CLUSTER: {"api": shared}})


def test_a_builder_makes_the_same_snapshots_packing_each_shared_message_once() -> None:
    cluster, listener = make_cluster("web"), make_listener("egress", 15001, "routes")
    fleet = [
        {CLUSTER: {"web": cluster}, LISTENER: {"egress": listener}, ROUTE: {"routes": make_route("routes", {"web": w})}}
        for w in (1, 2, 1)
    ]
    builder = SnapshotBuilder()
    built = [builder.build(resources) for resources in fleet]
    alone = [Snapshot(resources) for resources in fleet]
    for one, other in zip(built, alone):
        for type_url in (CLUSTER, LISTENER, ROUTE):
            assert one.version(type_url, "e") == other.version(type_url, "e")
            assert one.sotw_body(type_url, "e") == other.sotw_body(type_url, "e")
        assert one.eds_name("web") == other.eds_name("web")
        assert one.client_config() == other.client_config()
        assert one.check_consistent() == other.check_consistent()
    # One Entry per shared message object; distinct objects stay distinct even if equal.
    assert built[0].entries(CLUSTER)["web"] is built[1].entries(CLUSTER)["web"] is built[2].entries(CLUSTER)["web"]
    assert built[0].entries(ROUTE)["routes"] is not built[2].entries(ROUTE)["routes"]
    assert built[0].version(ROUTE, "e") == built[2].version(ROUTE, "e") != built[1].version(ROUTE, "e")
    # The same object under another name or type is packed again (and checked) for that use.
    with pytest.raises(ValueError, match="names itself"):
        builder.build({CLUSTER: {"api": cluster}})


def test_a_builder_gives_alike_proxies_one_snapshot_and_its_memoized_bodies() -> None:
    cluster, listener = make_cluster("web"), make_listener("egress", 15001, "routes")
    route, other_route = make_route("routes", {"web": 1}), make_route("routes", {"web": 2})
    builder = SnapshotBuilder()
    first = builder.build({CLUSTER: {"web": cluster}, LISTENER: {"egress": listener}, ROUTE: {"routes": route}})
    alike = builder.build({CLUSTER: {"web": cluster}, LISTENER: {"egress": listener}, ROUTE: {"routes": route}})
    other = builder.build({CLUSTER: {"web": cluster}, LISTENER: {"egress": listener}, ROUTE: {"routes": other_route}})
    fewer = builder.build({CLUSTER: {"web": cluster}, LISTENER: {"egress": listener}})
    assert alike is first
    assert other is not first and fewer is not first
    assert first.sotw_body(ROUTE, "e")[1] is alike.sotw_body(ROUTE, "e")[1]  # built once for both proxies
    assert first.type_set(ROUTE).csds() is alike.type_set(ROUTE).csds()  # a dump's parts, joined once
    alone = Snapshot({CLUSTER: {"web": cluster}, LISTENER: {"egress": listener}, ROUTE: {"routes": route}})
    assert first.client_config() == alone.client_config()


def certificate(serial: int) -> object:
    """An SDS Secret standing for one proxy's own certificate (content differs per proxy)."""
    from envoy.extensions.transport_sockets.tls.v3 import secret_pb2

    secret = secret_pb2.Secret(name="cert")
    secret.tls_certificate.certificate_chain.inline_bytes = f"certificate {serial}".encode()
    secret.tls_certificate.private_key.inline_bytes = f"key {serial}".encode()
    return make_entry(SECRET, "cert", secret)


def test_proxies_alike_but_for_their_certificates_share_every_other_type() -> None:
    cluster, listener, route = make_cluster("web"), make_listener("egress", 15001, "routes"), make_route("routes", {"web": 1})
    cla = make_cla("web", [("10.0.0.1", 80)])
    shape = {CLUSTER: {"web": cluster}, ENDPOINT: {"web": cla}, LISTENER: {"egress": listener}, ROUTE: {"routes": route}}
    fleet = [{**shape, SECRET: {"cert": certificate(serial)}} for serial in range(3)]
    builder = SnapshotBuilder()
    built = [builder.build(resources) for resources in fleet]
    assert len({id(snapshot) for snapshot in built}) == 3  # each proxy its own certificate ...
    for type_url in (CLUSTER, ENDPOINT, LISTENER, ROUTE):  # ... and one shared set of everything else
        shared = built[0].type_set(type_url)
        assert shared is not None and all(snapshot.type_set(type_url) is shared for snapshot in built)
        assert all(snapshot.sotw_body(type_url, "e")[1] is built[0].sotw_body(type_url, "e")[1] for snapshot in built)
    assert len({snapshot.type_hash(SECRET) for snapshot in built}) == 3
    # The same responses, versions and config dumps as snapshots made one by one.
    for snapshot, resources in zip(built, fleet):
        alone = Snapshot(resources)
        for type_url in (CLUSTER, ENDPOINT, LISTENER, ROUTE, SECRET):
            assert snapshot.sotw_body(type_url, "e") == alone.sotw_body(type_url, "e")
        assert snapshot.client_config() == alone.client_config()
        assert snapshot.check_consistent() == alone.check_consistent() == []
        assert snapshot.eds_name("web") == alone.eds_name("web") == "web"
    # A renewed certificate replaces the secret set alone.
    renewed = built[0].replaced(SECRET, {"cert": certificate(99)})
    assert renewed.type_set(SECRET) is not built[0].type_set(SECRET)
    assert all(renewed.type_set(t) is built[0].type_set(t) for t in (CLUSTER, ENDPOINT, LISTENER, ROUTE))


def test_a_rebuild_keeps_what_did_not_change_from_the_previous_snapshot() -> None:
    def resources(weight: int, serial: int) -> dict[str, dict[str, object]]:
        # New message objects at every pass, as a translation makes them; the secret is an Entry.
        return {CLUSTER: {"own": make_cluster("own"), "web": make_cluster("web")},
                LISTENER: {"egress": make_listener("egress", 15001, "routes")},
                ROUTE: {"routes": make_route("routes", {"web": weight})}, SECRET: {"cert": cert[serial]}}

    cert = [certificate(0), certificate(1)]
    first = SnapshotBuilder().build(resources(1, 0))
    same = SnapshotBuilder().build(resources(1, 0), first)
    assert same is first  # nothing changed: the node keeps its snapshot (and its memoized bodies)
    changed = SnapshotBuilder().build(resources(2, 0), first)
    assert changed is not first and changed.type_hash(ROUTE) != first.type_hash(ROUTE)
    for type_url in (CLUSTER, LISTENER, SECRET):
        assert changed.type_set(type_url) is first.type_set(type_url)
    assert changed.entries(CLUSTER)["own"] is first.entries(CLUSTER)["own"]  # packed to the same bytes: kept
    renewed = SnapshotBuilder().build(resources(2, 1), changed)
    assert renewed.type_set(ROUTE) is changed.type_set(ROUTE) and renewed.type_set(SECRET) is not changed.type_set(SECRET)
    alone = Snapshot(resources(2, 1))
    for type_url in (CLUSTER, LISTENER, ROUTE, SECRET):
        assert renewed.sotw_body(type_url, "e") == alone.sotw_body(type_url, "e")
    assert renewed.client_config() == alone.client_config()
    # A resource that changed gets a new entry, the rest of its type keeps theirs.
    moved = resources(2, 1)
    moved[CLUSTER]["own"] = make_cluster("own", connect_timeout=2.0)
    rebuilt = SnapshotBuilder().build(moved, renewed)
    assert rebuilt.entries(CLUSTER)["web"] is renewed.entries(CLUSTER)["web"]
    assert rebuilt.entries(CLUSTER)["own"] is not renewed.entries(CLUSTER)["own"]
    assert rebuilt.type_hash(CLUSTER) == Snapshot(moved).type_hash(CLUSTER) != renewed.type_hash(CLUSTER)


def test_fragments_concatenate_into_valid_responses() -> None:
    snapshot = demo_snapshot(clusters=("web", "api"))
    entries = list(snapshot.entries(CLUSTER).values())
    delta = discovery_pb2.DeltaDiscoveryResponse.FromString(
        b"".join(e.delta_fragment for e in entries)
        + discovery_pb2.DeltaDiscoveryResponse(type_url=CLUSTER, nonce="1", removed_resources=["db"]).SerializeToString()
    )
    assert [(r.name, r.version) for r in delta.resources] == [(e.name, e.version) for e in entries]
    assert (delta.type_url, delta.nonce, list(delta.removed_resources)) == (CLUSTER, "1", ["db"])


def test_a_config_dump_renders_every_resource_as_json_and_keeps_empty_types() -> None:
    from google.protobuf.json_format import MessageToDict

    from meshplane.stream.dump import render_client_config

    web, api = make_cluster("web"), make_cluster("api", service_name="api-eds")
    listener = make_listener("ingress", 15000, "local")  # typed_config: an HttpConnectionManager Any
    route = make_route("local", "web")
    snapshot = Snapshot({CLUSTER: {"web": web, "api": api}, ENDPOINT: {}, LISTENER: {"ingress": listener},
                         ROUTE: {"local": route}})
    rendered = render_client_config(snapshot.client_config())
    assert rendered == {
        "CDS": {"api": MessageToDict(api), "web": MessageToDict(web)},
        "EDS": {},
        "LDS": {"ingress": MessageToDict(listener)},
        "RDS": {"local": MessageToDict(route)},
    }
    assert list(rendered["CDS"]) == ["api", "web"]
    hcm = rendered["LDS"]["ingress"]["filterChains"][0]["filters"][0]["typedConfig"]
    assert hcm["@type"].endswith("HttpConnectionManager") and hcm["rds"]["routeConfigName"] == "local"
