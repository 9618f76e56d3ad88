"""VirtualRouterSpec: the router's listeners (port + protocol)."""

from __future__ import annotations

from typing import Any

from marshmallow import validates_schema

from .base import ListOf
from .base import Obj
from .base import Problems
from .base import find_duplicate_ports
from .camel import CamelCaseSchema
from .common import PortMappingSchema


class VirtualRouterListenerSchema(CamelCaseSchema):
    port_mapping = Obj(PortMappingSchema, required=True)


class VirtualRouterSpecSchema(CamelCaseSchema):
    listeners = ListOf(Obj(VirtualRouterListenerSchema))

    @validates_schema
    def _unique_ports(self, data: dict[str, Any], **kwargs: Any) -> None:
        problems = Problems()
        i = find_duplicate_ports(data.get("listeners", []))
        if i is not None:
            problems.add(["listeners", i, "portMapping", "port"], "Member must be unique among the listeners' ports")
        problems.raise_any()
