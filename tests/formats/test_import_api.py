"""POST /meshplane/v1/import on a running server: summary, dry run, conflict modes, invalid input
(nothing written, file part/resource/field named), re-import as a no-op."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import requests
from rich_mesh import rich_mesh


def export_doc(mesh: str) -> dict[str, Any]:
    """The rich mesh as a meshplane export without metadata (what a hand-written backup looks like)."""
    items = [{"kind": kind, **names, "spec": spec, "tags": tags} for kind, names, spec, tags in rich_mesh(mesh)]
    return {"format": "meshplane-export", "version": 1, "resources": items}


def post(endpoint: str, doc: Any, **params: str) -> requests.Response:
    body = doc if isinstance(doc, str) else json.dumps(doc)
    return requests.post(f"{endpoint}/meshplane/v1/import", data=body.encode(), params=params, timeout=30)


def node_spec(appmesh: Any, mesh: str, name: str) -> dict[str, Any]:
    return appmesh.describe_virtual_node(meshName=mesh, virtualNodeName=name)["virtualNode"]  # type: ignore[no-any-return]


def test_import_dry_run_conflicts_and_replace(endpoint: str, appmesh: Any, mesh_name: str) -> None:
    doc = export_doc(mesh_name)
    dry = post(endpoint, doc, dryRun="true")
    assert dry.status_code == 200, dry.text
    assert dry.json()["dryRun"] is True and dry.json()["totals"]["created"] == 14
    assert f"+ VirtualNode {mesh_name}/a" in dry.json()["diff"]
    assert mesh_name not in {m["meshName"] for m in appmesh.list_meshes()["meshes"]}  # nothing written

    done = post(endpoint, doc)
    assert done.status_code == 200, done.text
    assert done.json()["format"] == "json"
    assert done.json()["summary"]["Route"] == {"created": 4, "unchanged": 0, "replaced": 0, "skipped": 0}
    node_a = node_spec(appmesh, mesh_name, "a")
    tags = appmesh.list_tags_for_resource(resourceArn=node_a["metadata"]["arn"])["tags"]
    assert tags == [{"key": "app", "value": "a"}]
    assert post(endpoint, doc).json()["totals"] == {"created": 0, "unchanged": 14, "replaced": 0, "skipped": 0}

    changed = copy.deepcopy(doc)
    b = next(r for r in changed["resources"] if r.get("virtualNodeName") == "b")
    b["spec"]["listeners"][0]["portMapping"]["port"] = 8181
    b["tags"] = [{"key": "new", "value": "tag"}]
    before_b = node_spec(appmesh, mesh_name, "b")

    refused = post(endpoint, changed)
    assert refused.status_code == 409 and refused.headers["x-amzn-ErrorType"] == "ConflictException"
    assert f"VirtualNode {mesh_name}/b exists and differs" in refused.json()["message"]
    assert node_spec(appmesh, mesh_name, "b") == before_b

    preview = post(endpoint, changed, dryRun="true", onConflict="replace")
    assert preview.status_code == 200
    assert any('-          "port": 8080' in line for line in preview.json()["diff"]), preview.json()["diff"]
    assert node_spec(appmesh, mesh_name, "b") == before_b

    skipped = post(endpoint, changed, onConflict="skip")
    assert skipped.json()["totals"] == {"created": 0, "unchanged": 13, "replaced": 0, "skipped": 1}
    assert node_spec(appmesh, mesh_name, "b") == before_b

    replaced = post(endpoint, changed, onConflict="replace")
    assert replaced.json()["totals"] == {"created": 0, "unchanged": 13, "replaced": 1, "skipped": 0}
    after_b = node_spec(appmesh, mesh_name, "b")
    assert after_b["spec"]["listeners"][0]["portMapping"]["port"] == 8181
    assert after_b["metadata"]["uid"] == before_b["metadata"]["uid"]
    assert after_b["metadata"]["version"] == before_b["metadata"]["version"] + 1
    assert appmesh.list_tags_for_resource(resourceArn=after_b["metadata"]["arn"])["tags"] == [
        {"key": "new", "value": "tag"}]


@pytest.mark.parametrize("mutate, where", [
    (lambda d: d["resources"][2]["spec"]["listeners"][0]["portMapping"].update(port=70000),
     "resources[2] (VirtualNode {m}/b): VirtualNode {m}/b: 1 validation error detected: Value '70000' at "
     "'spec.listeners[0].portMapping.port'"),
    (lambda d: d["resources"][4].update(virtualRouterName="missing"),
     "VirtualRouter missing is neither in the import nor stored"),
    (lambda d: d["resources"][1].update(tags=[{"key": "", "value": "x"}]), "at 'tags[0].key'"),
    (lambda d: d["resources"][0].update(metadata={"arn": "arn:aws:appmesh:eu-west-1:111122223333:mesh/x"}),
     "differs from this server's arn:aws:appmesh:us-east-1:111122223333:mesh/"),
])
def test_invalid_input_writes_nothing_and_names_the_place(endpoint: str, appmesh: Any, mesh_name: str,
                                                          mutate: Any, where: str) -> None:
    doc = export_doc(mesh_name)
    mutate(doc)
    answer = post(endpoint, doc)
    assert answer.status_code == 400 and answer.headers["x-amzn-ErrorType"] == "BadRequestException", answer.text
    assert where.format(m=mesh_name) in answer.json()["message"], answer.json()["message"]
    assert "nothing was imported" in answer.json()["message"]
    assert mesh_name not in {m["meshName"] for m in appmesh.list_meshes()["meshes"]}


@pytest.mark.parametrize("body, params, message", [
    ("not json or yaml: [", {}, "neither JSON nor YAML"),
    ('{"hello": 1}', {}, "not a describe-* answer"),
    ("{}", {"onConflict": "merge"}, "onConflict 'merge' must be one of fail, skip, replace"),
    ("{}", {"dryRun": "maybe"}, "at 'dryRun'"),
    ("{}", {"set": "nope"}, "LogicalId=name"),
])
def test_bad_requests_are_400(endpoint: str, body: str, params: dict[str, str], message: str) -> None:
    answer = post(endpoint, body, **params)
    assert answer.status_code == 400, answer.text
    assert message in answer.json()["message"]


def test_export_rejects_unknown_format(endpoint: str) -> None:
    answer = requests.get(f"{endpoint}/meshplane/v1/export", params={"format": "xml"}, timeout=10)
    assert answer.status_code == 400 and "format" in answer.json()["message"]


def test_a_state_file_over_one_mebibyte_imports_over_http(endpoint: str, appmesh: Any, mesh_name: str) -> None:
    """The API's 1 MiB body limit does not apply to imports (a real state file is several MiB)."""
    items: list[dict[str, Any]] = [{"kind": "mesh", "meshName": mesh_name, "spec": {}}]
    for i in range(400):
        items.append({"kind": "virtualNode", "meshName": mesh_name, "virtualNodeName": f"node-{i}", "spec": {
            "listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}],
            "serviceDiscovery": {"dns": {"hostname": f"node-{i}.{'x' * 40}.svc.cluster.local"}},
            "logging": {"accessLog": {"file": {"path": "/dev/stdout", "format": {"json": [
                {"key": f"k{j}", "value": "%RESPONSE_CODE%"} for j in range(40)]}}}}}})
    body = json.dumps({"format": "meshplane-export", "version": 1, "resources": items}, indent=2)
    assert len(body) > 1024 * 1024
    answer = post(endpoint, body)
    assert answer.status_code == 200, answer.text[:500]
    assert answer.json()["totals"]["created"] == 401
    assert appmesh.describe_virtual_node(meshName=mesh_name, virtualNodeName="node-399")["virtualNode"]["spec"][
        "serviceDiscovery"]["dns"]["hostname"].startswith("node-399.")


