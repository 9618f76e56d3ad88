"""IAM JSON policy documents: parsed once, evaluated on every request as IAM evaluates them.

Grammar (identity-based policies): ``Version`` (``2012-10-17`` or ``2008-10-17``), ``Id``,
``Statement`` (one object or a list) of ``Sid``, ``Effect`` (``Allow``/``Deny``), exactly one of
``Action``/``NotAction``, exactly one of ``Resource``/``NotResource``, and ``Condition``.

Evaluation: default deny; a matching ``Allow`` allows unless any matching ``Deny`` exists (an
explicit deny always wins). ``Action`` is matched case-insensitively with ``*`` (any run) and ``?``
(one character); ``Resource`` case-sensitively, per ARN segment, ``*`` crossing ``/`` in the resource
part and a ``*`` ending the last given segment running past the following colons. Conditions:
operators and keys are ANDed, the values of one key ORed (negated operators: none may match); a
key absent from the request makes a condition false, except for negated operators, ``…IfExists``,
``Null`` and ``ForAllValues:``.

Condition keys meshplane provides: ``aws:RequestTag/<key>``, ``aws:ResourceTag/<key>``,
``aws:TagKeys`` (multi-valued), ``aws:SourceIp``, ``aws:SecureTransport``, ``aws:PrincipalArn``.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

from meshplane.auth import actions as _actions

VERSIONS = ("2012-10-17", "2008-10-17")
_STATEMENT_KEYS = {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"}
_ACTION = re.compile(r"[A-Za-z0-9-]+:[A-Za-z0-9*?]+")
_SID = re.compile(r"[A-Za-z0-9]*")
_SIMPLE_KEYS = {"aws:tagkeys", "aws:sourceip", "aws:securetransport", "aws:principalarn"}
_TAG_KEY_PREFIXES = ("aws:requesttag/", "aws:resourcetag/")
#: Largest policy document accepted (characters of its JSON): IAM's managed-policy limit.
MAX_DOCUMENT_CHARS = 6144 * 2

ContextValue = str | Sequence[str]
Context = Mapping[str, ContextValue]


def _glob(pattern: str, *, star: str = ".*", one: str = ".") -> str:
    return "".join(star if c == "*" else one if c == "?" else re.escape(c) for c in pattern)


@lru_cache(maxsize=4096)
def action_pattern(pattern: str) -> re.Pattern[str]:
    """An Action pattern as a regex: case-insensitive, ``*`` any run, ``?`` one character."""
    return re.compile(_glob(pattern), re.IGNORECASE | re.DOTALL)


@lru_cache(maxsize=4096)
def resource_pattern(pattern: str) -> re.Pattern[str]:
    """A Resource pattern (``*`` or an ARN with wildcards) as a case-sensitive regex."""
    if pattern == "*":
        return re.compile(".*", re.DOTALL)
    segments = pattern.split(":", 5)
    parts = [_glob(s, star="[^:]*", one="[^:]") for s in segments[:5]]
    if len(segments) == 6:
        parts.append(_glob(segments[5]))
    elif segments[-1].endswith("*"):
        # A '*' ending the last given segment runs past the following colons (arn:aws:appmesh:*).
        parts[-1] = _glob(segments[-1][:-1], star="[^:]*", one="[^:]") + ".*"
    return re.compile(":".join(parts), re.DOTALL)


# -- conditions -------------------------------------------------------------------------------

Matcher = Callable[[Any, str], bool]


def _string_equals(p: str, v: str) -> bool:
    return p == v


def _string_equals_ic(p: str, v: str) -> bool:
    return p.casefold() == v.casefold()


def _string_like(p: re.Pattern[str], v: str) -> bool:
    return p.fullmatch(v) is not None


def _ip(p: ipaddress.IPv4Network | ipaddress.IPv6Network, v: str) -> bool:
    try:
        return ipaddress.ip_address(v.strip("[]")) in p
    except ValueError:
        return False


def _bool(p: str, v: str) -> bool:
    return p == v.lower()


def _arn_like(p: re.Pattern[str], v: str) -> bool:
    return p.fullmatch(v) is not None


def _compile_ip(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(value, strict=False)


def _compile_bool(value: str) -> str:
    if value.lower() not in ("true", "false"):
        raise ValueError("must be true or false")
    return value.lower()


#: base operator -> (negated, compile a policy value, match compiled value against a request value)
_OPERATORS: dict[str, tuple[bool, Callable[[str], Any], Matcher]] = {
    "StringEquals": (False, str, _string_equals),
    "StringNotEquals": (True, str, _string_equals),
    "StringEqualsIgnoreCase": (False, str, _string_equals_ic),
    "StringNotEqualsIgnoreCase": (True, str, _string_equals_ic),
    "StringLike": (False, lambda p: re.compile(_glob(p), re.DOTALL), _string_like),
    "StringNotLike": (True, lambda p: re.compile(_glob(p), re.DOTALL), _string_like),
    "IpAddress": (False, _compile_ip, _ip),
    "NotIpAddress": (True, _compile_ip, _ip),
    "Bool": (False, _compile_bool, _bool),
    "ArnEquals": (False, resource_pattern, _arn_like),
    "ArnLike": (False, resource_pattern, _arn_like),
    "ArnNotEquals": (True, resource_pattern, _arn_like),
    "ArnNotLike": (True, resource_pattern, _arn_like),
    "Null": (False, _compile_bool, _bool),
}


@dataclass(frozen=True)
class Condition:
    """One (operator, key, values) test of a statement's Condition block."""

    operator: str  # the base operator, e.g. StringLike
    qualifier: str  # "", "ForAnyValue" or "ForAllValues"
    if_exists: bool
    key: str  # lower-cased condition key
    values: tuple[Any, ...]  # compiled policy values

    def test(self, context: Context) -> bool:
        """Whether the request ``context`` (keys lower-cased) satisfies this condition."""
        value = context.get(self.key)
        present = value is not None and (isinstance(value, str) or len(value) > 0)
        if self.operator == "Null":
            return any((not present) == (want == "true") for want in self.values)
        negated, _, match = _OPERATORS[self.operator]
        if not present:
            if self.qualifier == "ForAllValues":
                return True  # vacuously: every one of no values matches
            if self.if_exists:
                return True
            return negated and self.qualifier != "ForAnyValue"
        items = [value] if isinstance(value, str) else list(value)  # type: ignore[arg-type]

        def hit(item: str) -> bool:
            return any(match(p, item) for p in self.values)

        if self.qualifier == "ForAllValues":
            return all(hit(i) != negated for i in items)
        if self.qualifier == "ForAnyValue":
            return any(hit(i) != negated for i in items)
        found = any(hit(i) for i in items)
        return not found if negated else found


