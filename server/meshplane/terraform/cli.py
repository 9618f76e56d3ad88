"""``meshplane terraform ...``: commands for Terraform users (registered by meshplane.cli)."""

from __future__ import annotations

from pathlib import Path

import click

from meshplane.terraform import mirror

DEFAULT_DIR = Path.home() / ".terraform.d" / "plugins"


@click.group("terraform")
def terraform_group() -> None:
    """Use meshplane from Terraform (provider meshplane/meshplane)."""


@terraform_group.command("install-provider")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_DIR,
              show_default=True, help="Filesystem mirror to install into.")
def install_provider(directory: Path) -> None:
    """Install the provider into a filesystem mirror and print the CLI configuration that uses it.

    ~/.terraform.d/plugins (the default) is one of Terraform's implied mirrors, so there the
    printed provider_installation block is optional; for any other --dir, put it in your
    CLI configuration file (~/.terraformrc or $TF_CLI_CONFIG_FILE).
    """
    target = mirror.install(directory)
    click.echo(f"installed {target}", err=True)
    click.echo(mirror.cli_config(directory), nl=False)


if __name__ == "__main__":
    terraform_group()
