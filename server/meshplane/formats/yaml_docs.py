"""YAML reading (safe) that also understands CloudFormation's short-form intrinsics.

``!Ref X`` becomes ``{"Ref": "X"}``, ``!GetAtt A.B`` becomes ``{"Fn::GetAtt": ["A", "B"]}``, and
every other ``!Name`` tag ``{"Fn::Name": value}``, the long forms CloudFormation itself expands to.
"""

from __future__ import annotations

from typing import Any

import yaml


class _Loader(yaml.SafeLoader):
    """SafeLoader plus the CloudFormation tags (a subclass, so yaml.safe_load stays untouched).

    Aliases (``*name``) are refused: a few lines of nested aliases expand to gigabytes once the
    specs are serialised, and neither CloudFormation nor kubectl output uses them.
    """

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.events.AliasEvent):
            raise yaml.YAMLError("YAML aliases (*name) are not supported in imported files")
        return super().compose_node(parent, index)


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_Loader.add_multi_constructor("!", _intrinsic)


def load_all(text: str) -> list[Any]:
    """Every document of ``text``.

    :raises ValueError: not YAML (the message says where).
    """
    try:
        return list(yaml.load_all(text, Loader=_Loader))  # noqa: S506 - a SafeLoader subclass
    except (yaml.YAMLError, RecursionError) as exc:
        raise ValueError(str(exc) or "nested too deeply") from None
