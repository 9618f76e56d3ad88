"""The format readers and writers, and the import core, in process over a real SQLite database:
walkthrough-style CloudFormation and k8s files import to the expected specs, every export format
round-trips through an empty database, invalid input writes nothing and names file/resource/field."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from rich_mesh import as_resources, same_content

from meshplane.config import Config
from meshplane.errors import ConflictException
from meshplane.formats import FormatError, exporter, read
from meshplane.formats.importer import ImportFailed, import_resources
from meshplane.store import ResourceStore, migrate


def make_store(path: Path, **config: Any) -> ResourceStore:
    migrate(str(path))
    return ResourceStore(Config(db=str(path), **config))


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    s = make_store(tmp_path / "a.db")
    yield s
    s.close()


def stored(store: ResourceStore) -> list[Any]:
    return exporter.resources(store)


# -- Terraform state ------------------------------------------------------------------------------

STATE = {  # shared/reference/import.md §2.1: written by Terraform 1.11.4 + hashicorp/aws 5.100.0
    "version": 4, "terraform_version": "1.11.4", "serial": 3, "lineage": "43da", "outputs": {},
    "resources": [
        {"mode": "managed", "type": "aws_appmesh_mesh", "name": "m",
         "provider": "provider[\"registry.terraform.io/hashicorp/aws\"]",
         "instances": [{"schema_version": 0, "attributes": {
             "arn": "arn:aws:appmesh:us-east-1:111122223333:mesh/demo", "created_date": "2026-12-01T20:09:20Z",
             "id": "demo", "last_updated_date": "2026-12-01T20:09:20Z", "mesh_owner": "111122223333", "name": "demo",
             "resource_owner": "111122223333",
             "spec": [{"egress_filter": [{"type": "ALLOW_ALL"}], "service_discovery": []}],
             "tags": None, "tags_all": {"team": "core"}}, "sensitive_attributes": [], "private": "bnVsbA=="}]},
        {"mode": "managed", "type": "aws_appmesh_virtual_node", "name": "vn", "module": "module.app",
         "provider": "provider[\"registry.terraform.io/hashicorp/aws\"]",
         "instances": [{"index_key": "a", "schema_version": 1, "attributes": {
             "arn": "arn:aws:appmesh:us-east-1:111122223333:mesh/demo/virtualNode/svc-a",
             "created_date": "2026-12-01T20:09:21Z", "id": "636c425c-7176-48ba-8216-04f6848e313e",
             "last_updated_date": "2026-12-01T20:09:22Z", "mesh_name": "demo", "mesh_owner": "111122223333",
             "name": "svc-a", "resource_owner": "111122223333",
             "spec": [{"backend": [{"virtual_service": [{"client_policy": [], "virtual_service_name": "b.local"}]}],
                       "backend_defaults": [],
                       "listener": [{"connection_pool": [], "health_check": [], "outlier_detection": [],
                                     "port_mapping": [{"port": 8080, "protocol": "http"}], "timeout": [], "tls": []}],
                       "logging": [], "service_discovery": [{"aws_cloud_map": [{"attributes": {"stack": "blue"},
                                                                                "namespace_name": "ns.local",
                                                                                "service_name": "svc-a"}],
                                                             "dns": []}]}],
             "tags": {"app": "a"}, "tags_all": {"app": "a", "team": "core"}},
             "sensitive_attributes": [], "private": base64.b64encode(b'{"schema_version":"1"}').decode(),
             "dependencies": ["aws_appmesh_mesh.m"]},
             {"index_key": "old", "deposed": "abcd1234", "schema_version": 1, "attributes": {"name": "gone"}}]},
        {"mode": "data", "type": "aws_appmesh_mesh", "name": "d", "instances": [{"attributes": {"name": "x"}}]},
        {"mode": "managed", "type": "aws_s3_bucket", "name": "b", "instances": [{"attributes": {"bucket": "b"}}]},
    ],
}


def test_terraform_state_maps_to_the_api_body_the_provider_sent(store: ResourceStore) -> None:
    fmt, found = read(json.dumps(STATE), "terraform.tfstate")
    assert fmt == "tfstate" and [r.kind for r in found] == ["mesh", "virtualNode"]
    mesh, node = found
    assert node.source == 'terraform.tfstate: module.app.aws_appmesh_virtual_node.vn["a"]'
    assert node.spec == {  # the body hashicorp/aws sent (import.md §2.1)
        "backends": [{"virtualService": {"virtualServiceName": "b.local"}}],
        "listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}],
        "serviceDiscovery": {"awsCloudMap": {"attributes": [{"key": "stack", "value": "blue"}],
                                             "namespaceName": "ns.local", "serviceName": "svc-a"}}}
    assert node.tags == [{"key": "app", "value": "a"}, {"key": "team", "value": "core"}]  # tags_all
    assert node.uid == "636c425c-7176-48ba-8216-04f6848e313e" and mesh.uid is None
    assert node.created_at == 1796155761.0 and node.updated_at == 1796155762.0
    outcome = import_resources(store, found)
    assert outcome.total("created") == 2
    (_, rec_node) = stored(store)
    assert (rec_node.arn, rec_node.uid, rec_node.created_at, rec_node.version) == (
        node.arn, node.uid, 1796155761.0, 1)
    assert import_resources(store, found).total("unchanged") == 2  # re-import: a no-op


def test_state_of_another_account_is_refused_with_the_fix(store: ResourceStore) -> None:
    state = json.loads(json.dumps(STATE).replace("111122223333", "123456789012"))
    with pytest.raises(ImportFailed) as err:
        import_resources(store, read(json.dumps(state), "s.tfstate")[1])
    assert "--account-id 123456789012" in err.value.message or "account id and region" in err.value.message
    assert "s.tfstate: aws_appmesh_mesh.m" in err.value.message
    assert stored(store) == []
    other = make_store(Path(store.config.db).with_name("b.db"), account_id="123456789012")
    try:
        assert import_resources(other, read(json.dumps(state), "s.tfstate")[1]).total("created") == 2
    finally:
        other.close()


def test_state_version_3_is_refused() -> None:
    with pytest.raises(FormatError, match="version 3 is not supported"):
        read(json.dumps({**STATE, "version": 3}), "old.tfstate")


# -- CloudFormation -------------------------------------------------------------------------------

COLOR_APP_CFN = """
AWSTemplateFormatVersion: '2010-09-09'
Parameters:
  ServicesDomain:
    Type: String
    Default: default.svc.cluster.local
  AppMeshMeshName:
    Type: String
    Default: ColorApp
