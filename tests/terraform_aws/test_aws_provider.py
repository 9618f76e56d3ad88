"""The official hashicorp/aws provider drives meshplane: terraform-examples/aws-provider, whole life.

One test, few terraform commands (hashicorp/aws needs ~10 s of CPU to start, several times per
command): init → apply → plan (no changes) → apply a canary (weights change) while adopting, with
``import`` blocks, one resource of each of the seven kinds created beforehand through boto3 → plan
(no changes) → destroy. All seven ``aws_appmesh_*`` data sources are read too. After every step the
server's own answer over HTTP is checked, not only Terraform's.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from tf_workspace import Rest, Workspace

pytestmark = pytest.mark.terraform

EXAMPLE = Path(__file__).resolve().parents[2] / "terraform-examples" / "aws-provider"

# Every aws_appmesh_* data source of hashicorp/aws 5.100.0, each reading one object of the example.
DATA_SOURCES = '''
data "aws_appmesh_mesh" "dj_app" {
  name = aws_appmesh_mesh.dj_app.name
}

data "aws_appmesh_virtual_node" "dj" {
  name      = aws_appmesh_virtual_node.dj.name
  mesh_name = aws_appmesh_virtual_node.dj.mesh_name
}

data "aws_appmesh_virtual_router" "jazz" {
  name      = aws_appmesh_virtual_router.genre["jazz"].name
  mesh_name = aws_appmesh_virtual_router.genre["jazz"].mesh_name
}

data "aws_appmesh_route" "jazz" {
  name                = aws_appmesh_route.genre["jazz"].name
  mesh_name           = aws_appmesh_route.genre["jazz"].mesh_name
  virtual_router_name = aws_appmesh_route.genre["jazz"].virtual_router_name
}

data "aws_appmesh_virtual_service" "jazz" {
  name      = aws_appmesh_virtual_service.genre["jazz"].name
  mesh_name = aws_appmesh_virtual_service.genre["jazz"].mesh_name
}

data "aws_appmesh_virtual_gateway" "ingress" {
  name      = aws_appmesh_virtual_gateway.ingress.name
  mesh_name = aws_appmesh_virtual_gateway.ingress.mesh_name
}

data "aws_appmesh_gateway_route" "dj" {
  name                 = aws_appmesh_gateway_route.dj.name
  mesh_name            = aws_appmesh_gateway_route.dj.mesh_name
  virtual_gateway_name = aws_appmesh_gateway_route.dj.virtual_gateway_name
}

output "read_back" {
  value = {
    mesh_egress    = data.aws_appmesh_mesh.dj_app.spec[0].egress_filter[0].type
    mesh_arn       = data.aws_appmesh_mesh.dj_app.arn
    dj_backends    = sort([for b in data.aws_appmesh_virtual_node.dj.spec[0].backend : b.virtual_service[0].virtual_service_name])
    dj_port        = data.aws_appmesh_virtual_node.dj.spec[0].listener[0].port_mapping[0].port
    router_port    = data.aws_appmesh_virtual_router.jazz.spec[0].listener[0].port_mapping[0].port
    jazz_weights   = { for t in data.aws_appmesh_route.jazz.spec[0].http_route[0].action[0].weighted_target : t.virtual_node => t.weight }
    jazz_provider  = data.aws_appmesh_virtual_service.jazz.spec[0].provider[0].virtual_router[0].virtual_router_name
    gateway_port   = data.aws_appmesh_virtual_gateway.ingress.spec[0].listener[0].port_mapping[0].port
    gateway_target = data.aws_appmesh_gateway_route.dj.spec[0].http_route[0].action[0].target[0].virtual_service[0].virtual_service_name
  }
}
'''


def legacy_hcl(mesh: str) -> str:
    """Resources created outside Terraform (boto3), adopted with import blocks: one of each kind."""
    return f'''
import {{
  to = aws_appmesh_mesh.legacy
  id = "{mesh}"
}}

import {{
  to = aws_appmesh_virtual_node.legacy
  id = "{mesh}/legacy-node"
}}

import {{
  to = aws_appmesh_virtual_router.legacy
  id = "{mesh}/legacy-router"
}}

import {{
  to = aws_appmesh_route.legacy
  id = "{mesh}/legacy-router/legacy-route"
}}

import {{
  to = aws_appmesh_virtual_service.legacy
  id = "{mesh}/legacy.local"
}}

import {{
  to = aws_appmesh_virtual_gateway.legacy
  id = "{mesh}/legacy-gateway"
}}

import {{
  to = aws_appmesh_gateway_route.legacy
  id = "{mesh}/legacy-gateway/legacy-gateway-route"
}}

resource "aws_appmesh_mesh" "legacy" {{
  name = "{mesh}"
  spec {{
    egress_filter {{
      type = "ALLOW_ALL"
    }}
  }}
  tags = {{
    team = "legacy"
  }}
}}

resource "aws_appmesh_virtual_node" "legacy" {{
  name      = "legacy-node"
  mesh_name = aws_appmesh_mesh.legacy.id
  spec {{
    listener {{
      port_mapping {{
        port     = 8080
        protocol = "http"
      }}
    }}
    service_discovery {{
      dns {{
        hostname = "127.0.0.1"
      }}
    }}
  }}
}}

resource "aws_appmesh_virtual_router" "legacy" {{
  name      = "legacy-router"
  mesh_name = aws_appmesh_mesh.legacy.id
  spec {{
    listener {{
      port_mapping {{
        port     = 8080
        protocol = "http"
      }}
    }}
  }}
}}

resource "aws_appmesh_route" "legacy" {{
  name                = "legacy-route"
  mesh_name           = aws_appmesh_mesh.legacy.id
  virtual_router_name = aws_appmesh_virtual_router.legacy.name
  spec {{
    http_route {{
      match {{
        prefix = "/"
      }}
      action {{
        weighted_target {{
          virtual_node = aws_appmesh_virtual_node.legacy.name
          weight       = 1
        }}
      }}
    }}
  }}
}}

resource "aws_appmesh_virtual_service" "legacy" {{
  name      = "legacy.local"
  mesh_name = aws_appmesh_mesh.legacy.id
  spec {{
    provider {{
      virtual_router {{
        virtual_router_name = aws_appmesh_virtual_router.legacy.name
      }}
    }}
  }}
}}

resource "aws_appmesh_virtual_gateway" "legacy" {{
  name      = "legacy-gateway"
  mesh_name = aws_appmesh_mesh.legacy.id
  spec {{
    listener {{
      port_mapping {{
        port     = 9090
        protocol = "http"
      }}
    }}
  }}
}}

resource "aws_appmesh_gateway_route" "legacy" {{
  name                 = "legacy-gateway-route"
  mesh_name            = aws_appmesh_mesh.legacy.id
  virtual_gateway_name = aws_appmesh_virtual_gateway.legacy.name
  spec {{
    http_route {{
      match {{
        prefix = "/legacy"
      }}
      action {{
        target {{
          virtual_service {{
            virtual_service_name = aws_appmesh_virtual_service.legacy.name
          }}
        }}
      }}
    }}
  }}
}}
'''


def create_legacy(appmesh: Any, mesh: str) -> None:
    """What an App Mesh user has from `aws appmesh create-*` scripts: made with boto3, not Terraform."""
    listener = {"portMapping": {"port": 8080, "protocol": "http"}}
    appmesh.create_mesh(meshName=mesh, spec={"egressFilter": {"type": "ALLOW_ALL"}},
                        tags=[{"key": "team", "value": "legacy"}])
    appmesh.create_virtual_node(meshName=mesh, virtualNodeName="legacy-node", spec={
        "listeners": [listener], "serviceDiscovery": {"dns": {"hostname": "127.0.0.1"}}})
    appmesh.create_virtual_router(meshName=mesh, virtualRouterName="legacy-router", spec={"listeners": [listener]})
    appmesh.create_route(meshName=mesh, virtualRouterName="legacy-router", routeName="legacy-route", spec={
        "httpRoute": {"match": {"prefix": "/"},
                      "action": {"weightedTargets": [{"virtualNode": "legacy-node", "weight": 1}]}}})
    appmesh.create_virtual_service(meshName=mesh, virtualServiceName="legacy.local", spec={
        "provider": {"virtualRouter": {"virtualRouterName": "legacy-router"}}})
    appmesh.create_virtual_gateway(meshName=mesh, virtualGatewayName="legacy-gateway", spec={
        "listeners": [{"portMapping": {"port": 9090, "protocol": "http"}}]})
    appmesh.create_gateway_route(meshName=mesh, virtualGatewayName="legacy-gateway",
                                 gatewayRouteName="legacy-gateway-route", spec={
        "httpRoute": {"match": {"prefix": "/legacy"},
                      "action": {"target": {"virtualService": {"virtualServiceName": "legacy.local"}}}}})


def weights(rest: Rest, mesh: str, genre: str) -> dict[str, int]:
    route = rest.get(f"/meshes/{mesh}/virtualRouter/{genre}-router/routes/{genre}-route")
    assert route is not None, f"{genre}-route missing on the server"
    return {t["virtualNode"]: t["weight"] for t in route["spec"]["httpRoute"]["action"]["weightedTargets"]}


def outputs(ws: Workspace) -> dict[str, Any]:
    """The root module's outputs, from terraform.tfstate (as `terraform output -json` would give them)."""
    state = json.loads((ws.dir / "terraform.tfstate").read_text())
    return {name: output["value"] for name, output in state["outputs"].items()}


