"""meshplane.auth.sigv4: the reference vectors, botocore's signer as the oracle, AWS's error answers."""

from __future__ import annotations

import calendar
import hashlib
import random
import string
import time
from urllib.parse import quote, urlsplit

import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from werkzeug.datastructures import Headers

from meshplane.auth import sigv4
from meshplane.auth.keys import Key
from meshplane.errors import (
    ExpiredTokenException,
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)

AKID = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
VECTOR_NOW = calendar.timegm(time.strptime("20261201T201625Z", "%Y%m%dT%H%M%SZ"))


def key(**changes: object) -> Key:
    fields = dict(access_key_id=AKID, name="ex", principal_arn="arn:aws:iam::111122223333:user/ex", admin=True,
                  policy=None, enabled=True, expires_at=None, secret=SECRET)
    fields.update(changes)
    return Key(**fields)  # type: ignore[arg-type]


def lookup_of(k: Key | None):  # type: ignore[no-untyped-def]
    return lambda akid: k if k is not None and akid == k.access_key_id else None


def check(method, path, query, headers, payload=EMPTY, *, k=None, now=VECTOR_NOW, region="us-west-2", host=None):  # type: ignore[no-untyped-def]
    return sigv4.verify(method, path, query, Headers(headers), payload, lookup=lookup_of(k or key()),
                        service="appmesh", regions={region}, now=now, host=host)


# -- auth.md §1.2 vectors -------------------------------------------------------------------

VECTOR_HEADERS = {
    "Host": "appmesh.us-west-2.amazonaws.com",
    "X-Amz-Date": "20261201T201625Z",
    "Authorization": f"AWS4-HMAC-SHA256 Credential={AKID}/20261201/us-west-2/appmesh/aws4_request, "
                     "SignedHeaders=host;x-amz-date, "
                     "Signature=834d82e689c7fcc171794c892e1c48eca470ee648f8618fb74a908449e1772d0",
}
VECTOR_PATH = "/v20190125/meshes/a%20b%3Ac/virtualNodes"
VECTOR_QUERY = "limit=5&nextToken=x%2Fy%3Dz&meshOwner=123456789012"


def test_list_virtual_nodes_vector_verifies() -> None:
    assert check("GET", VECTOR_PATH, VECTOR_QUERY, VECTOR_HEADERS).access_key_id == AKID


def test_vector_canonical_path_is_double_encoded() -> None:
    assert sigv4.canonical_path(VECTOR_PATH) == "/v20190125/meshes/a%2520b%253Ac/virtualNodes"
    canonical = "\n".join([
        "GET", "/v20190125/meshes/a%2520b%253Ac/virtualNodes", "limit=5&meshOwner=123456789012&nextToken=x%2Fy%3Dz",
        "host:appmesh.us-west-2.amazonaws.com\nx-amz-date:20261201T201625Z\n", "host;x-amz-date", EMPTY,
    ])
    assert hashlib.sha256(canonical.encode()).hexdigest() == "e577642381cb32b13c310aebd4beabeb48675500ca01e68ab2c9df46c3d49b10"


