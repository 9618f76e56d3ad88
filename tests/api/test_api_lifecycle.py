"""Create, describe, update, list and delete every kind through boto3 (AWS's own wire model)."""

from __future__ import annotations

import datetime

import pytest
from botocore.exceptions import ClientError

ACCOUNT = "111122223333"
NODE_SPEC = {
    "listeners": [{"portMapping": {"port": 9080, "protocol": "http"}}],
    "serviceDiscovery": {"dns": {"hostname": "jazz-v1.prod.svc.cluster.local"}},
}
ROUTER_SPEC = {"listeners": [{"portMapping": {"port": 9080, "protocol": "http"}}]}
ROUTE_SPEC = {
    "httpRoute": {
        "match": {"prefix": "/"},
        "action": {"weightedTargets": [{"virtualNode": "jazz-v1", "weight": 90}, {"virtualNode": "jazz-v2", "weight": 10}]},
    }
}
GATEWAY_SPEC = {"listeners": [{"portMapping": {"port": 9080, "protocol": "http"}}]}
GATEWAY_ROUTE_SPEC = {
    "httpRoute": {
        "match": {"prefix": "/color1"},
        "action": {"target": {"virtualService": {"virtualServiceName": "jazz.prod.svc.cluster.local"}}},
    }
}


def build_mesh(appmesh, mesh: str) -> None:  # type: ignore[no-untyped-def]
    appmesh.create_mesh(meshName=mesh, spec={"egressFilter": {"type": "DROP_ALL"}})
    for name in ("jazz-v1", "jazz-v2"):
        appmesh.create_virtual_node(meshName=mesh, virtualNodeName=name, spec=NODE_SPEC)
    appmesh.create_virtual_router(meshName=mesh, virtualRouterName="jazz-router", spec=ROUTER_SPEC)
    appmesh.create_route(meshName=mesh, virtualRouterName="jazz-router", routeName="jazz-route", spec=ROUTE_SPEC)
    appmesh.create_virtual_service(
        meshName=mesh,
        virtualServiceName="jazz.prod.svc.cluster.local",
        spec={"provider": {"virtualRouter": {"virtualRouterName": "jazz-router"}}},
    )
    appmesh.create_virtual_gateway(meshName=mesh, virtualGatewayName="gw", spec=GATEWAY_SPEC)
    appmesh.create_gateway_route(meshName=mesh, virtualGatewayName="gw", gatewayRouteName="gr", spec=GATEWAY_ROUTE_SPEC)


def test_create_mesh_returns_metadata_as_aws_does(appmesh, mesh_name):
    mesh = appmesh.create_mesh(meshName=mesh_name)["mesh"]
    meta = mesh["metadata"]
    assert mesh["meshName"] == mesh_name
    assert mesh["spec"] == {}
    assert mesh["status"] == {"status": "ACTIVE"}
    assert meta["arn"] == f"arn:aws:appmesh:us-east-1:{ACCOUNT}:mesh/{mesh_name}"
    assert meta["version"] == 1
    assert meta["meshOwner"] == meta["resourceOwner"] == ACCOUNT
    assert isinstance(meta["createdAt"], datetime.datetime)
    assert len(meta["uid"]) == 36


