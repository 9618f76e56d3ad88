"""The API contract across three replicas on one PostgreSQL database (issue 10, "Deliver" 2).

Any replica accepts any write; a write acknowledged by one is visible on the others as soon as
its 200 is sent (read-your-writes across replicas: the reads below follow the 200 with no wait);
two replicas writing one resource take turns (versions stay exact, one create of a name wins);
clientToken idempotency and quotas hold across replicas.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from botocore.exceptions import ClientError
from clients import make_client
from replica_cluster import NODE_QUOTA, Cluster, error_code, http_status, race


def node_spec(port: int = 8080, hostname: str = "app.local") -> dict[str, Any]:
    return {"listeners": [{"portMapping": {"port": port, "protocol": "http"}}],
            "serviceDiscovery": {"dns": {"hostname": hostname}}}


def without_metadata(response: dict[str, Any]) -> dict[str, Any]:
    """A boto3 response without its ResponseMetadata (request id, headers), to compare answers."""
    return {key: value for key, value in response.items() if key != "ResponseMetadata"}


def test_writes_on_any_replica_are_read_on_every_other(api_cluster: Cluster, mesh_name: str) -> None:
    """Creates, updates and deletes of every kind, round-robin over the three replicas; right after
    each 200, the two other replicas describe it (same uid, version, spec) and list it."""
    clients = api_cluster.clients
    writers = itertools.cycle(range(len(clients)))
    checked = 0

    def on_others(writer: int, check: Callable[[Any], None]) -> None:
        nonlocal checked
        for index, client in enumerate(clients):
            if index != writer:
                check(client)
                checked += 1

    def same(written: dict[str, Any], read: dict[str, Any]) -> None:
        assert read["metadata"]["uid"] == written["metadata"]["uid"]
        assert read["metadata"]["version"] == written["metadata"]["version"]
        assert read["spec"] == written["spec"]
        assert read["status"] == written["status"]

    writer = next(writers)
    mesh = clients[writer].create_mesh(meshName=mesh_name)["mesh"]
    on_others(writer, lambda c: same(mesh, c.describe_mesh(meshName=mesh_name)["mesh"]))
    on_others(writer, lambda c: _assert_listed(mesh_name, c.list_meshes(limit=100)["meshes"], "meshName"))

    for i in range(3):
        writer, name = next(writers), f"node-{i}"
        node = clients[writer].create_virtual_node(meshName=mesh_name, virtualNodeName=name,
                                                   spec=node_spec(8080 + i))["virtualNode"]
        on_others(writer, lambda c: same(node, c.describe_virtual_node(meshName=mesh_name,
                                                                       virtualNodeName=name)["virtualNode"]))
        on_others(writer, lambda c: _assert_listed(
            name, c.list_virtual_nodes(meshName=mesh_name)["virtualNodes"], "virtualNodeName"))

    for i in range(3):
        writer, name = next(writers), f"router-{i}"
        router = clients[writer].create_virtual_router(
            meshName=mesh_name, virtualRouterName=name,
            spec={"listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}]})["virtualRouter"]
        on_others(writer, lambda c: same(router, c.describe_virtual_router(
            meshName=mesh_name, virtualRouterName=name)["virtualRouter"]))

        writer, route_name = next(writers), f"route-{i}"
        route = clients[writer].create_route(
            meshName=mesh_name, virtualRouterName=name, routeName=route_name,
            spec={"httpRoute": {"match": {"prefix": f"/p{i}"},
                                "action": {"weightedTargets": [{"virtualNode": f"node-{i}", "weight": 1}]}}},
        )["route"]
        on_others(writer, lambda c: same(route, c.describe_route(
            meshName=mesh_name, virtualRouterName=name, routeName=route_name)["route"]))
        on_others(writer, lambda c: _assert_listed(
            route_name, c.list_routes(meshName=mesh_name, virtualRouterName=name)["routes"], "routeName"))

        writer, service_name = next(writers), f"svc-{i}.local"
        service = clients[writer].create_virtual_service(
            meshName=mesh_name, virtualServiceName=service_name,
            spec={"provider": {"virtualRouter": {"virtualRouterName": name}}})["virtualService"]
        on_others(writer, lambda c: same(service, c.describe_virtual_service(
            meshName=mesh_name, virtualServiceName=service_name)["virtualService"]))
        on_others(writer, lambda c: _assert_listed(
            service_name, c.list_virtual_services(meshName=mesh_name)["virtualServices"], "virtualServiceName"))

    for i in range(3):  # updates: the new version and spec, at once, everywhere
        writer, name = next(writers), f"node-{i}"
        node = clients[writer].update_virtual_node(meshName=mesh_name, virtualNodeName=name,
                                                   spec=node_spec(9090 + i))["virtualNode"]
        assert node["metadata"]["version"] == 2
        on_others(writer, lambda c: same(node, c.describe_virtual_node(meshName=mesh_name,
                                                                       virtualNodeName=name)["virtualNode"]))

    for i in range(3):  # deletes: gone everywhere at once
        writer, name = next(writers), f"route-{i}"
        clients[writer].delete_route(meshName=mesh_name, virtualRouterName=f"router-{i}", routeName=name)

        def gone(client: Any) -> None:
            with pytest.raises(ClientError) as caught:
                client.describe_route(meshName=mesh_name, virtualRouterName=f"router-{i}", routeName=name)
            assert error_code(caught.value) == "NotFoundException"
            listed = client.list_routes(meshName=mesh_name, virtualRouterName=f"router-{i}")["routes"]
            assert name not in [r["routeName"] for r in listed]

        on_others(writer, gone)
    assert checked == 2 * (2 + 3 * 2 + 3 * 5 + 3 + 3)


def _assert_listed(name: str, items: list[dict[str, Any]], key: str) -> None:
    assert name in [item[key] for item in items]


def test_concurrent_updates_from_two_replicas_keep_versions_exact(api_cluster: Cluster, mesh_name: str) -> None:
    """Two replicas update one virtual node at the same moment, round after round: the mesh's
    advisory lock makes them take turns, so both succeed, each with its own version, and the
    final version counts every update. No 500, no lost update."""
    clients = api_cluster.clients
    clients[0].create_mesh(meshName=mesh_name)
    clients[0].create_virtual_node(meshName=mesh_name, virtualNodeName="shared", spec=node_spec())
    callers = [make_client(api_cluster.servers[i].endpoint) for i in (1, 2)]
    rounds = 30
    versions: dict[int, int] = {}  # version -> port its update wrote
    failures: list[str] = []
    for round_ in range(rounds):
        ports = [10_000 + round_ * 2 + k for k in range(2)]
        outcomes = race([partial(client.update_virtual_node, meshName=mesh_name, virtualNodeName="shared",
                                 spec=node_spec(port)) for client, port in zip(callers, ports)])
        for port, outcome in zip(ports, outcomes):
            if isinstance(outcome, BaseException):
                failures.append(f"round {round_}: {error_code(outcome)} (HTTP {http_status(outcome)}): {outcome}")
                continue
            version = outcome["virtualNode"]["metadata"]["version"]
            assert version not in versions, f"version {version} returned twice"
            versions[version] = port
    # With the mesh lock both writers succeed in turn: a ConflictException here would mean the
    # compare-and-set caught two writers the lock let through together; a 500 is always a bug.
    assert failures == []
    assert sorted(versions) == list(range(2, 2 + 2 * rounds))
    for client in clients:
        final = client.describe_virtual_node(meshName=mesh_name, virtualNodeName="shared")["virtualNode"]
        assert final["metadata"]["version"] == 1 + len(versions)
        # The stored spec is the one the last (highest) version wrote.
        assert final["spec"]["listeners"][0]["portMapping"]["port"] == versions[max(versions)]


def test_concurrent_creates_of_one_name_on_three_replicas_one_wins(api_cluster: Cluster, mesh_name: str) -> None:
    """The same name created at the same moment on three replicas: exactly one 200, the two
    others ConflictException; every replica then sees the winner (meshes, whose lock is the
    account-wide one, and virtual services in one mesh)."""
    callers = [make_client(server.endpoint) for server in api_cluster.servers]
    outcomes_by_name: dict[str, list[Any]] = {}
    for round_ in range(3):
        name = f"{mesh_name}-{round_}"
        outcomes_by_name[name] = [o if isinstance(o, BaseException) else o["mesh"]
                                  for o in race([partial(c.create_mesh, meshName=name) for c in callers])]
    callers[0].create_mesh(meshName=mesh_name)
    for round_ in range(5):
        name = f"dup-{round_}.local"
        outcomes = race([partial(c.create_virtual_service, meshName=mesh_name, virtualServiceName=name, spec={})
                         for c in callers])
        outcomes_by_name[name] = [o if isinstance(o, BaseException) else o["virtualService"] for o in outcomes]
    for name, outcomes in outcomes_by_name.items():
        winners = [o for o in outcomes if not isinstance(o, BaseException)]
        losers = [error_code(o) for o in outcomes if isinstance(o, BaseException)]
        assert len(winners) == 1, f"{name}: {outcomes}"
        assert losers == ["ConflictException"] * 2, f"{name}: {outcomes}"
        for client in api_cluster.clients:
            if name.startswith("dup-"):
                seen = client.describe_virtual_service(meshName=mesh_name, virtualServiceName=name)["virtualService"]
            else:
                seen = client.describe_mesh(meshName=name)["mesh"]
            assert seen["metadata"]["uid"] == winners[0]["metadata"]["uid"]
            assert seen["metadata"]["version"] == 1


def test_client_token_is_honoured_across_replicas(api_cluster: Cluster, mesh_name: str) -> None:
    """A create repeated with its clientToken on another replica (one after the other, then on
    three at once) answers the original response; the token with another body is a conflict."""
    clients = api_cluster.clients
    clients[0].create_mesh(meshName=mesh_name)
    token = uuid.uuid4().hex

    first = clients[0].create_virtual_node(meshName=mesh_name, virtualNodeName="tok", spec=node_spec(),
                                           clientToken=token)
    again = clients[1].create_virtual_node(meshName=mesh_name, virtualNodeName="tok", spec=node_spec(),
                                           clientToken=token)
    assert without_metadata(again) == without_metadata(first)

    callers = [make_client(server.endpoint) for server in api_cluster.servers]
    together = uuid.uuid4().hex
    outcomes = race([partial(c.create_virtual_node, meshName=mesh_name, virtualNodeName="tok-together",
                             spec=node_spec(), clientToken=together) for c in callers])
    failed = [o for o in outcomes if isinstance(o, BaseException)]
    assert failed == []
    answers = [without_metadata(o) for o in outcomes]  # type: ignore[arg-type]
    assert answers[1:] == answers[:1] * 2
    assert answers[0]["virtualNode"]["metadata"]["version"] == 1

    with pytest.raises(ClientError) as caught:
        clients[2].create_virtual_node(meshName=mesh_name, virtualNodeName="tok", spec=node_spec(9999),
                                       clientToken=token)
    assert error_code(caught.value) == "ConflictException"

    for client in clients:  # one resource each, never re-created
        names = sorted(n["virtualNodeName"] for n in client.list_virtual_nodes(meshName=mesh_name)["virtualNodes"])
        assert names == ["tok", "tok-together"]
        node = client.describe_virtual_node(meshName=mesh_name, virtualNodeName="tok")["virtualNode"]
        assert node["metadata"]["uid"] == first["virtualNode"]["metadata"]["uid"]
        assert node["metadata"]["version"] == 1


def test_quota_holds_across_replicas(api_cluster: Cluster, mesh_name: str) -> None:
    """Three replicas creating virtual nodes in one mesh at once never exceed the quota: exactly
    NODE_QUOTA creates succeed, the rest are LimitExceededException."""
    api_cluster.clients[0].create_mesh(meshName=mesh_name)
    callers = [make_client(server.endpoint) for server in api_cluster.servers for _ in range(2)]
    per_caller = 2  # 6 callers x 2 = 12 attempts for 5 places

    def creates(client: Any, k: int) -> list[Any]:
        outcomes: list[Any] = []
        for j in range(per_caller):
            try:
                outcomes.append(client.create_virtual_node(meshName=mesh_name, virtualNodeName=f"q-{k}-{j}",
                                                           spec=node_spec())["virtualNode"])
            except ClientError as exc:
                outcomes.append(exc)
        return outcomes

    results = race([partial(creates, c, k) for k, c in enumerate(callers)])
    outcomes = [o for result in results for o in (result if isinstance(result, list) else [result])]
    made = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [error_code(o) for o in outcomes if isinstance(o, BaseException)]
    assert len(made) == NODE_QUOTA, outcomes
    assert refused == ["LimitExceededException"] * (len(callers) * per_caller - NODE_QUOTA), outcomes
    for client in api_cluster.clients:
        listed = client.list_virtual_nodes(meshName=mesh_name)["virtualNodes"]
        assert sorted(n["virtualNodeName"] for n in listed) == sorted(n["virtualNodeName"] for n in made)
