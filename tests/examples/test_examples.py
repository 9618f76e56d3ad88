"""Every meshplane_* example in terraform-examples/ through a whole life, with the meshplane provider.

Per example: init → apply (no variables but a unique mesh name) → the server holds what the
walkthrough describes → plan says no changes → apply a change (weights, a port) → the server holds
the change, updated in place → plan says no changes → destroy → the server holds nothing. The server
is read over HTTP, independently of Terraform. Plus cheap checks of the examples' shape.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tf_workspace import Rest, Workspace

pytestmark = pytest.mark.terraform

EXAMPLES = Path(__file__).resolve().parents[2] / "terraform-examples"

Check = Callable[[Rest, str], None]


def get(rest: Rest, path: str) -> dict[str, Any]:
    found = rest.get(path)
    assert found is not None, f"{path} is not on the server"
    return found


def route_weights(rest: Rest, mesh: str, router: str, route: str) -> dict[str, int]:
    spec = get(rest, f"/meshes/{mesh}/virtualRouter/{router}/routes/{route}")["spec"]["httpRoute"]
    return {t["virtualNode"]: t["weight"] for t in spec["action"]["weightedTargets"]}


def listener_port(resource: dict[str, Any]) -> int:
    return int(resource["spec"]["listeners"][0]["portMapping"]["port"])


def backends(node: dict[str, Any]) -> set[str]:
    return {b["virtualService"]["virtualServiceName"] for b in node["spec"].get("backends", [])}


# -- dj-app-canary --------------------------------------------------------------------------------

DJ_NODE_PORTS = {"dj": 9081, "jazz-v1": 9082, "jazz-v2": 9083, "metal-v1": 9084, "metal-v2": 9085}


def dj_app(jazz: tuple[int, int], metal: tuple[int, int]) -> Check:
    def check(rest: Rest, mesh: str) -> None:
        assert get(rest, f"/meshes/{mesh}")["spec"] == {"egressFilter": {"type": "DROP_ALL"}}
        for name, port in DJ_NODE_PORTS.items():
            node = get(rest, f"/meshes/{mesh}/virtualNodes/{name}")
            assert node["spec"]["listeners"] == [{"portMapping": {"port": port, "protocol": "http"}}]
            assert node["spec"]["serviceDiscovery"] == {"dns": {"hostname": "127.0.0.1"}}
        dj = get(rest, f"/meshes/{mesh}/virtualNodes/dj")
        assert backends(dj) == {"jazz.prod.svc.cluster.local", "metal.prod.svc.cluster.local"}
        for genre, (v1, v2) in (("jazz", jazz), ("metal", metal)):
            service = get(rest, f"/meshes/{mesh}/virtualServices/{genre}.prod.svc.cluster.local")
            assert service["spec"] == {"provider": {"virtualRouter": {"virtualRouterName": f"{genre}-router"}}}
            assert listener_port(get(rest, f"/meshes/{mesh}/virtualRouters/{genre}-router")) == 9080
            route = get(rest, f"/meshes/{mesh}/virtualRouter/{genre}-router/routes/{genre}-route")
            assert route["spec"]["httpRoute"]["match"] == {"prefix": "/"}
            assert route_weights(rest, mesh, f"{genre}-router", f"{genre}-route") == {
                f"{genre}-v1": v1, f"{genre}-v2": v2}
        assert get(rest, f"/meshes/{mesh}/virtualServices/dj.prod.svc.cluster.local")["spec"] == {
            "provider": {"virtualNode": {"virtualNodeName": "dj"}}}
        assert listener_port(get(rest, f"/meshes/{mesh}/virtualGateways/dj-gateway")) == 9080
        gateway_route = get(rest, f"/meshes/{mesh}/virtualGateway/dj-gateway/gatewayRoutes/dj-route")
        assert gateway_route["spec"]["httpRoute"] == {
            "match": {"prefix": "/"},
            "action": {"target": {"virtualService": {"virtualServiceName": "dj.prod.svc.cluster.local"}}}}
    return check


# -- color-app-ingress ----------------------------------------------------------------------------

COLOR_PORTS = {"white": 9081, "blue": 9082, "red": 9083, "black": 9084}


def color_app(gateway_port: int, weights: dict[str, int]) -> Check:
    def check(rest: Rest, mesh: str) -> None:
        for color, port in COLOR_PORTS.items():
            node = get(rest, f"/meshes/{mesh}/virtualNodes/colorteller-{color}-vn")
            (listener,) = node["spec"]["listeners"]
            assert listener["portMapping"] == {"port": port, "protocol": "http"}
            assert listener["healthCheck"]["path"] == "/ping"
        for n, colors in (("1", ("white", "blue")), ("2", ("red", "black"))):
            service = f"colorteller-{n}.default.svc.cluster.local"
            assert get(rest, f"/meshes/{mesh}/virtualServices/{service}")["spec"] == {
                "provider": {"virtualRouter": {"virtualRouterName": f"colorteller-vr-{n}"}}}
            route = get(rest, f"/meshes/{mesh}/virtualRouter/colorteller-vr-{n}/routes/colorteller-route-{n}")
            assert route["spec"]["httpRoute"]["match"] == {"prefix": "/tell"}
            assert route_weights(rest, mesh, f"colorteller-vr-{n}", f"colorteller-route-{n}") == {
                f"colorteller-{c}-vn": weights[c] for c in colors}
            gateway_route = get(rest, f"/meshes/{mesh}/virtualGateway/colorgateway-vg/gatewayRoutes/colorgateway-route-{n}")
            assert gateway_route["spec"]["httpRoute"] == {
                "match": {"prefix": f"/color{n}"},
                "action": {"target": {"virtualService": {"virtualServiceName": service}}}}
        gateway = get(rest, f"/meshes/{mesh}/virtualGateways/colorgateway-vg")
        assert gateway["spec"]["listeners"] == [{"portMapping": {"port": gateway_port, "protocol": "http"}}]
    return check


# -- bookinfo -------------------------------------------------------------------------------------

def bookinfo(reviews: dict[str, int]) -> Check:
    def check(rest: Rest, mesh: str) -> None:
        domain = "bookinfo.svc.cluster.local"
        expected_backends = {
            "productpage-v1": {f"details.{domain}", f"reviews.{domain}", f"ratings.{domain}"},
            "details-v1": set(), "reviews-v1": set(), "reviews-v2": {f"ratings.{domain}"},
            "reviews-v3": {f"ratings.{domain}"}, "ratings-v1": set(),
        }
        for name, expected in expected_backends.items():
            node = get(rest, f"/meshes/{mesh}/virtualNodes/{name}")
            assert backends(node) == expected, name
            assert node["spec"]["listeners"][0]["healthCheck"] == {
                "protocol": "http", "path": "/health", "healthyThreshold": 2, "unhealthyThreshold": 3,
                "timeoutMillis": 2000, "intervalMillis": 5000}
        for service in ("productpage", "details", "reviews", "ratings"):
            assert get(rest, f"/meshes/{mesh}/virtualServices/{service}.{domain}")["spec"] == {
                "provider": {"virtualRouter": {"virtualRouterName": f"{service}-router"}}}
            route = get(rest, f"/meshes/{mesh}/virtualRouter/{service}-router/routes/{service}-route")
            assert route["spec"]["httpRoute"]["match"] == {"prefix": "/"}
        assert route_weights(rest, mesh, "productpage-router", "productpage-route") == {"productpage-v1": 1}
        assert route_weights(rest, mesh, "reviews-router", "reviews-route") == reviews
    return check


# -- service-b-canary -----------------------------------------------------------------------------

def service_b(serviceb: int, serviceb_v2: int) -> Check:
    def check(rest: Rest, mesh: str) -> None:
        service_a = get(rest, f"/meshes/{mesh}/virtualNodes/serviceA")
        assert backends(service_a) == {f"serviceb.{mesh}.local"}
        assert get(rest, f"/meshes/{mesh}/virtualServices/servicea.{mesh}.local")["spec"] == {
            "provider": {"virtualNode": {"virtualNodeName": "serviceA"}}}
        assert get(rest, f"/meshes/{mesh}/virtualServices/serviceb.{mesh}.local")["spec"] == {
            "provider": {"virtualRouter": {"virtualRouterName": "serviceB"}}}
        assert route_weights(rest, mesh, "serviceB", "serviceB") == {"serviceB": serviceb, "serviceBv2": serviceb_v2}
    return check


@dataclass
class Step:
    """Variables to apply (HCL for a .auto.tfvars file; "" = defaults), what changes, what the server then holds."""

    tfvars: str
    summary: str
    check: Check
    changed: list[str]  # server paths of resources updated in place (same uid, version + 1)


@dataclass
class Example:
    directory: str
    steps: list[Step]


CASES = [
    Example("dj-app-canary", [
        Step("", "Resources: 15 added, 0 changed, 0 destroyed.", dj_app(jazz=(100, 0), metal=(100, 0)), []),
        Step("jazz_weights = { v1 = 90, v2 = 10 }\nmetal_weights = { v1 = 90, v2 = 10 }\n",
             "Resources: 0 added, 2 changed, 0 destroyed.", dj_app(jazz=(90, 10), metal=(90, 10)),
             ["/virtualRouter/jazz-router/routes/jazz-route", "/virtualRouter/metal-router/routes/metal-route"]),
        Step("jazz_weights = { v1 = 50, v2 = 50 }\nmetal_weights = { v1 = 50, v2 = 50 }\n",
             "Resources: 0 added, 2 changed, 0 destroyed.", dj_app(jazz=(50, 50), metal=(50, 50)),
             ["/virtualRouter/jazz-router/routes/jazz-route", "/virtualRouter/metal-router/routes/metal-route"]),
    ]),
    Example("color-app-ingress", [
        Step("", "Resources: 14 added, 0 changed, 0 destroyed.",
             color_app(9080, {"white": 1, "blue": 1, "red": 1, "black": 1}), []),
        Step("gateway_port = 9090\ncolor_weights = { white = 3, blue = 1, red = 1, black = 1 }\n",
             "Resources: 0 added, 2 changed, 0 destroyed.",
             color_app(9090, {"white": 3, "blue": 1, "red": 1, "black": 1}),
             ["/virtualGateways/colorgateway-vg", "/virtualRouter/colorteller-vr-1/routes/colorteller-route-1"]),
    ]),
    Example("bookinfo", [
        Step("", "Resources: 19 added, 0 changed, 0 destroyed.",
             bookinfo({"reviews-v2": 1, "reviews-v3": 2}), []),
        Step("reviews_weights = { v1 = 1, v2 = 1, v3 = 1 }\n", "Resources: 0 added, 1 changed, 0 destroyed.",
             bookinfo({"reviews-v1": 1, "reviews-v2": 1, "reviews-v3": 1}),
             ["/virtualRouter/reviews-router/routes/reviews-route"]),
    ]),
    Example("service-b-canary", [
        Step("", "Resources: 8 added, 0 changed, 0 destroyed.", service_b(75, 25), []),
        Step("canary_weight = 50\n", "Resources: 0 added, 1 changed, 0 destroyed.", service_b(50, 50),
             ["/virtualRouter/serviceB/routes/serviceB"]),
    ]),
]


@pytest.mark.parametrize("example", CASES, ids=[c.directory for c in CASES])
def test_example_applies_changes_and_destroys(example: Example, example_workspace: Workspace, rest: Rest,
                                              mesh_name: str) -> None:
    ws = example_workspace
    shutil.copytree(EXAMPLES / example.directory, ws.dir, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*", "README.md"))
    ws.env["TF_VAR_mesh_name"] = mesh_name  # the only variable set: unique per test, the server is shared
    ws.init()
    for number, step in enumerate(example.steps):
        before = {path: get(rest, f"/meshes/{mesh_name}{path}") for path in step.changed}
        if step.tfvars:
            ws.write(step.tfvars, "step.auto.tfvars")
        applied = ws.apply()
        assert step.summary in applied.out, f"step {number}: {applied}"
        step.check(rest, mesh_name)
        for path, old in before.items():  # updated in place, not replaced
            new = get(rest, f"/meshes/{mesh_name}{path}")
            assert (new["metadata"]["uid"], new["metadata"]["version"]) == (
                old["metadata"]["uid"], old["metadata"]["version"] + 1), path
        ws.plan()  # -detailed-exitcode 0: the server gives back exactly what was applied
    destroyed = ws.destroy()
    assert re.search(r"Destroy complete! Resources: \d+ destroyed\.", destroyed.out)
    assert rest.get(f"/meshes/{mesh_name}") is None
    print(f"{example.directory}: " + ", ".join(f"{cmd} {seconds:.1f}s" for cmd, seconds in ws.timings))


def test_every_example_has_its_files_and_needs_no_variables() -> None:
    directories = sorted(p for p in EXAMPLES.iterdir() if p.is_dir())
    assert {p.name for p in directories} >= {c.directory for c in CASES} | {"aws-provider"}
    for directory in directories:
        for name in ("main.tf", "variables.tf", "outputs.tf", "README.md"):
            assert (directory / name).is_file(), f"{directory.name}/{name} is missing"
        variables = (directory / "variables.tf").read_text()
        blocks = re.findall(r'(?ms)^variable "([^"]+)" \{\n(.*?)^\}', variables)
        assert blocks, directory.name
        for name, body in blocks:
            assert re.search(r"^\s+default\s+=", body, re.M), f"{directory.name}: variable {name} has no default"
        readme = (directory / "README.md").read_text()
        assert "terraform init" in readme and "terraform apply" in readme, directory.name


def test_meshplane_examples_use_only_the_meshplane_provider_from_the_environment() -> None:
    for case in CASES:
        main = (EXAMPLES / case.directory / "main.tf").read_text()
        assert re.search(r'meshplane = \{\s*source = "meshplane/meshplane"\s*\}', main), case.directory
        assert 'provider "meshplane" {}' in main, case.directory  # endpoint: MESHPLANE_ENDPOINT
        assert "resource \"aws_appmesh_" not in main, case.directory


def test_aws_provider_example_is_dj_app_canary_renamed() -> None:
    """The two stay in step: below the provider block the HCL differs only by the resource prefix."""
    ours = (EXAMPLES / "dj-app-canary" / "main.tf").read_text()
    theirs = (EXAMPLES / "aws-provider" / "main.tf").read_text()
    body = ours[ours.index("locals {"):]
    assert theirs[theirs.index("locals {"):] == body.replace("meshplane_", "aws_appmesh_")
    for name in ("outputs.tf", "variables.tf"):
        ours_text = (EXAMPLES / "dj-app-canary" / name).read_text().replace("meshplane_", "aws_appmesh_")
        assert (EXAMPLES / "aws-provider" / name).read_text().startswith(ours_text), name


def test_examples_are_formatted(terraform_bin: str, tmp_path: Path) -> None:
    (tmp_path / "empty.tfrc").write_text("")
    proc = subprocess.run([terraform_bin, "fmt", "-check", "-recursive", "-diff", "-no-color", str(EXAMPLES)],
                          capture_output=True, text=True, timeout=60,
                          env={"HOME": str(tmp_path), "CHECKPOINT_DISABLE": "1",
                               "TF_CLI_CONFIG_FILE": str(tmp_path / "empty.tfrc")})
    assert proc.returncode == 0, proc.stdout + proc.stderr
