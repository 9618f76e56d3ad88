"""Tag lists (``tags`` on Create* and TagResource) and tag-key lists (UntagResource)."""

from __future__ import annotations

from marshmallow import ValidationError

from .base import Length
from .base import ListOf
from .base import Obj
from .base import Str
from .camel import CamelCaseSchema
from .messages import bad_request


class TagRefSchema(CamelCaseSchema):
    key = Str(validate=Length(1, 128), required=True)
    value = Str(validate=Length(0, 256), required=True)


class _TagListSchema(CamelCaseSchema):
    # The 50-tag maximum is the store's (TooManyTagsException on TagResource), so no list bound here.
    tags = ListOf(Obj(TagRefSchema), required=True)


class _TagKeyListSchema(CamelCaseSchema):
    tag_keys = ListOf(Str(validate=Length(1, 128)), required=True)


_TAGS = _TagListSchema()
_TAG_KEYS = _TagKeyListSchema()


def validate_tags(tags: object, field: str = "tags") -> list[dict[str, str]]:
    """Return ``tags`` if it is a TagList: ``[{"key": 1..128 chars, "value": 0..256 chars}, ...]``.

    Keys are the same on the wire and stored (``key``/``value``); the list is returned as loaded.

    :raises BadRequestException: naming ``field`` and the offending item (``tags[2].key``).
    """
    try:
        return _TAGS.load({"tags": tags})["tags"]  # type: ignore[no-any-return]
    except ValidationError as err:
        raise bad_request(err.messages.get("tags", err.messages), tags, field) from None


def validate_tag_keys(keys: object, field: str = "tagKeys") -> list[str]:
    """Return ``keys`` if it is a TagKeyList (strings of 1..128 characters).

    :raises BadRequestException: naming ``field`` and the offending item (``tagKeys[0]``).
    """
    try:
        return _TAG_KEYS.load({"tagKeys": keys})["tag_keys"]  # type: ignore[no-any-return]
    except ValidationError as err:
        raise bad_request(err.messages.get("tagKeys", err.messages), keys, field) from None
