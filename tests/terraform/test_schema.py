"""The Terraform schema the provider derives from openapi.json + terraform.json.

The HCL must be hashicorp/aws's: tests/terraform/data/aws_appmesh_hcl.json records the names,
block nesting and attribute types of aws_appmesh_* in hashicorp/aws 5.100.0 (from ``terraform
providers schema -json``); every one must exist in meshplane_* the same way, except the few
differences listed in ``KNOWN_DIFFERENCES``.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from tf_workspace import Workspace

from meshplane.terraform import spec as provider_spec
from meshplane.terraform.schema import Block, OpenApi, SchemaBuilder, singular, snake
from meshplane.terraform.validation import check_block

ROOT = Path(__file__).resolve().parents[2]
AWS = json.loads((Path(__file__).parent / "data" / "aws_appmesh_hcl.json").read_text())

# Where meshplane deliberately differs from hashicorp/aws 5.100.0 (both accept the same valid HCL
# except the first: `prefix` is in aws's schema for gRPC route matches but App Mesh has no such member).
KNOWN_DIFFERENCES = {
    ("route", "spec.grpc_route.match.prefix"): "absent: not an App Mesh member (aws never sends it)",
    ("virtual_node", "spec.listener.connection_pool.http"): "block list max1 (aws: unbounded list, API: one)",
    ("virtual_node", "spec.listener.connection_pool.http2"): "block list max1 (aws: unbounded list, API: one)",
    ("virtual_node", "spec.listener.connection_pool.tcp"): "block list max1 (aws: unbounded list, API: one)",
}


def shape(block: Block, prefix: str = "") -> dict[str, str]:
    """The same flattening as the data file: path -> attribute type JSON or block nesting."""
    out: dict[str, str] = {}
    for attr in block.attributes:
        out[prefix + attr.name] = json.dumps(attr.type, separators=(",", ":"))
    for sub in block.blocks:
        out[prefix + sub.name] = f"block {sub.nesting}" + (" max1" if sub.max_items == 1 else "")
        out.update(shape(sub, prefix + sub.name + "."))
    return out


@pytest.fixture(scope="module")
def spec() -> provider_spec.ProviderSpec:
    return provider_spec.load()


@pytest.mark.parametrize("kind", sorted(AWS["resources"]))
def test_resource_hcl_matches_hashicorp_aws(spec: provider_spec.ProviderSpec, kind: str) -> None:
    ours = shape(spec.resources[f"meshplane_{kind}"].resource_root)
    mismatched = {
        path: (theirs, ours.get(path, "absent"))
        for path, theirs in AWS["resources"][kind].items()
        if ours.get(path) != theirs and (kind, path) not in KNOWN_DIFFERENCES
    }
    assert mismatched == {}


@pytest.mark.parametrize("kind", sorted(AWS["data_sources"]))
def test_data_source_attributes_match_hashicorp_aws(spec: provider_spec.ProviderSpec, kind: str) -> None:
    root = spec.resources[f"meshplane_{kind}"].data_root
    assert {a.name for a in root.attributes} == set(AWS["data_sources"][kind])
    assert root.attribute("spec").type[0:1] == ["list"]


def test_top_level_attributes_follow_hashicorp_aws(spec: provider_spec.ProviderSpec) -> None:
    route = spec.resources["meshplane_route"].resource_root
    flags = {a.name: (a.required, a.optional, a.computed, a.force_new) for a in route.attributes}
    assert flags == {
        "id": (False, False, True, False),
        "name": (True, False, False, True),
        "mesh_name": (True, False, False, True),
        "virtual_router_name": (True, False, False, True),
        "mesh_owner": (False, True, True, True),
        "arn": (False, False, True, False),
        "created_date": (False, False, True, False),
        "last_updated_date": (False, False, True, False),
        "resource_owner": (False, False, True, False),
        "tags": (False, True, False, False),
        "tags_all": (False, False, True, False),
    }
    mesh = spec.resources["meshplane_mesh"]
    assert mesh.resource_root.attribute("mesh_owner").optional is False
    assert mesh.spec.min_items == 0 and spec.resources["meshplane_virtual_node"].spec.min_items == 1
    assert [r.import_id for r in spec.resources.values()] == [
        "{name}", "{mesh_name}/{name}", "{mesh_name}/{name}", "{mesh_name}/{name}",
        "{mesh_name}/{virtual_router_name}/{name}", "{mesh_name}/{name}", "{mesh_name}/{virtual_gateway_name}/{name}",
    ]


def test_constraints_come_from_the_openapi(spec: provider_spec.ProviderSpec) -> None:
    node = spec.resources["meshplane_virtual_node"].spec
    port = node.block("listener").block("port_mapping").attribute("port")
    assert (port.constraints["minimum"], port.constraints["maximum"]) == (1, 65535)
    protocol = node.block("listener").block("port_mapping").attribute("protocol")
    assert set(protocol.constraints["enum"]) == {"http", "tcp", "http2", "grpc"}
    attributes = node.block("service_discovery").block("aws_cloud_map").attribute("attributes")
    assert attributes.type == ["map", "string"] and attributes.map_kv


def test_union_markers_are_checked_at_plan() -> None:
    """A component with ``maxProperties: 1`` (``minProperties: 1``) takes at most (exactly) one member."""
    doc = {"components": {"schemas": {
        "Spec": {"type": "object", "properties": {"provider": {"$ref": "#/components/schemas/Provider"}}},
        "Provider": {"type": "object", "minProperties": 1, "maxProperties": 1, "properties": {
            "virtualNode": {"$ref": "#/components/schemas/Ref"}, "virtualRouter": {"$ref": "#/components/schemas/Ref"}}},
        "Ref": {"type": "object", "properties": {"name": {"type": "string"}}},
    }}}
    block = SchemaBuilder(OpenApi(doc), {}).spec_block("Spec", required=True)
    both = {"provider": [{"virtual_node": [{"name": "a"}], "virtual_router": [{"name": "b"}]}]}
    neither = {"provider": [{"virtual_node": [], "virtual_router": []}]}
    assert [(p.text_path, p.detail) for p in check_block(block, both, ("spec", 0), ("spec", 0))] == [
        ("spec[0].provider[0]", "only one of virtual_node, virtual_router may be set, got virtual_node, virtual_router")]
    assert [p.detail for p in check_block(block, neither)] == ["exactly one of virtual_node, virtual_router must be set"]


def test_naming_rule() -> None:
    assert [snake(n) for n in ("portMapping", "http2Route", "awsCloudMap", "ipPreference")] == [
        "port_mapping", "http2_route", "aws_cloud_map", "ip_preference"]
    assert [singular(snake(n)) for n in ("listeners", "backends", "weightedTargets", "queryParameters", "metadata")] == [
        "listener", "backend", "weighted_target", "query_parameter", "metadata"]


def add_member(doc: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI with a member the server might add tomorrow: VirtualNodeSpec.drainMode."""
    doc = copy.deepcopy(doc)
    doc["components"]["schemas"]["VirtualNodeSpec"]["properties"]["drainMode"] = {"type": "string", "enum": ["FAST", "SLOW"]}
    return doc


