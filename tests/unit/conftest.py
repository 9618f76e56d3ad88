"""Unit-test options and golden-case helpers for the translator.

``--update-golden`` rewrites tests/unit/testdata/out/*.yaml from the current translator output
(review the diff before committing); the option is registered in tests/conftest.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

TESTDATA = Path(__file__).parent / "testdata"
GOLDEN_IN = TESTDATA / "in"
GOLDEN_OUT = TESTDATA / "out"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize any test that takes ``golden_case`` over every golden case name."""
    if "golden_case" in metafunc.fixturenames:
        metafunc.parametrize("golden_case", golden_cases())


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    """True when the run was started with --update-golden."""
    return bool(request.config.getoption("--update-golden", default=False))


@pytest.fixture
def golden() -> Any:
    """The golden helpers (test modules must not import conftest: there are two of them)."""

    class Golden:
        IN = GOLDEN_IN
        OUT = GOLDEN_OUT
        load = staticmethod(load_case)
        render = staticmethod(render)

    return Golden


def golden_cases() -> list[str]:
    """Names of the golden cases (tests/unit/testdata/in/<case>.json)."""
    return sorted(path.stem for path in GOLDEN_IN.glob("*.json"))


def load_case(name: str) -> tuple[Any, Any, Any]:
    """(MeshState, ProxyRef, LocalOverrides) of a golden case.

    A case file holds ``proxy`` (an Envoy node id), optional ``node_metadata`` (read with
    LocalOverrides.from_metadata) and ``state`` (MeshState fields; specs in stored snake_case).
    """
    from meshplane.translate import LocalOverrides
    from meshplane.translate import MeshState
    from meshplane.translate import ProxyRef

    data = json.loads((GOLDEN_IN / f"{name}.json").read_text())
    proxy = ProxyRef.parse(data["proxy"])
    assert proxy is not None, data["proxy"]
    return MeshState.from_dict(data["state"]), proxy, LocalOverrides.from_metadata(data.get("node_metadata"))


def render(config: Any) -> dict[str, Any]:
    """A ProxyConfig as plain data: short type name -> resource name -> MessageToDict, plus diagnostics."""
    from google.protobuf.json_format import MessageToDict

    resources = {
        url.rsplit(".", 1)[1]: {
            name: json.loads(json.dumps(MessageToDict(message, preserving_proto_field_name=True)))
            for name, message in sorted(messages.items())
        }
        for url, messages in config.resources.items()
    }
    return {"diagnostics": list(config.diagnostics), "resources": resources}
