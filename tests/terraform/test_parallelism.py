"""Many resources at Terraform's default -parallelism=10: one provider process, ten concurrent RPCs."""

from __future__ import annotations

import pytest
from tf_workspace import Rest, Workspace

pytestmark = pytest.mark.terraform

COUNT = 40


def test_forty_nodes_at_parallelism_ten(workspace: Workspace, rest: Rest, mesh_name: str) -> None:
    ws = workspace
    ws.write(f'''
    terraform {{
      required_providers {{
        meshplane = {{ source = "meshplane/meshplane" }}
      }}
    }}
    resource "meshplane_mesh" "m" {{
      name = "{mesh_name}"
    }}
    resource "meshplane_virtual_node" "n" {{
      count     = {COUNT}
      name      = "node-${{count.index}}"
      mesh_name = meshplane_mesh.m.name
      spec {{
        listener {{
          port_mapping {{
            port     = 8000 + count.index
            protocol = "http"
          }}
        }}
        service_discovery {{
          dns {{ hostname = "node-${{count.index}}.local" }}
        }}
      }}
      tags = {{ index = tostring(count.index) }}
    }}
    ''')
    ws.init()
    ws.apply("-parallelism=10")
    ws.plan("-parallelism=10")
    for i in (0, COUNT // 2, COUNT - 1):
        node = rest.get(f"/meshes/{mesh_name}/virtualNodes/node-{i}")
        assert node is not None
        assert node["spec"]["listeners"][0]["portMapping"]["port"] == 8000 + i
        assert rest.tags(node["metadata"]["arn"]) == {"index": str(i)}
    listed = rest.get(f"/meshes/{mesh_name}/virtualNodes")
    assert listed is not None and len(listed["virtualNodes"]) == COUNT
    # a node deleted behind Terraform's back: destroying it again (no refresh) treats the 404 as done
    rest.delete(f"/meshes/{mesh_name}/virtualNodes/node-0")
    ws.run("destroy", "-auto-approve", "-input=false", "-parallelism=10", "-refresh=false")
    assert rest.get(f"/meshes/{mesh_name}") is None
