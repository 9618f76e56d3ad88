"""Migrating a module from hashicorp/aws: rename aws_appmesh_ -> meshplane_, swap the provider, add ``moved``.

Needs hashicorp/aws in a filesystem mirror (/opt/tf-plugins or $AWS_PROVIDER_MIRROR); skipped, saying
so, where none exists. Takes about two minutes (the aws provider starts slowly).
"""

from __future__ import annotations

import os
import re
import textwrap
from pathlib import Path

import pytest
from test_lifecycle import small_mesh
from tf_workspace import Rest, Workspace

pytestmark = [
    pytest.mark.terraform,
]

AWS_MIRROR = Path(os.environ.get("AWS_PROVIDER_MIRROR", "/opt/tf-plugins"))
pytestmark.append(pytest.mark.skipif(
    not any(AWS_MIRROR.glob("registry.terraform.io/hashicorp/aws/*/*/terraform-provider-aws_*")),
    reason=f"no hashicorp/aws provider mirror at {AWS_MIRROR} (set AWS_PROVIDER_MIRROR)",
))
ADDRESSES = ["mesh.m", "virtual_node.a", "virtual_node.b", "virtual_router.r", "virtual_service.s", "route.rt",
             "virtual_gateway.gw", "gateway_route.gr"]


def as_aws(hcl: str, endpoint: str) -> str:
    hcl = hcl.split('data "meshplane_virtual_service"')[0].replace("meshplane_", "aws_appmesh_")
    provider = f'''
    terraform {{
      required_providers {{
        aws = {{ source = "hashicorp/aws" }}
      }}
    }}
    provider "aws" {{
      region                      = "us-east-1"
      access_key                  = "test"
      secret_key                  = "test"
      skip_credentials_validation = true
      skip_requesting_account_id  = true
      skip_metadata_api_check     = true
      skip_region_validation      = true
      max_retries                 = 3
      endpoints {{
        appmesh = "{endpoint}"
      }}
    }}
    '''
    return textwrap.dedent(provider) + re.sub(r"(?s)^\s*terraform \{.*?\n\}\n", "", textwrap.dedent(hcl), count=1)


def test_a_hashicorp_aws_module_moves_to_meshplane(workspace: Workspace, rest: Rest, endpoint: str,
                                                   mesh_name: str) -> None:
    if not (AWS_MIRROR / "registry.terraform.io" / "hashicorp" / "aws").is_dir():
        pytest.skip(f"no hashicorp/aws mirror at {AWS_MIRROR}")
    ws = workspace
    config = Path(ws.env["TF_CLI_CONFIG_FILE"])
    both = ws.dir / "both.tfrc"
    both.write_text(config.read_text().rstrip()[:-1] + (
        f'  filesystem_mirror {{\n    path    = "{AWS_MIRROR}"\n'
        '    include = ["registry.terraform.io/hashicorp/*"]\n  }\n}\n'))
    ws.env["TF_CLI_CONFIG_FILE"] = str(both)

    ws.write(as_aws(small_mesh(mesh_name), endpoint))
    ws.init()
    ws.apply()
    aws_uid = rest.get(f"/meshes/{mesh_name}/virtualNodes/node-a")["metadata"]["uid"]  # type: ignore[index]

    moves = "".join(f"moved {{\n  from = aws_appmesh_{a}\n  to   = meshplane_{a}\n}}\n" for a in ADDRESSES)
    ws.write(small_mesh(mesh_name) + moves)
    ws.init()
    # hashicorp/aws sent `invert = false` for the header match; the config leaves it unset: one update
    moved = ws.apply()
    assert "0 added, 1 changed, 0 destroyed" in moved.out
    ws.plan()
    assert f'id                = "{aws_uid}"' in ws.state("meshplane_virtual_node.a")
    assert rest.get(f"/meshes/{mesh_name}/virtualNodes/node-a")["metadata"]["uid"] == aws_uid  # type: ignore[index]
