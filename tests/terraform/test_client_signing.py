"""The client every shipped client uses (terraform/client.py) signs exactly what it sends.

Checked three ways: against the signatures in shared/reference/auth.md §1.2 (botocore 1.43.11's,
clock fixed), against an independent stdlib recomputation over the request as a real HTTP server
received it (path, query, Host and body as they came over the wire), and end to end through
``meshplane proxy-status``. Plus where credentials, region and CA file come from, TLS verified
against a CA file, and 403 refusals surfacing once (never retried) with what to check.
"""

from __future__ import annotations

import datetime
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import botocore.auth
import pytest
from click.testing import CliRunner
from sigv4_check import EMPTY_SHA256, Answer, RecordingServer, expected_signature, write_test_ca

from meshplane.cli import main
from meshplane.terraform.client import (
    ApiError,
    Client,
    Credentials,
    quote,
    resolve_ca_file,
    resolve_credentials,
    resolve_region,
    sign,
)

EXAMPLE = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
KEY = Credentials("MPTESTKEYID0000001", "s3cr3t/s3cr3t+s3cr3t-do-not-print")
CREDENTIAL_ENV = ("MESHPLANE_ACCESS_KEY_ID", "MESHPLANE_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID",
                  "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION",
                  "MESHPLANE_CA_FILE", "AWS_CA_BUNDLE", "MESHPLANE_ENDPOINT")


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    srv = RecordingServer()
    try:
        yield srv
    finally:
        srv.close()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in CREDENTIAL_ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def _freeze(monkeypatch: pytest.MonkeyPatch, stamp: str) -> None:
    moment = datetime.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ")
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: moment)


def _signature(headers: dict[str, str]) -> str:
    return headers["Authorization"].rsplit("Signature=", 1)[1]


# -- the reference vectors -----------------------------------------------------------------------

def test_auth_md_rest_vector(monkeypatch: pytest.MonkeyPatch) -> None:
    """list_virtual_nodes(meshName='a b:c', limit=5, nextToken='x/y=z', meshOwner=...) as botocore sends it."""
    _freeze(monkeypatch, "20261201T201625Z")
    client = Client("https://appmesh.us-west-2.amazonaws.com")
    url = client.url(f"/v20190125/meshes/{quote('a b:c')}/virtualNodes",
                     {"limit": "5", "nextToken": "x/y=z", "meshOwner": "123456789012"})
    assert url == ("https://appmesh.us-west-2.amazonaws.com/v20190125/meshes/a%20b%3Ac/virtualNodes"
                   "?limit=5&nextToken=x%2Fy%3Dz&meshOwner=123456789012")
    headers = sign(EXAMPLE, "us-west-2", "GET", url, {}, None)
    assert headers["Host"] == "appmesh.us-west-2.amazonaws.com"
    assert headers["X-Amz-Date"] == "20261201T201625Z"
    assert headers["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261201/us-west-2/appmesh/aws4_request, "
        "SignedHeaders=host;x-amz-date, "
        "Signature=834d82e689c7fcc171794c892e1c48eca470ee648f8618fb74a908449e1772d0")


