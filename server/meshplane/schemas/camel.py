"""CamelCaseSchema (every App Mesh structure) and UnionSchema (botocore tagged unions)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from marshmallow import RAISE
from marshmallow import Schema
from marshmallow import ValidationError
from marshmallow import fields
from marshmallow import validates_schema
from marshmallow.decorators import POST_DUMP
from marshmallow.decorators import POST_LOAD
from marshmallow.decorators import PRE_DUMP
from marshmallow.decorators import PRE_LOAD
from marshmallow.decorators import VALIDATES
from marshmallow.decorators import VALIDATES_SCHEMA
from marshmallow.error_store import merge_errors

from .base import MUST_BE_OBJECT
from .base import camel_case
from .fast import Dumper
from .fast import Loader
from .fast import compile_dumper
from .fast import compile_loader

_MISSING = object()


@dataclass(frozen=True)
class _Plan:
    """What one schema instance does on load and dump, compiled from its bound fields."""

    loads: dict[str, tuple[str, Loader]]  # wire key -> (attribute, loader)
    required: tuple[tuple[str, str], ...]  # (wire key, message when absent)
    hooks: tuple[tuple[Any, bool], ...]  # (bound validates_schema method, skip_on_field_errors)
    dumps: dict[str, tuple[str, Dumper]]  # attribute -> (wire key, dumper)


class CamelCaseSchema(Schema):
    """An App Mesh structure: snake_case attributes in Python, camelCase members on the wire.

    Unknown members are refused. The class name is the botocore shape name + ``Schema``, so apispec
    names the OpenAPI component after the App Mesh shape. ``load``/``dump`` with default arguments
    run the compiled plan of fast.py; any other arguments use marshmallow's own implementation.
    """

    class Meta:
        unknown = RAISE
        # Shapes are referenced by class, never by name: keep them out of marshmallow's global registry.
        register = False

    error_messages = {"type": MUST_BE_OBJECT}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        members = ", ".join(self.wire_members())
        self.error_messages["unknown"] = f"Member must be one of the members of {self.shape_name()}: [{members}]"
        self._plan: _Plan | None = None
        self._fast = self._fast_possible()

    def on_bind_field(self, field_name: str, field_obj: fields.Field) -> None:
        field_obj.data_key = camel_case(field_obj.data_key or field_name)

    @classmethod
    def shape_name(cls) -> str:
        """The botocore shape this schema describes (``VirtualNodeSpec``)."""
        return cls.__name__.removesuffix("Schema")

    @classmethod
    def wire_members(cls) -> list[str]:
        """The camelCase member names, in declaration order."""
        return [camel_case(f.data_key or name) for name, f in cls._declared_fields.items()]

    # --- the compiled path

    def _fast_possible(self) -> bool:
        hooks = self._hooks
        if hooks[PRE_LOAD] or hooks[POST_LOAD] or hooks[VALIDATES] or hooks[PRE_DUMP] or hooks[POST_DUMP]:
            return False
        if self.many or self.partial or self.only is not None or self.exclude:
            return False
        return all(not many and not kw.get("pass_original") for _, many, kw in hooks[VALIDATES_SCHEMA])

    def compile(self) -> _Plan:
        """Build (once) and return this instance's plan; compiles nested schemas as it goes."""
        if self._plan is None:
            fields_ = self.load_fields.items()
            loads = {field.data_key or attr: (field.attribute or attr, compile_loader(field)) for attr, field in fields_}
            required = tuple(
                (field.data_key or attr, field.error_messages["required"]) for attr, field in fields_ if field.required
            )
            hooks = tuple(
                (getattr(self, name), kw["skip_on_field_errors"]) for name, _, kw in self._hooks[VALIDATES_SCHEMA]
            )
            dumps = {
                field.attribute or attr: (field.data_key or attr, compile_dumper(field))
                for attr, field in self.dump_fields.items()
            }
            self._plan = _Plan(loads, required, hooks, dumps)
        return self._plan

    def compile_tree(self) -> None:
        """Compile this schema's plan and those of every schema nested below it (done once, at import)."""
        self.compile()
        for field in self.fields.values():
            inner = field.inner if isinstance(field, fields.List) else field
            if isinstance(inner, fields.Nested) and isinstance(inner.schema, CamelCaseSchema):
                inner.schema.compile_tree()

    def fast_load(self, data: Any) -> dict[str, Any]:
        """Load ``data`` through the compiled plan (the same result and errors as marshmallow's load)."""
        if not self._fast:
            return Schema.load(self, data)  # type: ignore[no-any-return]
        if type(data) is not dict and not isinstance(data, Mapping):
            raise ValidationError({"_schema": [self.error_messages["type"]]})
        plan = self._plan or self.compile()
        loads = plan.loads
        result: dict[str, Any] = {}
        errors: dict[Any, Any] = {}
        # Driven by the input's members (usually far fewer than the shape's): each is loaded or unknown.
        for key, raw in data.items():
            entry = loads.get(key)
            if entry is None:
                errors[key] = [self.error_messages["unknown"]]
                continue
            try:
                result[entry[0]] = entry[1](raw)
            except ValidationError as err:
                errors[key] = err.messages
        for key, message in plan.required:
            if key not in data:
                errors[key] = [message]
        if plan.hooks:
            field_errors = bool(errors)
            for hook, skip_on_field_errors in plan.hooks:
                if field_errors and skip_on_field_errors:
                    continue
                try:
                    hook(result, partial=None, many=False, unknown=RAISE)
                except ValidationError as err:
                    if err.field_name == "_schema" and isinstance(err.messages, dict):
                        errors = merge_errors(errors, err.messages)
                    else:
                        errors = merge_errors(errors, {err.field_name: err.messages})
        if errors:
            raise ValidationError(errors, data=data, valid_data=result)
        return result

    def fast_dump(self, obj: Any) -> dict[str, Any]:
        """Dump a stored dict through the compiled plan; absent members stay absent.

        Members come out in the stored dict's order (which is the order the client sent them in);
        stored keys the schema does not know are skipped, as marshmallow's dump skips them.
        """
        if not self._fast or (type(obj) is not dict and not isinstance(obj, Mapping)):
            return Schema.dump(self, obj)  # type: ignore[no-any-return]
        dumps = (self._plan or self.compile()).dumps
        out: dict[str, Any] = {}
        for attr, value in obj.items():
            entry = dumps.get(attr)
            if entry is not None:
                out[entry[0]] = entry[1](value)
        return out

    def load(self, data: Any, *, many: bool | None = None, partial: Any = None, unknown: str | None = None) -> Any:
        if many is None and partial is None and unknown is None:
            return self.fast_load(data)
        return super().load(data, many=many, partial=partial, unknown=unknown)

    def dump(self, obj: Any, *, many: bool | None = None) -> Any:
        if many is None:
            return self.fast_dump(obj)
        return super().dump(obj, many=many)


class UnionSchema(CamelCaseSchema):
    """A botocore tagged union: exactly one member must be set.

    ``Meta.union`` marks the shape for openapi.py, which gives its component ``minProperties: 1``
    and ``maxProperties: 1`` (the marker the Terraform provider checks at plan time).
    """

    class Meta(CamelCaseSchema.Meta):
        union = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._exactly_one = f"Member must have exactly one of [{', '.join(self.wire_members())}] set"

    @validates_schema
    def _one_member(self, data: dict[str, Any], **kwargs: Any) -> None:
        if len(data) != 1:
            raise ValidationError(self._exactly_one)
