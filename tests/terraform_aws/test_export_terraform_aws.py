"""`meshplane export --format terraform --provider aws`: hashicorp/aws HCL with `import {}` blocks;
its first plan imports everything and changes nothing, and after the apply the plan is clean."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from procs import BIN, MeshplaneServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "formats"))
from rich_mesh import describe_all, rich_mesh  # noqa: E402

pytestmark = pytest.mark.terraform


def aws_expressible(mesh: str) -> list[tuple[str, dict[str, str], dict[str, Any], list[dict[str, str]]]]:
    """The rich mesh without the members hashicorp/aws 5.x cannot express (import.md §4)."""
    items = copy.deepcopy(rich_mesh(mesh))
    for kind, _, spec, _ in items:
        if kind == "virtualNode" and "awsCloudMap" in spec.get("serviceDiscovery", {}):
            spec["serviceDiscovery"]["awsCloudMap"].pop("ipPreference")
        if kind == "virtualGateway":
            # hashicorp/aws reads an absent `enforce` as false against its schema default true (a diff
            # that has nothing to do with the export): say it explicitly, as AWS's own answers did.
            spec["backendDefaults"]["clientPolicy"]["tls"]["enforce"] = True
        if kind == "gatewayRoute" and "httpRoute" in spec:
            spec["httpRoute"]["match"].pop("method")
    return items


def test_exported_aws_module_first_plan_imports_and_changes_nothing(aws_workspace, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import boto3

    ws = aws_workspace
    server = MeshplaneServer(tmp_path / "a.db", tmp_path / "a.log")
    try:
        appmesh = boto3.client("appmesh", endpoint_url=server.endpoint, region_name="us-east-1",
                               aws_access_key_id="x", aws_secret_access_key="x")
        for kind, names, spec, tags in aws_expressible("rich"):
            snake = "".join("_" + c.lower() if c.isupper() else c for c in kind)
            getattr(appmesh, "create_" + snake)(**names, spec=spec, **({"tags": tags} if tags else {}))
        before = describe_all(appmesh, "rich")
        out = subprocess.run([str(BIN / "meshplane"), "export", "--db", str(tmp_path / "a.db"), "--format",
                              "terraform", "--provider", "aws", "--out", str(ws.dir)],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert "hashicorp/aws cannot express" not in (ws.dir / "main.tf").read_text()
        ws.env["TF_VAR_endpoint"] = server.endpoint
        ws.init()
        planned = ws.plan(expect=(0, 2))
        assert "Plan: 14 to import, 0 to add, 0 to change, 0 to destroy." in planned.out, planned.out
        ws.apply()
        ws.plan()
        assert describe_all(appmesh, "rich") == before
    finally:
        (ws.dir / "terraform.tfstate").unlink(missing_ok=True)
        server.stop()
