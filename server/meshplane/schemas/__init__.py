"""marshmallow schemas for the App Mesh wire shapes, and the validation every layer relies on.

Public API (the contract with store/, api/ and translate/; see docs/architecture.md):

* `load_spec(kind, wire) -> dict` / `dump_spec(kind, spec) -> dict`: wire (camelCase) <-> stored
  (snake_case) specs; load validates everything a spec can be checked for on its own.
* `check_name(field, value)`, `check_account_id(field, value)`, `validate_tags(tags)`,
  `validate_tag_keys(keys)`: request members outside specs.
* `check_route_fits_router(route_spec, router_spec)`,
  `check_gateway_route_fits_gateway(gr_spec, gateway_spec)`: cross-resource rules on stored specs.
* `SPEC_SCHEMAS`: kind key -> spec schema class; envelopes.py holds the Data/Ref/Input/Output shapes.

Every failure is a `meshplane.errors.BadRequestException` whose message names the member path, e.g.
``1 validation error detected: Value 'FOO' at 'spec.egressFilter.type' failed to satisfy constraint:
Member must satisfy enum value set: [ALLOW_ALL, DROP_ALL]``; list items are written
``spec.listeners[0].portMapping.port`` (see messages.py).
"""

from __future__ import annotations

from .names import check_account_id
from .names import check_name
from .routing import check_gateway_route_fits_gateway
from .routing import check_route_fits_router
from .specs import SPEC_SCHEMAS
from .specs import dump_spec
from .specs import load_spec
from .tags import validate_tag_keys
from .tags import validate_tags

__all__ = [
    "SPEC_SCHEMAS",
    "check_account_id",
    "check_gateway_route_fits_gateway",
    "check_name",
    "check_route_fits_router",
    "dump_spec",
    "load_spec",
    "validate_tag_keys",
    "validate_tags",
]
