"""hashicorp/aws 5.100 against ``meshplane serve --auth sigv4``, with its normal credentials only.

terraform-examples/aws-provider, unchanged, takes its key from AWS_ACCESS_KEY_ID /
AWS_SECRET_ACCESS_KEY (here a meshplane admin key): apply, then destroy. A wrong secret and a key
whose policy covers another mesh get AWS's codes through the provider (InvalidSignatureException,
AccessDeniedException) and change nothing. Few commands: hashicorp/aws costs ~10 s of CPU each;
the other codes are covered with our provider (tests/terraform/test_provider_auth.py), boto3 and
the aws CLI.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from auth_server import AuthServer, create_key, mesh_policy, start_auth_server, use_key
from aws_workspace import GroupWorkspace
from test_aws_provider import EXAMPLE, weights

from meshplane.terraform.client import Credentials

pytestmark = pytest.mark.terraform


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    server = start_auth_server(tmp_path_factory.mktemp("auth-aws"))
    try:
        yield server
    finally:
        server.stop()


def test_hashicorp_aws_signs_with_its_normal_credentials(tmp_path: Path, terraform_bin: str, aws_cli_config: Path,
                                                         auth_server: AuthServer, mesh_name: str) -> None:
    rest = auth_server.rest()
    ws = GroupWorkspace(tmp_path / "ws", terraform_bin, aws_cli_config, auth_server.endpoint)
    ws.dir.mkdir(parents=True, exist_ok=True)
    for tf in EXAMPLE.glob("*.tf"):
        shutil.copy(tf, ws.dir)
    ws.env.update(TF_VAR_endpoint=auth_server.endpoint, TF_VAR_mesh_name=mesh_name)
    use_key(ws.env, auth_server.admin, aws=True)
    try:
        ws.init()
        assert "Resources: 15 added, 0 changed, 0 destroyed." in ws.apply().out
        assert weights(rest, mesh_name, "jazz") == {"jazz-v1": 100, "jazz-v2": 0}
        assert not auth_server.refusals()

        # The canary, tried with keys that may not: refused at the first calls, nothing changes.
        scoped_name = f"aws-scoped-{mesh_name[-8:]}"
        scoped = create_key(auth_server.db, scoped_name, policy=mesh_policy(f"{mesh_name}-other"))
        refused = [
            (Credentials(auth_server.admin.access_key_id, "y" * 40), "InvalidSignatureException"),
            (scoped, "AccessDeniedException"),
        ]
        ws.write("jazz_weights = { v1 = 90, v2 = 10 }\n", "canary.auto.tfvars")
        out = ""
        for key, code in refused:
            use_key(ws.env, key, aws=True)
            out = " ".join(ws.apply(expect=1).out.split())  # Terraform wraps long lines
            assert f"{code}: " in out and "StatusCode: 403" in out, out
            assert key.secret_access_key not in out
            assert weights(rest, mesh_name, "jazz") == {"jazz-v1": 100, "jazz-v2": 0}, code
        assert f"user/{scoped_name} is not authorized to perform: appmesh:Describe" in out
        assert {line["key_id"] for line in auth_server.refusals()} == {
            auth_server.admin.access_key_id, scoped.access_key_id}

        use_key(ws.env, auth_server.admin, aws=True)
        ws.destroy()
        assert rest.get(f"/meshes/{mesh_name}") is None
    finally:
        state = ws.dir / "terraform.tfstate"
        if state.exists() and '"resources": []' not in state.read_text():
            use_key(ws.env, auth_server.admin, aws=True)
            ws.run("destroy", "-auto-approve", "-input=false", expect=None)
    print("hashicorp/aws with auth: " + ", ".join(f"{cmd} {seconds:.1f}s" for cmd, seconds in ws.timings))
