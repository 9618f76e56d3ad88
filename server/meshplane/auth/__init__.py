"""Authentication and authorization: access keys, SigV4 verification, IAM policies, the audit log.

* :mod:`meshplane.auth.keys` - access keys (``KeyStore``), secrets encrypted at rest.
* :mod:`meshplane.auth.sigv4` - ``verify(...)``: a request's SigV4 signature -> the ``Key``.
* :mod:`meshplane.auth.policy` - IAM policy documents (``Policy.parse``) and their evaluation.
* :mod:`meshplane.auth.actions` - which action on which ARN(s) each request asks for.
* :mod:`meshplane.auth.arns` - App Mesh ARNs, ``node_arn`` for xDS node ids.
* :mod:`meshplane.auth.audit` - one JSON line per write and per refusal.
* :func:`authorize` - may this key do this action on these resources? (AccessDeniedException)

The REST API enforces all of it in :mod:`meshplane.api.auth`; the xDS server (stream admission)
calls ``sigv4.verify`` and :func:`authorize` the same way. docs/security.md explains the model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from meshplane.errors import AccessDeniedException

if TYPE_CHECKING:
    from meshplane.auth.keys import Key

__all__ = ["authorize", "denial_message"]


def authorize(
    key: Key,
    action: str,
    resources: Iterable[str],
    context: Mapping[str, Any] | None = None,
    *,
    resource_tags: Callable[[str], Mapping[str, str] | None] | None = None,
) -> None:
    """Allow ``key`` to perform ``action`` on every one of ``resources``, or raise.

    Admin keys are allowed everything; any other key needs its policy to allow the action on each
    resource, with no statement denying it (IAM's evaluation, see :mod:`meshplane.auth.policy`).

    :param action: ``appmesh:CreateRoute``, ``meshplane:ListProxies`` ...
    :param resources: ARNs, or ``*`` for actions without a resource (ListMeshes).
    :param context: condition keys of the request (``aws:SourceIp``, ``aws:RequestTag/env``,
        ``aws:TagKeys`` ...; names are case-insensitive). ``aws:PrincipalArn`` is added.
    :param resource_tags: ARN -> that resource's tags (None if it does not exist), for
        ``aws:ResourceTag/<key>``; only called when the key's policy tests such a key.
    :raises AccessDeniedException: ``User: <principal> is not authorized to perform: <action> on
        resource: <arn>``, naming the first resource refused.
    """
    if key.admin:
        return
    policy = key.policy
    base: dict[str, Any] = {}
    if policy is not None and policy.uses_conditions:  # condition keys matter only to conditions
        base = {name.lower(): value for name, value in (context or {}).items()}
        base["aws:principalarn"] = key.principal_arn
    for arn in resources:
        decision = None
        if policy is not None:
            values = base
            if resource_tags is not None and policy.uses_resource_tags and arn != "*":
                tags = resource_tags(arn) or {}
                values = {**base, **{"aws:resourcetag/" + k.lower(): v for k, v in tags.items()}}
            decision = policy.decide(action, arn, values)
        if decision is not True:
            raise AccessDeniedException(denial_message(key.principal_arn, action, arn, explicit=decision is False))


def denial_message(principal: str, action: str, arn: str, *, explicit: bool = False) -> str:
    """IAM's AccessDenied text, with the newer reason suffix."""
    why = (
        "with an explicit deny in an identity-based policy" if explicit
        else f"because no identity-based policy allows the {action} action"
    )
    return f"User: {principal} is not authorized to perform: {action} on resource: {arn} {why}"
