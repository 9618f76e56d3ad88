"""`meshplane serve --auth sigv4` with real clients: boto3 and the aws CLI sign with meshplane keys,
and get AWS's 403 answers (with an accurate Date) without one; refusals change nothing."""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import stat
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import botocore.exceptions
import pytest
import requests

from auth_helpers import AUTH_ACCOUNT, AUTH_REGION, AuthServer, appmesh_client
from procs import BIN, MeshplaneServer, env_with_venv

ARN = f"arn:aws:appmesh:{AUTH_REGION}:{AUTH_ACCOUNT}"


def mesh_policy(*meshes: str, extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    resources = [r for m in meshes for r in (f"{ARN}:mesh/{m}", f"{ARN}:mesh/{m}/*")]
    return {"Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "appmesh:*", "Resource": resources}, *(extra or [])]}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@contextmanager
def clock_offset(seconds: float) -> Iterator[None]:
    """botocore signs as if its clock were ``seconds`` off."""
    at = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) + dt.timedelta(seconds=seconds)
    with mock.patch("botocore.auth.get_current_datetime", return_value=at):
        yield


def refused(call: Callable[[], Any]) -> botocore.exceptions.ClientError:
    with pytest.raises(botocore.exceptions.ClientError) as info:
        call()
    error = info.value
    meta = error.response["ResponseMetadata"]
    assert meta["HTTPStatusCode"] == 403, error.response
    assert meta["RetryAttempts"] == 0
    date = email.utils.parsedate_to_datetime(meta["HTTPHeaders"]["date"])
    assert abs(date.timestamp() - time.time()) < 5, meta["HTTPHeaders"]["date"]
    return error


def code(error: botocore.exceptions.ClientError) -> str:
    return str(error.response["Error"]["Code"])


def mesh_names(auth: AuthServer) -> list[str]:
    return sorted(m["meshName"] for m in appmesh_client(auth.endpoint, auth.admin).list_meshes()["meshes"])


def test_first_start_wrote_the_admin_key_0600_and_logged_no_secret(auth_server: AuthServer) -> None:
    path = Path(str(auth_server.db) + ".admin-key.json")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert set(auth_server.admin) == {"AccessKeyId", "SecretAccessKey", "Name"}
    log = auth_server.server.log()
    assert str(path) in log and auth_server.admin["SecretAccessKey"] not in log
    assert stat.S_IMODE(Path(str(auth_server.db) + ".key").stat().st_mode) == 0o600


def test_boto3_with_a_key_works(auth_server: AuthServer) -> None:
    client = appmesh_client(auth_server.endpoint, auth_server.admin)
    mesh = unique("a b:c@d")  # names that need (double) percent-encoding
    client.create_mesh(meshName=mesh, tags=[{"key": "team", "value": "blue"}])
    client.create_virtual_node(meshName=mesh, virtualNodeName="node.1", spec={})
    client.create_virtual_router(meshName=mesh, virtualRouterName="r",
                                 spec={"listeners": [{"portMapping": {"port": 80, "protocol": "http"}}]})
    client.create_route(meshName=mesh, virtualRouterName="r", routeName="rt", spec={"httpRoute": {
        "match": {"prefix": "/"}, "action": {"weightedTargets": [{"virtualNode": "node.1", "weight": 1}]}}})
    assert client.describe_route(meshName=mesh, virtualRouterName="r", routeName="rt")["route"]["routeName"] == "rt"
    nodes = client.list_virtual_nodes(meshName=mesh, limit=5, meshOwner=AUTH_ACCOUNT)["virtualNodes"]
    assert [n["virtualNodeName"] for n in nodes] == ["node.1"]
    arn = client.describe_mesh(meshName=mesh)["mesh"]["metadata"]["arn"]
    client.tag_resource(resourceArn=arn, tags=[{"key": "env", "value": "dev"}])
    client.untag_resource(resourceArn=arn, tagKeys=["team"])
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "env", "value": "dev"}]
    client.delete_route(meshName=mesh, virtualRouterName="r", routeName="rt")
    assert requests.get(auth_server.endpoint + "/healthz", timeout=10).status_code == 200  # stays open


