"""HCL values <-> wire values, the equivalence that keeps plans clean, and server paths -> HCL paths."""

from __future__ import annotations

import json

import pytest
from tf.gen import tfplugin_pb2 as pb
from tf.types import Unknown
from tf.utils import read_dynamic_value

from meshplane.terraform import spec as provider_spec
from meshplane.terraform import values
from meshplane.terraform.client import ApiError
from meshplane.terraform.diagnostics import from_api_error, wire_path_to_steps
from meshplane.terraform.resources import Resource, rfc3339
from meshplane.terraform.schema import Block
from meshplane.terraform.servicer import ProviderServicer


@pytest.fixture(scope="module")
def spec() -> provider_spec.ProviderSpec:
    return provider_spec.load()


def block(spec: provider_spec.ProviderSpec, kind: str) -> Block:
    return spec.resources[f"meshplane_{kind}"].spec


NODE_WIRE = {
    "listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}],
    "backends": [{"virtualService": {"virtualServiceName": "b.local"}},
                 {"virtualService": {"virtualServiceName": "a.local"}}],
    "serviceDiscovery": {"awsCloudMap": {"namespaceName": "ns", "serviceName": "svc",
                                         "attributes": [{"key": "z", "value": "1"}, {"key": "a", "value": "2"}]}},
}


def test_wire_round_trip_is_lossless(spec: provider_spec.ProviderSpec) -> None:
    node = block(spec, "virtual_node")
    hcl = values.spec_from_wire(node, NODE_WIRE, None)
    assert hcl[0]["listener"][0]["port_mapping"] == [{"port": 8080, "protocol": "http"}]
    assert hcl[0]["service_discovery"][0]["aws_cloud_map"][0]["attributes"] == {"z": "1", "a": "2"}
    assert hcl[0]["logging"] == [] and hcl[0]["listener"][0]["tls"] == []
    assert values.same(node, values.spec_to_wire(node, hcl), NODE_WIRE)


def test_equivalence_ignores_what_terraform_cannot_see(spec: provider_spec.ProviderSpec) -> None:
    route = block(spec, "route")
    sent = {"httpRoute": {"match": {"prefix": "/"}, "action": {"weightedTargets": [
        {"virtualNode": "a", "weight": 1}, {"virtualNode": "b", "weight": 2.0}]},
        "retryPolicy": {"maxRetries": 1, "httpRetryEvents": ["b", "a"], "perRetryTimeout": {"unit": "s", "value": 1}}}}
    echoed = {"httpRoute": {"match": {"prefix": "/", "headers": []}, "action": {"weightedTargets": [
        {"virtualNode": "b", "weight": 2}, {"virtualNode": "a", "weight": 1, "port": None}]},
        "retryPolicy": {"maxRetries": 1, "httpRetryEvents": ["a", "b"], "perRetryTimeout": {"unit": "s", "value": 1}},
        "timeout": {}}}
    assert values.same(route, sent, echoed)
    assert not values.same(route, sent, {**echoed, "priority": 0})


def test_refresh_keeps_the_prior_value_when_the_server_means_the_same(spec: provider_spec.ProviderSpec) -> None:
    node = block(spec, "virtual_node")
    prior = values.spec_from_wire(node, NODE_WIRE, None)
    reordered = {**NODE_WIRE, "backends": list(reversed(NODE_WIRE["backends"]))}
    assert values.spec_from_wire(node, reordered, prior) is not None
    assert values.spec_from_wire(node, reordered, prior)[0] is prior[0]
    changed = {**NODE_WIRE, "listeners": [{"portMapping": {"port": 9090, "protocol": "http"}}]}
    refreshed = values.spec_from_wire(node, changed, prior)[0]
    assert refreshed["listener"][0]["port_mapping"][0]["port"] == 9090
    assert refreshed["service_discovery"][0] is prior[0]["service_discovery"][0]  # untouched subtrees are reused


def test_an_empty_optional_spec_stays_absent(spec: provider_spec.ProviderSpec) -> None:
    mesh, node = block(spec, "mesh"), block(spec, "virtual_node")
    assert values.spec_from_wire(mesh, {}, None) == []  # `resource "meshplane_mesh" { name = ... }`
    assert values.spec_from_wire(mesh, {}, [{"egress_filter": [], "service_discovery": []}]) == [
        {"egress_filter": [], "service_discovery": []}]  # `spec {}` written by the user stays
    assert values.spec_from_wire(node, {}, None) == [values.conform(node, {})]  # a required spec is never absent
    assert values.spec_to_wire(mesh, []) is None


def test_conform_fills_new_members_and_drops_removed_ones(spec: provider_spec.ProviderSpec) -> None:
    root = spec.resources["meshplane_mesh"].resource_root
    old_state = {"name": "m", "gone": 1, "spec": [{"egress_filter": [{"type": "DROP_ALL"}]}]}
    state = values.conform(root, old_state)
    assert "gone" not in state and state["tags"] is None and state["arn"] is None
    assert state["spec"] == [{"egress_filter": [{"type": "DROP_ALL"}], "service_discovery": []}]


