"""``meshplane export --format terraform``: HCL for the meshplane/meshplane provider (or, with
``--provider aws``, hashicorp/aws) plus Terraform 1.5 ``import {}`` blocks, so that a team without
Terraform code gets a module whose first ``terraform plan`` imports everything and changes nothing.

The spec blocks are written by walking the provider's own schema tree (meshplane.terraform.spec):
block and attribute names, nesting and ``map`` attributes are the provider's, so the written HCL is
what the provider reads back. ``mesh_name`` and router/gateway names refer to the
parent resources (Terraform orders them), other names are literal strings.
"""

from __future__ import annotations

import json
import re
from typing import Any

from meshplane import kinds
from meshplane.formats.model import Resource
from meshplane.formats.tfstate import provider_spec

AWS_PROVIDER = '''terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source = "hashicorp/aws"
    }
  }
}

variable "endpoint" {
  description = "meshplane's REST endpoint, e.g. http://127.0.0.1:8080"
  type        = string
}

provider "aws" {
  region                      = "%(region)s"
  access_key                  = "meshplane"
  secret_key                  = "meshplane"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  max_retries                 = 3
  endpoints {
    appmesh = var.endpoint
  }
}
'''

MESHPLANE_PROVIDER = '''terraform {
  required_version = ">= 1.5"
  required_providers {
    meshplane = {
      source = "meshplane/meshplane"
    }
  }
}

# The endpoint comes from MESHPLANE_ENDPOINT (or set endpoint = "http://...").
provider "meshplane" {}
'''


#: Spec members hashicorp/aws 5.x has no argument for (shared/reference/import.md §4), by kind.
AWS_UNSUPPORTED: dict[str, tuple[str, ...]] = {
    "virtualNode": ("serviceDiscovery.awsCloudMap.ipPreference",),
    "gatewayRoute": ("grpcRoute.action.rewrite", "grpcRoute.match.hostname", "grpcRoute.match.metadata",
                     "httpRoute.match.method", "http2Route.match.method"),
}


def render(resources: list[Resource], provider: str = "meshplane", region: str = "us-east-1") -> dict[str, str]:
    """``{"main.tf": ...}``: the provider block, one resource per App Mesh object, one import block each.

    :param provider: ``meshplane`` (meshplane_* resources) or ``aws`` (aws_appmesh_*).
    """
    prefix = "aws_appmesh_" if provider == "aws" else "meshplane_"
    head = (AWS_PROVIDER % {"region": region}) if provider == "aws" else MESHPLANE_PROVIDER
    labels = _labels(resources)
    parts = [head]
    imports = []
    for r in resources:
        type_name = prefix + r.kind_info.snake
        address = f"{type_name}.{labels[r.key]}"
        parts.append(_resource(r, type_name, labels[r.key], labels, prefix))
        imports.append(f'import {{\n  to = {address}\n  id = {_string(_import_id(r))}\n}}\n')
    return {"main.tf": "\n".join(parts) + "\n" + "\n".join(imports)}


def _import_id(r: Resource) -> str:
    return "/".join(p for p in (r.mesh, r.parent, r.name if r.kind != "mesh" else "") if p)


def _labels(resources: list[Resource]) -> dict[tuple[str, str, str, str], str]:
    """A unique, valid Terraform name per resource: ``dj_app``, ``dj_app__jazz_router__jazz_route``."""
    out: dict[tuple[str, str, str, str], str] = {}
    used: set[tuple[str, str]] = set()
    for r in resources:
        parts = [r.mesh] if r.kind == "mesh" else [p for p in (r.mesh, r.parent, r.name) if p]
        base = "__".join(re.sub(r"[^A-Za-z0-9_]", "_", p) for p in parts)
        if not re.match(r"[A-Za-z_]", base):
            base = "_" + base
        label, n = base, 1
        while (r.kind, label) in used:
            n += 1
            label = f"{base}_{n}"
        used.add((r.kind, label))
        out[r.key] = label
    return out


