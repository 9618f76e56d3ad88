"""The provider block's access_key, secret_key, region and ca_file: schema, validation, configuration errors.

Signing itself is checked in test_client_signing.py (the client) and end to end against
``meshplane serve --auth sigv4`` in test_provider_auth.py.
"""

from __future__ import annotations

import pytest
from tf_workspace import Workspace

from meshplane.terraform import spec as provider_spec
from meshplane.terraform.servicer import ProviderServicer

HEADER = '''
terraform {
  required_providers {
    meshplane = { source = "meshplane/meshplane" }
  }
}
'''


def test_provider_schema_has_the_auth_attributes_and_hides_the_secret() -> None:
    schema = ProviderServicer(provider_spec.load())._schema.provider.block
    attrs = {a.name: a for a in schema.attributes}
    assert set(attrs) == {"endpoint", "access_key", "secret_key", "region", "ca_file"}
    assert all(a.optional and not a.required for a in attrs.values())
    assert attrs["secret_key"].sensitive and not attrs["access_key"].sensitive
    for name, variable in (("access_key", "MESHPLANE_ACCESS_KEY_ID"), ("secret_key", "MESHPLANE_SECRET_ACCESS_KEY"),
                           ("region", "AWS_REGION"), ("ca_file", "MESHPLANE_CA_FILE")):
        assert variable in attrs[name].description, name


@pytest.mark.terraform
def test_bad_provider_settings_fail_before_any_request(workspace: Workspace, mesh_name: str) -> None:
    ws = workspace
    resource = f'resource "meshplane_mesh" "m" {{\n  name = "{mesh_name}"\n}}\n'
    ws.write(HEADER + 'provider "meshplane" {\n  access_key = "MPAKHALFPAIR"\n}\n' + resource)
    ws.init()
    half = ws.plan(expect=1).out
    assert "Incomplete meshplane credentials" in half and "access_key is set but secret_key is not" in half

    ws.write(HEADER + 'provider "meshplane" {\n  ca_file = "/nonexistent/ca.pem"\n}\n' + resource)
    missing = ws.plan(expect=1).out
    assert "Invalid value for ca_file" in missing and "/nonexistent/ca.pem" in missing

    ws.write(HEADER + 'provider "meshplane" {}\n' + resource)
    ws.env["MESHPLANE_SECRET_ACCESS_KEY"] = "only-the-secret"
    env_half = ws.plan(expect=1).out
    assert "MESHPLANE_SECRET_ACCESS_KEY is set but MESHPLANE_ACCESS_KEY_ID is not" in env_half
    assert "only-the-secret" not in env_half