@pytest.mark.parametrize("body", [
    "Resources:\n  M:\n    Type: AWS::AppMesh::Mesh\n    Properties:\n      MeshName: m\n      Tags: [1, 2]\n",
    "Resources:\n  M:\n    Type: AWS::AppMesh::Mesh\n    Properties: [1]\n",
    '{"version": 4, "terraform_version": "1", "resources": [{"mode": "managed", "type": "aws_appmesh_mesh", '
    '"instances": [{"attributes": {"name": "m", "spec": [1]}}]}]}',
    '{"version": 4, "terraform_version": "1", "resources": [{"mode": "managed", "type": "aws_appmesh_mesh", '
    '"instances": [{"attributes": {"name": "m", "spec": {"a": 1}}}]}]}',
    "apiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualRouter\nmetadata: {name: r}\nspec: {routes: [1]}\n",
    "apiVersion: appmesh.k8s.aws/v1beta2\nkind: Mesh\nmetadata: [1]\n",
    '{"format": "meshplane-export", "version": 1, "resources": [{"kind": "mesh", "meshName": "m", "metadata": {"createdAt": true}}]}',
    '[{"virtualNode": 1}]',
    "",
    "[" * 100_000,
    "a: &a [1, 1]\nb: &b [*a, *a]\nc: [*b, *b]\n",
])
def test_malformed_files_are_400_never_500(endpoint: str, body: str) -> None:
    answer = post(endpoint, body)
    assert answer.status_code == 400, answer.text
    assert answer.headers["x-amzn-ErrorType"] == "BadRequestException"
