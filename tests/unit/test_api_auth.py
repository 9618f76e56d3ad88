"""api/auth.py in process (Flask's test client, botocore signing): the hook's edges the live-server
tests do not reach: raw paths from decoded ones, HEAD, endpoints without an action, the audit hook."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from flask import Response

from meshplane.api.auth import WSGIHeaders, _raw_paths
from meshplane.app import create_app
from meshplane.auth.keys import KeyStore
from meshplane.auth.policy import Policy
from meshplane.config import Config

MESH_A = "arn:aws:appmesh:us-east-1:111122223333:mesh/A"


@pytest.fixture
def app_and_keys(tmp_path: Path):  # type: ignore[no-untyped-def]
    config = Config(db=str(tmp_path / "a.db"), auth="sigv4", audit_log=str(tmp_path / "audit.log"))
    app = create_app(config)

    @app.get("/meshplane/v1/unlisted")
    def unlisted() -> Response:
        return Response("{}", mimetype="application/json")

    store = KeyStore(config)
    admin = store.create("admin", admin=True)
    scoped = store.create("scoped", policy=Policy.parse({"Statement": [
        {"Effect": "Allow", "Action": ["appmesh:*", "meshplane:*"], "Resource": [MESH_A, MESH_A + "/*"]}]}))
    yield app, admin, scoped, tmp_path / "audit.log"
    store.close()
    app.extensions["meshplane.store"].close()


def call(app: Any, key: Any, method: str, path: str, body: bytes = b"") -> Any:
    url = "http://localhost" + path
    request = AWSRequest(method=method, url=url, data=body,
                         headers={"Content-Type": "application/json"} if body else {})
    SigV4Auth(Credentials(key.access_key_id, key.secret), "appmesh", "us-east-1").add_auth(request)
    return app.test_client().open(path, method=method, data=body, headers=dict(request.headers.items()))


def test_scoped_key_through_the_hook(app_and_keys: Any) -> None:
    app, admin, scoped, audit_log = app_and_keys
    assert call(app, scoped, "PUT", "/v20190125/meshes", b'{"meshName":"A"}').status_code == 200
    assert call(app, scoped, "HEAD", "/v20190125/meshes/A").status_code == 200
    denied = call(app, scoped, "PUT", "/v20190125/meshes", b'{"meshName":"B"}')
    assert denied.status_code == 403 and denied.headers["x-amzn-ErrorType"] == "AccessDeniedException"
    assert f"appmesh:CreateMesh on resource: {MESH_A[:-1]}B" in denied.json["message"]
    lines = [json.loads(line) for line in audit_log.read_text().splitlines()]
    assert [(line["action"], line["outcome"], line["key_name"]) for line in lines] == [
        ("appmesh:CreateMesh", "allowed", "scoped"), ("appmesh:CreateMesh", "denied", "scoped")]
    assert lines[1]["arn"] == MESH_A[:-1] + "B"


def test_endpoints_without_an_action_are_for_admins_only(app_and_keys: Any) -> None:
    app, admin, scoped, _ = app_and_keys
    assert call(app, admin, "GET", "/meshplane/v1/unlisted").status_code == 200
    refused = call(app, scoped, "GET", "/meshplane/v1/unlisted")
    assert refused.status_code == 403 and "meshplane:Unlisted" in refused.json["message"]


def test_unknown_paths_are_404_once_signed(app_and_keys: Any) -> None:
    app, admin, scoped, _ = app_and_keys
    assert call(app, scoped, "GET", "/v20190125/nope").status_code == 404
    assert app.test_client().get("/v20190125/nope").status_code == 403


def test_raw_paths_from_a_decoded_path_info() -> None:
    assert _raw_paths({"PATH_INFO": "/v20190125/meshes/a b"}) == ("/v20190125/meshes/a%20b",)
    assert _raw_paths({"PATH_INFO": "/v20190125/meshes/a:b"}) == ("/v20190125/meshes/a%3Ab", "/v20190125/meshes/a:b")
    # PEP 3333: UTF-8 bytes carried as latin-1 text
    assert _raw_paths({"PATH_INFO": "/m/caf\u00c3\u00a9"}) == ("/m/caf%C3%A9",)
    assert _raw_paths({"PATH_INFO": "/x", "RAW_URI": "/a%2Fb?x=1"}) == ("/a%2Fb",)


def test_wsgi_headers() -> None:
    headers = WSGIHeaders({"HTTP_X_AMZ_DATE": "d", "CONTENT_TYPE": "t", "CONTENT_LENGTH": "3", "HTTP_HOST": "h"})
    assert headers.get("X-Amz-Date") == "d" and headers.get("content-type") == "t"
    assert headers.get("Content-Length") == "3" and headers.get("host") == "h" and headers.get("nope") is None


def test_audit_lines_are_json_dumps_output() -> None:
    """The audit line is written out directly (hot path): the same bytes json.dumps would give."""
    from meshplane.auth import audit

    fields = {"time": "2026-12-02T04:00:00.000Z", "key_id": 'K\u00e9"\n', "source": "::1", "action": "a",
              "outcome": "denied", "reason": "x", "status": 403, "method": "PUT", "path": "/p",
              "extra": {"a": [1, True, None]}, "flag": True, "ratio": 1.5}
    expected = {name: fields.get(name) for name in audit.FIELDS}
    expected.update({k: v for k, v in fields.items() if k not in expected})
    assert audit._line(dict(fields)) == json.dumps(expected, separators=(",", ":"), default=str) + "\n"


def test_the_body_is_parsed_once_per_request(tmp_path: Path) -> None:
    """Authorization reads the body (names, tags) before the handler: both get the same parse."""
    from flask import request

    from meshplane.api import params
    from meshplane.errors import BadRequestException

    app = create_app(Config(db=str(tmp_path / "b.db")))
    with app.test_request_context("/", method="PUT", data=b'{"meshName": "m"}'):
        first = params.json_value(request)
        assert first == {"meshName": "m"} and params.json_value(request) is first
        assert params.body(request, {"meshName"}) is first
    with app.test_request_context("/", method="PUT", data=b"  "):
        assert params.json_value(request) is params.EMPTY_BODY and params.body(request, ()) == {}
    with app.test_request_context("/", method="PUT", data=b"{nope"):
        assert isinstance(params.json_value(request), ValueError)
        with pytest.raises(BadRequestException, match="Request body is not valid JSON: Expecting property name"):
            params.body(request, ())
