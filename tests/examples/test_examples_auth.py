"""terraform-examples/dj-app-canary, unchanged, against ``meshplane serve --auth sigv4``.

The only difference from test_examples.py: the server verifies signatures and the key is in the
environment only (MESHPLANE_ACCESS_KEY_ID / MESHPLANE_SECRET_ACCESS_KEY), as docs/terraform tells
users. The same walkthrough steps and server checks run, read over signed HTTP; then destroy.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from auth_server import AuthServer, start_auth_server, use_key
from test_examples import CASES, EXAMPLES
from tf_workspace import Workspace

pytestmark = pytest.mark.terraform


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    server = start_auth_server(tmp_path_factory.mktemp("auth-examples"))
    try:
        yield server
    finally:
        server.stop()


def test_dj_app_example_unchanged_with_the_key_in_the_environment(
        tmp_path: Path, terraform_bin: str, provider_cli_config: Path, auth_server: AuthServer,
        mesh_name: str) -> None:
    (example,) = [c for c in CASES if c.directory == "dj-app-canary"]
    rest = auth_server.rest()
    ws = Workspace(tmp_path / "ws", terraform_bin, provider_cli_config, auth_server.endpoint)
    shutil.copytree(EXAMPLES / example.directory, ws.dir, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*", "README.md"))
    use_key(ws.env, auth_server.admin)
    ws.env["TF_VAR_mesh_name"] = mesh_name
    try:
        ws.init()
        for number, step in enumerate(example.steps[:2]):  # create, then the canary (an in-place update)
            if step.tfvars:
                ws.write(step.tfvars, "step.auto.tfvars")
            applied = ws.apply()
            assert step.summary in applied.out, f"step {number}: {applied}"
            step.check(rest, mesh_name)
            ws.plan()
        assert re.search(r"Destroy complete! Resources: 15 destroyed\.", ws.destroy().out)
    finally:
        state = ws.dir / "terraform.tfstate"
        if state.exists() and '"resources": []' not in state.read_text():
            ws.run("destroy", "-auto-approve", "-input=false", expect=None)
    assert rest.get(f"/meshes/{mesh_name}") is None
    assert not auth_server.refusals(), auth_server.refusals()
    print("dj-app-canary with auth: " + ", ".join(f"{cmd} {seconds:.1f}s" for cmd, seconds in ws.timings))
