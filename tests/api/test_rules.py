"""App Mesh's rules through boto3: conflicts, dependencies, idempotency, pagination, tags, owners."""

from __future__ import annotations

import uuid

import pytest
import requests
from test_api_lifecycle import ACCOUNT, GATEWAY_ROUTE_SPEC, NODE_SPEC, ROUTE_SPEC, build_mesh


def code(exc_info) -> str:  # type: ignore[no-untyped-def]
    return exc_info.value.response["Error"]["Code"]


def status(exc_info) -> int:  # type: ignore[no-untyped-def]
    return exc_info.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_duplicate_name_is_a_conflict(appmesh, mesh_name):
    appmesh.create_mesh(meshName=mesh_name)
    with pytest.raises(appmesh.exceptions.ConflictException) as err:
        appmesh.create_mesh(meshName=mesh_name)
    assert status(err) == 409
    appmesh.create_virtual_node(meshName=mesh_name, virtualNodeName="a", spec={})
    with pytest.raises(appmesh.exceptions.ConflictException):
        appmesh.create_virtual_node(meshName=mesh_name, virtualNodeName="a", spec={})


def test_children_of_a_missing_mesh_or_parent_are_not_found(appmesh, mesh_name):
    with pytest.raises(appmesh.exceptions.NotFoundException) as err:
        appmesh.create_virtual_node(meshName=mesh_name, virtualNodeName="a", spec={})
    assert status(err) == 404 and mesh_name in err.value.response["Error"]["Message"]
    appmesh.create_mesh(meshName=mesh_name)
    with pytest.raises(appmesh.exceptions.NotFoundException) as err:
        appmesh.create_route(meshName=mesh_name, virtualRouterName="nope", routeName="r", spec=ROUTE_SPEC)
    assert "VirtualRouter with name nope" in err.value.response["Error"]["Message"]
    with pytest.raises(appmesh.exceptions.NotFoundException):
        appmesh.describe_virtual_node(meshName=mesh_name, virtualNodeName="ghost")
    with pytest.raises(appmesh.exceptions.NotFoundException):
        appmesh.delete_virtual_service(meshName=mesh_name, virtualServiceName="ghost")
    with pytest.raises(appmesh.exceptions.NotFoundException):
        appmesh.list_routes(meshName=mesh_name, virtualRouterName="nope")


@pytest.mark.parametrize(
    "delete, kwargs, needle",
    [
        ("delete_mesh", {}, "has active"),
        ("delete_virtual_router", {"virtualRouterName": "jazz-router"}, "Route"),
        ("delete_virtual_node", {"virtualNodeName": "jazz-v1"}, "jazz-route"),
        ("delete_virtual_service", {"virtualServiceName": "jazz.prod.svc.cluster.local"}, "GatewayRoute"),
        ("delete_virtual_gateway", {"virtualGatewayName": "gw"}, "GatewayRoute"),
    ],
)
def test_delete_is_refused_while_something_depends_on_the_resource(appmesh, mesh_name, delete, kwargs, needle):
    build_mesh(appmesh, mesh_name)
    with pytest.raises(appmesh.exceptions.ResourceInUseException) as err:
        getattr(appmesh, delete)(meshName=mesh_name, **kwargs)
    assert status(err) == 409
    assert needle in err.value.response["Error"]["Message"]


def test_router_serving_as_provider_cannot_be_deleted(appmesh, mesh_name):
    build_mesh(appmesh, mesh_name)
    appmesh.delete_route(meshName=mesh_name, virtualRouterName="jazz-router", routeName="jazz-route")
    with pytest.raises(appmesh.exceptions.ResourceInUseException) as err:
        appmesh.delete_virtual_router(meshName=mesh_name, virtualRouterName="jazz-router")
    assert "VirtualService provider" in err.value.response["Error"]["Message"]


def test_node_providing_a_service_cannot_be_deleted(appmesh, mesh_name):
    appmesh.create_mesh(meshName=mesh_name)
    appmesh.create_virtual_node(meshName=mesh_name, virtualNodeName="a", spec=NODE_SPEC)
    appmesh.create_virtual_service(
        meshName=mesh_name, virtualServiceName="a.local", spec={"provider": {"virtualNode": {"virtualNodeName": "a"}}}
    )
    with pytest.raises(appmesh.exceptions.ResourceInUseException):
        appmesh.delete_virtual_node(meshName=mesh_name, virtualNodeName="a")
    # Changing the provider releases the node.
    appmesh.update_virtual_service(meshName=mesh_name, virtualServiceName="a.local", spec={})
    appmesh.delete_virtual_node(meshName=mesh_name, virtualNodeName="a")


def test_same_client_token_and_request_replays_without_a_second_version(appmesh, mesh_name):
    appmesh.create_mesh(meshName=mesh_name)
    token = str(uuid.uuid4())
    first = appmesh.update_mesh(meshName=mesh_name, spec={"egressFilter": {"type": "ALLOW_ALL"}}, clientToken=token)
    second = appmesh.update_mesh(meshName=mesh_name, spec={"egressFilter": {"type": "ALLOW_ALL"}}, clientToken=token)
    assert first["mesh"] == second["mesh"]
    assert appmesh.describe_mesh(meshName=mesh_name)["mesh"]["metadata"]["version"] == 2


def test_same_client_token_on_create_replays_instead_of_conflicting(appmesh, mesh_name):
    token = str(uuid.uuid4())
    first = appmesh.create_mesh(meshName=mesh_name, clientToken=token)["mesh"]
    second = appmesh.create_mesh(meshName=mesh_name, clientToken=token)["mesh"]
    assert first == second


