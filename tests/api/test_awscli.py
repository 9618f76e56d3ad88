"""The aws CLI (PyPI awscli) drives a short scenario end to end with --endpoint-url."""

from __future__ import annotations

import json
import subprocess

from procs import BIN, env_with_venv


def aws(endpoint: str, *args: str) -> dict:
    env = env_with_venv({
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    })
    out = subprocess.run([str(BIN / "aws"), "appmesh", *args, "--endpoint-url", endpoint, "--output", "json"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout) if out.stdout.strip() else {}


def test_aws_cli_creates_lists_updates_and_deletes(endpoint, mesh_name):
    created = aws(endpoint, "create-mesh", "--mesh-name", mesh_name)
    assert created["mesh"]["metadata"]["version"] == 1
    aws(endpoint, "create-virtual-node", "--mesh-name", mesh_name, "--virtual-node-name", "serviceB",
        "--spec", json.dumps({"listeners": [{"portMapping": {"port": 80, "protocol": "http"}}],
                              "serviceDiscovery": {"dns": {"hostname": "serviceb.apps.local"}}}))
    nodes = aws(endpoint, "list-virtual-nodes", "--mesh-name", mesh_name)
    assert [n["virtualNodeName"] for n in nodes["virtualNodes"]] == ["serviceB"]
    updated = aws(endpoint, "update-virtual-node", "--mesh-name", mesh_name, "--virtual-node-name", "serviceB",
                  "--spec", json.dumps({"serviceDiscovery": {"dns": {"hostname": "b.local"}}}))
    assert updated["virtualNode"]["metadata"]["version"] == 2
    described = aws(endpoint, "describe-virtual-node", "--mesh-name", mesh_name, "--virtual-node-name", "serviceB")
    assert described["virtualNode"]["spec"] == {"serviceDiscovery": {"dns": {"hostname": "b.local"}}}
    aws(endpoint, "delete-virtual-node", "--mesh-name", mesh_name, "--virtual-node-name", "serviceB")
    deleted = aws(endpoint, "delete-mesh", "--mesh-name", mesh_name)
    assert deleted["mesh"]["status"]["status"] == "DELETED"
