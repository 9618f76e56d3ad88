"""Converting spec values between Terraform (snake_case blocks) and the wire (camelCase JSON).

Terraform values are what msgpack decodes: a block element is a dict holding *every* attribute
(None when unset) and every nested block (a list, empty when absent). Wire values are App Mesh
JSON: absent members are left out and a single nested object is an object, not a list.

Clean plans depend on one equivalence (``canonical``): two wire values mean the same when they
differ only by absent vs null members, absent vs empty arrays, absent vs empty optional objects,
set order, or 8080 vs 8080.0. ``from_wire`` keeps the prior Terraform value of every subtree the
server's answer does not change in that sense, so a refresh never invents a diff.
"""

from __future__ import annotations

import json
from typing import Any

from tf.types import Unknown

from meshplane.terraform.schema import Attribute, Block

TfObject = dict[str, Any]
Wire = dict[str, Any]


def number(value: Any) -> Any:
    """8080.0 -> 8080 (cty numbers arrive as floats or ints); other values unchanged."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def contains_unknown(value: Any) -> bool:
    if value is Unknown:
        return True
    if isinstance(value, dict):
        return any(contains_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_unknown(v) for v in value)
    return False


def _sorted_set(values: list[Any]) -> list[Any]:
    return sorted(values, key=lambda v: json.dumps(v, sort_keys=True))


# ---------------------------------------------------------------- Terraform -> wire
def to_wire(block: Block, obj: TfObject) -> Wire:
    """One known Terraform block element as its wire object (unset members left out)."""
    out: Wire = {}
    for attr in block.attributes:
        if attr.wire is None:
            continue
        value = obj.get(attr.name)
        if value is None:
            continue
        if attr.map_kv:
            out[attr.wire] = [{"key": k, "value": value[k]} for k in sorted(value)]
        elif attr.is_set:
            out[attr.wire] = _sorted_set([number(v) for v in value])
        elif attr.is_collection:
            out[attr.wire] = [number(v) for v in value] if isinstance(value, list) else dict(value)
        else:
            out[attr.wire] = number(value)
    for sub in block.blocks:
        items = obj.get(sub.name) or []
        if not items:
            continue
        if sub.single:
            out[sub.wire] = to_wire(sub, items[0])
        else:
            out[sub.wire] = [to_wire(sub, item) for item in items]
    return out


def spec_to_wire(spec: Block, value: list[TfObject] | None) -> Wire | None:
    """The ``spec`` block list (0 or 1 element) as the wire spec, None when absent."""
    if not value:
        return None
    return to_wire(spec, value[0])


# ---------------------------------------------------------------- equivalence
def canonical(block: Block, wire: Any) -> Any:
    """A comparison key for a wire object: equal keys mean Terraform should show no change."""
    if not isinstance(wire, dict):
        return wire
    out: dict[str, Any] = {}
    for attr in block.attributes:
        if attr.wire is None or wire.get(attr.wire) is None:
            continue
        value = wire[attr.wire]
        if attr.map_kv and isinstance(value, list):
            value = {kv.get("key"): kv.get("value") for kv in value if isinstance(kv, dict)}
        elif attr.is_set and isinstance(value, list):
            value = _sorted_set([number(v) for v in value])
        elif isinstance(value, list):
            value = [number(v) for v in value]
        else:
            value = number(value)
        out[attr.wire] = value
    for sub in block.blocks:
        value = wire.get(sub.wire)
        if value is None:
            continue
        if sub.single:
            key = canonical(sub, value)
            if key == {} and sub.min_items == 0:
                continue  # an empty optional object says nothing: same as absent
            out[sub.wire] = key
        else:
            keys = [canonical(sub, item) for item in value] if isinstance(value, list) else [value]
            if not keys:
                continue
            out[sub.wire] = _sorted_set(keys) if sub.is_set else keys
    return out


def same(block: Block, left: Any, right: Any) -> bool:
    return canonical(block, left) == canonical(block, right)


# ---------------------------------------------------------------- wire -> Terraform
def from_wire(block: Block, wire: Wire, prior: TfObject | None = None) -> TfObject:
    """A Terraform block element for ``wire``, reusing ``prior`` wherever it means the same."""
    if prior is not None and not contains_unknown(prior) and same(block, to_wire(block, prior), wire):
        return prior
    obj: TfObject = {}
    for attr in block.attributes:
        obj[attr.name] = _attribute_from_wire(attr, wire.get(attr.wire) if attr.wire else None, prior)
    for sub in block.blocks:
        prior_items = (prior or {}).get(sub.name) or []
        obj[sub.name] = _block_from_wire(sub, wire.get(sub.wire), prior_items)
    return obj


def _attribute_from_wire(attr: Attribute, value: Any, prior: TfObject | None) -> Any:
    if value is None:
        return None
    if attr.map_kv:
        if isinstance(value, dict):
            return {str(k): str(v) for k, v in value.items()}
        return {kv["key"]: kv.get("value", "") for kv in value if isinstance(kv, dict) and "key" in kv}
    if attr.is_collection:
        values = [number(v) for v in value] if isinstance(value, list) else value
        old = (prior or {}).get(attr.name)
        if attr.is_set and isinstance(old, list) and _sorted_set(old) == _sorted_set(values):
            return old  # same set, keep the order Terraform already has
        return values
    value = number(value)
    old = (prior or {}).get(attr.name)
    if old is not None and number(old) == value:
        return old
    return value


def _block_from_wire(sub: Block, value: Any, prior_items: list[TfObject]) -> list[TfObject]:
    if value is None:
        return []
    if sub.single:
        if not isinstance(value, dict):
            return []
        hint = prior_items[0] if len(prior_items) == 1 else None
        if canonical(sub, value) == {} and sub.min_items == 0 and hint is None:
            return []  # an echoed empty optional object stays absent, as the user wrote it
        return [from_wire(sub, value, hint)]
    items = value if isinstance(value, list) else []
    if sub.is_set:
        unused = list(prior_items)
        result = []
        for item in items:
            match = next((p for p in unused if same(sub, to_wire(sub, p), item)), None)
            if match is not None:
                unused.remove(match)
            result.append(from_wire(sub, item, match))
        return result
    return [from_wire(sub, item, prior_items[i] if i < len(prior_items) else None) for i, item in enumerate(items)]


def spec_from_wire(spec: Block, wire: Wire | None, prior: list[TfObject] | None) -> list[TfObject]:
    """The ``spec`` block list for the server's spec, keeping ``prior`` where it means the same."""
    prior = prior or []
    if wire is None or (canonical(spec, wire) == {} and spec.min_items == 0 and not prior):
        return []
    return [from_wire(spec, wire, prior[0] if prior else None)]


# ---------------------------------------------------------------- schema conformance
def conform(block: Block, value: Any) -> TfObject:
    """Make a stored object match the current schema: missing members become null/[] and
    members the schema no longer has are dropped (state written by an older openapi.json)."""
    value = value if isinstance(value, dict) else {}
    obj: TfObject = {}
    for attr in block.attributes:
        obj[attr.name] = value.get(attr.name)
    for sub in block.blocks:
        items = value.get(sub.name)
        obj[sub.name] = [conform(sub, item) for item in items] if isinstance(items, list) else []
    return obj
