"""`meshplane export --format json` -> `meshplane import` into an empty database: identical describe
output (boto3 against real servers), metadata and tags included; re-import is a no-op; saved
`aws appmesh describe-*` output imports too."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import requests
from format_helpers import meshplane
from procs import BIN, env_with_venv
from rich_mesh import create_all, describe_all


def test_export_import_round_trip_is_identical(servers, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source, target = servers
    create_all(source.appmesh, "rich")
    create_all(source.appmesh, "other")
    before = describe_all(source.appmesh, "rich")

    exported = meshplane("export", "--db", str(source.db), "--mesh", "rich", "--format", "json",
                         "--out", str(tmp_path / "out"))
    assert exported.returncode == 0, exported.stderr
    path = tmp_path / "out" / "meshplane-export.json"
    doc = json.loads(path.read_text())
    assert {r["meshName"] for r in doc["resources"]} == {"rich"} and len(doc["resources"]) == 14
    # the HTTP export of a running server is the same document
    over_http = requests.get(f"{source.endpoint}/meshplane/v1/export", params={"mesh": "rich"}, timeout=10)
    assert over_http.status_code == 200 and over_http.json() == doc

    imported = meshplane("import", str(path), "--db", str(target.db))  # the target server is running
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.splitlines()[-1] == "14 created, 0 unchanged, 0 replaced, 0 skipped"
    assert describe_all(target.appmesh, "rich") == before
    assert [m["meshName"] for m in target.appmesh.list_meshes()["meshes"]] == ["rich"]

    again = meshplane("import", "-", "--db", str(target.db), stdin=path.read_text())
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[-1] == "0 created, 14 unchanged, 0 replaced, 0 skipped"
    assert describe_all(target.appmesh, "rich") == before


def test_saved_describe_output_imports(servers, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source, target = servers
    create_all(source.appmesh, "rich")
    env = env_with_venv({"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1"})
    saved = ""
    for args in (["describe-mesh", "--mesh-name", "rich"],
                 ["describe-virtual-node", "--mesh-name", "rich", "--virtual-node-name", "b"],
                 ["describe-virtual-service", "--mesh-name", "rich", "--virtual-service-name", "other.local"]):
        out = subprocess.run([str(BIN / "aws"), "appmesh", *args, "--endpoint-url", source.endpoint],
                             capture_output=True, text=True, env=env, timeout=60, check=True).stdout
        saved += out
    (tmp_path / "saved.json").write_text(saved)
    result = meshplane("import", str(tmp_path / "saved.json"), "--db", str(target.db))
    assert result.returncode == 0, result.stderr
    assert "saved.json: json, 3 resource(s)" in result.stderr
    for method, names, kind in (("describe_mesh", {"meshName": "rich"}, "mesh"),
                                ("describe_virtual_node", {"meshName": "rich", "virtualNodeName": "b"}, "virtualNode")):
        want = getattr(source.appmesh, method)(**names)[kind]
        got = getattr(target.appmesh, method)(**names)[kind]
        assert got == want  # ISO timestamps printed by the CLI parse back to the same instants
    saved_list = subprocess.run([str(BIN / "aws"), "appmesh", "list-meshes", "--endpoint-url", source.endpoint],
                                capture_output=True, text=True, env=env, timeout=60, check=True).stdout
    listed = meshplane("import", "-", "--db", str(target.db), stdin=saved_list)
    assert listed.returncode == 1 and "holds no specs" in listed.stderr
