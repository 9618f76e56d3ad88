"""Building blocks of every App Mesh shape schema: strict fields, AWS-worded validators, rule helpers.

Every message a field or validator raises is an AWS *constraint* ("Member must ..."); `messages.py`
turns it into ``Value 'x' at 'spec.a.b' failed to satisfy constraint: Member must ...``.

Strictness (the wire is JSON, so Python types are exact): a string is never an int, a bool is never an
int, a float is never an int (``5.0`` is refused), ``null`` is never a value (an optional member is
either absent or a real value). Integers are bounded by the model's Java type (``integer``: 32-bit,
``long``: 64-bit signed) even where the model names no range.
"""

from __future__ import annotations

import typing
from collections.abc import Iterable
from typing import Any

from marshmallow import ValidationError
from marshmallow import fields
from marshmallow import validate

INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)

NOT_NULL = "Member must not be null"
MUST_BE_STRING = "Member must be a string"
MUST_BE_INTEGER = "Member must be an integer"
MUST_BE_NUMBER = "Member must be a number"
MUST_BE_BOOLEAN = "Member must be a boolean"
MUST_BE_LIST = "Member must be a list"
MUST_BE_OBJECT = "Member must be an object"
TYPE_MESSAGES = frozenset(
    {MUST_BE_STRING, MUST_BE_INTEGER, MUST_BE_NUMBER, MUST_BE_BOOLEAN, MUST_BE_LIST, MUST_BE_OBJECT}
)
"""Type constraints; messages.py adds the JSON type actually received ("(got a string)")."""


def camel_case(name: str) -> str:
    """``port_mapping`` -> ``portMapping``, ``http2_route`` -> ``http2Route``."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def snake_case(name: str) -> str:
    """``portMapping`` -> ``port_mapping``; the inverse of `camel_case` for every App Mesh member name."""
    return "".join("_" + c.lower() if c.isupper() else c for c in name)


# --- validators: marshmallow's own classes (apispec reads min/max/equal/choices/regex off them),
# with App Mesh's wording and without per-call message formatting.


class Range(validate.Range):
    """Inclusive integer range; AWS wording ("Member must have value less than or equal to 65535")."""

    def __init__(self, min: int | None = None, max: int | None = None) -> None:  # noqa: A002
        super().__init__(min=min, max=max)
        self._too_small = f"Member must have value greater than or equal to {min}"
        self._too_big = f"Member must have value less than or equal to {max}"

    def __call__(self, value: Any) -> Any:
        if self.min is not None and value < self.min:
            raise ValidationError(self._too_small)
        if self.max is not None and value > self.max:
            raise ValidationError(self._too_big)
        return value


class Length(validate.Length):
    """Length of a string (characters) or list (items); AWS wording."""

    def __init__(self, min: int | None = None, max: int | None = None, *, equal: int | None = None) -> None:  # noqa: A002
        super().__init__(min=min, max=max, equal=equal)
        if equal is not None:
            self.min = self.max = None
            self._wrong = f"Member must have length equal to {equal}"
        self._too_short = f"Member must have length greater than or equal to {min}"
        self._too_long = f"Member must have length less than or equal to {max}"

    def __call__(self, value: Any) -> Any:
        n = len(value)
        if self.equal is not None:
            if n != self.equal:
                raise ValidationError(self._wrong)
            return value
        if self.min is not None and n < self.min:
            raise ValidationError(self._too_short)
        if self.max is not None and n > self.max:
            raise ValidationError(self._too_long)
        return value


class OneOf(validate.OneOf):
    """Enum membership; AWS wording ("Member must satisfy enum value set: [ALLOW_ALL, DROP_ALL]")."""

    def __init__(self, choices: Iterable[str]) -> None:
        choices = tuple(choices)
        super().__init__(choices)
        self._set = frozenset(choices)
        self._message = f"Member must satisfy enum value set: [{', '.join(choices)}]"

    def __call__(self, value: Any) -> Any:
        if value not in self._set:
            raise ValidationError(self._message)
        return value


class Pattern(validate.Regexp):
    """The whole string must match (Java ``matches`` semantics, so a trailing newline does not pass)."""

    def __init__(self, pattern: str) -> None:
        super().__init__(pattern)
        self._message = f"Member must satisfy regular expression pattern: {pattern}"

    def __call__(self, value: Any) -> Any:
        if self.regex.fullmatch(value) is None:
            raise ValidationError(self._message)
        return value


class StartsWith(validate.Validator):
    """A documented rule the model does not encode (paths and prefixes start with ``/``)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._message = f"Member must start with '{prefix}'"

    def __call__(self, value: Any) -> Any:
        if not value.startswith(self.prefix):
            raise ValidationError(self._message)
        return value


# --- strict fields. Values are returned as given (no copies, no coercion): the stored form keeps
# the wire's values untouched.

