"""meshplane.auth.policy and authorize: IAM's grammar and evaluation, table-driven."""

from __future__ import annotations

from typing import Any

import pytest

from meshplane.auth import actions, arns, authorize
from meshplane.auth.keys import Key
from meshplane.auth.policy import Policy
from meshplane.errors import AccessDeniedException

A = "arn:aws:appmesh:us-east-1:111122223333"
MESH_A = f"{A}:mesh/A"
NODE_A = f"{A}:mesh/A/virtualNode/n1"
ROUTE_A = f"{A}:mesh/A/virtualRouter/r/route/x"
MESH_B = f"{A}:mesh/B"


def stmt(effect: str = "Allow", action: Any = "appmesh:*", resource: Any = "*", **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"Effect": effect}
    out["NotAction" if extra.pop("not_action", False) else "Action"] = action
    out["NotResource" if extra.pop("not_resource", False) else "Resource"] = resource
    out.update(extra)
    return out


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


# (statements, action, resource, context, expected decision: True allow, False explicit deny, None implicit)
CASES = [
    # default deny, allow, explicit deny wins
    ([stmt(action="appmesh:DescribeMesh", resource=MESH_B)], "appmesh:DescribeMesh", MESH_A, {}, None),
    ([stmt(action="appmesh:DescribeMesh", resource=MESH_A)], "appmesh:DescribeMesh", MESH_A, {}, True),
    ([stmt(), stmt("Deny", "appmesh:Delete*", MESH_A)], "appmesh:DeleteMesh", MESH_A, {}, False),
    ([stmt("Deny", "appmesh:Delete*", MESH_A), stmt()], "appmesh:DeleteMesh", MESH_A, {}, False),
    ([stmt("Deny", "appmesh:Delete*", MESH_A)], "appmesh:DescribeMesh", MESH_A, {}, None),
    # action wildcards, case-insensitive
    ([stmt(action="appmesh:Describe*")], "appmesh:DescribeVirtualNode", NODE_A, {}, True),
    ([stmt(action="APPMESH:describemesh")], "appmesh:DescribeMesh", MESH_A, {}, True),
    ([stmt(action="appmesh:?escribeMesh")], "appmesh:DescribeMesh", MESH_A, {}, True),
    ([stmt(action="appmesh:?eleteMesh")], "appmesh:DescribeMesh", MESH_A, {}, None),
    ([stmt(action="*")], "meshplane:GetMetrics", "*", {}, True),
    ([stmt(action=["appmesh:List*", "meshplane:ListProxies"])], "meshplane:ListProxies", "*", {}, True),
    # resource wildcards: * crosses '/', ? one character, case-sensitive
    ([stmt(resource=f"{A}:mesh/A/*")], "appmesh:DescribeRoute", ROUTE_A, {}, True),
    ([stmt(resource=f"{A}:mesh/A/*")], "appmesh:DescribeMesh", MESH_A, {}, None),
    ([stmt(resource=f"{A}:mesh/?")], "appmesh:DescribeMesh", MESH_A, {}, True),
    ([stmt(resource=f"{A}:mesh/a")], "appmesh:DescribeMesh", MESH_A, {}, None),
    ([stmt(resource="arn:aws:appmesh:*:111122223333:mesh/A")], "appmesh:DescribeMesh", MESH_A, {}, True),
    ([stmt(resource="arn:aws:appmesh:*:*:mesh/*/virtualNode/n1")], "appmesh:DescribeVirtualNode", NODE_A, {}, True),
    ([stmt(resource="arn:aws:appmesh:*")], "appmesh:DescribeVirtualNode", NODE_A, {}, True),
    ([stmt(resource="arn:aws:appmesh:us-*:*:mesh/A")], "appmesh:DescribeMesh", MESH_A, {}, True),
    ([stmt(resource="arn:aws:appmesh:eu-*:*:mesh/A")], "appmesh:DescribeMesh", MESH_A, {}, None),
    ([stmt(resource=MESH_A)], "appmesh:ListMeshes", "*", {}, None),
    # NotAction / NotResource
    ([stmt(action="appmesh:Delete*", not_action=True)], "appmesh:CreateMesh", MESH_A, {}, True),
    ([stmt(action="appmesh:Delete*", not_action=True)], "appmesh:DeleteMesh", MESH_A, {}, None),
    ([stmt(action="appmesh:*", resource=f"{A}:mesh/A*", not_resource=True)], "appmesh:DescribeMesh", MESH_B, {}, True),
    ([stmt(action="appmesh:*", resource=f"{A}:mesh/A*", not_resource=True)], "appmesh:DescribeMesh", MESH_A, {}, None),
    ([stmt(), stmt("Deny", "appmesh:*", MESH_A, not_resource=True)], "appmesh:DescribeMesh", MESH_B, {}, False),
    ([stmt(), stmt("Deny", "appmesh:*", MESH_A, not_resource=True)], "appmesh:DescribeMesh", MESH_A, {}, True),
]

