"""Resource names and account ids: scalar request members checked outside any spec."""

from __future__ import annotations

from .base import MUST_BE_STRING
from .base import NOT_NULL
from .messages import bad_value

NAME_MAX = 255
ACCOUNT_ID_LENGTH = 12


def check_name(field: str, value: object) -> str:
    """Return ``value`` if it is a valid resource name (1..255 characters, no ``/``).

    Applies to every name App Mesh takes (``meshName``, ``virtualNodeName``, ``virtualServiceName`` ...):
    the model gives ResourceName 1..255 and AWS refuses ``/``, which could never round-trip in a URI.

    :param field: the request member, used in the message (``virtualNodeName``).
    :raises BadRequestException: naming ``field``.
    """
    if value is None:
        raise bad_value(field, value, NOT_NULL)
    if not isinstance(value, str):
        raise bad_value(field, value, MUST_BE_STRING)
    if not value:
        raise bad_value(field, value, "Member must have length greater than or equal to 1")
    if len(value) > NAME_MAX:
        raise bad_value(field, value, f"Member must have length less than or equal to {NAME_MAX}")
    if "/" in value:
        raise bad_value(field, value, "Member must not contain '/'")
    return value


def check_account_id(field: str, value: object) -> str:
    """Return ``value`` if it is an AccountId (a string of exactly 12 characters), e.g. ``meshOwner``.

    :raises BadRequestException: naming ``field``.
    """
    if not isinstance(value, str):
        raise bad_value(field, value, MUST_BE_STRING)
    if len(value) != ACCOUNT_ID_LENGTH:
        raise bad_value(field, value, f"Member must have length equal to {ACCOUNT_ID_LENGTH}")
    return value