def test_plan_marks_server_set_attributes_unknown(spec: provider_spec.ProviderSpec) -> None:
    resource = Resource(spec.resources["meshplane_mesh"], spec, client=lambda: None)  # type: ignore[arg-type,return-value]
    proposed = values.conform(resource.root, {"name": "m", "tags": {"a": "1"}})
    planned, replace, _ = resource.plan(None, proposed)
    assert planned is not None and replace == []
    assert [k for k, v in planned.items() if v is Unknown] == [
        "id", "arn", "created_date", "last_updated_date", "resource_owner", "mesh_owner"]
    assert planned["tags_all"] == {"a": "1"}
    prior = {**proposed, "id": "m", "arn": "arn", "created_date": "c", "last_updated_date": "u",
             "resource_owner": "o", "mesh_owner": "o", "tags_all": {"a": "1"}}
    same, _, _ = resource.plan(prior, dict(prior))
    assert same == prior
    changed, _, _ = resource.plan(prior, {**prior, "spec": [{"egress_filter": [{"type": "ALLOW_ALL"}],
                                                              "service_discovery": []}]})
    assert changed is not None and changed["last_updated_date"] is Unknown and changed["arn"] == "arn"
    renamed, replace, _ = resource.plan(prior, {**prior, "name": "m2"})
    assert replace == ["name"]


@pytest.mark.parametrize("wire_path, hcl_path", [
    ("spec.listeners[0].portMapping.port", "spec[0].listener[0].port_mapping[0].port"),
    ("spec.listeners.2.member.healthCheck.port", "spec[0].listener[1].health_check[0].port"),
    ("spec.backends[1].virtualService.virtualServiceName", "spec[0].backend[*].virtual_service[0].virtual_service_name"),
    ("spec.serviceDiscovery.dns", "spec[0].service_discovery[0].dns[0]"),
    ("spec", "spec[0]"),
])
def test_server_paths_map_onto_hcl(spec: provider_spec.ProviderSpec, wire_path: str, hcl_path: str) -> None:
    root = spec.resources["meshplane_virtual_node"].resource_root
    mapped = wire_path_to_steps(root, wire_path)
    assert mapped is not None and mapped[1] == hcl_path


def test_a_400_becomes_one_diagnostic_per_named_member(spec: provider_spec.ProviderSpec) -> None:
    root = spec.resources["meshplane_virtual_node"].resource_root
    message = ("2 validation errors detected: Value '0' at 'spec.listeners[0].portMapping.port' failed to satisfy "
               "constraint: Member must have value greater than or equal to 1; Value 'x' at "
               "'spec.listeners[0].portMapping.protocol' failed to satisfy constraint: Member must satisfy enum value set")
    diags = from_api_error("creating n", ApiError(400, "BadRequestException", message), root)
    assert [(d.summary, d.steps) for d in diags] == [
        ("Invalid value for spec[0].listener[0].port_mapping[0].port", ("spec", 0, "listener", 0, "port_mapping", 0, "port")),
        ("Invalid value for spec[0].listener[0].port_mapping[0].protocol",
         ("spec", 0, "listener", 0, "port_mapping", 0, "protocol")),
    ]
    other = from_api_error("deleting n", ApiError(409, "ResourceInUseException", "in use"), root)
    assert [(d.summary, d.detail, d.steps) for d in other] == [("deleting n: ResourceInUseException", "in use", ())]


def test_timestamps_read_like_hashicorp_aws() -> None:
    assert rfc3339(1700000000.123) == "2023-11-14T22:13:20Z"
    assert rfc3339(None) is None


def test_moved_from_hashicorp_aws_adopts_the_state(spec: provider_spec.ProviderSpec) -> None:
    """`moved { from = aws_appmesh_virtual_router.r  to = meshplane_virtual_router.r }`."""
    servicer = ProviderServicer(spec)
    aws_state = {"id": "uid-1", "name": "r", "mesh_name": "m", "mesh_owner": "111122223333", "arn": "arn:r",
                 "tags": {}, "tags_all": {}, "created_date": "2026-01-01T00:00:00Z",
                 "spec": [{"listener": [{"port_mapping": [{"port": 8080, "protocol": "http"}]}]}]}
    request = pb.MoveResourceState.Request(
        source_provider_address="registry.terraform.io/hashicorp/aws", source_type_name="aws_appmesh_virtual_router",
        target_type_name="meshplane_virtual_router", source_state=pb.RawState(json=json.dumps(aws_state).encode()))
    moved = servicer.MoveResourceState(request, None)  # type: ignore[arg-type]
    assert list(moved.diagnostics) == []
    state = read_dynamic_value(moved.target_state)
    assert state["id"] == "uid-1" and state["last_updated_date"] is None
    assert state["spec"][0]["listener"][0]["port_mapping"] == [{"port": 8080, "protocol": "http"}]
    request.source_type_name = "aws_appmesh_route"
    refused = servicer.MoveResourceState(request, None)  # type: ignore[arg-type]
    assert refused.diagnostics[0].summary == "Cannot move aws_appmesh_route to meshplane_virtual_router"
