"""The `meshplane` command: thin click wrappers around the real work."""

from __future__ import annotations

import sys
from typing import Any

import click

from meshplane.config import Config


def _config(**flags: Any) -> Config:
    try:
        return Config.from_env(**flags)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


@click.group()
@click.version_option(package_name="meshplane")
def main() -> None:
    """meshplane: the App Mesh API, Envoy over xDS, and Terraform, self-hosted."""


@main.command()
@click.option("--db", help="SQLite database file [MESHPLANE_DB; default meshplane.db]")
@click.option("--api-listen", help="REST API HOST:PORT [MESHPLANE_API_LISTEN; default 127.0.0.1:8080]")
@click.option("--xds-listen", help="xDS gRPC HOST:PORT or 'off' [MESHPLANE_XDS_LISTEN; default 127.0.0.1:18000]")
@click.option("--account-id", help="12-digit account id [MESHPLANE_ACCOUNT_ID; default 111122223333]")
@click.option("--region", help="region in ARNs [MESHPLANE_REGION; default us-east-1]")
@click.option("--workers", type=int, help="API worker processes [MESHPLANE_WORKERS; default 2]")
@click.option("--threads", type=int, help="threads per API worker [MESHPLANE_THREADS; default 8]")
@click.option("--synchronous", type=click.Choice(["NORMAL", "FULL"], case_sensitive=False),
              help="SQLite synchronous setting [MESHPLANE_SYNCHRONOUS; default NORMAL]")
def serve(**flags: Any) -> None:
    """Serve the App Mesh REST API and the xDS streamer."""
    from meshplane.serve import serve as run

    run(_config(**flags))


@main.group()
def openapi() -> None:
    """The OpenAPI document generated from the server's schemas."""


@openapi.command("write")
@click.argument("path", default="-")
def openapi_write(path: str) -> None:
    """Write the OpenAPI document to PATH (default: standard output)."""
    from meshplane.openapi import build_openapi, dump_openapi

    text = dump_openapi(build_openapi())
    if path == "-":
        sys.stdout.write(text)
    else:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