def state_id(ws: Workspace, kind: str, name: str) -> str:
    """The id Terraform recorded, read from terraform.tfstate (`state show` would start the provider)."""
    state = json.loads((ws.dir / "terraform.tfstate").read_text())
    found = [r for r in state["resources"] if r["mode"] == "managed" and r["type"] == kind and r["name"] == name]
    assert len(found) == 1 and len(found[0]["instances"]) == 1, found
    return found[0]["instances"][0]["attributes"]["id"]  # type: ignore[no-any-return]


def test_hashicorp_aws_provider_applies_updates_imports_and_destroys(
        aws_workspace: Workspace, rest: Rest, appmesh: Any, mesh_name: str) -> None:
    ws = aws_workspace
    mesh, legacy = mesh_name, f"{mesh_name}-legacy"
    ws.dir.mkdir(parents=True, exist_ok=True)
    for tf in EXAMPLE.glob("*.tf"):
        shutil.copy(tf, ws.dir)
    ws.write(DATA_SOURCES, "data_sources.tf")
    ws.env["TF_VAR_mesh_name"] = mesh

    # -- init: hashicorp/aws from the mirror only
    ws.init()
    lock = (ws.dir / ".terraform.lock.hcl").read_text()
    version = re.search(r'provider "registry.terraform.io/hashicorp/aws" \{\s*version\s*=\s*"([^"]+)"', lock)
    assert version, lock
    print(f"hashicorp/aws {version.group(1)}")

    # -- apply the example (v1 only): 15 resources, each on the server as written
    created = ws.apply()
    assert "Resources: 15 added, 0 changed, 0 destroyed." in created.out
    m = rest.get(f"/meshes/{mesh}")
    assert m is not None and m["spec"] == {"egressFilter": {"type": "DROP_ALL"}}
    dj = rest.get(f"/meshes/{mesh}/virtualNodes/dj")
    assert dj is not None
    assert dj["spec"]["listeners"] == [{"portMapping": {"port": 9081, "protocol": "http"}}]
    assert sorted(b["virtualService"]["virtualServiceName"] for b in dj["spec"]["backends"]) == [
        "jazz.prod.svc.cluster.local", "metal.prod.svc.cluster.local"]
    assert dj["spec"]["serviceDiscovery"] == {"dns": {"hostname": "127.0.0.1"}}
    for node, port in {"jazz-v1": 9082, "jazz-v2": 9083, "metal-v1": 9084, "metal-v2": 9085}.items():
        found = rest.get(f"/meshes/{mesh}/virtualNodes/{node}")
        assert found is not None and found["spec"]["listeners"][0]["portMapping"]["port"] == port
    for genre in ("jazz", "metal"):
        assert weights(rest, mesh, genre) == {f"{genre}-v1": 100, f"{genre}-v2": 0}
        service = rest.get(f"/meshes/{mesh}/virtualServices/{genre}.prod.svc.cluster.local")
        assert service is not None
        assert service["spec"] == {"provider": {"virtualRouter": {"virtualRouterName": f"{genre}-router"}}}
        router = rest.get(f"/meshes/{mesh}/virtualRouters/{genre}-router")
        assert router is not None
        assert router["spec"] == {"listeners": [{"portMapping": {"port": 9080, "protocol": "http"}}]}
    gateway = rest.get(f"/meshes/{mesh}/virtualGateways/dj-gateway")
    assert gateway is not None
    assert gateway["spec"]["listeners"] == [{"portMapping": {"port": 9080, "protocol": "http"}}]
    gateway_route = rest.get(f"/meshes/{mesh}/virtualGateway/dj-gateway/gatewayRoutes/dj-route")
    assert gateway_route is not None
    assert gateway_route["spec"]["httpRoute"]["action"]["target"] == {
        "virtualService": {"virtualServiceName": "dj.prod.svc.cluster.local"}}
    jazz_route_v1 = rest.get(f"/meshes/{mesh}/virtualRouter/jazz-router/routes/jazz-route")
    assert jazz_route_v1 is not None

    # the ids Terraform holds are the server's uids; the data sources read the same objects back
    assert state_id(ws, "aws_appmesh_virtual_node", "dj") == dj["metadata"]["uid"]
    read = outputs(ws)["read_back"]
    assert read == {
        "mesh_egress": "DROP_ALL", "mesh_arn": m["metadata"]["arn"],
        "dj_backends": ["jazz.prod.svc.cluster.local", "metal.prod.svc.cluster.local"], "dj_port": 9081,
        "router_port": 9080, "jazz_weights": {"jazz-v1": 100, "jazz-v2": 0}, "jazz_provider": "jazz-router",
        "gateway_port": 9080, "gateway_target": "dj.prod.svc.cluster.local",
    }

    # -- re-plan: nothing to do (the server returns exactly what hashicorp/aws sent)
    ws.plan()

    # -- canary (jazz 90/10, metal 50/50) while adopting seven objects made with boto3
    create_legacy(appmesh, legacy)
    ws.write('jazz_weights  = { v1 = 90, v2 = 10 }\nmetal_weights = { v1 = 50, v2 = 50 }\n', "canary.auto.tfvars")
    ws.write(legacy_hcl(legacy), "legacy.tf")
    legacy_before = {path: rest.get(path) for path in (
        f"/meshes/{legacy}/virtualNodes/legacy-node", f"/meshes/{legacy}/virtualRouter/legacy-router/routes/legacy-route",
        f"/meshes/{legacy}/virtualGateway/legacy-gateway/gatewayRoutes/legacy-gateway-route")}
    changed = ws.apply()
    assert "Resources: 7 imported, 0 added, 2 changed, 0 destroyed." in changed.out
    assert weights(rest, mesh, "jazz") == {"jazz-v1": 90, "jazz-v2": 10}
    assert weights(rest, mesh, "metal") == {"metal-v1": 50, "metal-v2": 50}
    jazz_route = rest.get(f"/meshes/{mesh}/virtualRouter/jazz-router/routes/jazz-route")
    assert jazz_route is not None
    assert jazz_route["metadata"]["uid"] == jazz_route_v1["metadata"]["uid"]  # updated in place
    assert jazz_route["metadata"]["version"] == jazz_route_v1["metadata"]["version"] + 1
    assert rest.get(f"/meshes/{mesh}/virtualNodes/dj")["metadata"]["version"] == 1  # type: ignore[index]
    for path, before in legacy_before.items():  # import changed nothing on the server
        assert before is not None and rest.get(path) == before, path
    legacy_mesh = rest.get(f"/meshes/{legacy}")
    assert legacy_mesh is not None and rest.tags(legacy_mesh["metadata"]["arn"]) == {"team": "legacy"}
    legacy_route = legacy_before[f"/meshes/{legacy}/virtualRouter/legacy-router/routes/legacy-route"]
    assert state_id(ws, "aws_appmesh_route", "legacy") == legacy_route["metadata"]["uid"]  # type: ignore[index]
    assert state_id(ws, "aws_appmesh_mesh", "legacy") == legacy
    assert outputs(ws)["read_back"]["jazz_weights"] == {"jazz-v1": 90, "jazz-v2": 10}

    # -- re-plan: the canary and the imported objects are all in sync
    ws.plan()

    # -- destroy: children before parents, both meshes gone from the server
    destroyed = ws.destroy()
    assert "Resources: 22 destroyed." in destroyed.out
    assert rest.get(f"/meshes/{mesh}") is None
    assert rest.get(f"/meshes/{legacy}") is None
    listed = {m["meshName"] for m in appmesh.list_meshes()["meshes"]}
    assert not {mesh, legacy} & listed
    print("timings: " + ", ".join(f"{cmd} {seconds:.1f}s" for cmd, seconds in ws.timings))