def test_auth_md_xds_vector(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Envoy-shaped request: empty-payload hash as a signed header, host with its port."""
    _freeze(monkeypatch, "20261201T201600Z")
    url = ("https://meshplane.example:15000/envoy.service.discovery.v3.AggregatedDiscoveryService/"
           "StreamAggregatedResources")
    headers = sign(EXAMPLE, "us-west-2", "POST", url, {"X-Amz-Content-SHA256": EMPTY_SHA256}, None)
    assert headers["Host"] == "meshplane.example:15000"
    assert "SignedHeaders=host;x-amz-content-sha256;x-amz-date," in headers["Authorization"]
    assert _signature(headers) == "59f3e9950628df085f1273c526eb4b7920c4da86918e1c49f54076fc0da736c8"


@pytest.mark.parametrize(("url", "host"), [
    ("http://127.0.0.1:8080", "127.0.0.1:8080"),
    ("http://Meshplane.Example:80", "meshplane.example"),
    ("https://meshplane.example:443/", "meshplane.example"),
    ("https://meshplane.example:8443", "meshplane.example:8443"),
    ("http://[::1]:8080", "[::1]:8080"),
])
def test_host_header_is_the_one_signed_and_sent(url: str, host: str) -> None:
    headers = sign(KEY, "us-east-1", "GET", url + "/v20190125/meshes", {}, None)
    assert headers["Host"] == host


# -- what a server receives ----------------------------------------------------------------------

def test_every_request_verifies_as_received(server: RecordingServer) -> None:
    """GET with an awkward query, PUT with a body and odd names, DELETE: each verifies on the wire."""
    client = Client(server.endpoint, KEY, "eu-west-1")
    client.call("GET", f"/v20190125/meshes/{quote('a b:c@d')}/virtualNodes",
                {"limit": "5", "nextToken": "x/y=z +~", "meshOwner": "123456789012", "empty": ""})
    client.call("PUT", "/v20190125/meshes", None, {"meshName": "ünïcode mesh", "spec": {}})
    client.call("DELETE", f"/v20190125/meshes/{quote('a.b')}", {"meshOwner": "123456789012"})
    assert len(server.requests) == 3
    for received in server.requests:
        computed, given = expected_signature(received, KEY.secret_access_key)
        assert computed == given, received
        assert "/eu-west-1/appmesh/aws4_request" in (received.header("authorization") or "")
        assert received.header("x-amz-security-token") is None
    get, put, _ = server.requests
    assert get.target.endswith("?limit=5&nextToken=x%2Fy%3Dz%20%2B~&meshOwner=123456789012")
    signed = (put.header("authorization") or "").split("SignedHeaders=")[1].split(",")[0].split(";")
    assert {"host", "x-amz-date", "content-type"} <= set(signed)
    assert "user-agent" not in signed


def test_session_token_is_sent_and_signed(server: RecordingServer) -> None:
    temporary = Credentials("ASIATEMPORARY", "temp-secret", "the-session-token")
    Client(server.endpoint, temporary).call("GET", "/v20190125/meshes")
    received = server.requests[0]
    assert received.header("x-amz-security-token") == "the-session-token"
    assert "x-amz-security-token" in (received.header("authorization") or "")
    computed, given = expected_signature(received, "temp-secret")
    assert computed == given


def test_without_credentials_requests_are_unsigned(server: RecordingServer) -> None:
    Client(server.endpoint).call("GET", "/v20190125/meshes")
    assert server.requests[0].header("authorization") is None
    assert server.requests[0].header("x-amz-date") is None


def test_auth_refusal_is_not_retried_and_says_what_to_check(server: RecordingServer) -> None:
    server.answers.append(Answer(403, {"message": "The request signature we calculated does not match ..."},
                                 "InvalidSignatureException"))
    with pytest.raises(ApiError) as raised:
        Client(server.endpoint, KEY, "eu-west-1").call("PUT", "/v20190125/meshes", None, {"meshName": "m"})
    err = raised.value
    assert len(server.requests) == 1
    assert (err.status, err.code) == (403, "InvalidSignatureException")
    assert "secret key, the region" in err.hint and KEY.access_key_id in err.hint and "eu-west-1" in err.hint
    assert KEY.secret_access_key not in str(err) + err.detail + repr(KEY)


def test_throttling_is_retried_and_each_attempt_signed_afresh(server: RecordingServer) -> None:
    server.answers.append(Answer(429, {"message": "slow down"}, "TooManyRequestsException"))
    assert Client(server.endpoint, KEY).call("GET", "/v20190125/meshes") == {}
    assert len(server.requests) == 2
    for received in server.requests:
        computed, given = expected_signature(received, KEY.secret_access_key)
        assert computed == given


# -- where settings come from --------------------------------------------------------------------

def test_credentials_come_from_the_first_complete_source() -> None:
    both = {"MESHPLANE_ACCESS_KEY_ID": "MPKEY", "MESHPLANE_SECRET_ACCESS_KEY": "mps",
            "AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "aws", "AWS_SESSION_TOKEN": "tok"}
    given = resolve_credentials("CFGKEY", "cfg", both)
    assert (given.access_key_id, given.secret_access_key, given.session_token) == ("CFGKEY", "cfg", None)
    meshplane = resolve_credentials(None, None, both)
    assert (meshplane.access_key_id, meshplane.session_token, meshplane.source) == (
        "MPKEY", None, "MESHPLANE_ACCESS_KEY_ID")
    aws = resolve_credentials(None, None, {k: v for k, v in both.items() if k.startswith("AWS")})
    assert (aws.access_key_id, aws.secret_access_key, aws.session_token) == ("AKIA", "aws", "tok")
    assert resolve_credentials(None, None, {}) is None
    assert "mps" not in repr(meshplane) and "tok" not in repr(aws)


@pytest.mark.parametrize(("args", "env", "message"), [
    (("CFGKEY", None), {}, "access_key is set but secret_key is not"),
    ((None, "cfg"), {}, "secret_key is set but access_key is not"),
    ((None, None), {"MESHPLANE_ACCESS_KEY_ID": "K"}, "MESHPLANE_ACCESS_KEY_ID is set but MESHPLANE_SECRET_ACCESS_KEY"),
    ((None, None), {"AWS_SECRET_ACCESS_KEY": "s"}, "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not"),
])
def test_half_a_key_pair_is_an_error(args: tuple[str | None, str | None], env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resolve_credentials(*args, env)


def test_region_and_ca_file_defaults() -> None:
    assert resolve_region("ap-south-1", {"AWS_REGION": "x"}) == "ap-south-1"
    assert resolve_region(None, {"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "x"}) == "eu-west-1"
    assert resolve_region(None, {"AWS_DEFAULT_REGION": "eu-north-1"}) == "eu-north-1"
    assert resolve_region(None, {}) == "us-east-1"
    assert resolve_ca_file("a.pem", {"MESHPLANE_CA_FILE": "b.pem"}) == "a.pem"
    assert resolve_ca_file(None, {"MESHPLANE_CA_FILE": "b.pem", "AWS_CA_BUNDLE": "c.pem"}) == "b.pem"
    assert resolve_ca_file(None, {"AWS_CA_BUNDLE": "c.pem"}) == "c.pem"
    assert resolve_ca_file(None, {}) is None


# -- HTTPS ---------------------------------------------------------------------------------------

def test_https_endpoint_is_verified_against_the_ca_file(tmp_path: Path) -> None:
    ca, cert, key = write_test_ca(tmp_path)
    srv = RecordingServer(tls=(cert, key))
    try:
        assert Client(srv.endpoint, KEY, ca_file=str(ca)).call("GET", "/v20190125/meshes") == {}
        computed, given = expected_signature(srv.requests[0], KEY.secret_access_key)
        assert computed == given
        with pytest.raises(ApiError) as raised:  # the system's trust store does not know this CA
            Client(srv.endpoint, KEY).call("GET", "/v20190125/meshes")
        assert "CERTIFICATE_VERIFY_FAILED" in raised.value.message and "ca_file" in raised.value.hint
        assert len(srv.requests) == 1
    finally:
        srv.close()


# -- meshplane proxy-status ----------------------------------------------------------------------

PROXIES = {"proxies": [{"nodeId": "mesh/m/virtualNode/n", "meshName": "m", "protocol": "sotw", "connected": True,
                        "connectedSince": 1.0, "diagnostics": [], "types": {}}]}


def test_proxy_status_signs_with_the_environment_key(server: RecordingServer, clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("MESHPLANE_ACCESS_KEY_ID", KEY.access_key_id)
    clean_env.setenv("MESHPLANE_SECRET_ACCESS_KEY", KEY.secret_access_key)
    clean_env.setenv("AWS_REGION", "eu-west-1")
    server.answers.append(Answer(200, PROXIES))
    result = CliRunner().invoke(main, ["proxy-status", "--endpoint", server.endpoint, "--mesh", "m b"])
    assert result.exit_code == 0, result.output
    assert "mesh/m/virtualNode/n" in result.output
    received = server.requests[0]
    assert received.target == "/meshplane/v1/proxies?mesh=m%20b"
    computed, given = expected_signature(received, KEY.secret_access_key)
    assert computed == given
    assert f"Credential={KEY.access_key_id}/" in (received.header("authorization") or "")
    assert "/eu-west-1/appmesh/" in (received.header("authorization") or "")


def test_proxy_status_flags_and_ca_file(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    ca, cert, key = write_test_ca(tmp_path)
    srv = RecordingServer(tls=(cert, key))
    try:
        srv.answers.append(Answer(200, PROXIES))
        result = CliRunner().invoke(main, [
            "proxy-status", "--endpoint", srv.endpoint, "--ca-file", str(ca),
            "--access-key-id", KEY.access_key_id, "--secret-access-key", KEY.secret_access_key])
        assert result.exit_code == 0, result.output
        computed, given = expected_signature(srv.requests[0], KEY.secret_access_key)
        assert computed == given
        untrusted = CliRunner().invoke(main, ["proxy-status", "--endpoint", srv.endpoint])
        assert untrusted.exit_code == 1 and "--ca-file" in untrusted.output
    finally:
        srv.close()


def test_proxy_status_refused_shows_the_code_never_the_secret(server: RecordingServer,
                                                               clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("AWS_ACCESS_KEY_ID", KEY.access_key_id)
    clean_env.setenv("AWS_SECRET_ACCESS_KEY", KEY.secret_access_key)
    server.answers.append(Answer(403, {"message": "User: arn:aws:iam::111122223333:user/ro is not authorized to "
                                                  "perform: meshplane:ListProxies on resource: *"},
                                 "AccessDeniedException"))
    result = CliRunner().invoke(main, ["proxy-status", "--endpoint", server.endpoint])
    assert result.exit_code == 1
    assert "AccessDeniedException" in result.output and "meshplane:ListProxies" in result.output
    assert "policy does not allow" in result.output
    assert KEY.secret_access_key not in result.output
    assert len(server.requests) == 1


def test_proxy_status_half_a_key_is_a_usage_error(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("MESHPLANE_ACCESS_KEY_ID", "K")
    result = CliRunner().invoke(main, ["proxy-status", "--endpoint", "http://127.0.0.1:9"])
    assert result.exit_code == 2 and "MESHPLANE_SECRET_ACCESS_KEY" in result.output
    flags = CliRunner().invoke(main, ["proxy-status", "--endpoint", "http://127.0.0.1:9", "--access-key-id", "K"])
    assert flags.exit_code == 2 and "--access-key-id is set but --secret-access-key is not" in flags.output


def test_url_query_is_encoded_as_sigv4_canonical_form() -> None:
    url = Client("http://h").url("/p", {"a": "x y", "b": "é/~", "c": ""})
    assert urllib.parse.urlsplit(url).query == "a=x%20y&b=%C3%A9%2F~"
