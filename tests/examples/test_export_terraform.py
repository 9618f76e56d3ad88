"""`meshplane export --format terraform`: the written module (meshplane provider, `import {}` blocks)
plans to import every object and change nothing, applies as a pure import, then plans "No changes"."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from procs import BIN, MeshplaneServer
from tf_workspace import Workspace

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "formats"))
from rich_mesh import create_all, describe_all  # noqa: E402

pytestmark = pytest.mark.terraform


def client(endpoint: str) -> Any:
    import boto3

    return boto3.client("appmesh", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x",
                        aws_secret_access_key="x")


def test_exported_module_first_plan_imports_and_changes_nothing(example_workspace: Workspace, tmp_path: Path) -> None:
    ws = example_workspace
    server = MeshplaneServer(tmp_path / "a.db", tmp_path / "a.log")
    try:
        appmesh = client(server.endpoint)
        create_all(appmesh, "rich")
        before = describe_all(appmesh, "rich")
        out = subprocess.run([str(BIN / "meshplane"), "export", "--db", str(tmp_path / "a.db"), "--format",
                              "terraform", "--out", str(ws.dir)], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        ws.env["MESHPLANE_ENDPOINT"] = server.endpoint
        ws.init()
        assert "Success" in ws.run("validate").out
        planned = ws.plan(expect=(0, 2))
        assert "Plan: 14 to import, 0 to add, 0 to change, 0 to destroy." in planned.out, planned.out
        ws.apply()
        ws.plan()  # -detailed-exitcode 0: no changes
        assert describe_all(appmesh, "rich") == before  # importing changed nothing on the server
    finally:
        (ws.dir / "terraform.tfstate").unlink(missing_ok=True)
        server.stop()