def test_a_single_encoding_verifier_fails_the_vector(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test is able to tell: a verifier that encodes the path once rejects the vector."""
    monkeypatch.setattr(sigv4, "canonical_path", lambda raw: raw)
    with pytest.raises(InvalidSignatureException):
        check("GET", VECTOR_PATH, VECTOR_QUERY, VECTOR_HEADERS)


def test_xds_shaped_vector_with_host_override() -> None:
    headers = {
        "x-amz-date": "20261201T201600Z",
        "x-amz-content-sha256": EMPTY,
        "authorization": f"AWS4-HMAC-SHA256 Credential={AKID}/20261201/us-west-2/appmesh/aws4_request, "
                         "SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
                         "Signature=59f3e9950628df085f1273c526eb4b7920c4da86918e1c49f54076fc0da736c8",
    }
    path = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources"
    assert check("POST", path, "", headers, None, host="meshplane.example:15000")
    with pytest.raises(InvalidSignatureException):
        check("POST", path, "", headers, None, host="other.example:15000")


def test_dot_segments_are_removed_before_signing() -> None:
    """botocore sends /meshes/../virtualNodes/a.b but signs /virtualNodes/a.b."""
    assert sigv4.canonical_path("/v20190125/meshes/../virtualNodes/a.b") == "/v20190125/virtualNodes/a.b"
    assert sigv4.canonical_path("/a//b/./c/") == "/a/b/c/"
    assert sigv4.canonical_path("") == "/"


# -- botocore as the oracle ---------------------------------------------------------------------

NAME_CHARS = string.ascii_letters + string.digits + " -_.~:@!$&'()*+,;=%é"


def botocore_signed(method: str, url: str, body: bytes = b"", headers: dict[str, str] | None = None,
                    now: float = VECTOR_NOW, query_auth: bool = False) -> AWSRequest:
    request = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    signer = (SigV4QueryAuth if query_auth else SigV4Auth)(Credentials(AKID, SECRET), "appmesh", "us-west-2")
    import datetime as dt
    from unittest import mock

    fixed = dt.datetime.fromtimestamp(now, dt.timezone.utc).replace(tzinfo=None)
    with mock.patch("botocore.auth.get_current_datetime", return_value=fixed):
        signer.add_auth(request)
    return request


def verify_botocore_request(request: AWSRequest, now: float = VECTOR_NOW) -> Key:
    parts = urlsplit(request.url)
    headers = Headers(dict(request.headers.items()))
    headers.setdefault("Host", parts.netloc)
    body = request.body or b""
    if isinstance(body, str):
        body = body.encode()
    return sigv4.verify(request.method, parts.path, parts.query, headers, hashlib.sha256(body).hexdigest(),
                        lookup=lookup_of(key()), service="appmesh", regions={"us-west-2"}, now=now)


@pytest.mark.parametrize("seed", range(60))
def test_botocore_signatures_verify(seed: int) -> None:
    rng = random.Random(seed)
    name = "".join(rng.choice(NAME_CHARS) for _ in range(rng.randint(1, 12)))
    other = "".join(rng.choice(NAME_CHARS) for _ in range(rng.randint(1, 8)))
    path = f"/v20190125/meshes/{quote(name, safe='-_.~')}/virtualNodes/{quote(other, safe='-_.~')}"
    query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in
                     [("limit", str(rng.randint(1, 99))), ("nextToken", other + "/=" + name), ("meshOwner", "1" * 12)][: rng.randint(0, 3)])
    method = rng.choice(["GET", "PUT", "DELETE"])
    body = rng.choice([b"", b'{"spec":{}}', name.encode()])
    headers = {"Content-Type": "application/json"} if body else {}
    if rng.random() < 0.3:
        headers["X-Amz-Security-Token"] = "session token"
    if rng.random() < 0.3:
        headers["Amz-Sdk-Request"] = "attempt=1;   max=3"  # Terraform signs these; spaces collapse
    port = rng.choice(["", ":8080"])
    request = botocore_signed(method, f"http://127.0.0.1{port}{path}" + (f"?{query}" if query else ""), body, headers)
    assert verify_botocore_request(request).access_key_id == AKID
    # Any change to what was signed breaks it.
    request.headers["X-Amz-Date"] = "20261201T201626Z"
    with pytest.raises(InvalidSignatureException):
        verify_botocore_request(request)


def test_date_header_instead_of_x_amz_date() -> None:
    """botocore rewrites an existing Date header, signs it, and drops X-Amz-Date."""
    request = botocore_signed("GET", "http://127.0.0.1:8080/v20190125/meshes", headers={"Date": "whatever"})
    assert "X-Amz-Date" not in request.headers and request.headers["Date"].endswith("-0000")
    assert verify_botocore_request(request).access_key_id == AKID


def test_body_must_match_the_signed_hash() -> None:
    request = botocore_signed("PUT", "http://127.0.0.1:8080/v20190125/meshes", b'{"meshName":"a"}',
                              {"Content-Type": "application/json"})
    parts = urlsplit(request.url)
    headers = Headers(dict(request.headers.items()))
    headers["Host"] = parts.netloc
    with pytest.raises(InvalidSignatureException):
        sigv4.verify("PUT", parts.path, "", headers, sigv4.payload_hash(b'{"meshName":"b"}'),
                     lookup=lookup_of(key()), service="appmesh", regions={"us-west-2"}, now=VECTOR_NOW)


def test_content_sha256_header_must_match_the_body() -> None:
    request = botocore_signed("PUT", "http://127.0.0.1:8080/v20190125/meshes", b"{}",
                              {"X-Amz-Content-SHA256": sigv4.payload_hash(b"{}")})
    assert verify_botocore_request(request)
    parts = urlsplit(request.url)
    headers = Headers(dict(request.headers.items()))
    headers["Host"] = parts.netloc
    with pytest.raises(InvalidSignatureException, match="x-amz-content-sha256"):
        sigv4.verify("PUT", parts.path, "", headers, sigv4.payload_hash(b"{ }"), lookup=lookup_of(key()),
                     service="appmesh", regions={"us-west-2"}, now=VECTOR_NOW)


def test_presigned_url_verifies_and_expires() -> None:
    request = botocore_signed("GET", "http://127.0.0.1:8080/v20190125/meshes?limit=3", query_auth=True)
    parts = urlsplit(request.url)
    assert "X-Amz-Signature=" in parts.query
    assert verify_botocore_request(request).access_key_id == AKID
    with pytest.raises(InvalidSignatureException, match="Signature expired"):
        verify_botocore_request(request, now=VECTOR_NOW + 3601)


def test_raw_path_alternatives_are_tried_in_order() -> None:
    """A client that left ':' unencoded signed it single-encoded; the decoded path cannot tell."""
    request = botocore_signed("GET", "http://127.0.0.1:8080/v20190125/meshes/a:b")
    parts = urlsplit(request.url)
    headers = Headers(dict(request.headers.items()))
    headers["Host"] = parts.netloc
    common = dict(lookup=lookup_of(key()), service="appmesh", regions={"us-west-2"}, now=VECTOR_NOW)
    with pytest.raises(InvalidSignatureException):
        sigv4.verify("GET", sigv4.encode_path("/v20190125/meshes/a:b"), "", headers, EMPTY, **common)
    assert sigv4.verify("GET", (sigv4.encode_path("/v20190125/meshes/a:b"), "/v20190125/meshes/a:b"), "",
                        headers, EMPTY, **common)


# -- refusals: AWS's codes and messages, in AWS's order --------------------------------------

def signed_now(now: float, **kw: object) -> AWSRequest:
    return botocore_signed("GET", "http://127.0.0.1:8080/v20190125/meshes", now=now, **kw)  # type: ignore[arg-type]


def test_missing_authorization() -> None:
    with pytest.raises(MissingAuthenticationTokenException, match="^Missing Authentication Token$"):
        check("GET", "/v20190125/meshes", "", {"Host": "h"})


@pytest.mark.parametrize(("authorization", "message"), [
    ("AWS4-HMAC-SHA1 Credential=a/b/c/d/e, SignedHeaders=host, Signature=00", "Unsupported AWS 'algorithm'"),
    ("AWS4-HMAC-SHA256 SignedHeaders=host, Signature=00", "requires 'Credential' parameter"),
    ("AWS4-HMAC-SHA256 Credential=a/b/c/d/e, Signature=00", "requires 'SignedHeaders' parameter"),
    ("AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=host", "requires 'Signature' parameter"),
    ("AWS4-HMAC-SHA256 Credential=a/b/c, SignedHeaders=host;x-amz-date, Signature=00", "exactly 5 slash-delimited"),
])
def test_incomplete_signature(authorization: str, message: str) -> None:
    with pytest.raises(IncompleteSignatureException, match=message):
        check("GET", "/", "", {"Host": "h", "X-Amz-Date": "20261201T201625Z", "Authorization": authorization})


def test_malformed_or_missing_date() -> None:
    auth = f"AWS4-HMAC-SHA256 Credential={AKID}/20261201/us-west-2/appmesh/aws4_request, SignedHeaders=host;x-amz-date, Signature=00"
    with pytest.raises(IncompleteSignatureException, match="ISO-8601 'basic format'"):
        check("GET", "/", "", {"Host": "h", "X-Amz-Date": "2026-12-01T20:16:25Z", "Authorization": auth})
    with pytest.raises(IncompleteSignatureException, match="either a 'X-Amz-Date' or a 'Date' header"):
        check("GET", "/", "", {"Host": "h", "Authorization": auth})


@pytest.mark.parametrize(("scope", "message"), [
    ("20261130/us-west-2/appmesh/aws4_request", "Date in Credential scope does not match"),
    ("20261201/eu-west-1/appmesh/aws4_request", "Credential should be scoped to a valid region, not 'eu-west-1'"),
    ("20261201/us-west-2/ec2/aws4_request", "Credential should be scoped to correct service: 'appmesh'"),
    ("20261201/us-west-2/appmesh/aws5_request", "valid terminator: 'aws4_request', not 'aws5_request'"),
])
def test_wrong_scope(scope: str, message: str) -> None:
    auth = f"AWS4-HMAC-SHA256 Credential={AKID}/{scope}, SignedHeaders=host;x-amz-date, Signature=00"
    with pytest.raises(InvalidSignatureException, match=message):
        check("GET", "/", "", {"Host": "h", "X-Amz-Date": "20261201T201625Z", "Authorization": auth})


def test_host_must_be_signed() -> None:
    auth = f"AWS4-HMAC-SHA256 Credential={AKID}/20261201/us-west-2/appmesh/aws4_request, SignedHeaders=x-amz-date, Signature=00"
    with pytest.raises(InvalidSignatureException, match="'Host' or ':authority' must be a 'SignedHeader'"):
        check("GET", "/", "", {"Host": "h", "X-Amz-Date": "20261201T201625Z", "Authorization": auth})


@pytest.mark.parametrize(("offset", "ok"), [(-299, True), (299, True), (-301, False), (301, False)])
def test_clock_skew_window(offset: int, ok: bool) -> None:
    request = signed_now(VECTOR_NOW + offset)
    if ok:
        assert verify_botocore_request(request)
        return
    expected = "Signature expired: .* is now earlier than .* - 5 min.\\)" if offset < 0 else \
        "Signature not yet current: .* is still later than .* \\+ 5 min.\\)"
    with pytest.raises(InvalidSignatureException, match=expected):
        verify_botocore_request(request)


def test_expired_message_is_awss() -> None:
    request = signed_now(VECTOR_NOW - 600)
    with pytest.raises(InvalidSignatureException) as info:
        verify_botocore_request(request)
    assert info.value.message == ("Signature expired: 20261201T200625Z is now earlier than 20261201T201125Z "
                                  "(20261201T201625Z - 5 min.)")


def test_unknown_disabled_and_expired_keys() -> None:
    request = signed_now(VECTOR_NOW)
    parts = urlsplit(request.url)
    headers = Headers(dict(request.headers.items()))
    headers["Host"] = parts.netloc

    def run(k: Key | None) -> Key:
        return sigv4.verify("GET", parts.path, "", headers, EMPTY, lookup=lookup_of(k), service="appmesh",
                            regions={"us-west-2"}, now=VECTOR_NOW)

    with pytest.raises(UnrecognizedClientException, match="security token included in the request is invalid"):
        run(None)
    with pytest.raises(UnrecognizedClientException):
        run(key(enabled=False))
    with pytest.raises(ExpiredTokenException, match="is expired"):
        run(key(expires_at=VECTOR_NOW - 1))
    assert run(key(expires_at=VECTOR_NOW + 60))
    with pytest.raises(InvalidSignatureException, match="does not match the signature you provided"):
        run(key(secret="x" * 40))


def test_messages_never_hold_the_secret() -> None:
    request = signed_now(VECTOR_NOW)
    parts = urlsplit(request.url)
    headers = Headers(dict(request.headers.items()))
    headers["Host"] = parts.netloc
    with pytest.raises(InvalidSignatureException) as info:
        sigv4.verify("GET", parts.path, "", headers, EMPTY, lookup=lookup_of(key(secret="z" * 40)),
                     service="appmesh", regions={"us-west-2"}, now=VECTOR_NOW)
    assert "z" * 10 not in info.value.message and SECRET not in repr(key())


def test_signing_keys_are_cached() -> None:
    sigv4.signer_for.cache_clear()
    for _ in range(3):
        verify_botocore_request(signed_now(VECTOR_NOW))
    info = sigv4.signer_for.cache_info()
    assert info.misses == 1 and info.hits == 2


def test_common_requests_skip_the_full_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    """What SDKs send (header auth, X-Amz-Date, a scope seen before) is checked with the scope
    remembered; everything else, and every refusal, goes through the full check."""
    assert verify_botocore_request(signed_now(VECTOR_NOW))

    def full_check(value: str) -> dict[str, str]:
        raise AssertionError("the full check ran")

    monkeypatch.setattr(sigv4, "_parse_authorization", full_check)
    assert verify_botocore_request(signed_now(VECTOR_NOW + 1))
    with pytest.raises(AssertionError, match="the full check ran"):  # a refusal (here: too old): the full check says why
        verify_botocore_request(signed_now(VECTOR_NOW + 1), now=VECTOR_NOW + 400)
    monkeypatch.undo()
    wrong = signed_now(VECTOR_NOW)
    wrong.headers.replace_header("Authorization", wrong.headers["Authorization"][:-4] + "0000")
    with pytest.raises(InvalidSignatureException, match="does not match the signature you provided"):
        verify_botocore_request(wrong)


def test_signer_is_hmac_sha256() -> None:
    import hmac

    for key_bytes in (b"", b"k" * 32, bytes(range(64))):
        for message in ("", "AWS4-HMAC-SHA256\n20261201T201625Z\nscope\nabc", "é" * 100):
            expected = hmac.new(key_bytes, message.encode(), hashlib.sha256).hexdigest()
            assert sigv4.Signer(key_bytes).hexdigest(message) == expected