Resources:
  Mesh:
    Type: AWS::AppMesh::Mesh
    Properties:
      MeshName: !Ref AppMeshMeshName
      Spec:
        EgressFilter:
          Type: DROP_ALL
      Tags:
        - Key: app
          Value: color
  ColorTellerWhiteVirtualNode:
    Type: AWS::AppMesh::VirtualNode
    DependsOn: Mesh
    Properties:
      MeshName: !GetAtt Mesh.MeshName
      VirtualNodeName: colorteller-white-vn
      Spec:
        Listeners:
          - PortMapping:
              Port: "9080"
              Protocol: http
            HealthCheck:
              Protocol: http
              Path: /ping
              HealthyThreshold: 2
              UnhealthyThreshold: 2
              TimeoutMillis: 2000
              IntervalMillis: 5000
            TLS:
              Mode: STRICT
              Certificate:
                ACM:
                  CertificateArn: arn:aws:acm:us-east-1:111122223333:certificate/abc
        ServiceDiscovery:
          AWSCloudMap:
            NamespaceName: !Sub "${ServicesDomain}"
            ServiceName: colorteller
            Attributes:
              - Key: ECS_TASK_DEFINITION_FAMILY
                Value: white
  ColorTellerBlackVirtualNode:
    Type: AWS::AppMesh::VirtualNode
    Properties:
      MeshName: !GetAtt Mesh.MeshName
      Spec:
        Listeners:
          - PortMapping: {Port: 9080, Protocol: http}
        ServiceDiscovery:
          DNS:
            Hostname: !Sub "colorteller-black.${ServicesDomain}"
  ColorTellerVirtualRouter:
    Type: AWS::AppMesh::VirtualRouter
    Properties:
      MeshName: !GetAtt Mesh.MeshName
      VirtualRouterName: colorteller-vr
      Spec:
        Listeners:
          - PortMapping: {Port: 9080, Protocol: http}
  ColorTellerRoute:
    Type: AWS::AppMesh::Route
    Properties:
      MeshName: !GetAtt Mesh.MeshName
      VirtualRouterName: !GetAtt ColorTellerVirtualRouter.VirtualRouterName
      RouteName: colorteller-route
      Spec:
        HttpRoute:
          Match: {Prefix: /}
          Action:
            WeightedTargets:
              - VirtualNode: !GetAtt ColorTellerWhiteVirtualNode.VirtualNodeName
                Weight: 1
              - VirtualNode: !GetAtt ColorTellerBlackVirtualNode.VirtualNodeName
                Weight: 1
  ColorTellerVirtualService:
    Type: AWS::AppMesh::VirtualService
    Properties:
      MeshName: !GetAtt Mesh.MeshName
      VirtualServiceName: !Join [".", [colorteller, !Ref ServicesDomain]]
      Spec:
        Provider:
          VirtualRouter:
            VirtualRouterName: !GetAtt ColorTellerVirtualRouter.VirtualRouterName
  Bucket:
    Type: AWS::S3::Bucket