_FIELD_MESSAGES = {"required": NOT_NULL, "null": NOT_NULL}


def _validators(validators: Any) -> list[Any]:
    if validators is None:
        return []
    if callable(validators):
        return [validators]
    return list(validators)


class Str(fields.String):
    """A JSON string."""

    default_error_messages = {**_FIELD_MESSAGES, "invalid": MUST_BE_STRING}

    @staticmethod
    def accepts(value: Any) -> bool:
        return isinstance(value, str)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if not self.accepts(value):
            raise self.make_error("invalid")
        return value

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> Any:
        return value


def Enum(*choices: str, **kwargs: Any) -> Str:  # noqa: N802 - reads like a type in schema bodies
    """A string restricted to ``choices`` (botocore ``enum``)."""
    return Str(validate=OneOf(choices), **kwargs)


class Int(fields.Integer):
    """A JSON integer (model ``integer``: 32-bit; ``long=True``: 64-bit); bools and floats are refused.

    :param min: inclusive lower bound from the model (default: the type's own bound).
    :param max: inclusive upper bound from the model (default: the type's own bound).
    """

    default_error_messages = {**_FIELD_MESSAGES, "invalid": MUST_BE_INTEGER}

    def __init__(
        self,
        min: int | None = None,  # noqa: A002
        max: int | None = None,  # noqa: A002
        *,
        long: bool = False,
        **kwargs: Any,
    ) -> None:
        low, high = INT64 if long else INT32
        extra = _validators(kwargs.pop("validate", None))
        metadata = {"format": "int64" if long else "int32", **kwargs.pop("metadata", {})}
        super().__init__(
            strict=True,
            validate=[Range(low if min is None else min, high if max is None else max), *extra],
            metadata=metadata,
            **kwargs,
        )

    @staticmethod
    def accepts(value: Any) -> bool:
        # type() rather than isinstance(): bool is a subclass of int and must not pass.
        return type(value) is int

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if not self.accepts(value):
            raise self.make_error("invalid")
        return value

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> Any:
        return value


def Long(min: int | None = None, max: int | None = None, **kwargs: Any) -> Int:  # noqa: N802, A002
    """A model ``long`` (64-bit signed)."""
    return Int(min, max, long=True, **kwargs)


class Number(fields.Float):
    """A JSON number (int or float, not bool); used only for response timestamps (epoch seconds)."""

    default_error_messages = {**_FIELD_MESSAGES, "invalid": MUST_BE_NUMBER}

    @staticmethod
    def accepts(value: Any) -> bool:
        return type(value) is int or type(value) is float

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if not self.accepts(value):
            raise self.make_error("invalid")
        return value

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> Any:
        return value


class Bool(fields.Boolean):
    """A JSON ``true``/``false`` (marshmallow's own Boolean would accept ``"yes"`` and ``1``)."""

    default_error_messages = {**_FIELD_MESSAGES, "invalid": MUST_BE_BOOLEAN}

    @staticmethod
    def accepts(value: Any) -> bool:
        return type(value) is bool

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if not self.accepts(value):
            raise self.make_error("invalid")
        return value

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> Any:
        return value


class ListOf(fields.List):
    """A JSON array of ``inner``; ``min``/``max`` bound its number of items."""

    default_error_messages = {**_FIELD_MESSAGES, "invalid": MUST_BE_LIST}

    def __init__(self, inner: fields.Field, min: int | None = None, max: int | None = None, **kwargs: Any) -> None:  # noqa: A002
        extra = _validators(kwargs.pop("validate", None))
        if min is not None or max is not None:
            extra.insert(0, Length(min, max))
        super().__init__(inner, validate=extra, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, list):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class Obj(fields.Nested):
    """A nested structure (a JSON object loaded by ``schema``)."""

    default_error_messages = {**_FIELD_MESSAGES, "type": MUST_BE_OBJECT}


class Problems:
    """Collects several rule violations found by one ``validates_schema`` hook, raised together."""

    def __init__(self) -> None:
        self.tree: dict[str | int, Any] = {}

    def add(self, path: typing.Sequence[str | int], message: str) -> None:
        """Record ``message`` for the member at ``path`` (wire segments; empty = the structure itself)."""
        node = self.tree
        for segment in path:
            node = node.setdefault(segment, {})
        node.setdefault("_schema", []).append(message)

    def raise_any(self) -> None:
        """Raise a ValidationError carrying every recorded problem, if there is one."""
        if self.tree:
            raise ValidationError(self.tree)


def find_duplicate_ports(listeners: list[dict[str, Any]]) -> int | None:
    """Index of the first listener whose ``port_mapping.port`` repeats an earlier listener's, else None.

    Two listeners on one port could never both be served (the proxy binds each port once).
    """
    seen: set[int] = set()
    for i, listener in enumerate(listeners):
        port = listener["port_mapping"]["port"]
        if port in seen:
            return i
        seen.add(port)
    return None