def test_the_aws_cli_with_a_key_and_without(auth_server: AuthServer) -> None:
    def aws(key: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
        env = env_with_venv({
            "AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
            "AWS_DEFAULT_REGION": AUTH_REGION, "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            "AWS_MAX_ATTEMPTS": "1",
        })
        return subprocess.run([str(BIN / "aws"), "appmesh", *args, "--endpoint-url", auth_server.endpoint,
                               "--output", "json"], capture_output=True, text=True, env=env, timeout=60)

    mesh = unique("cli")
    ok = aws(auth_server.admin, "create-mesh", "--mesh-name", mesh)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["mesh"]["meshName"] == mesh
    wrong = aws({**auth_server.admin, "SecretAccessKey": "x" * 40}, "delete-mesh", "--mesh-name", mesh)
    assert wrong.returncode != 0 and "(InvalidSignatureException)" in wrong.stderr
    unknown = aws({"AccessKeyId": "MPAKUNKNOWN000000000", "SecretAccessKey": "x" * 40}, "delete-mesh", "--mesh-name", mesh)
    assert unknown.returncode != 0 and "(UnrecognizedClientException)" in unknown.stderr
    assert mesh in mesh_names(auth_server)


def test_unsigned_requests_are_refused(auth_server: AuthServer) -> None:
    mesh = unique("unsigned")
    error = refused(lambda: appmesh_client(auth_server.endpoint, None).create_mesh(meshName=mesh))
    assert code(error) == "MissingAuthenticationTokenException"
    assert error.response["Error"]["Message"] == "Missing Authentication Token"
    plain = requests.put(auth_server.endpoint + "/v20190125/meshes", json={"meshName": mesh}, timeout=10)
    assert plain.status_code == 403 and plain.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    for path in ("/metrics", "/meshplane/v1/proxies", "/v20190125/nothing-here"):
        assert requests.get(auth_server.endpoint + path, timeout=10).status_code == 403, path
    assert mesh not in mesh_names(auth_server)


@pytest.mark.parametrize(("case", "expected", "message"), [
    ("wrong secret", "InvalidSignatureException", "does not match the signature you provided"),
    ("unknown key", "UnrecognizedClientException", "security token included in the request is invalid"),
    ("10 min ago", "InvalidSignatureException", "Signature expired"),
    ("10 min ahead", "InvalidSignatureException", "Signature not yet current"),
    ("wrong region", "InvalidSignatureException", "Credential should be scoped to a valid region"),
])
def test_bad_signatures_get_aws_codes_and_change_nothing(auth_server: AuthServer, case: str, expected: str,
                                                         message: str) -> None:
    key, region, offset = dict(auth_server.admin), AUTH_REGION, 0
    if case == "wrong secret":
        key["SecretAccessKey"] = "x" * 40
    elif case == "unknown key":
        key["AccessKeyId"] = "MPAKUNKNOWN000000000"
    elif case == "10 min ago":
        offset = -600
    elif case == "10 min ahead":
        offset = 600
    else:
        region = "eu-west-1"
    before = mesh_names(auth_server)
    victim = before[0] if before else None
    client = appmesh_client(auth_server.endpoint, key, region)
    with clock_offset(offset):
        error = refused(lambda: client.create_mesh(meshName=unique("refused")))
        assert code(error) == expected and message in error.response["Error"]["Message"]
        if victim:
            assert code(refused(lambda: client.delete_mesh(meshName=victim))) == expected
    assert mesh_names(auth_server) == before


def test_disabled_expired_and_deleted_keys(auth_server: AuthServer) -> None:
    key = auth_server.create_key(unique("life"), admin=True)
    client = appmesh_client(auth_server.endpoint, key)
    client.list_meshes()
    auth_server.keys("disable", key["Name"])
    error = poll_refused(client.list_meshes, within=2.0)  # from the moment the command returned
    assert code(error) == "UnrecognizedClientException"
    mesh = unique("while-disabled")
    assert code(refused(lambda: client.create_mesh(meshName=mesh))) == "UnrecognizedClientException"
    auth_server.keys("enable", key["AccessKeyId"])
    poll_ok(client.list_meshes)
    auth_server.keys("delete", key["Name"])
    assert code(poll_refused(client.list_meshes)) == "UnrecognizedClientException"
    assert mesh not in mesh_names(auth_server)

    # (that a key works before it expires: tests/unit/test_sigv4.py)
    short = auth_server.create_key(unique("short"), admin=True, expires="1s")
    created_by = time.time()  # the key expires at most 1 s from now
    short_client = appmesh_client(auth_server.endpoint, short)
    time.sleep(max(0.0, created_by + 1.1 - time.time()))
    error = refused(short_client.list_meshes)
    assert code(error) == "ExpiredTokenException"
    assert "security token included in the request is expired" in error.response["Error"]["Message"]


def poll_refused(call: Callable[[], Any], within: float = 2.0) -> botocore.exceptions.ClientError:
    deadline = time.monotonic() + within
    while True:
        try:
            call()
        except botocore.exceptions.ClientError:
            return refused(call)
        assert time.monotonic() < deadline, "the change did not take effect in time"
        time.sleep(0.05)


def poll_ok(call: Callable[[], Any], within: float = 2.0) -> Any:
    deadline = time.monotonic() + within
    while True:
        try:
            return call()
        except botocore.exceptions.ClientError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_a_key_scoped_to_one_mesh(auth_server: AuthServer) -> None:
    mine, other = unique("team-a"), unique("team-b")
    appmesh_client(auth_server.endpoint, auth_server.admin).create_mesh(meshName=other)
    key = auth_server.create_key(unique("scoped"), policy=mesh_policy(mine, extra=[
        {"Effect": "Allow", "Action": "meshplane:ListProxies", "Resource": f"{ARN}:mesh/{mine}"},
    ]))
    client = appmesh_client(auth_server.endpoint, key)
    client.create_mesh(meshName=mine)
    client.create_virtual_node(meshName=mine, virtualNodeName="n", spec={})
    assert client.describe_virtual_node(meshName=mine, virtualNodeName="n")["virtualNode"]["virtualNodeName"] == "n"
    assert [n["virtualNodeName"] for n in client.list_virtual_nodes(meshName=mine)["virtualNodes"]] == ["n"]
    principal = f"arn:aws:iam::{AUTH_ACCOUNT}:user/{key['Name']}"
    for call, action, resource in [
        (lambda: client.list_meshes(), "appmesh:ListMeshes", "*"),
        (lambda: client.describe_mesh(meshName=other), "appmesh:DescribeMesh", f"{ARN}:mesh/{other}"),
        (lambda: client.create_virtual_node(meshName=other, virtualNodeName="n", spec={}),
         "appmesh:CreateVirtualNode", f"{ARN}:mesh/{other}/virtualNode/n"),
        (lambda: client.delete_mesh(meshName=other), "appmesh:DeleteMesh", f"{ARN}:mesh/{other}"),
    ]:
        error = refused(call)
        assert code(error) == "AccessDeniedException"
        assert error.response["Error"]["Message"].startswith(
            f"User: {principal} is not authorized to perform: {action} on resource: {resource}")
    assert other in mesh_names(auth_server)
    admin = appmesh_client(auth_server.endpoint, auth_server.admin)
    assert admin.list_virtual_nodes(meshName=other)["virtualNodes"] == []
    signed = signed_get(auth_server.endpoint, key, "/meshplane/v1/proxies", {"mesh": mine})
    assert signed.status_code == 200, signed.text
    denied = signed_get(auth_server.endpoint, key, "/meshplane/v1/proxies", {})
    assert denied.status_code == 403 and "meshplane:ListProxies on resource: *" in denied.json()["message"]
    assert signed_get(auth_server.endpoint, auth_server.admin, "/metrics", {}).status_code == 200


def test_request_tag_conditions(auth_server: AuthServer) -> None:
    key = auth_server.create_key(unique("tagged"), policy={"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "appmesh:CreateMesh", "Resource": "*",
         "Condition": {"StringEquals": {"aws:RequestTag/team": "blue"}}},
        {"Effect": "Deny", "Action": "appmesh:*", "Resource": "*",
         "Condition": {"ForAnyValue:StringEquals": {"aws:TagKeys": ["forbidden"]}}},
    ]})
    client = appmesh_client(auth_server.endpoint, key)
    client.create_mesh(meshName=unique("blue"), tags=[{"key": "team", "value": "blue"}])
    for tags in ([{"key": "team", "value": "red"}], [], [{"key": "team", "value": "blue"}, {"key": "forbidden", "value": "x"}]):
        assert code(refused(lambda: client.create_mesh(meshName=unique("nope"), tags=tags))) == "AccessDeniedException"