def test_every_kind_goes_through_its_whole_lifecycle(appmesh, mesh_name):
    build_mesh(appmesh, mesh_name)
    node = appmesh.describe_virtual_node(meshName=mesh_name, virtualNodeName="jazz-v1")["virtualNode"]
    assert node["spec"] == NODE_SPEC
    assert node["metadata"]["arn"].endswith(f":mesh/{mesh_name}/virtualNode/jazz-v1")
    route = appmesh.describe_route(meshName=mesh_name, virtualRouterName="jazz-router", routeName="jazz-route")["route"]
    assert route["spec"] == ROUTE_SPEC
    assert route["virtualRouterName"] == "jazz-router"
    assert route["metadata"]["arn"].endswith(f":mesh/{mesh_name}/virtualRouter/jazz-router/route/jazz-route")
    gr = appmesh.describe_gateway_route(meshName=mesh_name, virtualGatewayName="gw", gatewayRouteName="gr")
    assert gr["gatewayRoute"]["spec"] == GATEWAY_ROUTE_SPEC
    assert gr["gatewayRoute"]["metadata"]["arn"].endswith("/virtualGateway/gw/gatewayRoute/gr")

    new_spec = {
        "httpRoute": {
            "match": {"prefix": "/"},
            "action": {"weightedTargets": [{"virtualNode": "jazz-v1", "weight": 50}, {"virtualNode": "jazz-v2", "weight": 50}]},
        }
    }
    updated = appmesh.update_route(meshName=mesh_name, virtualRouterName="jazz-router", routeName="jazz-route", spec=new_spec)["route"]
    assert updated["metadata"]["version"] == 2
    assert updated["spec"] == new_spec
    assert updated["metadata"]["lastUpdatedAt"] >= updated["metadata"]["createdAt"]
    assert updated["metadata"]["uid"] == route["metadata"]["uid"]

    lists = {
        "meshes": appmesh.list_meshes()["meshes"],
        "nodes": appmesh.list_virtual_nodes(meshName=mesh_name)["virtualNodes"],
        "routers": appmesh.list_virtual_routers(meshName=mesh_name)["virtualRouters"],
        "routes": appmesh.list_routes(meshName=mesh_name, virtualRouterName="jazz-router")["routes"],
        "services": appmesh.list_virtual_services(meshName=mesh_name)["virtualServices"],
        "gateways": appmesh.list_virtual_gateways(meshName=mesh_name)["virtualGateways"],
        "gateway_routes": appmesh.list_gateway_routes(meshName=mesh_name, virtualGatewayName="gw")["gatewayRoutes"],
    }
    assert mesh_name in [m["meshName"] for m in lists["meshes"]]
    assert [n["virtualNodeName"] for n in lists["nodes"]] == ["jazz-v1", "jazz-v2"]
    assert lists["routes"][0]["routeName"] == "jazz-route" and lists["routes"][0]["version"] == 2
    assert [s["virtualServiceName"] for s in lists["services"]] == ["jazz.prod.svc.cluster.local"]
    assert lists["gateway_routes"][0]["virtualGatewayName"] == "gw"

    deleted = appmesh.delete_gateway_route(meshName=mesh_name, virtualGatewayName="gw", gatewayRouteName="gr")
    assert deleted["gatewayRoute"]["status"] == {"status": "DELETED"}
    appmesh.delete_virtual_gateway(meshName=mesh_name, virtualGatewayName="gw")
    appmesh.delete_virtual_service(meshName=mesh_name, virtualServiceName="jazz.prod.svc.cluster.local")
    appmesh.delete_route(meshName=mesh_name, virtualRouterName="jazz-router", routeName="jazz-route")
    appmesh.delete_virtual_router(meshName=mesh_name, virtualRouterName="jazz-router")
    for name in ("jazz-v1", "jazz-v2"):
        appmesh.delete_virtual_node(meshName=mesh_name, virtualNodeName=name)
    assert appmesh.delete_mesh(meshName=mesh_name)["mesh"]["status"]["status"] == "DELETED"
    with pytest.raises(appmesh.exceptions.NotFoundException):
        appmesh.describe_mesh(meshName=mesh_name)


def test_update_mesh_bumps_version_and_keeps_uid(appmesh, mesh_name):
    created = appmesh.create_mesh(meshName=mesh_name)["mesh"]
    updated = appmesh.update_mesh(meshName=mesh_name, spec={"egressFilter": {"type": "ALLOW_ALL"}})["mesh"]
    assert updated["metadata"]["version"] == 2
    assert updated["metadata"]["uid"] == created["metadata"]["uid"]
    assert updated["spec"] == {"egressFilter": {"type": "ALLOW_ALL"}}
    again = appmesh.describe_mesh(meshName=mesh_name, meshOwner=ACCOUNT)["mesh"]
    assert again["spec"] == updated["spec"] and again["metadata"]["version"] == 2


def test_references_may_dangle_on_create(appmesh, mesh_name):
    appmesh.create_mesh(meshName=mesh_name)
    node = appmesh.create_virtual_node(
        meshName=mesh_name, virtualNodeName="dj",
        spec={"backends": [{"virtualService": {"virtualServiceName": "not-yet.local"}}]},
    )["virtualNode"]
    assert node["spec"]["backends"][0]["virtualService"]["virtualServiceName"] == "not-yet.local"


def test_request_id_header_is_on_every_response(appmesh, mesh_name):
    out = appmesh.list_meshes()
    assert out["ResponseMetadata"]["RequestId"]
    with pytest.raises(ClientError) as err:
        appmesh.describe_mesh(meshName=mesh_name)
    assert err.value.response["ResponseMetadata"]["RequestId"]
