"""`meshplane terraform install-provider` and the process Terraform starts."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from meshplane import __version__
from meshplane.terraform import mirror
from meshplane.terraform.cli import terraform_group

ADDRESS = "registry.terraform.io/meshplane/meshplane"


def test_install_provider_lays_out_an_unpacked_mirror_and_prints_the_cli_config(tmp_path: Path) -> None:
    result = CliRunner().invoke(terraform_group, ["install-provider", "--dir", str(tmp_path / "m")])
    assert result.exit_code == 0, result.output
    executable = (tmp_path / "m" / ADDRESS / __version__ / mirror.os_arch()
                  / f"terraform-provider-meshplane_v{__version__}")
    assert os.access(executable, os.X_OK)
    assert executable.read_text() == mirror.wrapper_script(sys.executable)
    assert f'exec "${{MESHPLANE_TF_PYTHON:-{sys.executable}}}" -m meshplane.terraform "$@"' in executable.read_text()
    assert result.stdout == (
        "provider_installation {\n"
        "  filesystem_mirror {\n"
        f'    path    = "{(tmp_path / "m").resolve()}"\n'
        f'    include = ["{ADDRESS}"]\n'
        "  }\n"
        "  direct {\n"
        f'    exclude = ["{ADDRESS}"]\n'
        "  }\n"
        "}\n"
    )
    assert f"installed {executable}" in result.stderr


def first_line(argv: list[str], home: Path) -> str:
    """Start ``argv``, return its first stdout line, and stop it by PID."""
    env = {**os.environ, "HOME": str(home)}
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    try:
        assert proc.stdout is not None
        return proc.stdout.readline()
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_the_wrapper_starts_the_provider_with_the_go_plugin_handshake(tmp_path: Path) -> None:
    executable = mirror.install(tmp_path / "m")
    line = first_line([str(executable)], tmp_path)
    assert re.fullmatch(r"1\|6\|unix\|/\S+\.sock\|grpc\|[A-Za-z0-9+/]+\n", line), line


def test_dev_mode_prints_a_reattach_configuration(tmp_path: Path) -> None:
    line = first_line([sys.executable, "-m", "meshplane.terraform", "--dev"], tmp_path)
    assert line.startswith(f"TF_REATTACH_PROVIDERS='{{\"{ADDRESS}\": {{\"Protocol\": \"grpc\", \"ProtocolVersion\": 6")