def test_same_client_token_with_a_different_request_is_a_conflict(appmesh, mesh_name):
    appmesh.create_mesh(meshName=mesh_name)
    token = str(uuid.uuid4())
    appmesh.update_mesh(meshName=mesh_name, spec={"egressFilter": {"type": "ALLOW_ALL"}}, clientToken=token)
    with pytest.raises(appmesh.exceptions.ConflictException) as err:
        appmesh.update_mesh(meshName=mesh_name, spec={"egressFilter": {"type": "DROP_ALL"}}, clientToken=token)
    assert "client token" in err.value.response["Error"]["Message"]
    assert appmesh.describe_mesh(meshName=mesh_name)["mesh"]["spec"] == {"egressFilter": {"type": "ALLOW_ALL"}}


def test_pagination_walks_every_page_in_creation_order(appmesh, mesh_name):
    appmesh.create_mesh(meshName=mesh_name)
    names = [f"node-{i:03d}" for i in range(23)]
    for name in names:
        appmesh.create_virtual_node(meshName=mesh_name, virtualNodeName=name, spec={})
    seen, token, pages = [], None, 0
    while True:
        kwargs = {"meshName": mesh_name, "limit": 5}
        if token:
            kwargs["nextToken"] = token
        page = appmesh.list_virtual_nodes(**kwargs)
        pages += 1
        seen += [n["virtualNodeName"] for n in page["virtualNodes"]]
        token = page.get("nextToken")
        if not token:
            break
    assert seen == names and pages == 5
    paginated = appmesh.get_paginator("list_virtual_nodes").paginate(meshName=mesh_name, PaginationConfig={"PageSize": 10})
    assert [n["virtualNodeName"] for p in paginated for n in p["virtualNodes"]] == names


def test_a_foreign_next_token_is_a_bad_request(appmesh, mesh_name):
    appmesh.create_mesh(meshName=mesh_name)
    with pytest.raises(appmesh.exceptions.BadRequestException):
        appmesh.list_virtual_nodes(meshName=mesh_name, nextToken="not-a-token")


def test_tags_upsert_untag_list_and_go_with_the_resource(appmesh, mesh_name):
    arn = appmesh.create_mesh(meshName=mesh_name, tags=[{"key": "team", "value": "a"}])["mesh"]["metadata"]["arn"]
    appmesh.tag_resource(resourceArn=arn, tags=[{"key": "team", "value": "b"}, {"key": "env", "value": "prod"}])
    tags = appmesh.list_tags_for_resource(resourceArn=arn)["tags"]
    assert tags == [{"key": "env", "value": "prod"}, {"key": "team", "value": "b"}]
    appmesh.untag_resource(resourceArn=arn, tagKeys=["env", "absent"])
    assert appmesh.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "team", "value": "b"}]
    page = appmesh.list_tags_for_resource(resourceArn=arn, limit=1)
    assert "nextToken" not in page
    appmesh.delete_mesh(meshName=mesh_name)
    with pytest.raises(appmesh.exceptions.NotFoundException):
        appmesh.list_tags_for_resource(resourceArn=arn)


def test_more_than_fifty_tags_is_too_many(appmesh, mesh_name):
    arn = appmesh.create_mesh(meshName=mesh_name)["mesh"]["metadata"]["arn"]
    appmesh.tag_resource(resourceArn=arn, tags=[{"key": f"k{i}", "value": "v"} for i in range(30)])
    with pytest.raises(appmesh.exceptions.TooManyTagsException) as err:
        appmesh.tag_resource(resourceArn=arn, tags=[{"key": f"x{i}", "value": "v"} for i in range(30)])
    assert status(err) == 400
    assert len(appmesh.list_tags_for_resource(resourceArn=arn)["tags"]) == 30


def test_a_foreign_mesh_owner_is_not_found(appmesh, mesh_name):
    appmesh.create_mesh(meshName=mesh_name)
    with pytest.raises(appmesh.exceptions.NotFoundException):
        appmesh.describe_mesh(meshName=mesh_name, meshOwner="999999999999")
    with pytest.raises(appmesh.exceptions.NotFoundException):
        appmesh.list_virtual_nodes(meshName=mesh_name, meshOwner="999999999999")
    appmesh.list_virtual_nodes(meshName=mesh_name, meshOwner=ACCOUNT)


def test_gateway_route_to_missing_service_is_accepted(appmesh, mesh_name):
    appmesh.create_mesh(meshName=mesh_name)
    appmesh.create_virtual_gateway(meshName=mesh_name, virtualGatewayName="gw", spec={"listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}]})
    gr = appmesh.create_gateway_route(meshName=mesh_name, virtualGatewayName="gw", gatewayRouteName="gr", spec=GATEWAY_ROUTE_SPEC)
    assert gr["gatewayRoute"]["metadata"]["version"] == 1


def test_unknown_paths_and_methods_answer_in_the_app_mesh_shape(endpoint):
    for method, path in [("GET", "/nope"), ("POST", "/v20190125/meshes"), ("PATCH", "/v20190125/meshes/x")]:
        response = requests.request(method, endpoint + path, timeout=10)
        assert response.status_code == 404
        assert response.headers["x-amzn-ErrorType"] == "NotFoundException"
        assert response.json()["__type"] == "NotFoundException"
        assert response.headers["x-amzn-RequestId"]


def test_healthz_answers(endpoint):
    assert requests.get(endpoint + "/healthz", timeout=10).json() == {"status": "ok"}
