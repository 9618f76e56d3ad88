"""The meshplane provider against ``meshplane serve --auth sigv4``: it signs, and refusals are clear.

A key in the environment (MESHPLANE_* or AWS_*) drives a whole life (apply, clean plan, destroy);
no key, a wrong secret, an unknown key, the wrong region and a key whose policy covers another
mesh each fail with AWS's code in the diagnostic and what to check, are sent once (the audit log
counts them: never retried) and leave the store as it was.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path

import pytest
from auth_server import AuthServer, SignedRest, create_key, keys, mesh_policy, start_auth_server, use_key
from tf_workspace import Workspace

from meshplane.terraform.client import ApiError, Client, Credentials

pytestmark = pytest.mark.terraform

HEADER = '''
terraform {
  required_providers {
    meshplane = { source = "meshplane/meshplane" }
  }
}
'''


def mesh_hcl(*meshes: str, provider: str = "") -> str:
    blocks = [HEADER, f'provider "meshplane" {{\n{provider}}}\n']
    for i, mesh in enumerate(meshes):
        blocks.append(f'''
resource "meshplane_mesh" "m{i}" {{
  name = "{mesh}"
  spec {{
    egress_filter {{
      type = "DROP_ALL"
    }}
  }}
  tags = {{ team = "t{i}" }}
}}

resource "meshplane_virtual_node" "n{i}" {{
  name      = "node"
  mesh_name = meshplane_mesh.m{i}.name
  spec {{
    listener {{
      port_mapping {{
        port     = 8080
        protocol = "http"
      }}
    }}
    service_discovery {{
      dns {{
        hostname = "node.local"
      }}
    }}
  }}
}}
''')
    return "".join(blocks)


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    server = start_auth_server(tmp_path_factory.mktemp("auth-provider"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def ws(tmp_path: Path, terraform_bin: str, cli_config: Path, auth_server: AuthServer) -> Iterator[Workspace]:
    """A workspace on the auth server; what is left in its state is destroyed with the admin key."""
    workspace = Workspace(tmp_path / "ws", terraform_bin, cli_config, auth_server.endpoint)
    try:
        yield workspace
    finally:
        state = workspace.dir / "terraform.tfstate"
        if state.exists() and '"resources": []' not in state.read_text():
            use_key(workspace.env, auth_server.admin)
            workspace.run("destroy", "-auto-approve", "-input=false", expect=None)


def test_key_from_the_environment_drives_a_whole_life(ws: Workspace, auth_server: AuthServer, mesh_name: str) -> None:
    rest = auth_server.rest()
    ws.write(mesh_hcl(mesh_name))
    use_key(ws.env, auth_server.admin)
    ws.init()
    assert "Apply complete! Resources: 2 added" in ws.apply().out
    mesh = rest.get(f"/meshes/{mesh_name}")
    assert mesh is not None and mesh["spec"] == {"egressFilter": {"type": "DROP_ALL"}}
    assert rest.tags(mesh["metadata"]["arn"]) == {"team": "t0"}
    assert rest.get(f"/meshes/{mesh_name}/virtualNodes/node") is not None
    ws.plan()  # refresh (GET + list tags, signed) finds nothing to change

    # The same key as standard AWS variables (what hashicorp/aws users already have set).
    use_key(ws.env, auth_server.admin, aws=True)
    ws.env["AWS_REGION"] = "us-east-1"
    ws.plan()
    ws.destroy()
    assert rest.get(f"/meshes/{mesh_name}") is None
    assert not auth_server.refusals(auth_server.admin.access_key_id)


def test_refusals_are_clear_sent_once_and_change_nothing(ws: Workspace, auth_server: AuthServer,
                                                         mesh_name: str) -> None:
    rest = auth_server.rest()
    allowed, other = f"{mesh_name}-a", f"{mesh_name}-b"
    scoped = create_key(auth_server.db, f"scoped-{mesh_name[-8:]}", policy=mesh_policy(allowed))
    unknown = Credentials("MPAKUNKNOWNKEY000000", "x" * 40)
    wrong_secret = Credentials(auth_server.admin.access_key_id, "y" * 40)
    before = rest.mesh_names()
    ws.write(mesh_hcl(other))
    use_key(ws.env, None)
    ws.init()

    cases = [
        (None, "", "MissingAuthenticationTokenException", "MESHPLANE_ACCESS_KEY_ID"),
        (unknown, "", "UnrecognizedClientException", unknown.access_key_id),
        (wrong_secret, "", "InvalidSignatureException", "Check the secret key"),
        (auth_server.admin, '  region = "eu-west-1"\n', "InvalidSignatureException", "region eu-west-1"),
        (scoped, "", "AccessDeniedException", "is not authorized to perform: appmesh:CreateMesh"),
    ]
    for key, provider, code, shown in cases:
        ws.write(mesh_hcl(other, provider=provider))
        use_key(ws.env, key)
        refused_before = len(auth_server.refusals())
        out = " ".join(ws.apply(expect=1).out.split())  # Terraform wraps the detail's lines
        assert f"creating meshplane_mesh '{other}': {code}" in out, out
        assert shown in out, out
        if key is not None:
            assert key.secret_access_key not in out
        refused = auth_server.wait_refusals(refused_before + 1)[refused_before:]
        assert len(refused) == 1, (code, refused)  # sent once: an auth refusal is never retried
        assert rest.mesh_names() == before, code   # and nothing changed

    # The scoped key does what its policy allows and nothing more, in one apply.
    ws.write(mesh_hcl(allowed, other))
    use_key(ws.env, scoped)
    out = " ".join(ws.apply(expect=1).out.split())
    assert "AccessDeniedException" in out and f"mesh/{other}" in out
    assert rest.get(f"/meshes/{allowed}/virtualNodes/node") is not None
    assert rest.get(f"/meshes/{other}") is None
    ws.destroy()
    assert rest.get(f"/meshes/{allowed}") is None
    print("refusals: " + ", ".join(f"{cmd} {seconds:.1f}s" for cmd, seconds in ws.timings))


def test_client_gets_the_other_codes_with_what_to_check(auth_server: AuthServer, mesh_name: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The provider's client (no Terraform: the same code path, fast) with a disabled key, an expired
    key and a clock 10 minutes off either way: AWS's code, the hint, one request each, nothing changed."""
    import time

    import botocore.auth

    before = auth_server.rest().mesh_names()
    disabled = create_key(auth_server.db, f"disabled-{mesh_name[-8:]}", admin=True)
    keys(auth_server.db, "disable", disabled.access_key_id)
    expired = create_key(auth_server.db, f"expired-{mesh_name[-8:]}", admin=True, expires="1s")
    time.sleep(1.1)

    def refused(key: Credentials) -> ApiError:
        with pytest.raises(ApiError) as raised:
            Client(auth_server.endpoint, key).call("PUT", "/v20190125/meshes", None, {"meshName": mesh_name})
        assert raised.value.status == 403
        return raised.value

    count = len(auth_server.refusals())
    err = refused(disabled)
    assert err.code == "UnrecognizedClientException" and "meshplane keys create" in err.hint
    err = refused(expired)
    assert err.code == "ExpiredTokenException" and "expired" in err.hint
    real_now = botocore.auth.get_current_datetime
    for shift, text in ((-600, "Signature expired"), (600, "Signature not yet current")):
        monkeypatch.setattr(botocore.auth, "get_current_datetime",
                            lambda shift=shift: real_now() + datetime.timedelta(seconds=shift))
        err = refused(auth_server.admin)
        assert err.code == "InvalidSignatureException" and text in err.message and "clock" in err.hint
    monkeypatch.undo()
    assert len(auth_server.wait_refusals(count + 4)) == count + 4
    assert auth_server.rest().mesh_names() == before


def test_the_server_refuses_unsigned_reads(auth_server: AuthServer) -> None:
    """The fixture itself: the server refuses unsigned reads (so every check above is meaningful)."""
    import requests

    answer = requests.get(auth_server.endpoint + "/v20190125/meshes", timeout=10)
    assert answer.status_code == 403
    assert answer.headers["x-amzn-ErrorType"].startswith("MissingAuthenticationTokenException")
    assert isinstance(SignedRest(auth_server.endpoint, auth_server.admin).mesh_names(), list)
