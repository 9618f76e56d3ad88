"""``meshplane import`` and ``meshplane export`` (registered in meshplane/cli.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from meshplane.config import Config


def _config(**flags: Any) -> Config:
    try:
        return Config.from_env(**flags)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


def _read(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"cannot read {path}: {exc}") from None


def _names(values: tuple[str, ...]) -> dict[str, str]:
    names = {}
    for value in values:
        logical, sep, physical = value.partition("=")
        if not sep or not logical or not physical:
            raise click.UsageError(f"--set {value!r}: expected LogicalId=name")
        names[logical] = physical
    return names


@click.command("import")
@click.argument("files", nargs=-1, required=True)
@click.option("--db", help="SQLite database file or postgresql:// URL [MESHPLANE_DB; default meshplane.db]")
@click.option("--account-id", help="the server's account id [MESHPLANE_ACCOUNT_ID; default 111122223333]")
@click.option("--region", help="the server's region [MESHPLANE_REGION; default us-east-1]")
@click.option("--dry-run", is_flag=True, help="write nothing; print what would change")
@click.option("--on-conflict", type=click.Choice(["fail", "skip", "replace"]), default="fail", show_default=True,
              help="what to do with resources that exist with another spec or tags")
@click.option("--set", "sets", multiple=True, metavar="LOGICALID=NAME",
              help="the name of a CloudFormation resource whose template leaves it to be generated")
def import_command(files: tuple[str, ...], dry_run: bool, on_conflict: str, sets: tuple[str, ...],
                   **flags: Any) -> None:
    """Import App Mesh resources from FILE... (`-`: standard input), format detected from the content.

    Terraform state v4 (aws_appmesh_* and meshplane_*), CloudFormation templates (YAML or JSON),
    appmesh.k8s.aws/v1beta2 manifests, saved `aws appmesh describe-*` output, and `meshplane export`
    JSON. Everything is validated first and written in one transaction; works while the server runs.
    """
    from meshplane.errors import AppMeshError
    from meshplane.formats import FormatError, read
    from meshplane.formats.importer import import_resources
    from meshplane.store import ResourceStore, migrate

    names = _names(sets)
    resources = []
    for path in files:
        try:
            fmt, found = read(_read(path), "<stdin>" if path == "-" else path, names)
        except FormatError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"{path}: {fmt}, {len(found)} resource(s)", err=True)
        resources.extend(found)
    config = _config(**flags)
    migrate(config.db)
    store = ResourceStore(config)
    try:
        outcome = import_resources(store, resources, on_conflict=on_conflict, dry_run=dry_run)
    except AppMeshError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        store.close()
    if dry_run and outcome.diff:
        click.echo("\n".join(outcome.diff))
    click.echo(outcome.summary())


@click.command("export")
@click.option("--db", help="SQLite database file or postgresql:// URL [MESHPLANE_DB; default meshplane.db]")
@click.option("--account-id", help="the server's account id [MESHPLANE_ACCOUNT_ID; default 111122223333]")
@click.option("--region", help="the server's region [MESHPLANE_REGION; default us-east-1]")
@click.option("--mesh", "meshes", multiple=True, help="only this mesh (repeatable; default: every mesh)")
@click.option("--format", "fmt", type=click.Choice(["json", "terraform", "cloudformation", "k8s"]),
              default="json", show_default=True, help="json is lossless (backups, moves between servers)")
@click.option("--provider", type=click.Choice(["meshplane", "aws"]), default="meshplane", show_default=True,
              help="for --format terraform: meshplane/meshplane or hashicorp/aws resources")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="write the files into this directory "
              "(default: standard output)")
def export_command(meshes: tuple[str, ...], fmt: str, provider: str, out_dir: str | None, **flags: Any) -> None:
    """Export meshes (every one by default) as JSON, Terraform, CloudFormation or k8s manifests."""
    from meshplane.formats import exporter
    from meshplane.store import ResourceStore, migrate

    config = _config(**flags)
    migrate(config.db)
    store = ResourceStore(config)
    try:
        items = exporter.resources(store, list(meshes) or None)
        files = exporter.render(fmt, items, store, provider)
    finally:
        store.close()
    missing = sorted(set(meshes) - {r.mesh for r in items})
    if missing:
        raise click.ClickException(f"no such mesh: {', '.join(missing)}")
    if out_dir is None:
        for text in files.values():
            click.echo(text, nl=False)
        return
    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
        click.echo(f"wrote {directory / name}", err=True)
    click.echo(f"{len(items)} resource(s) exported", err=True)
