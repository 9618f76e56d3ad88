"""Which IAM action, on which ARN(s), each request asks for.

The 38 App Mesh operations map to ``appmesh:<Operation>`` on the resources AWS's Service
Authorization Reference marks required for them (``list_awsappmesh.html``): the resource itself
for Describe/Update/Delete (and for Create: the ARN the new resource will have), the mesh for
``ListVirtualNodes``/``Services``/``Routers``/``Gateways``, the router or gateway for ``ListRoutes``
and ``ListGatewayRoutes``, the ``resourceArn`` for the tagging operations, and ``*`` for
``ListMeshes``. The optional resource types the reference lists (backends, route targets) are not
checked. Create* and TagResource carry ``aws:RequestTag/<key>`` and ``aws:TagKeys``,
UntagResource ``aws:TagKeys``; ``aws:ResourceTag/<key>`` applies where the resource exists.

meshplane's own endpoints have actions of their own, ``meshplane:<Verb><Noun>`` (MESHPLANE_ACTIONS).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from meshplane import kinds
from meshplane.auth.arns import node_arn, resource_arn
from meshplane.kinds import Kind

APPMESH_PREFIX = "/v20190125"
MESHPLANE_PREFIX = "/meshplane/v1"


def _plural(kind: Kind) -> str:
    return kind.collection[0].upper() + kind.collection[1:]


#: Every App Mesh API operation (35 resource operations + 3 tagging = 38).
OPERATIONS: tuple[str, ...] = tuple(
    [f"{verb}{kind.label}" for kind in kinds.ALL for verb in ("Create", "Describe", "Update", "Delete")]
    + [f"List{_plural(kind)}" for kind in kinds.ALL]
    + ["ListTagsForResource", "TagResource", "UntagResource"]
)

#: IAM actions of App Mesh that are not REST operations (xDS, and RAM sharing's mesh policies).
OTHER_APPMESH_ACTIONS: tuple[str, ...] = (
    "appmesh:StreamAggregatedResources", "appmesh:GetMeshPolicy", "appmesh:PutMeshPolicy",
    "appmesh:DeleteMeshPolicy",
)

#: meshplane's own endpoints: (method, Flask URL rule) -> action. docs/api.md lists them.
MESHPLANE_ACTIONS: dict[tuple[str, str], str] = {
    ("GET", f"{MESHPLANE_PREFIX}/proxies"): "meshplane:ListProxies",
    ("GET", f"{MESHPLANE_PREFIX}/proxies/<path:node_id>"): "meshplane:GetProxyStatus",
    ("GET", f"{MESHPLANE_PREFIX}/proxies/<path:node_id>/config"): "meshplane:GetProxyConfig",
    ("GET", f"{MESHPLANE_PREFIX}/replicas"): "meshplane:ListReplicas",
    ("GET", "/metrics"): "meshplane:GetMetrics",
    ("POST", f"{MESHPLANE_PREFIX}/import"): "meshplane:Import",
    ("GET", f"{MESHPLANE_PREFIX}/export"): "meshplane:Export",
    ("POST", f"{MESHPLANE_PREFIX}/export"): "meshplane:Export",
}

#: Every action a policy can name (policies naming an appmesh:/meshplane: action outside this
#: list are refused as typos).
ALL_ACTIONS: tuple[str, ...] = (
    tuple(f"appmesh:{op}" for op in OPERATIONS) + OTHER_APPMESH_ACTIONS + tuple(sorted(set(MESHPLANE_ACTIONS.values())))
)

#: Used for an endpoint no table names: only admin keys may call it.
UNLISTED_ACTION = "meshplane:Unlisted"
#: Actions only admin keys may perform, whatever a policy says: an import writes any resource of any
#: mesh in one go, past the per-resource checks a policy would make of the same writes through the API.
ADMIN_ONLY_ACTIONS = frozenset({UNLISTED_ACTION, "meshplane:Import"})


@dataclass(frozen=True)
class Request:
    """What one request asks to do.

    :param action: ``appmesh:CreateRoute``, ``meshplane:ListProxies`` ...
    :param resources: the ARNs (or ``*``) every one of which the key must be allowed the action on.
    :param context: request condition keys (lower-cased names): ``aws:requesttag/<key>``, ``aws:tagkeys``.
    :param existing: the resources exist already (``aws:ResourceTag`` applies to them).
    """

    action: str
    resources: tuple[str, ...]
    context: dict[str, Any] = field(default_factory=dict)
    existing: bool = True


def resource_request(kind: Kind, item: bool, method: str, view_args: Mapping[str, Any],
                     args: Mapping[str, str], body: Any, *, account: str, region: str) -> Request:
    """The action and ARN of a resource operation (the collection or item URL of ``kind``).

    :param body: the parsed JSON body (anything; a body that is not an object gives no tags, and
        the name of a resource to create is then ``*``: the operation fails its validation anyway).
    """
    owner = _owner(args, account)
    mesh = str(view_args.get("mesh", ""))
    parent = str(view_args.get("parent", ""))

    def arn(of: Kind, name: str, parent_name: str = "") -> str:
        if of is kinds.MESH:
            return resource_arn("mesh", name, "", "", account=owner, region=region)
        return resource_arn(of.key, mesh, parent_name, name, account=owner, region=region)

    if not item:
        if method == "GET":
            if kind is kinds.MESH:
                return Request("appmesh:ListMeshes", ("*",), existing=False)
            if kind.parent:
                container = arn(kinds.BY_KEY[kind.parent], parent)
            else:
                container = arn(kinds.MESH, mesh)
            return Request(f"appmesh:List{_plural(kind)}", (container,))
        payload = body if isinstance(body, dict) else {}
        name = payload.get(kind.name_key)
        name = name if isinstance(name, str) and name and "/" not in name else "*"
        target = arn(kind, name, parent)
        return Request(f"appmesh:Create{kind.label}", (target,), _tag_context(payload.get("tags")), existing=False)
    own = mesh if kind is kinds.MESH else str(view_args.get("name", ""))
    verb = {"GET": "Describe", "PUT": "Update", "DELETE": "Delete"}.get(method, "Describe")
    return Request(f"appmesh:{verb}{kind.label}", (arn(kind, own, parent),))


def tagging_request(operation: str, args: Mapping[str, str], body: Any) -> Request:
    """ListTagsForResource, TagResource or UntagResource on the ``resourceArn`` query parameter."""
    target = args.get("resourceArn") or "*"
    payload = body if isinstance(body, dict) else {}
    context: dict[str, Any] = {}
    if operation == "TagResource":
        context = _tag_context(payload.get("tags"))
    elif operation == "UntagResource":
        keys = payload.get("tagKeys")
        if isinstance(keys, list) and all(isinstance(k, str) for k in keys):
            context = {"aws:tagkeys": list(keys)}
    return Request(f"appmesh:{operation}", (target,), context)


def meshplane_request(method: str, rule: str, view_args: Mapping[str, Any], args: Mapping[str, str], *,
                      account: str, region: str) -> Request:
    """The action of one of meshplane's own endpoints (UNLISTED_ACTION when the table has none).

    Proxy endpoints name the proxy's node ARN (``meshplane:GetProxyStatus`` on
    ``…:mesh/m/virtualNode/n``), the proxy list the mesh when filtered with ``?mesh=``, so that a
    key scoped to one mesh can watch its proxies; everything else is on ``*``.
    """
    action = MESHPLANE_ACTIONS.get((method, rule), UNLISTED_ACTION)
    resource = "*"
    if "node_id" in view_args:
        try:
            resource = node_arn(str(view_args["node_id"]), account, region)
        except ValueError:
            resource = "*"
    elif action == "meshplane:ListProxies" and args.get("mesh"):
        resource = resource_arn("mesh", args["mesh"], "", "", account=account, region=region)
    return Request(action, (resource,), existing=False)


def _owner(args: Mapping[str, str], account: str) -> str:
    owner = args.get("meshOwner")
    return owner if owner and len(owner) == 12 and owner.isdigit() else account


def _tag_context(tags: Any) -> dict[str, Any]:
    """``aws:RequestTag/<key>`` and ``aws:TagKeys`` from a request's ``tags`` list."""
    if not isinstance(tags, list):
        return {}
    context: dict[str, Any] = {}
    keys = []
    for tag in tags:
        if isinstance(tag, dict) and isinstance(tag.get("key"), str) and isinstance(tag.get("value", ""), str):
            keys.append(tag["key"])
            context["aws:requesttag/" + tag["key"].lower()] = tag.get("value", "")
    context["aws:tagkeys"] = keys
    return context