MESHPLANE_EXAMPLES = ("dj-app-canary", "color-app-ingress", "bookinfo", "service-b-canary")


def as_aws_module(directory: Path) -> dict[str, str]:
    """An example's files with meshplane_ renamed to aws_appmesh_ and without its terraform/provider blocks."""
    files = {}
    for tf in sorted(directory.glob("*.tf")):
        text = tf.read_text()
        text = re.sub(r"(?ms)^terraform \{.*?^\}\n", "", text)
        text = text.replace('provider "meshplane" {}\n', "")
        files[tf.name] = text.replace("meshplane_", "aws_appmesh_")
    files["versions.tf"] = 'terraform {\n  required_providers {\n    aws = {\n      source = "hashicorp/aws"\n    }\n  }\n}\n'
    return files


def test_meshplane_examples_are_hashicorp_aws_hcl_after_the_rename(aws_workspace: Workspace) -> None:
    """`terraform validate` with hashicorp/aws's own schema accepts every meshplane_* example, renamed.

    This is the "exactly hashicorp/aws's HCL" promise, checked by hashicorp/aws itself (block names,
    nesting, attribute names and types), without a server.
    """
    ws = aws_workspace
    ws.dir.mkdir(parents=True, exist_ok=True)
    examples = EXAMPLE.parent
    root = ['provider "aws" {\n  region                      = "us-east-1"\n  access_key                  = "x"\n'
            '  secret_key                  = "x"\n  skip_credentials_validation = true\n'
            '  skip_requesting_account_id  = true\n  skip_metadata_api_check     = true\n'
            '  skip_region_validation      = true\n}\n']
    for name in MESHPLANE_EXAMPLES:
        module = ws.dir / "modules" / name
        module.mkdir(parents=True)
        for file_name, text in as_aws_module(examples / name).items():
            (module / file_name).write_text(text)
        root.append(f'module "{name.replace("-", "_")}" {{\n  source = "./modules/{name}"\n}}\n')
    ws.write("\n".join(root) + as_aws_module(examples / "dj-app-canary")["versions.tf"])
    ws.init()
    validated = ws.run("validate")
    assert "Success! The configuration is valid." in validated.out, validated
