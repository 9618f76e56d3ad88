"""Kubernetes manifests of the App Mesh controller's CRDs (``appmesh.k8s.aws/v1beta2``), converted
as the controller converted them (aws/aws-app-mesh-controller-for-k8s; shared/reference/import.md §6).

* awsName defaults: Mesh -> the CR name; VirtualNode, VirtualRouter, VirtualGateway, GatewayRoute ->
  ``<name>_<namespace>``; VirtualService -> ``<name>.<namespace>`` (namespace default ``default``).
* ``meshRef.name`` names the Mesh CR (its awsName is the mesh); without meshRef (the webhook fills it
  from the namespace), the one Mesh of the files is used; likewise a GatewayRoute without
  ``virtualGatewayRef`` belongs to the one VirtualGateway of the files.
* ``*Ref{name, namespace}`` resolve to the referenced CR's awsName (the same defaults when the CR is
  not in the files), ``*ARN`` members to the ARN's last segment.
* VirtualRouter ``routes[]`` become Route resources; Mesh ``meshServiceDiscovery`` -> ``serviceDiscovery``;
  selectors (pod, namespace, gateway route) have no API member and are dropped, and so are
  ``backendGroups`` (the controller expanded them from live cluster objects).
* ``status.*ARN`` (and ``status.routeARNs``) give the ARNs. The controller made no tags.

Writing: one multi-document YAML per export, awsName always explicit, refs by CR name.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from meshplane import kinds
from meshplane.formats.model import FormatError, Resource

GROUP = "appmesh.k8s.aws"
API_VERSION = f"{GROUP}/v1beta2"
KINDS = ("Mesh", "VirtualNode", "VirtualService", "VirtualRouter", "VirtualGateway", "GatewayRoute")
_SELECTORS = ("namespaceSelector", "podSelector", "gatewayRouteSelector", "backendGroups")


def _objects(docs: list[Any]) -> list[dict[str, Any]]:
    out = []
    for doc in docs:
        if not isinstance(doc, dict):
            continue
        if doc.get("kind") == "List" or (str(doc.get("kind", "")).endswith("List") and "items" in doc):
            out.extend(_objects(doc.get("items") or []))
        elif str(doc.get("apiVersion", "")).startswith(GROUP + "/") and doc.get("kind") in KINDS:
            out.append(doc)
    return out


def _default_name(kind: str, name: str, namespace: str) -> str:
    if kind == "Mesh":
        return name
    if kind == "VirtualService":
        return f"{name}.{namespace}"
    return f"{name}_{namespace}"


class _Index:
    """awsName of every CR in the files, by (kind, namespace, name)."""

    def __init__(self, objects: list[dict[str, Any]]) -> None:
        self.names: dict[tuple[str, str, str], str] = {}
        self.meshes: list[str] = []
        for obj in objects:
            kind, ns, name = self.key(obj)
            aws = (obj.get("spec") or {}).get("awsName") or _default_name(kind, name, ns)
            self.names[(kind, ns if kind != "Mesh" else "", name)] = aws
            if kind == "Mesh":
                self.meshes.append(aws)

    @staticmethod
    def key(obj: dict[str, Any]) -> tuple[str, str, str]:
        meta = obj.get("metadata") or {}
        return str(obj["kind"]), str(meta.get("namespace") or "default"), str(meta.get("name") or "")

    def ref(self, kind: str, ref: dict[str, Any], namespace: str) -> str:
        name = str(ref.get("name", ""))
        ns = "" if kind == "Mesh" else str(ref.get("namespace") or namespace)
        return self.names.get((kind, ns, name)) or _default_name(kind, name, ns)


def _arn_name(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def parse(docs: list[Any], source: str) -> list[Resource]:
    """The App Mesh resources of the manifests (other kinds are ignored).

    :raises FormatError: a resource without a resolvable mesh, naming the file and the object.
    """
    objects = _objects(docs)
    index = _Index(objects)
    out: list[Resource] = []
    problems: list[str] = []
    for obj in objects:
        kind, ns, name = index.key(obj)
        where = f"{source}: {kind} {ns}/{name}"
        spec = dict(obj.get("spec") or {})
        status = obj.get("status") or {}
        aws_name = spec.pop("awsName", None) or _default_name(kind, name, ns)
        for selector in _SELECTORS:
            spec.pop(selector, None)
        if kind == "Mesh":
            wire = {k: v for k, v in spec.items() if k in ("egressFilter",)}
            if "meshServiceDiscovery" in spec:
                wire["serviceDiscovery"] = spec["meshServiceDiscovery"]
            out.append(Resource(kind="mesh", mesh=aws_name, name=aws_name, spec=wire, arn=status.get("meshARN"),
                                mesh_owner=spec.get("meshOwner"), source=where))
            continue
        mesh_ref = spec.pop("meshRef", None)
        if isinstance(mesh_ref, dict) and mesh_ref.get("name"):
            mesh = index.ref("Mesh", mesh_ref, ns)
        elif len(index.meshes) == 1:
            mesh = index.meshes[0]
        else:
            problems.append(f"{where}: no meshRef, and the files do not hold exactly one Mesh")
            continue
        try:
            out.extend(_convert(kind, mesh, aws_name, spec, status, ns, index, where))
        except (KeyError, TypeError, AttributeError) as exc:
            problems.append(f"{where}: unexpected shape ({exc})")
    if problems:
        raise FormatError("\n".join(problems))
    return out


def _node_ref(target: dict[str, Any], ns: str, index: _Index, kind: str, field: str) -> str:
    if f"{field}Ref" in target:
        return index.ref(kind, target[f"{field}Ref"], ns)
    if f"{field}ARN" in target:
        return _arn_name(target[f"{field}ARN"])
    raise KeyError(f"{field}Ref or {field}ARN")


def _targets(route: dict[str, Any], ns: str, index: _Index) -> dict[str, Any]:
    route = dict(route)
    action = dict(route.get("action") or {})
    if "weightedTargets" in action:
        targets = []
        for t in action["weightedTargets"]:
            t = dict(t)
            node = _node_ref(t, ns, index, "VirtualNode", "virtualNode")
            t.pop("virtualNodeRef", None)
            t.pop("virtualNodeARN", None)
            targets.append({"virtualNode": node, **t})
        action["weightedTargets"] = targets
    target = action.get("target")
    if isinstance(target, dict) and "virtualService" in target:
        vs = dict(target["virtualService"])
        name = _node_ref(vs, ns, index, "VirtualService", "virtualService")
        action["target"] = {**{k: v for k, v in target.items() if k != "virtualService"},
                            "virtualService": {"virtualServiceName": name}}
    route["action"] = action
    return route


def _convert(kind: str, mesh: str, aws_name: str, spec: dict[str, Any], status: dict[str, Any], ns: str,
             index: _Index, where: str) -> list[Resource]:
    route_types = ("httpRoute", "http2Route", "grpcRoute", "tcpRoute")
    if kind == "VirtualNode":
        backends = []
        for b in spec.get("backends") or []:
            vs = dict(b.get("virtualService") or {})
            name = _node_ref(vs, ns, index, "VirtualService", "virtualService")
            entry = {"virtualServiceName": name, **({"clientPolicy": vs["clientPolicy"]} if "clientPolicy" in vs else {})}
            backends.append({"virtualService": entry})
        if backends:
            spec["backends"] = backends
        return [Resource(kind="virtualNode", mesh=mesh, name=aws_name, spec=spec, arn=status.get("virtualNodeARN"),
                         source=where)]
    if kind == "VirtualService":
        provider = spec.get("provider")
        if isinstance(provider, dict):
            if "virtualNode" in provider:
                node = _node_ref(provider["virtualNode"], ns, index, "VirtualNode", "virtualNode")
                spec["provider"] = {"virtualNode": {"virtualNodeName": node}}
            elif "virtualRouter" in provider:
                router = _node_ref(provider["virtualRouter"], ns, index, "VirtualRouter", "virtualRouter")
                spec["provider"] = {"virtualRouter": {"virtualRouterName": router}}
        return [Resource(kind="virtualService", mesh=mesh, name=aws_name, spec=spec,
                         arn=status.get("virtualServiceARN"), source=where)]
    if kind == "VirtualRouter":
        routes = spec.pop("routes", None) or []
        out = [Resource(kind="virtualRouter", mesh=mesh, name=aws_name, spec=spec,
                        arn=status.get("virtualRouterARN"), source=where)]
        arns = status.get("routeARNs") or {}
        for i, route in enumerate(routes):
            rspec = {t: _targets(route[t], ns, index) for t in route_types if t in route}
            if "priority" in route:
                rspec["priority"] = route["priority"]
            out.append(Resource(kind="route", mesh=mesh, parent=aws_name, name=str(route.get("name")), spec=rspec,
                                arn=arns.get(route.get("name")), source=f"{where} routes[{i}]"))
        return out
    if kind == "VirtualGateway":
        return [Resource(kind="virtualGateway", mesh=mesh, name=aws_name, spec=spec,
                         arn=status.get("virtualGatewayARN"), source=where)]
    gateway_ref = spec.pop("virtualGatewayRef", None)
    if isinstance(gateway_ref, dict):
        gateway = index.ref("VirtualGateway", gateway_ref, ns)
    else:  # the webhook picked the gateway whose selectors match; with one gateway it is that one
        gateways = [aws for (k, _, _), aws in index.names.items() if k == "VirtualGateway"]
        if len(gateways) != 1:
            raise KeyError("virtualGatewayRef (needed when the files do not hold exactly one VirtualGateway)")
        gateway = gateways[0]
    gspec = {t: _targets(spec[t], ns, index) for t in route_types if t in spec}
    if "priority" in spec:
        gspec["priority"] = spec["priority"]
    return [Resource(kind="gatewayRoute", mesh=mesh, parent=gateway, name=aws_name, spec=gspec,
                     arn=status.get("gatewayRouteARN"), source=where)]


# ------------------------------------------------------------------------------------------ writing
def _cr_name(text: str) -> str:
    """A DNS-1123 object name for an App Mesh name (``colorteller-white_prod`` -> ``colorteller-white-prod``)."""
    name = re.sub(r"[^a-z0-9.-]+", "-", text.lower()).strip("-.")
    return name[:253] or "x"


def render(resources: list[Resource]) -> dict[str, str]:
    """``{"meshplane-k8s.yaml": manifests}``: one CR per mesh, node, service, router (routes inside),
    gateway and gateway route, with explicit awsName, refs by CR name and status ARNs."""
    crs: dict[tuple[str, str, str], str] = {}
    used: set[tuple[str, str]] = set()
    for r in resources:
        if r.kind == "route":
            continue
        label = r.kind_info.label
        base = _cr_name(r.name if r.kind == "mesh" else f"{r.mesh}-{r.parent}-{r.name}" if r.parent else f"{r.mesh}-{r.name}")
        name, n = base, 1
        while (label, name) in used:
            n += 1
            name = f"{base}-{n}"
        used.add((label, name))
        crs[(r.mesh, r.kind, f"{r.parent}/{r.name}")] = name

    def ref(mesh: str, kind: str, name: str) -> dict[str, str]:
        return {"name": crs.get((mesh, kind, f"/{name}"), _cr_name(name))}

    docs: list[dict[str, Any]] = []
    routes: dict[tuple[str, str], list[Resource]] = {}
    for r in resources:
        if r.kind == "route":
            routes.setdefault((r.mesh, r.parent), []).append(r)
    for r in resources:
        if r.kind == "route":
            continue
        cr = crs[(r.mesh, r.kind, f"{r.parent}/{r.name}")]
        spec: dict[str, Any] = {"awsName": r.name}
        status: dict[str, Any] = {}
        if r.kind == "mesh":
            if "egressFilter" in r.spec:
                spec["egressFilter"] = r.spec["egressFilter"]
            if "serviceDiscovery" in r.spec:
                spec["meshServiceDiscovery"] = r.spec["serviceDiscovery"]
            if r.arn:
                status["meshARN"] = r.arn
        else:
            spec["meshRef"] = ref(r.mesh, "mesh", r.mesh)
            body = _out_refs(r.kind, r.spec, r.mesh, ref)
            spec.update(body)
            if r.kind == "virtualRouter":
                rs = routes.get((r.mesh, r.name), [])
                if rs:
                    spec["routes"] = [{"name": x.name, **_out_refs("route", x.spec, x.mesh, ref)} for x in rs]
                    arns = {x.name: x.arn for x in rs if x.arn}
                    if arns:
                        status["routeARNs"] = arns
            if r.kind == "gatewayRoute":
                spec["virtualGatewayRef"] = ref(r.mesh, "virtualGateway", r.parent)
            if r.arn:
                status[f"{r.kind}ARN"] = r.arn
        doc: dict[str, Any] = {"apiVersion": API_VERSION, "kind": r.kind_info.label, "metadata": {"name": cr},
                               "spec": spec}
        if status:
            doc["status"] = status
        docs.append(doc)
    return {"meshplane-k8s.yaml": yaml.safe_dump_all(docs, sort_keys=False)}


def _out_refs(kind: str, spec: dict[str, Any], mesh: str, ref: Any) -> dict[str, Any]:
    """A wire spec with App Mesh names turned into CR refs, as the CRDs want them."""
    spec = dict(spec)
    if kind == "virtualNode" and spec.get("backends"):
        backends = []
        for b in spec["backends"]:
            vs = dict(b["virtualService"])
            name = vs.pop("virtualServiceName")
            backends.append({"virtualService": {"virtualServiceRef": ref(mesh, "virtualService", name), **vs}})
        spec["backends"] = backends
    elif kind == "virtualService" and spec.get("provider"):
        provider = spec["provider"]
        if "virtualNode" in provider:
            spec["provider"] = {"virtualNode": {"virtualNodeRef": ref(
                mesh, "virtualNode", provider["virtualNode"]["virtualNodeName"])}}
        elif "virtualRouter" in provider:
            spec["provider"] = {"virtualRouter": {"virtualRouterRef": ref(
                mesh, "virtualRouter", provider["virtualRouter"]["virtualRouterName"])}}
    elif kind in ("route", "gatewayRoute"):
        for t in ("httpRoute", "http2Route", "grpcRoute", "tcpRoute"):
            if t not in spec:
                continue
            route = dict(spec[t])
            action = dict(route.get("action") or {})
            if "weightedTargets" in action:
                action["weightedTargets"] = [
                    {"virtualNodeRef": ref(mesh, "virtualNode", wt["virtualNode"]),
                     **{k: v for k, v in wt.items() if k != "virtualNode"}} for wt in action["weightedTargets"]]
            target = action.get("target")
            if isinstance(target, dict) and "virtualService" in target:
                action["target"] = {**{k: v for k, v in target.items() if k != "virtualService"},
                                    "virtualService": {"virtualServiceRef": ref(
                                        mesh, "virtualService", target["virtualService"]["virtualServiceName"])}}
            route["action"] = action
            spec[t] = route
    return spec