"""


def test_cloudformation_walkthrough_template_imports_to_the_expected_specs(store: ResourceStore) -> None:
    with pytest.raises(FormatError) as err:
        read(COLOR_APP_CFN, "color.yaml")
    assert "ColorTellerBlackVirtualNode (AWS::AppMesh::VirtualNode): its name is generated" in str(err.value)
    assert "--set ColorTellerBlackVirtualNode=" in str(err.value)
    fmt, found = read(COLOR_APP_CFN, "color.yaml", {"ColorTellerBlackVirtualNode": "colorteller-black-vn"})
    assert fmt == "cloudformation"
    by_name = {r.name: r for r in found}
    assert by_name["ColorApp"].tags == [{"key": "app", "value": "color"}]
    white = by_name["colorteller-white-vn"]
    assert white.mesh == "ColorApp"
    assert white.spec == {
        "listeners": [{"portMapping": {"port": 9080, "protocol": "http"},
                       "healthCheck": {"protocol": "http", "path": "/ping", "healthyThreshold": 2,
                                       "unhealthyThreshold": 2, "timeoutMillis": 2000, "intervalMillis": 5000},
                       "tls": {"mode": "STRICT", "certificate": {
                           "acm": {"certificateArn": "arn:aws:acm:us-east-1:111122223333:certificate/abc"}}}}],
        "serviceDiscovery": {"awsCloudMap": {"namespaceName": "default.svc.cluster.local", "serviceName": "colorteller",
                                             "attributes": [{"key": "ECS_TASK_DEFINITION_FAMILY", "value": "white"}]}}}
    assert by_name["colorteller-black-vn"].spec["serviceDiscovery"] == {
        "dns": {"hostname": "colorteller-black.default.svc.cluster.local"}}
    route = by_name["colorteller-route"]
    assert route.parent == "colorteller-vr"
    assert [t["virtualNode"] for t in route.spec["httpRoute"]["action"]["weightedTargets"]] == [
        "colorteller-white-vn", "colorteller-black-vn"]
    assert "colorteller.default.svc.cluster.local" in by_name
    assert import_resources(store, found).total("created") == 6


def test_cloudformation_invalid_spec_names_file_resource_and_field(store: ResourceStore) -> None:
    bad = COLOR_APP_CFN.replace("Port: \"9080\"", "Port: 70000")
    _, found = read(bad, "color.yaml", {"ColorTellerBlackVirtualNode": "b"})
    with pytest.raises(ImportFailed) as err:
        import_resources(store, found)
    assert ("color.yaml: ColorTellerWhiteVirtualNode: VirtualNode ColorApp/colorteller-white-vn: 1 validation "
            "error detected: Value '70000' at 'spec.listeners[0].portMapping.port'") in err.value.message
    assert stored(store) == []


def test_cloudformation_json_and_unresolvable_intrinsics() -> None:
    template = {"Resources": {"M": {"Type": "AWS::AppMesh::Mesh", "Properties": {
        "MeshName": {"Fn::ImportValue": "shared-mesh"}}}}}
    with pytest.raises(FormatError, match="intrinsic Fn::ImportValue cannot be resolved"):
        read(json.dumps(template), "t.json")
    template["Resources"]["M"]["Properties"]["MeshName"] = "m"
    assert read(json.dumps(template), "t.json")[1][0].spec == {}


# -- Kubernetes -----------------------------------------------------------------------------------

DJ_APP_K8S = """
apiVersion: appmesh.k8s.aws/v1beta2
kind: Mesh
metadata:
  name: dj-app
