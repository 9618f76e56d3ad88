"""A small mesh (all seven kinds) through a whole life: create, update, drift, rename, destroy.

Each step checks the server's own answer over HTTP, not only Terraform's view, and every apply is
followed by ``plan -detailed-exitcode`` returning 0 (the check that catches unknown/normalisation
bugs).
"""

from __future__ import annotations

import pytest
from tf_workspace import Rest, Workspace

pytestmark = pytest.mark.terraform


def small_mesh(mesh: str, *, weight: int = 90, node_port: int = 8080, gateway: str = "gw",
               mesh_tags: str = 'env = "test"') -> str:
    """HCL written exactly as for hashicorp/aws's aws_appmesh_* (renamed), endpoint from MESHPLANE_ENDPOINT."""
    return f'''
    terraform {{
      required_providers {{
        meshplane = {{ source = "meshplane/meshplane" }}
      }}
    }}

    resource "meshplane_mesh" "m" {{
      name = "{mesh}"
      spec {{
        egress_filter {{
          type = "ALLOW_ALL"
        }}
      }}
      tags = {{ {mesh_tags} }}
    }}

    resource "meshplane_virtual_node" "a" {{
      name      = "node-a"
      mesh_name = meshplane_mesh.m.id
      spec {{
        listener {{
          port_mapping {{
            port     = {node_port}
            protocol = "http"
          }}
          health_check {{
            protocol            = "http"
            path                = "/ping"
            healthy_threshold   = 2
            unhealthy_threshold = 2
            timeout_millis      = 2000
            interval_millis     = 5000
          }}
        }}
        backend {{
          virtual_service {{
            virtual_service_name = "b.{mesh}.local"
          }}
        }}
        service_discovery {{
          dns {{
            hostname = "a.{mesh}.local"
          }}
        }}
      }}
    }}

    resource "meshplane_virtual_node" "b" {{
      name      = "node-b"
      mesh_name = meshplane_mesh.m.id
      spec {{}}
    }}

    resource "meshplane_virtual_router" "r" {{
      name      = "router"
      mesh_name = meshplane_mesh.m.id
      spec {{
        listener {{
          port_mapping {{
            port     = 8080
            protocol = "http"
          }}
        }}
      }}
    }}

    resource "meshplane_virtual_service" "s" {{
      name      = "a.{mesh}.local"
      mesh_name = meshplane_mesh.m.id
      spec {{
        provider {{
          virtual_router {{
            virtual_router_name = meshplane_virtual_router.r.name
          }}
        }}
      }}
    }}

    resource "meshplane_route" "rt" {{
      name                = "route"
      mesh_name           = meshplane_mesh.m.id
      virtual_router_name = meshplane_virtual_router.r.name
      spec {{
        http_route {{
          match {{
            prefix = "/"
            header {{
              name = "x-canary"
              match {{
                exact = "1"
              }}
            }}
          }}
          action {{
            weighted_target {{
              virtual_node = meshplane_virtual_node.a.name
              weight       = {weight}
            }}
            weighted_target {{
              virtual_node = meshplane_virtual_node.b.name
              weight       = {100 - weight}
            }}
          }}
          retry_policy {{
            http_retry_events = ["server-error", "gateway-error"]
            max_retries       = 2
            per_retry_timeout {{
              unit  = "ms"
              value = 250
            }}
          }}
        }}
      }}
    }}

    resource "meshplane_virtual_gateway" "gw" {{
      name      = "{gateway}"
      mesh_name = meshplane_mesh.m.id
      spec {{
        listener {{
          port_mapping {{
            port     = 9080
            protocol = "http"
          }}
        }}
      }}
    }}

    resource "meshplane_gateway_route" "gr" {{
      name                 = "to-a"
      mesh_name            = meshplane_mesh.m.id
      virtual_gateway_name = meshplane_virtual_gateway.gw.name
      spec {{
        http_route {{
          match {{
            prefix = "/a"
          }}
          action {{
            target {{
              virtual_service {{
                virtual_service_name = meshplane_virtual_service.s.name
              }}
            }}
          }}
        }}
      }}
    }}

    data "meshplane_virtual_service" "s" {{
      name      = meshplane_virtual_service.s.name
      mesh_name = meshplane_mesh.m.id
    }}

    output "service_router" {{
      value = data.meshplane_virtual_service.s.spec[0].provider[0].virtual_router[0].virtual_router_name
    }}
    '''


def node_spec(mesh: str, port: int) -> dict:
    return {
        "listeners": [{
            "portMapping": {"port": port, "protocol": "http"},
            "healthCheck": {"protocol": "http", "path": "/ping", "healthyThreshold": 2, "unhealthyThreshold": 2,
                            "timeoutMillis": 2000, "intervalMillis": 5000},
        }],
        "backends": [{"virtualService": {"virtualServiceName": f"b.{mesh}.local"}}],
        "serviceDiscovery": {"dns": {"hostname": f"a.{mesh}.local"}},
    }