# -- statements and policies --------------------------------------------------------------------


@dataclass(frozen=True)
class Statement:
    """One parsed statement."""

    sid: str | None
    allow: bool
    actions: tuple[re.Pattern[str], ...]
    not_action: bool
    resources: tuple[re.Pattern[str], ...]
    not_resource: bool
    conditions: tuple[Condition, ...]

    def covers_action(self, action: str) -> bool:
        """Whether Action (or NotAction) selects ``action``."""
        return any(p.fullmatch(action) for p in self.actions) != self.not_action

    def applies_to(self, resource: str, context: Context) -> bool:
        """Whether Resource (or NotResource) and the conditions select this request, its action
        being covered."""
        hit = False
        for pattern in self.resources:
            if pattern.fullmatch(resource) is not None:
                hit = True
                break
        if hit == self.not_resource:
            return False
        for condition in self.conditions:
            if not condition.test(context):
                return False
        return True


@dataclass(frozen=True)
class Policy:
    """A parsed, validated IAM policy document.

    :param document: the document as given (JSON-compatible), for storage and display.
    :param statements: the parsed statements.
    :param uses_resource_tags: some condition reads ``aws:ResourceTag/*`` (the caller then looks
        the resource's tags up; otherwise it need not).
    """

    document: Mapping[str, Any]
    statements: tuple[Statement, ...]
    uses_resource_tags: bool

    @cached_property
    def uses_conditions(self) -> bool:
        """Some statement has a Condition (else the request's condition keys need not be gathered)."""
        return any(s.conditions for s in self.statements)

    @classmethod
    def parse(cls, document: Any) -> Policy:
        """Validate and parse a policy document (a dict, or its JSON text).

        :raises ValueError: naming the field at fault, e.g. ``Statement[1].Effect: ...``.
        """
        if isinstance(document, (str, bytes)):
            if len(document) > MAX_DOCUMENT_CHARS:
                raise ValueError(f"policy document: longer than {MAX_DOCUMENT_CHARS} characters")
            try:
                document = json.loads(document)
            except ValueError as exc:
                raise ValueError(f"policy document: not valid JSON ({exc})") from None
        return _parse_document(document)

    def decide(self, action: str, resource: str, context: Context) -> bool | None:
        """True: allowed; False: explicitly denied; None: no statement allows (implicit deny)."""
        allowed = None
        for statement in self.for_action(action):
            if statement.applies_to(resource, context):
                if not statement.allow:
                    return False
                allowed = True
        return allowed

    def for_action(self, action: str) -> tuple[Statement, ...]:
        """The statements whose Action selects ``action``, worked out once per action (a request
        then only matches its resource: the actions are a few dozen, the resources unbounded)."""
        try:
            cache: dict[str, tuple[Statement, ...]] = self.__dict__["_for_action"]
            return cache[action]
        except KeyError:
            cache = self.__dict__.setdefault("_for_action", {})
        found = tuple(s for s in self.statements if s.covers_action(action))
        if len(cache) < 1024:  # actions of requests: the known ones, plus whatever a caller makes up
            cache[action] = found
        return found


