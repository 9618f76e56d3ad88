"""Plan-time checks of a configuration against the OpenAPI constraints carried by the schema.

Terraform already enforces required attributes, types and block counts; this adds enum, range,
length, pattern, item counts and tagged unions, and reports each problem on its attribute path
(``spec[0].listener[0].port_mapping[0].port``). Values may be Unknown at any depth (they come from
other resources); those are skipped, never iterated.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from tf.types import Unknown

from meshplane.terraform.schema import Attribute, Block

PathStep = str | int  # attribute or block name | list index


@dataclass(frozen=True)
class Problem:
    """One invalid value: where it is (Terraform steps; sets cut the path short) and what is wrong."""

    steps: tuple[PathStep, ...]
    text_path: str
    detail: str

    @property
    def summary(self) -> str:
        return f"Invalid value for {self.text_path}"


def render(steps: tuple[PathStep, ...]) -> str:
    out = ""
    for step in steps:
        if isinstance(step, int):
            out += f"[{step}]"
        elif step == "*":
            out += "[*]"
        else:
            out += ("." if out else "") + step
    return out


def check_block(block: Block, obj: Any, steps: tuple[PathStep, ...] = (), text: tuple[PathStep, ...] = ()) -> list[Problem]:
    """Every problem in one block element (``obj`` as decoded from Terraform)."""
    if not isinstance(obj, dict):
        return []
    problems: list[Problem] = []
    for attr in block.attributes:
        value = obj.get(attr.name)
        if value is None or value is Unknown:
            continue
        problems += _check_attribute(attr, value, steps + (attr.name,), text + (attr.name,))
    set_members: list[str] = []
    unknown_member = False
    for attr in block.attributes:
        value = obj.get(attr.name)
        unknown_member |= value is Unknown
        if value is not None and value is not Unknown:
            set_members.append(attr.name)
    for sub in block.blocks:
        items = obj.get(sub.name)
        if items is Unknown:
            unknown_member = True
            continue
        if not isinstance(items, list) or not items:
            continue
        set_members.append(sub.name)
        if sub.list_min_items and len(items) < sub.list_min_items:
            problems.append(Problem(steps + (sub.name,), render(text + (sub.name,)),
                                    f"at least {sub.list_min_items} {sub.name} blocks are required, got {len(items)}"))
        for index, item in enumerate(items):
            if sub.is_set:  # set elements have no index Terraform can point at
                problems += check_block(sub, item, steps + (sub.name,), text + (sub.name, "*"))
            else:
                problems += check_block(sub, item, steps + (sub.name, index), text + (sub.name, index))
    if block.union and not unknown_member and block.name:
        names = [a.name for a in block.attributes] + [b.name for b in block.blocks]
        if len(set_members) > 1:
            problems.append(Problem(steps, render(text), f"only one of {', '.join(names)} may be set, "
                                                        f"got {', '.join(set_members)}"))
        elif not set_members and block.union_required:
            problems.append(Problem(steps, render(text), f"exactly one of {', '.join(names)} must be set"))
    return problems


def _check_attribute(attr: Attribute, value: Any, steps: tuple[PathStep, ...], text: tuple[PathStep, ...]) -> list[Problem]:
    if attr.is_collection:
        problems: list[Problem] = []
        if isinstance(value, (list, dict)):
            if attr.min_items is not None and len(value) < attr.min_items:
                problems.append(Problem(steps, render(text), f"at least {attr.min_items} elements are required, got {len(value)}"))
            if attr.max_items is not None and len(value) > attr.max_items:
                problems.append(Problem(steps, render(text), f"at most {attr.max_items} elements are allowed, got {len(value)}"))
            if isinstance(value, list) and attr.constraints:
                for element in value:
                    if element is Unknown or element is None:
                        continue
                    detail = scalar_problem(attr.constraints, element)
                    if detail:
                        problems.append(Problem(steps, render(text), detail))
        return problems
    detail = scalar_problem(attr.constraints, value)
    return [Problem(steps, render(text), detail)] if detail else []


def scalar_problem(constraints: dict[str, Any], value: Any) -> str | None:
    """What is wrong with one scalar, or None. Messages follow hashicorp/aws's validators."""
    enum = constraints.get("enum")
    if enum is not None and value not in enum:
        return f"expected one of {json.dumps(enum)}, got {json.dumps(value)}"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        low, high = constraints.get("minimum"), constraints.get("maximum")
        if (low is not None and value < low) or (high is not None and value > high):
            shown = int(value) if float(value).is_integer() else value
            return f"expected a value in the range {_bound(low)}..{_bound(high)}, got {shown}"
    if isinstance(value, str):
        low, high = constraints.get("minLength"), constraints.get("maxLength")
        if (low is not None and len(value) < low) or (high is not None and len(value) > high):
            return f"expected a length in the range {_bound(low)}..{_bound(high)}, got {len(value)}"
        pattern = constraints.get("pattern")
        if pattern and not re.search(pattern, value):
            return f"{json.dumps(value)} does not match the pattern {pattern}"
    return None


def _bound(value: Any) -> str:
    return "" if value is None else str(value)