def test_a_new_server_member_needs_no_provider_code(tmp_path: Path) -> None:
    package = provider_spec.spec_dir()
    (tmp_path / "openapi.json").write_text(json.dumps(add_member(json.loads((package / "openapi.json").read_text()))))
    shutil.copy(package / "terraform.json", tmp_path / "terraform.json")
    node = provider_spec.load(tmp_path).resources["meshplane_virtual_node"].spec
    assert node.attribute("drain_mode").constraints == {"enum": ["FAST", "SLOW"]}


@pytest.mark.terraform
def test_a_new_server_member_reaches_terraform(workspace: Workspace, tmp_path: Path) -> None:
    """`terraform validate` accepts the new attribute once the provider reads the new openapi.json."""
    package = provider_spec.spec_dir()
    spec_dir = tmp_path / "spec"
    spec_dir.mkdir()
    (spec_dir / "openapi.json").write_text(json.dumps(add_member(json.loads((package / "openapi.json").read_text()))))
    shutil.copy(package / "terraform.json", spec_dir / "terraform.json")
    ws = workspace
    ws.write('''
    terraform {
      required_providers {
        meshplane = { source = "meshplane/meshplane" }
      }
    }
    resource "meshplane_virtual_node" "n" {
      name      = "n"
      mesh_name = "m"
      spec {
        drain_mode = "SLOW"
      }
    }
    ''')
    ws.init()
    before = ws.run("validate", expect=1)
    assert 'An argument named "drain_mode" is not expected here.' in before.out
    ws.env[provider_spec.SPEC_DIR_ENV] = str(spec_dir)
    ws.run("validate")


def test_package_ships_the_provider_spec_files() -> None:
    """`make spec` copies provider-spec/*.json into the package (read when installed from a wheel)."""
    for name in provider_spec.FILES:
        assert (provider_spec.PACKAGE_DIR / name).read_text() == (ROOT / "provider-spec" / name).read_text(), (
            f"package copy of {name} is stale: run `make spec`")


def test_a_checkout_reads_provider_spec_directly() -> None:
    assert provider_spec.spec_dir() == ROOT / "provider-spec"


def test_provider_spec_openapi_is_the_generated_one(tmp_path: Path) -> None:
    openapi = pytest.importorskip("meshplane.openapi", reason="meshplane.openapi not written yet")
    openapi.write_openapi(str(tmp_path / "openapi.json"))
    generated = json.loads((tmp_path / "openapi.json").read_text())
    assert json.loads((ROOT / "provider-spec" / "openapi.json").read_text()) == generated, "run `make spec`"