def test_resource_tag_conditions(auth_server: AuthServer) -> None:
    admin = appmesh_client(auth_server.endpoint, auth_server.admin)
    blue, red = unique("blue"), unique("red")
    admin.create_mesh(meshName=blue, tags=[{"key": "team", "value": "blue"}])
    admin.create_mesh(meshName=red, tags=[{"key": "team", "value": "red"}])
    key = auth_server.create_key(unique("by-tag"), policy={"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["appmesh:Describe*", "appmesh:DeleteMesh"], "Resource": "*",
         "Condition": {"StringEquals": {"aws:ResourceTag/team": "blue"}}}]})
    client = appmesh_client(auth_server.endpoint, key)
    assert client.describe_mesh(meshName=blue)["mesh"]["meshName"] == blue
    assert code(refused(lambda: client.describe_mesh(meshName=red))) == "AccessDeniedException"
    assert code(refused(lambda: client.delete_mesh(meshName=red))) == "AccessDeniedException"
    admin.untag_resource(resourceArn=f"{ARN}:mesh/{blue}", tagKeys=["team"])
    assert code(refused(lambda: client.delete_mesh(meshName=blue))) == "AccessDeniedException"
    assert {blue, red} <= set(mesh_names(auth_server))


def test_keys_cli_refuses_bad_input_and_never_lists_secrets(auth_server: AuthServer) -> None:
    bad = auth_server.db.parent / "bad.policy.json"
    bad.write_text(json.dumps({"Statement": [{"Effect": "Allow", "Action": "appmesh:*", "Resource": "*"},
                                             {"Effect": "Permit", "Action": "appmesh:*", "Resource": "*"}]}))
    proc = auth_server.keys("create", "--name", unique("bad"), "--policy", str(bad), check=False)
    assert proc.returncode == 2 and "Statement[1].Effect" in proc.stderr
    proc = auth_server.keys("create", "--name", "x", "--admin", "--policy", str(bad), check=False)
    assert proc.returncode == 2 and "exactly one of --admin and --policy" in proc.stderr
    assert auth_server.keys("disable", "no-such-key", check=False).returncode == 1
    listed = auth_server.keys("list", "--json").stdout
    names = [k["Name"] for k in json.loads(listed)]
    assert "admin" in names and auth_server.admin["SecretAccessKey"] not in listed
    assert auth_server.admin["SecretAccessKey"] not in auth_server.keys("list").stdout