def _fail(path: str, message: str) -> ValueError:
    return ValueError(f"{path}: {message}")


def _parse_document(document: Any) -> Policy:
    if not isinstance(document, dict):
        raise _fail("policy document", "must be a JSON object")
    unknown = sorted(set(document) - {"Version", "Id", "Statement"})
    if unknown:
        raise _fail(unknown[0], "unknown policy element (expected Version, Id, Statement)")
    version = document.get("Version", "2012-10-17")
    if version not in VERSIONS:
        raise _fail("Version", f"must be {' or '.join(VERSIONS)}, not {version!r}")
    if "Id" in document and not isinstance(document["Id"], str):
        raise _fail("Id", "must be a string")
    if "Statement" not in document:
        raise _fail("Statement", "is required")
    raw = document["Statement"]
    if isinstance(raw, dict):
        items, paths = [raw], ["Statement"]
    elif isinstance(raw, list) and raw:
        items, paths = raw, [f"Statement[{i}]" for i in range(len(raw))]
    else:
        raise _fail("Statement", "must be a statement object or a non-empty list of them")
    statements = []
    sids: set[str] = set()
    for item, path in zip(items, paths):
        statement = _parse_statement(item, path)
        if statement.sid:
            if statement.sid in sids:
                raise _fail(f"{path}.Sid", f"duplicate Sid {statement.sid!r}")
            sids.add(statement.sid)
        statements.append(statement)
    uses_tags = any(c.key.startswith("aws:resourcetag/") for s in statements for c in s.conditions)
    return Policy(json.loads(json.dumps(document)), tuple(statements), uses_tags)


def _parse_statement(item: Any, path: str) -> Statement:
    if not isinstance(item, dict):
        raise _fail(path, "must be an object")
    for name in item:
        if name in ("Principal", "NotPrincipal"):
            raise _fail(f"{path}.{name}", "not allowed: a key's policy is identity-based (it names no principal)")
        if name not in _STATEMENT_KEYS:
            raise _fail(f"{path}.{name}", "unknown statement element")
    sid = item.get("Sid")
    if sid is not None and (not isinstance(sid, str) or not _SID.fullmatch(sid)):
        raise _fail(f"{path}.Sid", "must be a string of letters and digits")
    effect = item.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise _fail(f"{path}.Effect", f'must be "Allow" or "Deny", not {json.dumps(effect)}')
    action_field = _exactly_one(item, path, "Action", "NotAction")
    resource_field = _exactly_one(item, path, "Resource", "NotResource")
    actions = tuple(
        action_pattern(a) for a in _strings(item[action_field], f"{path}.{action_field}", _check_action)
    )
    resources = tuple(
        resource_pattern(r) for r in _strings(item[resource_field], f"{path}.{resource_field}", _check_resource)
    )
    conditions = _parse_conditions(item.get("Condition"), f"{path}.Condition") if "Condition" in item else ()
    return Statement(sid, effect == "Allow", actions, action_field == "NotAction", resources,
                     resource_field == "NotResource", conditions)


