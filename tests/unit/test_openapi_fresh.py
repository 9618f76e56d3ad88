"""provider-spec/openapi.json is generated: it must equal what the server's schemas produce now."""

from __future__ import annotations

import json
from pathlib import Path

from meshplane.openapi import build_openapi

SPEC = Path(__file__).resolve().parents[2] / "provider-spec" / "openapi.json"


def test_checked_in_openapi_document_is_current():
    assert SPEC.exists(), "run `make spec`"
    checked_in = json.loads(SPEC.read_text())
    assert checked_in == json.loads(json.dumps(build_openapi())), "provider-spec/openapi.json is stale: run `make spec`"


def test_openapi_document_has_all_38_app_mesh_operations():
    ops = [op["operationId"] for path in build_openapi()["paths"].values() for op in path.values()
           if isinstance(op, dict) and "operationId" in op and not op["operationId"].startswith("Meshplane")]
    assert len(set(ops)) == 38
