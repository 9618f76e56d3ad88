"""Protobuf wire-format splicing: the few primitives the hot builders use.

Why: filling a message through the Python API costs a wrapper object per field access, and a
full rebuild fills tens of thousands of messages that differ from a handful of templates only
in a few strings (names, cluster names, hosts). So a builder serializes a template once (with
the normal API), appends the differing fields encoded here, and parses the result in one
C-level call. This relies on protobuf's documented merge semantics for concatenated
encodings (https://protobuf.dev/programming-guides/encoding/#last-one-wins): a repeated field
appends, an embedded message field merges into the one already present, a scalar's last value
wins. The parsed message equals the one the API would have built, so its deterministic
serialization is byte-for-byte the same.

Field numbers always come from the generated descriptors (`number`, `key`), never literals.
"""

from __future__ import annotations

from google.protobuf.message import Message

_LENGTH_DELIMITED = 2


def number(message: type[Message], field: str) -> int:
    """The field number of ``message.field`` (read from the descriptor)."""
    return int(message.DESCRIPTOR.fields_by_name[field].number)


def varint(value: int) -> bytes:
    """A non-negative integer as a base-128 varint."""
    if value < 0x80:
        return bytes((value,))
    if value < 0x4000:
        return bytes((value & 0x7F | 0x80, value >> 7))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def key(message: type[Message], field: str, wire_type: int = _LENGTH_DELIMITED) -> bytes:
    """The key (tag) of ``message.field``: its number and wire type (length-delimited unless told)."""
    return varint(number(message, field) << 3 | wire_type)


_SIZES = tuple(bytes((size,)) for size in range(0x80))


def field(field_key: bytes, payload: bytes) -> bytes:
    """A length-delimited field (string, bytes or embedded message) holding ``payload``."""
    size = len(payload)
    return field_key + (_SIZES[size] if size < 0x80 else varint(size)) + payload


def string(field_key: bytes, value: str) -> bytes:
    """A string field set to ``value``."""
    return field(field_key, value.encode())
