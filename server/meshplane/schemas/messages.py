"""Turn marshmallow errors into App Mesh's BadRequestException wording.

AWS writes::

    1 validation error detected: Value 'FOO' at 'spec.egressFilter.type' failed to satisfy constraint:
    Member must satisfy enum value set: [ALLOW_ALL, DROP_ALL]

meshplane keeps that sentence and its member names (camelCase, as on the wire). One deliberate
difference: list items are written ``spec.listeners[0].portMapping.port`` (0-based index in brackets)
where AWS writes ``spec.listeners.1.member.portMapping.port``; the bracket form reads unambiguously and
is what JSON tools (jq, JSONPath, Terraform's ``listener[0]``) use. Values are quoted as AWS quotes them
(``'FOO'``, ``'70000'``), a missing or null value is ``null``, an object or list is shown as compact JSON
(truncated). Several errors are counted and joined with ``; `` in path order.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

from ..errors import BadRequestException
from .base import TYPE_MESSAGES

MAX_LISTED = 25
"""At most this many errors are spelled out (the count still says how many there were)."""

_MAX_VALUE_CHARS = 120
_ABSENT = object()

Path = tuple[str | int, ...]


def flatten(messages: Any, path: Path = ()) -> list[tuple[Path, str]]:
    """Every (path, message) in a marshmallow error tree; ``_schema`` entries belong to their parent."""
    found: list[tuple[Path, str]] = []
    _walk(messages, path, found)
    return found


def _walk(messages: Any, path: Path, found: list[tuple[Path, str]]) -> None:
    if isinstance(messages, Mapping):
        for key, sub in messages.items():
            _walk(sub, path if key == "_schema" else (*path, key), found)
    elif isinstance(messages, list):
        for sub in messages:
            _walk(sub, path, found)
    else:
        found.append((path, str(messages)))


def render_path(root: str, path: Path) -> str:
    """``("listeners", 0, "portMapping")`` under ``spec`` -> ``spec.listeners[0].portMapping``."""
    out = root
    for segment in path:
        if isinstance(segment, int):
            out += f"[{segment}]"
        else:
            text = str(segment)
            if len(text) > 64:
                text = text[:61] + "..."
            out += f".{text}" if out else text
    return out


def lookup(wire: Any, path: Path) -> Any:
    """The input value at ``path``, or a marker when it is absent."""
    node = wire
    for segment in path:
        if isinstance(segment, int):
            if isinstance(node, list) and 0 <= segment < len(node):
                node = node[segment]
                continue
            return _ABSENT
        if isinstance(node, Mapping) and segment in node:
            node = node[segment]
            continue
        return _ABSENT
    return node


def render_value(value: Any) -> str:
    """A value as AWS shows it in a constraint message."""
    if value is _ABSENT or value is None:
        return "null"
    if isinstance(value, bool):
        return "'true'" if value else "'false'"
    if isinstance(value, (int, float, str)):
        text = str(value)
        if len(text) > _MAX_VALUE_CHARS:
            text = text[: _MAX_VALUE_CHARS - 3] + "..."
        return f"'{text}'"
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=repr)
    except (ValueError, TypeError, RecursionError):
        text = f"<{type(value).__name__}>"
    if len(text) > _MAX_VALUE_CHARS:
        text = text[: _MAX_VALUE_CHARS - 3] + "..."
    return text


def json_type(value: Any) -> str:
    """The JSON type of a decoded value, as a phrase ("a string", "null")."""
    if value is _ABSENT or value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def _order(item: tuple[Path, str]) -> tuple[Any, ...]:
    # Indices sort numerically, names alphabetically, and a parent before its members.
    return tuple((0, s, "") if isinstance(s, int) else (1, 0, str(s)) for s in item[0]) + ((0, 0, item[1]),)


def describe(problems: Sequence[tuple[Path, str]], wire: Any, root: str) -> str:
    """The full BadRequestException message for ``problems`` found in ``wire`` (rooted at ``root``)."""
    ordered = sorted(problems, key=_order)
    parts = []
    for path, message in ordered[:MAX_LISTED]:
        value = lookup(wire, path)
        if message in TYPE_MESSAGES:
            # '8080' reads the same whether it was a string or a number: say which it was.
            message = f"{message} (got {json_type(value)})"
        parts.append(
            f"Value {render_value(value)} at '{render_path(root, path)}' failed to satisfy constraint: {message}"
        )
    if len(ordered) > MAX_LISTED:
        parts.append(f"and {len(ordered) - MAX_LISTED} more")
    n = len(ordered)
    noun = "error" if n == 1 else "errors"
    return f"{n} validation {noun} detected: " + "; ".join(parts)


def bad_request(messages: Any, wire: Any, root: str) -> BadRequestException:
    """A BadRequestException for a marshmallow error tree found while loading ``wire``."""
    return BadRequestException(describe(flatten(messages), wire, root))


def bad_value(field: str, value: Any, message: str) -> BadRequestException:
    """A BadRequestException for one top-level request member (``meshName``, ``tags`` ...)."""
    return BadRequestException(describe([((), message)], value, field))
