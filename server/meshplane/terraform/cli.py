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


@terraform_group.command("docs")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("docs/terraform"),
              show_default=True, help="Directory to write the reference pages into.")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 when the pages under --out are stale.")
def docs_command(out: Path, check: bool) -> None:
    """Generate the provider's reference pages (index, one per resource and data source).

    They are rendered from the schema the provider builds from openapi.json + terraform.json
    (the same files the provider reads), so `make spec` regenerates them with the spec.
    """
    from meshplane.terraform import docs  # loads the schema and the tf stubs: only for this command

    if check:
        stale = docs.stale(out)
        for relative in stale:
            click.echo(f"stale: {out / relative}", err=True)
        if stale:
            raise SystemExit(1)
        return
    written = docs.write(out)
    click.echo(f"wrote {len(written)} pages under {out}", err=True)


if __name__ == "__main__":
    terraform_group()
