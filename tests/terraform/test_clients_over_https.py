"""Our clients against the production shape: ``meshplane serve --auth sigv4`` over HTTPS (dev-ca certificates).

The provider verifies the server against ``ca_file`` (attribute, or MESHPLANE_CA_FILE) and refuses
an endpoint it cannot verify; ``meshplane proxy-status`` does the same with ``--ca-file`` and signs
with the key from its flags or the environment.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from auth_server import AuthServer, create_key, start_auth_server, use_key
from tf_workspace import Workspace

from meshplane.terraform.client import Credentials
from procs import BIN, env_with_venv

HEADER = '''
terraform {
  required_providers {
    meshplane = { source = "meshplane/meshplane" }
  }
}
'''


@pytest.fixture(scope="module")
def https_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    root = tmp_path_factory.mktemp("auth-https")
    pki = root / "pki"
    subprocess.run([str(BIN / "meshplane"), "tls", "dev-ca", "--dir", str(pki), "--host", "127.0.0.1"],
                   check=True, capture_output=True, timeout=60, env=env_with_venv())
    server = start_auth_server(root / "server", "--api-tls-cert", str(pki / "server.pem"),
                               "--api-tls-key", str(pki / "server-key.pem"))
    server.ca_file = pki / "ca.pem"
    try:
        assert server.endpoint.startswith("https://127.0.0.1:")
        yield server
    finally:
        server.stop()


def proxy_status(server: AuthServer, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = env_with_venv()
    use_key(base, None)
    base.update(env or {})
    return subprocess.run([str(BIN / "meshplane"), "proxy-status", "--endpoint", server.endpoint, *args],
                          capture_output=True, text=True, timeout=60, env=base)


@pytest.mark.terraform
def test_provider_verifies_the_server_with_ca_file(tmp_path: Path, terraform_bin: str, cli_config: Path,
                                                   https_server: AuthServer, mesh_name: str) -> None:
    rest = https_server.rest()
    ws = Workspace(tmp_path / "ws", terraform_bin, cli_config, https_server.endpoint)
    use_key(ws.env, https_server.admin)
    resource = f'resource "meshplane_mesh" "m" {{\n  name = "{mesh_name}"\n}}\n'
    ws.write(HEADER + 'provider "meshplane" {\n  ca_file = "' + str(https_server.ca_file) + '"\n}\n' + resource)
    try:
        ws.init()
        ws.apply()
        assert rest.get(f"/meshes/{mesh_name}") is not None

        ws.write(HEADER + 'provider "meshplane" {}\n' + resource)
        untrusted = " ".join(ws.plan(expect=1).out.split())
        assert "CERTIFICATE_VERIFY_FAILED" in untrusted and "ca_file" in untrusted, untrusted

        ws.env["MESHPLANE_CA_FILE"] = str(https_server.ca_file)
        ws.plan()
        ws.destroy()
        assert rest.get(f"/meshes/{mesh_name}") is None
    finally:
        state = ws.dir / "terraform.tfstate"
        if state.exists() and '"resources": []' not in state.read_text():
            ws.env["MESHPLANE_CA_FILE"] = str(https_server.ca_file)
            ws.run("destroy", "-auto-approve", "-input=false", expect=None)


def test_proxy_status_signs_and_verifies_over_https(https_server: AuthServer) -> None:
    ca = ["--ca-file", str(https_server.ca_file)]
    admin = https_server.admin
    from_env = proxy_status(https_server, *ca, env={"MESHPLANE_ACCESS_KEY_ID": admin.access_key_id,
                                                    "MESHPLANE_SECRET_ACCESS_KEY": admin.secret_access_key})
    assert from_env.returncode == 0, from_env.stderr
    assert from_env.stdout.split()[:2] == ["NAME", "MESH"]
    from_flags = proxy_status(https_server, *ca, "--access-key-id", admin.access_key_id,
                              "--secret-access-key", admin.secret_access_key, "--all")
    assert from_flags.returncode == 0, from_flags.stderr
    aws_env = proxy_status(https_server, env={"AWS_ACCESS_KEY_ID": admin.access_key_id,
                                              "AWS_SECRET_ACCESS_KEY": admin.secret_access_key,
                                              "AWS_CA_BUNDLE": str(https_server.ca_file)})
    assert aws_env.returncode == 0, aws_env.stderr

    unsigned = proxy_status(https_server, *ca)
    assert unsigned.returncode == 1 and "MissingAuthenticationTokenException" in unsigned.stderr
    wrong = Credentials(admin.access_key_id, "z" * 40)
    refused = proxy_status(https_server, *ca, "--access-key-id", wrong.access_key_id,
                           "--secret-access-key", wrong.secret_access_key)
    assert refused.returncode == 1 and "InvalidSignatureException" in refused.stderr
    assert wrong.secret_access_key not in refused.stdout + refused.stderr
    reader = create_key(https_server.db, "no-proxies", policy={
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "appmesh:List*", "Resource": "*"}]})
    denied = proxy_status(https_server, *ca, "--access-key-id", reader.access_key_id,
                          "--secret-access-key", reader.secret_access_key)
    assert denied.returncode == 1
    assert "AccessDeniedException" in denied.stderr and "meshplane:ListProxies" in denied.stderr
    untrusted = proxy_status(https_server, "--access-key-id", admin.access_key_id,
                             "--secret-access-key", admin.secret_access_key)
    assert untrusted.returncode == 1 and "CERTIFICATE_VERIFY_FAILED" in untrusted.stderr