def _resource(r: Resource, type_name: str, label: str, labels: dict[tuple[str, str, str, str], str],
              prefix: str) -> str:
    rs = provider_spec().resources["meshplane_" + r.kind_info.snake]
    lines = [f'resource "{type_name}" "{label}" {{']
    lines.append(f"  name = {_string(r.name)}")
    if r.kind != "mesh":
        mesh_label = labels.get((r.mesh, "mesh", "", r.mesh))
        mesh_ref = f"{prefix}mesh.{mesh_label}.name" if mesh_label else _string(r.mesh)
        lines.append(f"  mesh_name = {mesh_ref}")
    kind = r.kind_info
    if kind.parent:
        parent_kind = kinds.BY_KEY[kind.parent]
        parent_label = labels.get((r.mesh, parent_kind.key, "", r.parent))
        ref = f"{prefix}{parent_kind.snake}.{parent_label}.name" if parent_label else _string(r.parent)
        lines.append(f"  {parent_kind.snake}_name = {ref}")
    wire = r.spec
    if prefix == "aws_appmesh_":
        wire, dropped = _without(wire, AWS_UNSUPPORTED.get(r.kind, ()))
        for path, value in dropped:
            lines.append(f"  # hashicorp/aws cannot express spec.{path} = {json.dumps(value)}: meshplane keeps it, "
                         "but applying a change to this resource with hashicorp/aws would drop it")
    if wire or rs.spec.min_items:
        lines.extend(_block(rs.spec, wire, 1))
    if r.tags:
        lines.append("  tags = " + _map({t["key"]: t["value"] for t in r.tags}, 1))
    lines.append("}")
    return "\n".join(lines) + "\n"


def _block(block: Any, wire: dict[str, Any], depth: int) -> list[str]:
    """One HCL block for a wire object, walking the provider's schema tree (the inverse of the
    provider's values.to_wire): attributes by their wire member, ``{key, value}`` lists as maps,
    arrays of objects as repeated blocks, and empty optional objects left out (the provider reads
    them back as absent)."""
    pad = "  " * depth
    lines = [f"{pad}{block.name} {{"]
    for attr in block.attributes:
        value = wire.get(attr.wire) if attr.wire else None
        if value is None:
            continue
        if attr.map_kv and isinstance(value, list):
            value = {kv["key"]: kv.get("value", "") for kv in value}
        lines.append(f"{pad}  {attr.name} = {_value(value, depth + 1)}")
    for sub in block.blocks:
        value = wire.get(sub.wire)
        if value is None:
            continue
        if sub.single:
            if isinstance(value, dict) and (value or sub.min_items):
                lines.extend(_block(sub, value, depth + 1))
        else:
            for item in value:
                lines.extend(_block(sub, item, depth + 1))
    lines.append(f"{pad}}}")
    return lines


def _value(value: Any, depth: int) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, dict):
        return _map(value, depth)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v, depth) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as HCL")


def _map(value: dict[str, Any], depth: int) -> str:
    if not value:
        return "{}"
    pad = "  " * depth
    items = [f"{pad}  {_string(k)} = {_value(v, depth + 1)}" for k, v in sorted(value.items())]
    return "{\n" + "\n".join(items) + f"\n{pad}}}"


def _string(text: str) -> str:
    """An HCL quoted string: JSON escapes, plus ``${`` and ``%{`` (template sequences) doubled."""
    return json.dumps(text).replace("${", "$${").replace("%{", "%%{")


def _without(wire: dict[str, Any], paths: tuple[str, ...]) -> tuple[dict[str, Any], list[tuple[str, Any]]]:
    """A copy of ``wire`` without the members at the dotted ``paths``, and what was removed."""
    dropped: list[tuple[str, Any]] = []
    if not any(_dig(wire, p) is not None for p in paths):
        return wire, dropped
    copy = json.loads(json.dumps(wire))
    for path in paths:
        *head, last = path.split(".")
        node = copy
        for part in head:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and last in node:
            dropped.append((path, node.pop(last)))
    return copy, dropped


def _dig(wire: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(wire, dict):
            return None
        wire = wire.get(part)
    return wire
