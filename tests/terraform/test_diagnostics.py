"""Invalid values fail at plan on their HCL attribute path; server-side rejections land there too."""

from __future__ import annotations

import pytest
from tf_workspace import Rest, Workspace

pytestmark = pytest.mark.terraform

HEADER = '''
terraform {
  required_providers {
    meshplane = { source = "meshplane/meshplane" }
  }
}
'''


def test_invalid_values_fail_at_plan_naming_the_attribute(workspace: Workspace, rest: Rest, mesh_name: str) -> None:
    ws = workspace
    ws.write(HEADER + f'''
    resource "meshplane_mesh" "m" {{
      name = "{mesh_name}"
      spec {{
        egress_filter {{
          type = "ALLOW_SOME"
        }}
      }}
    }}
    resource "meshplane_virtual_gateway" "gw" {{
      name      = "gw"
      mesh_name = "{mesh_name}"
      spec {{
        listener {{
          port_mapping {{
            port     = 70000
            protocol = "http"
          }}
        }}
      }}
    }}
    resource "meshplane_route" "r" {{
      name                = "r"
      mesh_name           = "{mesh_name}"
      virtual_router_name = "vr"
      spec {{
        priority = 1001
        tcp_route {{
          action {{
            weighted_target {{
              virtual_node = "n"
              weight       = 101
            }}
          }}
        }}
      }}
    }}
    ''')
    ws.init()
    failed = ws.plan(expect=1)
    out = failed.out
    assert "Error: Invalid value for spec[0].egress_filter[0].type" in out
    assert 'expected one of ["ALLOW_ALL", "DROP_ALL"], got "ALLOW_SOME"' in out
    assert "Error: Invalid value for spec[0].listener[0].port_mapping[0].port" in out
    assert "expected a value in the range 1..65535, got 70000" in out
    assert '            port     = 70000' in out  # Terraform points at the source line
    assert "Error: Invalid value for spec[0].priority" in out
    assert "Error: Invalid value for spec[0].tcp_route[0].action[0].weighted_target[*].weight" in out
    assert "expected a value in the range 0..100, got 101" in out
    assert rest.get(f"/meshes/{mesh_name}") is None  # nothing was sent


def test_server_rejection_is_reported_on_the_hcl_path(workspace: Workspace, rest: Rest, endpoint: str,
                                                       mesh_name: str) -> None:
    ws = workspace
    del ws.env["MESHPLANE_ENDPOINT"]  # this one uses the provider block's endpoint
    ws.write(HEADER + f'''
    provider "meshplane" {{
      endpoint = "{endpoint}"
    }}
    resource "meshplane_mesh" "m" {{
      name = "{mesh_name}"
    }}
    resource "meshplane_virtual_node" "n" {{
      name      = "n"
      mesh_name = meshplane_mesh.m.name
      spec {{
        listener {{
          port_mapping {{
            port     = 8080
            protocol = "http"
          }}
          health_check {{
            port                = 9999
            protocol            = "http"
            healthy_threshold   = 2
            unhealthy_threshold = 2
            timeout_millis      = 2000
            interval_millis     = 5000
          }}
        }}
        service_discovery {{
          dns {{ hostname = "n.local" }}
        }}
      }}
    }}
    ''')
    ws.init()
    failed = ws.apply(expect=1)
    # the server's rule (health check port = listener port) is not in the OpenAPI; its 400 names
    # spec.listeners[0].healthCheck.port, which the provider maps back onto the HCL
    assert "Error: Invalid value for spec[0].listener[0].health_check[0].port" in failed.out
    assert "spec.listeners[0].healthCheck.port" in failed.out
    assert rest.get(f"/meshes/{mesh_name}/virtualNodes/n") is None


def test_tagged_unions_take_exactly_one_member_at_plan(workspace: Workspace, rest: Rest, mesh_name: str) -> None:
    """openapi.json marks botocore unions (``minProperties``/``maxProperties`` 1): two members, or none, fail at plan."""
    ws = workspace
    ws.write(HEADER + f'''
    resource "meshplane_virtual_service" "s" {{
      name      = "s.local"
      mesh_name = "{mesh_name}"
      spec {{
        provider {{
          virtual_node {{
            virtual_node_name = "n"
          }}
          virtual_router {{
            virtual_router_name = "vr"
          }}
        }}
      }}
    }}
    resource "meshplane_virtual_node" "n" {{
      name      = "n"
      mesh_name = "{mesh_name}"
      spec {{
        listener {{
          port_mapping {{
            port     = 8080
            protocol = "http"
          }}
          timeout {{
            http {{
              idle {{
                unit  = "s"
                value = 10
              }}
            }}
            tcp {{
              idle {{
                unit  = "s"
                value = 10
              }}
            }}
          }}
        }}
        service_discovery {{}}
      }}
    }}
    ''')
    ws.init()
    out = ws.plan(expect=1).out
    flat = " ".join(out.split())  # Terraform wraps long details
    assert "Error: Invalid value for spec[0].provider[0]" in out
    assert "only one of virtual_node, virtual_router may be set, got virtual_node, virtual_router" in flat
    assert "Error: Invalid value for spec[0].listener[0].timeout[0]" in out
    assert "only one of grpc, http, http2, tcp may be set, got http, tcp" in flat
    assert "Error: Invalid value for spec[0].service_discovery[0]" in out
    assert "exactly one of aws_cloud_map, dns must be set" in flat
    assert rest.get(f"/meshes/{mesh_name}") is None  # nothing was sent
