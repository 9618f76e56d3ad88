"""The App Mesh demos (shared/reference/demos.md) rebuilt on loopback through the REST API (boto3).

Every virtual node's DNS hostname is 127.0.0.1 and its listener port is the port of the backend
app standing for it, so clients' Envoys reach the apps directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from backend_apps import BackendApp

COLORS: tuple[str, ...] = ("white", "blue", "red", "black")
COLOR_SERVICES: dict[str, tuple[str, str]] = {"colorteller-1.local": ("white", "blue"),
                                              "colorteller-2.local": ("red", "black")}
JAZZ = "jazz.prod.svc.cluster.local"
METAL = "metal.prod.svc.cluster.local"
ROCK = "rock.prod.svc.cluster.local"  # exists in the mesh, but dj does not declare it
DJ_APPS: tuple[str, ...] = ("dj", "jazz-v1", "jazz-v2", "metal-v1", "metal-v2", "rock-v1")


def appmesh_client(endpoint: str) -> Any:
    """A boto3 App Mesh client for ``endpoint`` (AWS's own request model, no retries)."""
    import boto3
    from botocore.config import Config as BotoConfig

    return boto3.client("appmesh", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="AKIDEXAMPLE",
                        aws_secret_access_key="secret", config=BotoConfig(retries={"max_attempts": 1}))


def http_listener(port: int) -> list[dict[str, Any]]:
    return [{"portMapping": {"port": port, "protocol": "http"}}]


def create_node(api: Any, mesh: str, name: str, app: BackendApp, backends: tuple[str, ...] = ()) -> None:
    """A virtual node for ``app``: DNS hostname 127.0.0.1, one http listener on the app's port."""
    spec: dict[str, Any] = {"listeners": http_listener(app.port), "serviceDiscovery": {"dns": {"hostname": "127.0.0.1"}}}
    if backends:
        spec["backends"] = [{"virtualService": {"virtualServiceName": name}} for name in backends]
    api.create_virtual_node(meshName=mesh, virtualNodeName=name, spec=spec)


def weighted_route_spec(weights: Mapping[str, int], prefix: str = "/") -> dict[str, Any]:
    """An httpRoute on ``prefix`` splitting over virtual nodes by weight."""
    targets = [{"virtualNode": node, "weight": weight} for node, weight in weights.items()]
    return {"httpRoute": {"match": {"prefix": prefix}, "action": {"weightedTargets": targets}}}


def create_routed_service(api: Any, mesh: str, service: str, router: str, route: str,
                          weights: Mapping[str, int]) -> None:
    """A virtual service provided by ``router`` (http on 9080) with one weighted route ``/``."""
    api.create_virtual_router(meshName=mesh, virtualRouterName=router, spec={"listeners": http_listener(9080)})
    api.create_route(meshName=mesh, virtualRouterName=router, routeName=route, spec=weighted_route_spec(weights))
    api.create_virtual_service(meshName=mesh, virtualServiceName=service,
                               spec={"provider": {"virtualRouter": {"virtualRouterName": router}}})


def set_route_weights(api: Any, mesh: str, router: str, route: str, weights: Mapping[str, int]) -> dict[str, Any]:
    """Replace a route's weighted targets (UpdateRoute); returns the API's answer."""
    return api.update_route(meshName=mesh, virtualRouterName=router, routeName=route,
                            spec=weighted_route_spec(weights))


def create_color_app(api: Any, mesh: str, apps: Mapping[str, BackendApp], gateway: str, gateway_port: int) -> None:
    """The color app with an ingress gateway: four colorteller nodes, colorteller-1 = white:1 blue:1,
    colorteller-2 = red:1 black:1, gateway ``gateway`` on ``gateway_port`` with /color1 and /color2."""
    api.create_mesh(meshName=mesh)
    for color in COLORS:
        create_node(api, mesh, f"colorteller-{color}-vn", apps[color])
    for index, (service, pair) in enumerate(COLOR_SERVICES.items(), start=1):
        create_routed_service(api, mesh, service, f"colorteller-{index}-router", "colorteller-route",
                              {f"colorteller-{color}-vn": 1 for color in pair})
    set_gateway_port(api, mesh, gateway, gateway_port, create=True)
    for index, service in enumerate(COLOR_SERVICES, start=1):
        api.create_gateway_route(meshName=mesh, virtualGatewayName=gateway, gatewayRouteName=f"color{index}-route", spec={
            "httpRoute": {"match": {"prefix": f"/color{index}"},
                          "action": {"target": {"virtualService": {"virtualServiceName": service}}}}})


def set_gateway_port(api: Any, mesh: str, gateway: str, port: int, create: bool = False) -> None:
    """Create the gateway, or move its one http listener to ``port``."""
    spec = {"listeners": http_listener(port)}
    if create:
        api.create_virtual_gateway(meshName=mesh, virtualGatewayName=gateway, spec=spec)
    else:
        api.update_virtual_gateway(meshName=mesh, virtualGatewayName=gateway, spec=spec)


def create_dj_app(api: Any, mesh: str, apps: Mapping[str, BackendApp], jazz: Mapping[str, int] | None = None,
                  egress_filter: str | None = None) -> None:
    """The DJ app: dj (backends jazz and metal), jazz-v1/v2 and metal-v1/v2 behind routers
    (jazz 90/10 unless ``jazz`` says otherwise, metal 50/50), and rock-v1 behind ``rock...``,
    a service dj does not declare."""
    spec = {"egressFilter": {"type": egress_filter}} if egress_filter else {}
    api.create_mesh(meshName=mesh, spec=spec)
    for name in ("jazz-v1", "jazz-v2", "metal-v1", "metal-v2", "rock-v1"):
        create_node(api, mesh, name, apps[name])
    create_node(api, mesh, "dj", apps["dj"], backends=(JAZZ, METAL))
    create_routed_service(api, mesh, JAZZ, "jazz-router", "jazz-route", jazz or {"jazz-v1": 90, "jazz-v2": 10})
    create_routed_service(api, mesh, METAL, "metal-router", "metal-route", {"metal-v1": 50, "metal-v2": 50})
    api.create_virtual_service(meshName=mesh, virtualServiceName=ROCK,
                               spec={"provider": {"virtualNode": {"virtualNodeName": "rock-v1"}}})


def dj_node_id(mesh: str) -> str:
    return f"mesh/{mesh}/virtualNode/dj"
