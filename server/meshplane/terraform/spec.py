"""The provider's knowledge, read at start-up: openapi.json (generated) + terraform.json (hand-written).

Where the two files are read from, first match wins:

1. ``$MESHPLANE_TF_SPEC_DIR`` (tests, experiments);
2. ``provider-spec/`` of the source tree this package runs from (a checkout or an editable
   install), so a regenerated openapi.json takes effect at once;
3. the copies shipped in the package next to this module (``make spec`` refreshes them; a test
   fails when they differ from provider-spec/).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meshplane.terraform.schema import Attribute, Block, OpenApi, SchemaBuilder

PACKAGE_DIR = Path(__file__).resolve().parent
SOURCE_TREE_DIR = PACKAGE_DIR.parents[2] / "provider-spec"
SPEC_DIR_ENV = "MESHPLANE_TF_SPEC_DIR"
FILES = ("openapi.json", "terraform.json")

_STRING = "string"
_TAGS: list[Any] = ["map", "string"]


@dataclass(frozen=True)
class ResourceSpec:
    """One resource type and its data source, as the generic code needs them.

    :param identity: Terraform attribute -> wire name for the name, mesh and parent (``name`` -> ``routeName``).
    :param id_from: ``name`` (the mesh) or ``metadata.uid`` (everything else), as hashicorp/aws.
    :param mesh_owner: ``computed`` (mesh) or ``optional`` (optional + computed, forces replacement).
    """

    type_name: str
    kind: str
    collection: str
    item: str
    identity: dict[str, str]
    import_id: str
    id_from: str
    mesh_owner: str
    spec: Block
    computed: dict[str, dict[str, Any]]
    resource_root: Block
    data_root: Block

    @property
    def import_parts(self) -> list[str]:
        """Attribute names in import-id order, e.g. ``["mesh_name", "virtual_router_name", "name"]``."""
        return re.findall(r"\{(\w+)\}", self.import_id)

    def body_identity(self) -> dict[str, str]:
        """Identity members the create body carries (those not already in the collection path)."""
        in_path = set(re.findall(r"\{(\w+)\}", self.collection))
        return {attr: wire for attr, wire in self.identity.items() if wire not in in_path}


@dataclass(frozen=True)
class ProviderSpec:
    hostname: str
    namespace: str
    type: str
    endpoint_env: str
    resources: dict[str, ResourceSpec]
    tag_paths: dict[str, str]

    @property
    def source(self) -> str:
        return f"{self.hostname}/{self.namespace}/{self.type}"


def spec_dir() -> Path:
    """The directory the provider reads openapi.json and terraform.json from (see module docstring)."""
    explicit = os.environ.get(SPEC_DIR_ENV)
    if explicit:
        return Path(explicit)
    if all((SOURCE_TREE_DIR / name).is_file() for name in FILES):
        return SOURCE_TREE_DIR
    return PACKAGE_DIR


def load_mapping(directory: Path | None = None) -> dict[str, Any]:
    """terraform.json as a dict."""
    return json.loads(((directory or spec_dir()) / "terraform.json").read_text())  # type: ignore[no-any-return]


def load(directory: Path | None = None) -> ProviderSpec:
    """Read openapi.json and terraform.json from ``directory`` and build every schema tree."""
    directory = directory or spec_dir()
    api = OpenApi(json.loads((directory / "openapi.json").read_text()))
    return build(api, load_mapping(directory))


def build(api: OpenApi, mapping: dict[str, Any]) -> ProviderSpec:
    provider = mapping["provider"]
    computed = mapping["computed"]
    resources = {}
    for type_name, res in mapping["resources"].items():
        spec = SchemaBuilder(api, res.get("x-terraform", {})).spec_block(res["spec"], res["spec_required"])
        resources[type_name] = ResourceSpec(
            type_name=type_name, kind=res["kind"], collection=res["collection"], item=res["item"],
            identity=res["identity"], import_id=res["import_id"], id_from=res["id"],
            mesh_owner=res["mesh_owner"], spec=spec, computed=computed,
            resource_root=_resource_root(res, spec, computed), data_root=_data_root(res, spec, computed),
        )
    return ProviderSpec(
        hostname=provider["hostname"], namespace=provider["namespace"], type=provider["type"],
        endpoint_env=provider["endpoint_env"], resources=resources, tag_paths=mapping["tags"],
    )


def _resource_root(res: dict[str, Any], spec: Block, computed: dict[str, Any]) -> Block:
    attrs = [Attribute("id", _STRING, computed=True)]
    for name in res["identity"]:
        attrs.append(Attribute(name, _STRING, wire=res["identity"][name], required=True, force_new=True))
    for name in computed:
        if name == "mesh_owner":
            optional = res["mesh_owner"] == "optional"
            attrs.append(Attribute(name, _STRING, optional=optional, computed=True, force_new=optional))
        else:
            attrs.append(Attribute(name, _STRING, computed=True))
    attrs.append(Attribute("tags", _TAGS, optional=True, constraints={}))
    attrs.append(Attribute("tags_all", _TAGS, computed=True))
    return Block(name="", wire="", attributes=tuple(attrs), blocks=(spec,))


def _data_root(res: dict[str, Any], spec: Block, computed: dict[str, Any]) -> Block:
    attrs = [Attribute("id", _STRING, computed=True)]
    for name in res["identity"]:
        attrs.append(Attribute(name, _STRING, wire=res["identity"][name], required=True))
    for name in computed:
        attrs.append(Attribute(name, _STRING, optional=name == "mesh_owner", computed=True))
    attrs.append(Attribute("spec", ["list", spec.object_type()], computed=True))
    attrs.append(Attribute("tags", _TAGS, computed=True))
    return Block(name="", wire="", attributes=tuple(attrs))