def test_the_audit_log(auth_server: AuthServer) -> None:
    mesh = unique("audited")
    appmesh_client(auth_server.endpoint, auth_server.admin).create_mesh(meshName=mesh)
    refused(lambda: appmesh_client(auth_server.endpoint, None).delete_mesh(meshName=mesh))
    lines = auth_server.audit_lines()
    write = [line for line in lines if line["arn"] == f"{ARN}:mesh/{mesh}" and line["outcome"] == "allowed"]
    assert len(write) == 1 and write[0]["action"] == "appmesh:CreateMesh"
    assert write[0]["key_id"] == auth_server.admin["AccessKeyId"] and write[0]["key_name"] == "admin"
    assert write[0]["source"] == "127.0.0.1"
    denied = [line for line in lines if line["arn"] == f"{ARN}:mesh/{mesh}" and line["outcome"] == "denied"]
    assert len(denied) == 1 and denied[0]["reason"].startswith("MissingAuthenticationTokenException")
    assert all(auth_server.admin["SecretAccessKey"] not in json.dumps(line) for line in lines)
    assert not any(line["method"] == "GET" and line["outcome"] == "allowed" for line in lines)  # reads: not logged


def test_presigned_urls(auth_server: AuthServer) -> None:
    from botocore.auth import SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method="GET", url=auth_server.endpoint + "/v20190125/meshes?limit=1")
    key = auth_server.admin
    SigV4QueryAuth(Credentials(key["AccessKeyId"], key["SecretAccessKey"]), "appmesh", AUTH_REGION,
                   expires=60).add_auth(request)
    assert "X-Amz-Signature=" in request.url and "Authorization" not in request.headers
    assert requests.get(request.url, timeout=10).status_code == 200
    tampered = requests.get(request.url.replace("limit=1", "limit=2"), timeout=10)
    assert tampered.status_code == 403 and tampered.headers["x-amzn-ErrorType"] == "InvalidSignatureException"