def route_targets(rest: Rest, mesh: str) -> list[dict]:
    route = rest.get(f"/meshes/{mesh}/virtualRouter/router/routes/route")
    assert route is not None
    return sorted(route["spec"]["httpRoute"]["action"]["weightedTargets"], key=lambda t: t["virtualNode"])


def test_small_mesh_create_update_drift_rename_destroy(workspace: Workspace, rest: Rest, mesh_name: str) -> None:
    mesh = mesh_name
    ws = workspace

    # -- create: every kind exists on the server, holding exactly what the HCL says
    ws.write(small_mesh(mesh))
    ws.init()
    applied = ws.apply()
    assert "Resources: 8 added" in applied.out
    assert 'service_router = "router"' in applied.out
    ws.plan()
    m = rest.get(f"/meshes/{mesh}")
    assert m is not None and m["spec"] == {"egressFilter": {"type": "ALLOW_ALL"}}
    assert rest.tags(m["metadata"]["arn"]) == {"env": "test"}
    node = rest.get(f"/meshes/{mesh}/virtualNodes/node-a")
    assert node is not None and node["spec"] == node_spec(mesh, 8080)
    assert rest.get(f"/meshes/{mesh}/virtualNodes/node-b")["spec"] == {}  # type: ignore[index]
    assert rest.get(f"/meshes/{mesh}/virtualServices/a.{mesh}.local")["spec"] == {  # type: ignore[index]
        "provider": {"virtualRouter": {"virtualRouterName": "router"}}}
    assert route_targets(rest, mesh) == [{"virtualNode": "node-a", "weight": 90}, {"virtualNode": "node-b", "weight": 10}]
    gateway_route = rest.get(f"/meshes/{mesh}/virtualGateway/gw/gatewayRoutes/to-a")
    assert gateway_route is not None
    assert gateway_route["spec"]["httpRoute"]["action"]["target"] == {
        "virtualService": {"virtualServiceName": f"a.{mesh}.local"}}
    state = ws.state("meshplane_virtual_node.a")
    assert f'id                = "{node["metadata"]["uid"]}"' in state
    assert f'arn               = "{node["metadata"]["arn"]}"' in state

    # -- update in place: spec values and tags; the server bumps version and keeps the uid
    ws.write(small_mesh(mesh, weight=75, node_port=8081, mesh_tags='env = "prod", team = "mesh"'))
    updated = ws.apply()
    assert "0 added, 3 changed, 0 destroyed" in updated.out
    ws.plan()
    after = rest.get(f"/meshes/{mesh}/virtualNodes/node-a")
    assert after is not None and after["spec"] == node_spec(mesh, 8081)
    assert after["metadata"]["uid"] == node["metadata"]["uid"]
    assert after["metadata"]["version"] == node["metadata"]["version"] + 1
    assert route_targets(rest, mesh) == [{"virtualNode": "node-a", "weight": 75}, {"virtualNode": "node-b", "weight": 25}]
    assert rest.tags(m["metadata"]["arn"]) == {"env": "prod", "team": "mesh"}

    # -- drift: changes made through REST show in the plan, and apply puts the HCL back
    router_path = f"/meshes/{mesh}/virtualRouters/router"
    rest.put(router_path, {"spec": {"listeners": [{"portMapping": {"port": 9090, "protocol": "http"}}]}})
    requests_tag = {"tags": [{"key": "rogue", "value": "1"}]}
    rest.put("/tag", requests_tag, resourceArn=after["metadata"]["arn"])
    rest.delete(f"/meshes/{mesh}/virtualGateway/gw/gatewayRoutes/to-a")
    drift = ws.plan(expect=2)
    assert "~ port     = 9090 -> 8080" in drift.out
    assert '- "rogue" = "1"' in drift.out
    assert "meshplane_gateway_route.gr will be created" in drift.out
    assert "Plan: 1 to add, 2 to change, 0 to destroy." in drift.out
    ws.apply()
    ws.plan()
    assert rest.get(router_path)["spec"]["listeners"][0]["portMapping"]["port"] == 8080  # type: ignore[index]
    assert rest.tags(after["metadata"]["arn"]) == {}
    assert rest.get(f"/meshes/{mesh}/virtualGateway/gw/gatewayRoutes/to-a") is not None

    # -- rename: a new name forces replacement (of the gateway and the route under it)
    ws.write(small_mesh(mesh, weight=75, node_port=8081, gateway="gw2", mesh_tags='env = "prod", team = "mesh"'))
    renamed = ws.plan(expect=2)
    assert '~ name              = "gw" -> "gw2" # forces replacement' in renamed.out
    assert '~ virtual_gateway_name = "gw" -> "gw2" # forces replacement' in renamed.out
    assert "Plan: 2 to add, 0 to change, 2 to destroy." in renamed.out
    ws.apply()
    ws.plan()
    assert rest.get(f"/meshes/{mesh}/virtualGateways/gw") is None
    assert rest.get(f"/meshes/{mesh}/virtualGateway/gw2/gatewayRoutes/to-a") is not None

    # -- destroy: nothing is left on the server
    destroyed = ws.destroy()
    assert "Resources: 8 destroyed" in destroyed.out
    assert rest.get(f"/meshes/{mesh}") is None