spec:
  namespaceSelector:
    matchLabels:
      mesh: dj-app
  egressFilter:
    type: ALLOW_ALL
status:
  meshARN: arn:aws:appmesh:us-east-1:111122223333:mesh/dj-app
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata:
  name: dj
  namespace: prod
spec:
  podSelector:
    matchLabels:
      app: dj
  listeners:
    - portMapping:
        port: 9080
        protocol: http
  backends:
    - virtualService:
        virtualServiceRef:
          name: jazz
    - virtualService:
        virtualServiceARN: arn:aws:appmesh:us-east-1:111122223333:mesh/dj-app/virtualService/metal.prod.svc.cluster.local
  serviceDiscovery:
    dns:
      hostname: dj.prod.svc.cluster.local
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata:
  name: jazz-v1
  namespace: prod
spec:
  awsName: jazz-v1-prod
  podSelector: {matchLabels: {app: jazz, version: v1}}
  listeners:
    - portMapping: {port: 9080, protocol: http}
  serviceDiscovery:
    awsCloudMap:
      namespaceName: prod.local
      serviceName: jazz
      attributes:
        - key: version
          value: v1
---
apiVersion: v1
kind: List
items:
  - apiVersion: appmesh.k8s.aws/v1beta2
    kind: VirtualService
    metadata:
      name: jazz
      namespace: prod
    spec:
      awsName: jazz.prod.svc.cluster.local
      provider:
        virtualRouter:
          virtualRouterRef:
            name: jazz-router
  - apiVersion: appmesh.k8s.aws/v1beta2
    kind: VirtualRouter
    metadata:
      name: jazz-router
      namespace: prod
    spec:
      listeners:
        - portMapping: {port: 9080, protocol: http}
      routes:
        - name: jazz-route
          priority: 1
          httpRoute:
            match: {prefix: /}
            action:
              weightedTargets:
                - virtualNodeRef: {name: jazz-v1}
                  weight: 90
                - virtualNodeARN: arn:aws:appmesh:us-east-1:111122223333:mesh/dj-app/virtualNode/jazz-v2_prod
                  weight: 10
            retryPolicy:
              maxRetries: 2
              perRetryTimeout: {unit: ms, value: 500}
              httpRetryEvents: [server-error]
    status:
      virtualRouterARN: arn:aws:appmesh:us-east-1:111122223333:mesh/dj-app/virtualRouter/jazz-router_prod
      routeARNs:
        jazz-route: arn:aws:appmesh:us-east-1:111122223333:mesh/dj-app/virtualRouter/jazz-router_prod/route/jazz-route
  - apiVersion: appmesh.k8s.aws/v1beta2
    kind: VirtualGateway
    metadata: {name: ingress-gw, namespace: prod}
    spec:
      namespaceSelector: {matchLabels: {gateway: ingress-gw}}
      podSelector: {matchLabels: {app: ingress-gw}}
      listeners:
        - portMapping: {port: 8088, protocol: http}
  - apiVersion: appmesh.k8s.aws/v1beta2
    kind: GatewayRoute
    metadata: {name: dj-route, namespace: prod}
    spec:
      httpRoute:
        match: {prefix: /dj}
        action:
          target:
            virtualService:
              virtualServiceRef: {name: jazz}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: dj, namespace: prod}
