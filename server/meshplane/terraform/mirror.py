"""Lay the provider out as a Terraform filesystem mirror (unpacked layout), for offline installs.

    <dir>/registry.terraform.io/meshplane/meshplane/<version>/<os>_<arch>/terraform-provider-meshplane_v<version>

The executable is a two-line shell wrapper that execs ``<python> -m meshplane.terraform`` with the
Python of the environment meshplane is installed in (``MESHPLANE_TF_PYTHON`` overrides it at run
time). ``terraform init`` records its hash in .terraform.lock.hcl; the hash changes only when the
wrapper's Python path does.
"""

from __future__ import annotations

import platform
import sys
from pathlib import Path

from meshplane import __version__
from meshplane.terraform import spec as provider_spec

PYTHON_ENV = "MESHPLANE_TF_PYTHON"
_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "i386": "386", "i686": "386"}


def os_arch() -> str:
    """Terraform's platform name for this machine, e.g. ``linux_amd64``."""
    machine = platform.machine().lower()
    return f"{sys.platform.replace('win32', 'windows')}_{_ARCH.get(machine, machine)}"


def source() -> str:
    """The provider's full source address, e.g. ``registry.terraform.io/meshplane/meshplane``."""
    mapping = provider_spec.load_mapping()["provider"]
    return f"{mapping['hostname']}/{mapping['namespace']}/{mapping['type']}"


def wrapper_script(python: str) -> str:
    return (
        "#!/bin/sh\n"
        "# meshplane Terraform provider: Terraform runs this file; it starts the provider (python -m meshplane.terraform).\n"
        f'exec "${{{PYTHON_ENV}:-{python}}}" -m meshplane.terraform "$@"\n'
    )


def install(directory: Path, python: str | None = None, version: str = __version__) -> Path:
    """Write the wrapper into the mirror under ``directory``; return the executable's path."""
    provider_type = source().rsplit("/", 1)[-1]
    target = directory.resolve() / source() / version / os_arch() / f"terraform-provider-{provider_type}_v{version}"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(wrapper_script(python or sys.executable))
    target.chmod(0o755)
    return target


def cli_config(directory: Path) -> str:
    """The ``provider_installation`` block that makes Terraform use this mirror for meshplane only."""
    address = source()
    return (
        "provider_installation {\n"
        "  filesystem_mirror {\n"
        f'    path    = "{directory.resolve()}"\n'
        f'    include = ["{address}"]\n'
        "  }\n"
        "  direct {\n"
        f'    exclude = ["{address}"]\n'
        "  }\n"
        "}\n"
    )