def _exactly_one(item: dict[str, Any], path: str, a: str, b: str) -> str:
    if (a in item) == (b in item):
        raise _fail(path, f"needs exactly one of {a} and {b}")
    return a if a in item else b


def _strings(value: Any, path: str, check: Callable[[str], str | None]) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise _fail(path, "must be a string or a non-empty list of strings")
    for i, entry in enumerate(items):
        where = path if isinstance(value, str) else f"{path}[{i}]"
        if not isinstance(entry, str):
            raise _fail(where, "must be a string")
        problem = check(entry)
        if problem:
            raise _fail(where, problem)
    return items


def _check_action(action: str) -> str | None:
    if action == "*":
        return None
    if not _ACTION.fullmatch(action):
        return f"{action!r} is not an action (service:Name, with * and ? wildcards)"
    prefix = action.split(":", 1)[0].lower()
    if prefix in ("appmesh", "meshplane"):
        pattern = action_pattern(action)
        if not any(pattern.fullmatch(known) for known in _actions.ALL_ACTIONS):
            return f"{action!r} matches no {prefix} action"
    return None


def _check_resource(resource: str) -> str | None:
    if resource == "*":
        return None
    segments = resource.split(":", 5)
    if segments[0] != "arn" or (len(segments) < 6 and not segments[-1].endswith("*")):
        return f"{resource!r} must be \"*\" or an ARN (arn:partition:service:region:account:resource)"
    if len(segments) > 2 and any(c in segments[2] for c in "*?"):
        return f"{resource!r}: the service segment of an ARN takes no wildcard"
    return None


def _parse_conditions(block: Any, path: str) -> tuple[Condition, ...]:
    if not isinstance(block, dict) or not block:
        raise _fail(path, "must be an object of operator -> {key: value(s)}")
    out = []
    for operator, tests in block.items():
        where = f"{path}.{operator}"
        qualifier, base, if_exists = _split_operator(operator, where)
        if not isinstance(tests, dict) or not tests:
            raise _fail(where, "must be an object of condition key -> value(s)")
        _, compile_value, _ = _OPERATORS[base]
        for key, raw in tests.items():
            at = f"{where}.{key}"
            _check_key(key, at)
            values = raw if isinstance(raw, list) else [raw]
            if not values:
                raise _fail(at, "needs at least one value")
            compiled = []
            for value in values:
                if isinstance(value, bool):
                    value = "true" if value else "false"
                elif isinstance(value, (int, float)):
                    value = str(value)
                if not isinstance(value, str):
                    raise _fail(at, f"value {json.dumps(value)} must be a string")
                try:
                    compiled.append(compile_value(value))
                except ValueError as exc:
                    raise _fail(at, f"invalid value {value!r} for {base} ({exc})") from None
            out.append(Condition(base, qualifier, if_exists, key.lower(), tuple(compiled)))
    return tuple(out)


def _split_operator(operator: str, where: str) -> tuple[str, str, bool]:
    qualifier, sep, base = operator.partition(":")
    if not sep:
        qualifier, base = "", operator
    elif qualifier not in ("ForAnyValue", "ForAllValues"):
        raise _fail(where, "unknown set operator (ForAnyValue: or ForAllValues:)")
    if_exists = base.endswith("IfExists") and base != "IfExists"
    if if_exists:
        base = base[: -len("IfExists")]
    if base not in _OPERATORS:
        raise _fail(where, f"unsupported condition operator (supported: {', '.join(_OPERATORS)}, "
                           "with ...IfExists and ForAnyValue:/ForAllValues:)")
    if base == "Null" and (if_exists or qualifier):
        raise _fail(where, "Null takes no IfExists or set operator")
    return qualifier, base, if_exists


def _check_key(key: str, where: str) -> None:
    lower = key.lower()
    if lower in _SIMPLE_KEYS:
        return
    for prefix in _TAG_KEY_PREFIXES:
        if lower.startswith(prefix) and len(lower) > len(prefix):
            return
    raise _fail(where, "unsupported condition key (meshplane provides aws:RequestTag/<key>, "
                       "aws:ResourceTag/<key>, aws:TagKeys, aws:SourceIp, aws:SecureTransport, aws:PrincipalArn)")
