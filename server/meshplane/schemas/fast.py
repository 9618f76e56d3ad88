"""A compiled load/dump path for CamelCaseSchema trees: marshmallow's results, several times faster.

Why: marshmallow spends most of a load on per-field machinery (closures, ErrorStore, hook lookups,
``Field.deserialize`` bookkeeping) that App Mesh specs never need; the API must do >1,000 creates/s
on 2 cores. Each schema instance compiles, once, a plan from its *bound marshmallow fields*: the
declared schemas stay the single source of truth (OpenAPI, constraints, messages), and the plan
executes exactly their fields, validators and ``validates_schema`` hooks.

Contract: for any input, `CamelCaseSchema.load` returns what marshmallow's own ``Schema.load`` returns
and raises for the same inputs with the same error tree (member order inside dicts aside; the
compiled path walks the input's members, marshmallow walks the declared fields).
``load(data, partial=False)`` forces marshmallow's own path through the whole tree, which
tests/unit/test_schemas.py uses to check the contract on every fixture and on generated input.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from marshmallow import ValidationError
from marshmallow import fields

from .base import Bool
from .base import Int
from .base import ListOf
from .base import Number
from .base import Obj
from .base import Range
from .base import Str

Loader = Callable[[Any], Any]
Dumper = Callable[[Any], Any]

_SCALARS = (Str, Int, Bool, Number)


def run_validators(validators: tuple[Any, ...], value: Any) -> None:
    """Run every validator, collecting all their messages (as marshmallow's ``And`` does)."""
    messages: list[Any] | None = None
    for validator in validators:
        try:
            validator(value)
        except ValidationError as err:
            if messages is None:
                messages = []
            if isinstance(err.messages, dict):
                messages.append(err.messages)
            else:
                messages.extend(err.messages)
    if messages:
        raise ValidationError(messages)


def _plain(field: fields.Field) -> bool:
    """True when the field has no per-field hooks the plan would skip."""
    return not field.allow_none and not getattr(field, "pre_load", None) and not getattr(field, "post_load", None)


def _check(validators: tuple[Any, ...]) -> Callable[[Any], None] | None:
    if not validators:
        return None
    if len(validators) == 1:
        # A single validator's own ValidationError already carries [message], as And would.
        return validators[0]  # type: ignore[no-any-return]
    return lambda value: run_validators(validators, value)


def compile_loader(field: fields.Field) -> Loader:
    """value -> loaded value, raising ValidationError(messages) exactly as ``field.deserialize`` would."""
    null = field.error_messages["null"]
    check = _check(tuple(field.validators))
    if isinstance(field, Obj) and _plain(field) and not field.many and hasattr(field.schema, "fast_load"):
        load_nested = field.schema.fast_load

        def load_object(value: Any) -> Any:
            if value is None:
                raise ValidationError([null])
            out = load_nested(value)
            if check is not None:
                check(out)
            return out

        return load_object
    if isinstance(field, ListOf) and _plain(field):
        load_item = compile_loader(field.inner)
        invalid = field.error_messages["invalid"]

        def load_list(value: Any) -> Any:
            if value is None:
                raise ValidationError([null])
            if not isinstance(value, list):
                raise ValidationError([invalid])
            result = []
            errors: dict[int, Any] | None = None
            for i, item in enumerate(value):
                try:
                    result.append(load_item(item))
                except ValidationError as err:
                    if errors is None:
                        errors = {}
                    errors[i] = err.messages
            if errors:
                raise ValidationError(errors)
            if check is not None:
                check(result)
            return result

        return load_list
    if isinstance(field, _SCALARS) and _plain(field):
        return _scalar_loader(field, null, check)

    # Anything else goes through marshmallow itself.
    return field.deserialize


def _scalar_loader(field: fields.Field, null: str, check: Callable[[Any], None] | None) -> Loader:
    """A loader for Str/Int/Bool/Number: type test, then the field's validators."""
    accepts = field.accepts
    invalid = field.error_messages["invalid"]
    validators = tuple(field.validators)
    if isinstance(field, Int) and len(validators) == 1 and isinstance(validators[0], Range):
        # The common case, inlined: an integer whose only constraint is its range.
        bounds = validators[0]
        low, high = bounds.min, bounds.max

        def load_int(value: Any) -> Any:
            if type(value) is not int:
                raise ValidationError([null] if value is None else [invalid])
            if value < low or value > high:
                bounds(value)  # raises the AWS-worded message
            return value

        return load_int

    def load_scalar(value: Any) -> Any:
        if not accepts(value):
            raise ValidationError([null] if value is None else [invalid])
        if check is not None:
            check(value)
        return value

    return load_scalar


def _identity(value: Any) -> Any:
    return value


def compile_dumper(field: fields.Field) -> Dumper:
    """stored value -> wire value, as ``field._serialize`` would produce it."""
    if isinstance(field, Obj) and not field.many and hasattr(field.schema, "fast_dump"):
        dump_nested = field.schema.fast_dump
        return lambda value: None if value is None else dump_nested(value)
    if isinstance(field, ListOf):
        dump_item = compile_dumper(field.inner)
        if dump_item is _identity:
            return lambda value: None if value is None else list(value)
        return lambda value: None if value is None else [dump_item(item) for item in value]
    if isinstance(field, _SCALARS):
        return _identity
    return lambda value: field._serialize(value, None, None)