"""


def test_k8s_manifests_convert_as_the_controller_did(store: ResourceStore) -> None:
    fmt, found = read(DJ_APP_K8S, "dj.yaml")
    assert fmt == "k8s"
    by = {(r.kind, r.parent, r.name): r for r in found}
    assert by[("mesh", "", "dj-app")].spec == {"egressFilter": {"type": "ALLOW_ALL"}}
    assert by[("mesh", "", "dj-app")].arn == "arn:aws:appmesh:us-east-1:111122223333:mesh/dj-app"
    dj = by[("virtualNode", "", "dj_prod")]
    assert dj.mesh == "dj-app"  # no meshRef: the one Mesh of the files
    assert dj.spec == {"listeners": [{"portMapping": {"port": 9080, "protocol": "http"}}],
                       "backends": [{"virtualService": {"virtualServiceName": "jazz.prod.svc.cluster.local"}},
                                    {"virtualService": {"virtualServiceName": "metal.prod.svc.cluster.local"}}],
                       "serviceDiscovery": {"dns": {"hostname": "dj.prod.svc.cluster.local"}}}
    assert ("virtualNode", "", "jazz-v1-prod") in by
    assert by[("virtualService", "", "jazz.prod.svc.cluster.local")].spec == {
        "provider": {"virtualRouter": {"virtualRouterName": "jazz-router_prod"}}}
    route = by[("route", "jazz-router_prod", "jazz-route")]
    assert route.spec["priority"] == 1
    assert route.spec["httpRoute"]["action"]["weightedTargets"] == [
        {"virtualNode": "jazz-v1-prod", "weight": 90}, {"virtualNode": "jazz-v2_prod", "weight": 10}]
    assert route.arn and route.arn.endswith("/route/jazz-route")
    assert by[("virtualGateway", "", "ingress-gw_prod")].spec == {
        "listeners": [{"portMapping": {"port": 8088, "protocol": "http"}}]}
    assert by[("gatewayRoute", "ingress-gw_prod", "dj-route_prod")].spec == {"httpRoute": {
        "match": {"prefix": "/dj"},
        "action": {"target": {"virtualService": {"virtualServiceName": "jazz.prod.svc.cluster.local"}}}}}
    outcome = import_resources(store, found)
    assert outcome.total("created") == 8


# -- round trips of every export format through an empty database ----------------------------------

@pytest.mark.parametrize("fmt", ["json", "cloudformation", "k8s"])
def test_export_import_round_trip(tmp_path: Path, fmt: str) -> None:
    source = make_store(tmp_path / "source.db")
    target = make_store(tmp_path / "target.db")
    try:
        import_resources(source, as_resources("rich"))
        before = stored(source)
        (text,) = exporter.render(fmt, before, source).values()
        _, found = read(text, f"export.{fmt}")
        import_resources(target, found)
        after = stored(target)
        same_content(before, after, tags=fmt != "k8s")  # the CRDs have no tags
        if fmt == "json":  # lossless: metadata too
            assert [(r.arn, r.uid, r.created_at, r.updated_at, r.version) for r in after] == [
                (r.arn, r.uid, r.created_at, r.updated_at, r.version) for r in before]
        assert import_resources(target, found).total("unchanged") == 14
    finally:
        source.close()
        target.close()


# -- the import core ---------------------------------------------------------------------------------

def test_conflict_modes_and_dry_run(store: ResourceStore) -> None:
    rich = as_resources("rich")
    dry = import_resources(store, rich, dry_run=True)
    assert dry.total("created") == 14 and stored(store) == []
    import_resources(store, rich)
    changed = as_resources("rich")
    changed[2].spec["listeners"][0]["portMapping"]["port"] = 8181
    with pytest.raises(ConflictException, match="VirtualNode rich/b exists and differs"):
        import_resources(store, changed)
    preview = import_resources(store, changed, on_conflict="replace", dry_run=True)
    assert "~ VirtualNode rich/b" in preview.diff and any('"port": 8181' in line for line in preview.diff)
    assert import_resources(store, changed, on_conflict="skip").total("skipped") == 1
    revisions = store.last_revision()
    assert import_resources(store, changed, on_conflict="replace").total("replaced") == 1
    assert store.last_revision() == revisions + 1  # one revision, one transaction
    node = next(r for r in stored(store) if r.name == "b")
    assert node.spec["listeners"][0]["portMapping"]["port"] == 8181 and node.version == 2


def test_everything_or_nothing(store: ResourceStore) -> None:
    rich = as_resources("rich")
    rich[-1].spec["httpRoute"] = {"match": {"prefix": "/"}, "action": {}}  # valid alone? no: target missing
    with pytest.raises(ImportFailed) as err:
        import_resources(store, rich)
    assert "GatewayRoute rich/gw/rpc" in err.value.message and "spec.httpRoute.action.target" in err.value.message
    assert stored(store) == [] and store.last_revision() == 0
    orphan = as_resources("rich")[4]  # a route whose mesh and router are not there
    with pytest.raises(ImportFailed, match="Mesh rich is neither in the import nor stored"):
        import_resources(store, [orphan])


def test_quota_exceeded_rolls_back(tmp_path: Path) -> None:
    store = make_store(tmp_path / "q.db")
    store.config.quotas["routes"] = 2
    try:
        with pytest.raises(Exception, match="maximum number of Routes"):
            import_resources(store, as_resources("rich"))
        assert stored(store) == [] and store.last_revision() == 0
    finally:
        store.close()


def test_duplicates_within_an_import(store: ResourceStore) -> None:
    rich = as_resources("rich")
    twice = rich + as_resources("rich")
    assert import_resources(store, twice).total("created") == 14  # identical duplicates collapse
    other = as_resources("rich")
    other[2].spec = {"listeners": []}
    other[2].source = "b.json"
    with pytest.raises(ImportFailed, match="is also defined, differently"):
        import_resources(store, rich + [other[2]])


def test_hashicorp_zero_values_are_unset_as_the_provider_never_sent_them() -> None:
    route = {"mode": "managed", "type": "aws_appmesh_route", "name": "r", "instances": [{"attributes": {
        "name": "rt", "mesh_name": "demo", "virtual_router_name": "vr", "id": "u1", "tags": None, "tags_all": {},
        "spec": [{"priority": 0, "grpc_route": [], "http2_route": [], "tcp_route": [], "http_route": [{
            "action": [{"weighted_target": [{"port": 0, "virtual_node": "a", "weight": 0},
                                            {"port": 0, "virtual_node": "b", "weight": 100}]}],
            "match": [{"header": [], "method": "", "path": [], "port": 0, "prefix": "/", "query_parameter": [],
                       "scheme": ""}],
            "retry_policy": [{"http_retry_events": ["server-error"], "max_retries": 0, "tcp_retry_events": [],
                              "per_retry_timeout": [{"unit": "ms", "value": 250}]}],
            "timeout": []}]}]}}]}
    state = {"version": 4, "terraform_version": "1.11.4", "resources": [route]}
    (found,) = read(json.dumps(state), "s.tfstate")[1]
    assert found.spec == {"httpRoute": {  # no priority (0 = unset), weight 0 and maxRetries 0 kept
        "action": {"weightedTargets": [{"virtualNode": "a", "weight": 0}, {"virtualNode": "b", "weight": 100}]},
        "match": {"prefix": "/"},
        "retryPolicy": {"httpRetryEvents": ["server-error"], "maxRetries": 0,
                        "perRetryTimeout": {"unit": "ms", "value": 250}}}}
    meshplane_state = json.loads(json.dumps(state).replace("aws_appmesh_route", "meshplane_route"))
    assert read(json.dumps(meshplane_state), "s.tfstate")[1][0].spec["priority"] == 0  # our provider: null = unset
