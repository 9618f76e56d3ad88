"""Adopting resources another client created: ``import`` blocks and ``terraform import`` give clean plans.

The resources are written through the REST API (as the aws CLI or boto3 would), with shapes that
exercise every normalisation: sets (weighted targets, backends), a map shown from a key/value list
(Cloud Map attributes), scalar sets (retry events), an empty ``spec {}`` and a mesh with no spec.
"""

from __future__ import annotations

import pytest
from tf_workspace import Rest, Workspace

pytestmark = pytest.mark.terraform


def create_over_rest(rest: Rest, mesh: str) -> None:
    rest.put("/meshes", {"meshName": mesh, "tags": [{"key": "owner", "value": "ops"}]})
    rest.put(f"/meshes/{mesh}/virtualNodes", {"virtualNodeName": "web", "spec": {
        "listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}],
        "backends": [{"virtualService": {"virtualServiceName": f"db.{mesh}.local"}},
                     {"virtualService": {"virtualServiceName": f"cache.{mesh}.local"}}],
        "serviceDiscovery": {"awsCloudMap": {"namespaceName": "ns", "serviceName": "web",
                                             "attributes": [{"key": "stage", "value": "blue"},
                                                            {"key": "az", "value": "a"}]}},
    }})
    rest.put(f"/meshes/{mesh}/virtualNodes", {"virtualNodeName": "idle", "spec": {}})
    rest.put(f"/meshes/{mesh}/virtualRouters", {"virtualRouterName": "rtr", "spec": {
        "listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}]}})
    rest.put(f"/meshes/{mesh}/virtualServices", {"virtualServiceName": f"web.{mesh}.local", "spec": {
        "provider": {"virtualNode": {"virtualNodeName": "web"}}}})
    rest.put(f"/meshes/{mesh}/virtualRouter/rtr/routes", {"routeName": "split", "spec": {
        "priority": 10,
        "httpRoute": {
            "match": {"prefix": "/", "method": "GET"},
            "action": {"weightedTargets": [{"virtualNode": "idle", "weight": 1},
                                           {"virtualNode": "web", "weight": 3}]},
            "retryPolicy": {"maxRetries": 3, "perRetryTimeout": {"unit": "s", "value": 1},
                            "httpRetryEvents": ["stream-error", "gateway-error"],
                            "tcpRetryEvents": ["connection-error"]},
        }}})
    rest.put(f"/meshes/{mesh}/virtualGateways", {"virtualGatewayName": "edge", "spec": {
        "listeners": [{"portMapping": {"port": 443, "protocol": "http2"}}],
        "logging": {"accessLog": {"file": {"path": "/dev/stdout"}}}}})
    rest.put(f"/meshes/{mesh}/virtualGateway/edge/gatewayRoutes", {"gatewayRouteName": "all", "spec": {
        "http2Route": {"match": {"prefix": "/"},
                       "action": {"target": {"virtualService": {"virtualServiceName": f"web.{mesh}.local"}}}}}})


def config(mesh: str) -> str:
    return f'''
    terraform {{
      required_providers {{
        meshplane = {{ source = "meshplane/meshplane" }}
      }}
    }}
    provider "meshplane" {{}}

    resource "meshplane_mesh" "m" {{
      name = "{mesh}"
      tags = {{ owner = "ops" }}
    }}
    resource "meshplane_virtual_node" "web" {{
      name      = "web"
      mesh_name = "{mesh}"
      spec {{
        listener {{
          port_mapping {{
            port     = 8080
            protocol = "http"
          }}
        }}
        backend {{
          virtual_service {{ virtual_service_name = "cache.{mesh}.local" }}
        }}
        backend {{
          virtual_service {{ virtual_service_name = "db.{mesh}.local" }}
        }}
        service_discovery {{
          aws_cloud_map {{
            namespace_name = "ns"
            service_name   = "web"
            attributes     = {{ az = "a", stage = "blue" }}
          }}
        }}
      }}
    }}
    resource "meshplane_virtual_node" "idle" {{
      name      = "idle"
      mesh_name = "{mesh}"
      spec {{}}
    }}
    resource "meshplane_virtual_router" "rtr" {{
      name      = "rtr"
      mesh_name = "{mesh}"
      spec {{
        listener {{
          port_mapping {{
            port     = 8080
            protocol = "http"
          }}
        }}
      }}
    }}
    resource "meshplane_virtual_service" "web" {{
      name      = "web.{mesh}.local"
      mesh_name = "{mesh}"
      spec {{
        provider {{
          virtual_node {{ virtual_node_name = "web" }}
        }}
      }}
    }}
    resource "meshplane_route" "split" {{
      name                = "split"
      mesh_name           = "{mesh}"
      virtual_router_name = "rtr"
      spec {{
        priority = 10
        http_route {{
          match {{
            prefix = "/"
            method = "GET"
          }}
          action {{
            weighted_target {{
              virtual_node = "web"
              weight       = 3
            }}
            weighted_target {{
              virtual_node = "idle"
              weight       = 1
            }}
          }}
          retry_policy {{
            max_retries       = 3
            http_retry_events = ["gateway-error", "stream-error"]
            tcp_retry_events  = ["connection-error"]
            per_retry_timeout {{
              unit  = "s"
              value = 1
            }}
          }}
        }}
      }}
    }}
    resource "meshplane_virtual_gateway" "edge" {{
      name      = "edge"
      mesh_name = "{mesh}"
      spec {{
        listener {{
          port_mapping {{
            port     = 443
            protocol = "http2"
          }}
        }}
        logging {{
          access_log {{
            file {{ path = "/dev/stdout" }}
          }}
        }}
      }}
    }}
    resource "meshplane_gateway_route" "all" {{
      name                 = "all"
      mesh_name            = "{mesh}"
      virtual_gateway_name = "edge"
      spec {{
        http2_route {{
          match {{ prefix = "/" }}
          action {{
            target {{
              virtual_service {{ virtual_service_name = "web.{mesh}.local" }}
            }}
          }}
        }}
      }}
    }}

    data "meshplane_mesh" "m" {{ name = "{mesh}" }}
    data "meshplane_virtual_node" "web" {{
      name      = "web"
      mesh_name = "{mesh}"
    }}
    data "meshplane_virtual_service" "web" {{
      name      = "web.{mesh}.local"
      mesh_name = "{mesh}"
    }}
    data "meshplane_virtual_router" "rtr" {{
      name      = "rtr"
      mesh_name = "{mesh}"
    }}
    data "meshplane_route" "split" {{
      name                = "split"
      mesh_name           = "{mesh}"
      virtual_router_name = "rtr"
    }}
    data "meshplane_virtual_gateway" "edge" {{
      name      = "edge"
      mesh_name = "{mesh}"
    }}
    data "meshplane_gateway_route" "all" {{
      name                 = "all"
      mesh_name            = "{mesh}"
      virtual_gateway_name = "edge"
    }}
    output "looked_up" {{
      value = [
        data.meshplane_mesh.m.tags["owner"],
        data.meshplane_virtual_node.web.spec[0].service_discovery[0].aws_cloud_map[0].attributes["stage"],
        data.meshplane_virtual_service.web.spec[0].provider[0].virtual_node[0].virtual_node_name,
        tostring(data.meshplane_virtual_router.rtr.spec[0].listener[0].port_mapping[0].port),
        tostring(length(data.meshplane_route.split.spec[0].http_route[0].action[0].weighted_target)),
        data.meshplane_virtual_gateway.edge.spec[0].listener[0].port_mapping[0].protocol,
        data.meshplane_gateway_route.all.arn,
      ]
    }}
    '''


IMPORTS = {
    "meshplane_mesh.m": "{mesh}",
    "meshplane_virtual_node.web": "{mesh}/web",
    "meshplane_virtual_node.idle": "{mesh}/idle",
    "meshplane_virtual_router.rtr": "{mesh}/rtr",
    "meshplane_virtual_service.web": "{mesh}/web.{mesh}.local",
    "meshplane_route.split": "{mesh}/rtr/split",
    "meshplane_virtual_gateway.edge": "{mesh}/edge",
}


def test_import_every_kind_gives_a_clean_plan(workspace: Workspace, rest: Rest, mesh_name: str) -> None:
    mesh = mesh_name
    create_over_rest(rest, mesh)
    ws = workspace
    ws.write(config(mesh))
    ws.write("".join(f'import {{\n  to = {to}\n  id = "{i.format(mesh=mesh)}"\n}}\n' for to, i in IMPORTS.items()),
             "imports.tf")
    ws.init()

    # `terraform import` (the CLI form) for the gateway route, import blocks for the rest
    ws.run("import", "-input=false", "meshplane_gateway_route.all", f"{mesh}/edge/all")
    planned = ws.plan(expect=2)
    assert "Plan: 7 to import, 0 to add, 0 to change, 0 to destroy." in planned.out
    applied = ws.apply()
    assert "7 imported, 0 added, 0 changed, 0 destroyed" in applied.out
    gateway_route = rest.get(f"/meshes/{mesh}/virtualGateway/edge/gatewayRoutes/all")
    assert gateway_route is not None
    assert f'"ops",\n  "blue",\n  "web",\n  "8080",\n  "2",\n  "http2",\n  "{gateway_route["metadata"]["arn"]}",' in applied.out
    ws.remove("imports.tf")
    ws.plan()

    # the ids are hashicorp/aws's: the mesh's name, the uid for everything else
    web = rest.get(f"/meshes/{mesh}/virtualNodes/web")
    assert web is not None
    assert f'id                = "{web["metadata"]["uid"]}"' in ws.state("meshplane_virtual_node.web")
    assert f'id                = "{mesh}"' in ws.state("meshplane_mesh.m")


def test_import_reports_bad_and_missing_ids(workspace: Workspace, mesh_name: str) -> None:
    ws = workspace
    ws.write(f'''
    terraform {{
      required_providers {{
        meshplane = {{ source = "meshplane/meshplane" }}
      }}
    }}
    resource "meshplane_route" "r" {{
      name                = "r"
      mesh_name           = "{mesh_name}"
      virtual_router_name = "vr"
      spec {{}}
    }}
    ''')
    ws.init()
    bad = ws.run("import", "-input=false", "meshplane_route.r", "only/two", expect=1)
    assert 'Unexpected format of ID ("only/two")' in bad.out
    assert "expected mesh_name/virtual_router_name/name" in bad.out
    missing = ws.run("import", "-input=false", "meshplane_route.r", f"{mesh_name}/vr/r", expect=1)
    assert "Cannot import non-existent remote object" in missing.out