TAGS = {"aws:requesttag/team": "blue", "aws:tagkeys": ["team", "env"]}
COND_CASES = [
    # StringEquals / StringNotEquals on aws:RequestTag
    ({"StringEquals": {"aws:RequestTag/team": "blue"}}, TAGS, True),
    ({"StringEquals": {"aws:RequestTag/team": ["red", "blue"]}}, TAGS, True),
    ({"StringEquals": {"aws:RequestTag/team": "Blue"}}, TAGS, False),
    ({"StringEquals": {"aws:RequestTag/TEAM": "blue"}}, TAGS, True),  # key names are case-insensitive
    ({"StringEquals": {"aws:RequestTag/team": "blue"}}, {}, False),  # absent key: false
    ({"StringNotEquals": {"aws:RequestTag/team": "red"}}, TAGS, True),
    ({"StringNotEquals": {"aws:RequestTag/team": ["red", "blue"]}}, TAGS, False),
    ({"StringNotEquals": {"aws:RequestTag/team": "red"}}, {}, True),  # negated, absent: true
    ({"StringEqualsIgnoreCase": {"aws:RequestTag/team": "BLUE"}}, TAGS, True),
    ({"StringNotEqualsIgnoreCase": {"aws:RequestTag/team": "BLUE"}}, TAGS, False),
    # StringLike / StringNotLike
    ({"StringLike": {"aws:RequestTag/team": "bl*"}}, TAGS, True),
    ({"StringLike": {"aws:RequestTag/team": "b??e"}}, TAGS, True),
    ({"StringLike": {"aws:RequestTag/team": "B*"}}, TAGS, False),
    ({"StringNotLike": {"aws:RequestTag/team": "r*"}}, TAGS, True),
    ({"StringNotLike": {"aws:RequestTag/team": "b*"}}, TAGS, False),
    # aws:ResourceTag
    ({"StringEquals": {"aws:ResourceTag/owner": "me"}}, {"aws:resourcetag/owner": "me"}, True),
    ({"StringEquals": {"aws:ResourceTag/owner": "me"}}, {"aws:resourcetag/owner": "you"}, False),
    # aws:TagKeys with set operators
    ({"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "env", "x"]}}, TAGS, True),
    ({"ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}}, TAGS, False),
    ({"ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}}, {}, True),  # no values: vacuously true
    ({"ForAnyValue:StringEquals": {"aws:TagKeys": ["env"]}}, TAGS, True),
    ({"ForAnyValue:StringEquals": {"aws:TagKeys": ["nope"]}}, TAGS, False),
    ({"ForAnyValue:StringEquals": {"aws:TagKeys": ["env"]}}, {}, False),
    ({"ForAnyValue:StringLike": {"aws:TagKeys": ["e*"]}}, TAGS, True),
    ({"ForAllValues:StringNotEquals": {"aws:TagKeys": ["secret"]}}, TAGS, True),
    ({"ForAnyValue:StringNotEquals": {"aws:TagKeys": ["team", "env"]}}, TAGS, False),
    # IpAddress / NotIpAddress
    ({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"aws:sourceip": "10.1.2.3"}, True),
    ({"IpAddress": {"aws:SourceIp": ["192.168.0.0/16", "127.0.0.1"]}}, {"aws:sourceip": "127.0.0.1"}, True),
    ({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"aws:sourceip": "11.1.2.3"}, False),
    ({"IpAddress": {"aws:SourceIp": "::1/128"}}, {"aws:sourceip": "::1"}, True),
    ({"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"aws:sourceip": "11.1.2.3"}, True),
    ({"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"aws:sourceip": "10.1.2.3"}, False),
    # ...IfExists and Null
    ({"StringEqualsIfExists": {"aws:RequestTag/team": "red"}}, {}, True),
    ({"StringEqualsIfExists": {"aws:RequestTag/team": "red"}}, TAGS, False),
    ({"Null": {"aws:RequestTag/team": "true"}}, {}, True),
    ({"Null": {"aws:RequestTag/team": "true"}}, TAGS, False),
    ({"Null": {"aws:RequestTag/team": False}}, TAGS, True),
    ({"Bool": {"aws:SecureTransport": "true"}}, {"aws:securetransport": "true"}, True),
    ({"Bool": {"aws:SecureTransport": True}}, {"aws:securetransport": "false"}, False),
    # several operators and keys: AND
    ({"StringEquals": {"aws:RequestTag/team": "blue"}, "IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
     {**TAGS, "aws:sourceip": "127.0.0.1"}, False),
    ({"StringEquals": {"aws:RequestTag/team": "blue"}, "IpAddress": {"aws:SourceIp": "127.0.0.0/8"}},
     {**TAGS, "aws:sourceip": "127.0.0.1"}, True),
]


@pytest.mark.parametrize(("statements", "action", "resource", "context", "expected"), CASES)
def test_evaluation(statements: list[dict[str, Any]], action: str, resource: str, context: dict[str, Any],
                    expected: bool | None) -> None:
    assert Policy.parse(doc(*statements)).decide(action, resource, context) is expected


@pytest.mark.parametrize(("condition", "context", "allowed"), COND_CASES)
def test_conditions(condition: dict[str, Any], context: dict[str, Any], allowed: bool) -> None:
    policy = Policy.parse(doc(stmt(Condition=condition)))
    assert policy.decide("appmesh:CreateMesh", MESH_A, context) is (True if allowed else None)


def test_statement_may_be_one_object_and_version_optional() -> None:
    policy = Policy.parse({"Statement": {"Effect": "Allow", "Action": "appmesh:ListMeshes", "Resource": "*"}})
    assert policy.decide("appmesh:ListMeshes", "*", {}) is True


@pytest.mark.parametrize(("document", "field"), [
    ("[]", "policy document"),
    ("{nope", "policy document: not valid JSON"),
    ({"Statement": []}, "Statement:"),
    ({"Version": "2020-01-01", "Statement": [stmt()]}, "Version:"),
    ({"Statement": [stmt()], "Extra": 1}, "Extra:"),
    ({"Statement": [stmt(), {**stmt(), "Effect": "Permit"}]}, "Statement[1].Effect:"),
    ({"Statement": {**stmt(), "Effect": "allow"}}, "Statement.Effect:"),
    ({"Statement": [{"Effect": "Allow", "Resource": "*"}]}, "Statement[0]: needs exactly one of Action and NotAction"),
    ({"Statement": [{**stmt(), "NotAction": "appmesh:*"}]}, "Statement[0]: needs exactly one of Action and NotAction"),
    ({"Statement": [{"Effect": "Allow", "Action": "*"}]}, "Statement[0]: needs exactly one of Resource and NotResource"),
    ({"Statement": [stmt(action=["appmesh:*", "nocolon"])]}, "Statement[0].Action[1]:"),
    ({"Statement": [stmt(action="appmesh:DescribeMeshes")]}, "Statement[0].Action: 'appmesh:DescribeMeshes' matches no appmesh action"),
    ({"Statement": [stmt(action=[])]}, "Statement[0].Action:"),
    ({"Statement": [stmt(resource="mesh/A")]}, "Statement[0].Resource:"),
    ({"Statement": [stmt(resource=["*", "arn:aws:app*:us-east-1:1:mesh/A"])]}, "Statement[0].Resource[1]: "),
    ({"Statement": [{**stmt(), "Principal": "*"}]}, "Statement[0].Principal:"),
    ({"Statement": [{**stmt(), "Sid": "a b"}]}, "Statement[0].Sid:"),
    ({"Statement": [{**stmt(), "Sid": "x"}, {**stmt(), "Sid": "x"}]}, "Statement[1].Sid: duplicate"),
    ({"Statement": [stmt(Condition={"StringEqualz": {"aws:TagKeys": "a"}})]}, "Statement[0].Condition.StringEqualz:"),
    ({"Statement": [stmt(Condition={"StringEquals": {"appmesh:ResourceTag/a": "b"}})]},
     "Statement[0].Condition.StringEquals.appmesh:ResourceTag/a: unsupported condition key"),
    ({"Statement": [stmt(Condition={"IpAddress": {"aws:SourceIp": "10.0.0.300/8"}})]},
     "Statement[0].Condition.IpAddress.aws:SourceIp: invalid value"),
    ({"Statement": [stmt(Condition={"ForSomeValues:StringEquals": {"aws:TagKeys": "a"}})]},
     "Statement[0].Condition.ForSomeValues:StringEquals:"),
    ({"Statement": [stmt(Condition={"StringEquals": {"aws:TagKeys": {"a": 1}}})]},
     "Statement[0].Condition.StringEquals.aws:TagKeys: value"),
])
def test_invalid_documents_name_the_field(document: Any, field: str) -> None:
    import json

    text = document if isinstance(document, str) else json.dumps(document)
    with pytest.raises(ValueError) as info:
        Policy.parse(text)
    assert str(info.value).startswith(field), str(info.value)


# -- authorize ----------------------------------------------------------------------------------

def make_key(policy: dict[str, Any] | None, admin: bool = False) -> Key:
    return Key("MPAKAAAAAAAAAAAAAAAA", "team-a", "arn:aws:iam::111122223333:user/team-a", admin,
               None if policy is None else Policy.parse(policy), True, None)


def test_authorize_admin_and_scoped_keys() -> None:
    authorize(make_key(None, admin=True), "appmesh:DeleteMesh", [MESH_B])
    scoped = make_key(doc(stmt(resource=[MESH_A, f"{MESH_A}/*"])))
    authorize(scoped, "appmesh:CreateVirtualNode", [NODE_A])
    with pytest.raises(AccessDeniedException) as info:
        authorize(scoped, "appmesh:DescribeMesh", [MESH_B])
    assert info.value.message.startswith(
        f"User: arn:aws:iam::111122223333:user/team-a is not authorized to perform: appmesh:DescribeMesh on resource: {MESH_B}"
    )
    with pytest.raises(AccessDeniedException, match="on resource: \\* because no identity-based policy"):
        authorize(scoped, "appmesh:ListMeshes", ["*"])
    with pytest.raises(AccessDeniedException):
        authorize(make_key(None), "appmesh:ListMeshes", ["*"])  # a key with no policy: nothing


def test_authorize_every_resource_and_explicit_deny_message() -> None:
    key = make_key(doc(stmt(), stmt("Deny", "appmesh:*", MESH_B)))
    with pytest.raises(AccessDeniedException, match=f"on resource: {MESH_B} with an explicit deny"):
        authorize(key, "appmesh:TagResource", [MESH_A, MESH_B])


def test_authorize_resource_tags_are_looked_up_only_when_used() -> None:
    calls = []

    def tags(arn: str) -> dict[str, str]:
        calls.append(arn)
        return {"Owner": "blue"}

    plain = make_key(doc(stmt()))
    authorize(plain, "appmesh:DescribeMesh", [MESH_A], {}, resource_tags=tags)
    assert calls == []
    tagged = make_key(doc(stmt(Condition={"StringEquals": {"aws:ResourceTag/owner": "blue"}})))
    authorize(tagged, "appmesh:DescribeMesh", [MESH_A], {}, resource_tags=tags)
    assert calls == [MESH_A]
    with pytest.raises(AccessDeniedException):
        authorize(tagged, "appmesh:DescribeMesh", [MESH_A], {}, resource_tags=lambda arn: {"owner": "red"})


def test_source_ip_context_key_name_is_case_insensitive() -> None:
    key = make_key(doc(stmt(Condition={"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}})))
    authorize(key, "appmesh:DescribeMesh", [MESH_A], {"aws:SourceIp": "127.0.0.1"})
    with pytest.raises(AccessDeniedException):
        authorize(key, "appmesh:DescribeMesh", [MESH_A], {"aws:SourceIp": "10.0.0.1"})


# -- the actions table --------------------------------------------------------------------------

def test_the_38_operations() -> None:
    assert len(actions.OPERATIONS) == 38 and len(set(actions.OPERATIONS)) == 38
    assert {"CreateMesh", "ListMeshes", "ListGatewayRoutes", "UpdateRoute", "TagResource"} <= set(actions.OPERATIONS)
    assert "meshplane:ListProxies" in actions.ALL_ACTIONS and "appmesh:StreamAggregatedResources" in actions.ALL_ACTIONS


def test_the_operations_match_botocore_s_model() -> None:
    import botocore.session

    model = botocore.session.get_session().get_service_model("appmesh")
    assert set(actions.OPERATIONS) == set(model.operation_names)


@pytest.mark.parametrize(("node_id", "arn"), [
    ("mesh/m/virtualNode/n", "arn:aws:appmesh:us-east-1:111122223333:mesh/m/virtualNode/n"),
    ("mesh/m@210987654321/virtualGateway/g", "arn:aws:appmesh:us-east-1:210987654321:mesh/m/virtualGateway/g"),
    ("arn:aws:appmesh:eu-west-1:210987654321:mesh/m/virtualNode/n", "arn:aws:appmesh:eu-west-1:210987654321:mesh/m/virtualNode/n"),
])
def test_node_arn(node_id: str, arn: str) -> None:
    assert arns.node_arn(node_id, "111122223333", "us-east-1") == arn


@pytest.mark.parametrize("node_id", [
    "mesh/m/virtualRouter/r", "mesh/m/virtualNode", "mesh/m/virtualNode/n/extra", "m/virtualNode/n",
    "mesh/m@12/virtualNode/n", "arn:aws:s3:us-east-1:111122223333:mesh/m/virtualNode/n", "mesh//virtualNode/n",
])
def test_node_arn_refuses_malformed_ids(node_id: str) -> None:
    with pytest.raises(ValueError):
        arns.node_arn(node_id, "111122223333", "us-east-1")


def test_resource_requests() -> None:
    from meshplane import kinds

    common = dict(account="111122223333", region="us-east-1")
    create = actions.resource_request(kinds.ROUTE, False, "PUT", {"mesh": "A", "parent": "r"}, {},
                                      {"routeName": "x", "tags": [{"key": "Team", "value": "blue"}]}, **common)
    assert create.action == "appmesh:CreateRoute" and create.resources == (ROUTE_A,)
    assert create.context == {"aws:requesttag/team": "blue", "aws:tagkeys": ["Team"]} and not create.existing
    listing = actions.resource_request(kinds.ROUTE, False, "GET", {"mesh": "A", "parent": "r"}, {}, None, **common)
    assert listing.action == "appmesh:ListRoutes" and listing.resources == (f"{A}:mesh/A/virtualRouter/r",)
    shared = actions.resource_request(kinds.VIRTUAL_NODE, True, "DELETE", {"mesh": "A", "name": "n1"},
                                      {"meshOwner": "210987654321"}, None, **common)
    assert shared.resources == ("arn:aws:appmesh:us-east-1:210987654321:mesh/A/virtualNode/n1",)
    assert actions.resource_request(kinds.MESH, False, "GET", {}, {}, None, **common).resources == ("*",)
    untag = actions.tagging_request("UntagResource", {"resourceArn": MESH_A}, {"tagKeys": ["a"]})
    assert untag.action == "appmesh:UntagResource" and untag.context == {"aws:tagkeys": ["a"]}
    proxy = actions.meshplane_request("GET", "/meshplane/v1/proxies/<path:node_id>/config",
                                      {"node_id": "mesh/A/virtualNode/n1"}, {}, **common)
    assert proxy.action == "meshplane:GetProxyConfig" and proxy.resources == (NODE_A,)