def test_import_is_for_admin_keys_only(auth_server: AuthServer) -> None:
    """A policy naming meshplane:Import (or *) does not open imports: they write past per-resource checks."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    mesh = unique("imported")
    body = json.dumps([{"meshName": mesh, "spec": {}, "metadata": {}}])
    everything = auth_server.create_key(unique("all"), policy={"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["meshplane:*", "appmesh:*"], "Resource": "*"}]})

    def post(key: dict[str, str]) -> requests.Response:
        url = auth_server.endpoint + "/meshplane/v1/import?dryRun=true"
        request = AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": "application/json"})
        SigV4Auth(Credentials(key["AccessKeyId"], key["SecretAccessKey"]), "appmesh", AUTH_REGION).add_auth(request)
        return requests.post(url, data=body, headers=dict(request.headers.items()), timeout=30)

    refused = post(everything)
    assert refused.status_code == 403 and refused.headers["x-amzn-ErrorType"] == "AccessDeniedException"
    assert "meshplane:Import" in refused.json()["message"]
    assert post(auth_server.admin).status_code == 200


def signed_get(endpoint: str, key: dict[str, str], path: str, params: dict[str, str]) -> requests.Response:
    """GET signed with botocore's SigV4Auth (meshplane's own endpoints have no boto3 client)."""
    from urllib.parse import urlencode

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    url = endpoint + path + (("?" + urlencode(params)) if params else "")
    request = AWSRequest(method="GET", url=url)
    SigV4Auth(Credentials(key["AccessKeyId"], key["SecretAccessKey"]), "appmesh", AUTH_REGION).add_auth(request)
    return requests.get(url, headers=dict(request.headers.items()), timeout=10)


# -- start-up modes -----------------------------------------------------------------------------

def test_refuses_to_listen_beyond_loopback_without_auth(tmp_path: Path) -> None:
    proc = subprocess.run([str(BIN / "meshplane"), "serve", "--db", str(tmp_path / "x.db"), "--api-listen", "0.0.0.0:0",
                           "--xds-listen", "off"], capture_output=True, text=True, timeout=60, env=env_with_venv())
    assert proc.returncode == 2
    assert "pass --auth sigv4" in proc.stderr and "--auth none" in proc.stderr


def test_explicit_auth_none_starts_with_a_warning(tmp_path: Path) -> None:
    server = MeshplaneServer(tmp_path / "n.db", tmp_path / "n.log", "--api-listen", "0.0.0.0:0", "--auth", "none",
                             "--workers", "1")
    try:
        port = server.endpoint.rsplit(":", 1)[1]
        assert requests.get(f"http://127.0.0.1:{port}/v20190125/meshes", timeout=10).status_code == 200
        assert "authentication is off (--auth none)" in server.log()
    finally:
        server.stop()
