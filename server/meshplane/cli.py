"""The `meshplane` command: thin click wrappers around the real work."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from meshplane.config import Config
from meshplane.terraform.cli import terraform_group


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
@click.option("--threads", type=int, help="threads per API worker [MESHPLANE_THREADS; default 2]")
@click.option("--synchronous", type=click.Choice(["NORMAL", "FULL"], case_sensitive=False),
              help="SQLite synchronous setting [MESHPLANE_SYNCHRONOUS; default NORMAL]")
@click.option("--xds-workers", type=int, help="xDS server processes, 0 = one per CPU (at most 4) [MESHPLANE_XDS_WORKERS; default 0]")
def serve(**flags: Any) -> None:
    """Serve the App Mesh REST API and the xDS streamer."""
    from meshplane.serve import serve as run

    run(_config(**flags))


@main.command()
@click.option("--db", help="SQLite database file [MESHPLANE_DB; default meshplane.db]")
@click.option("--xds-listen", help="xDS gRPC HOST:PORT [MESHPLANE_XDS_LISTEN; default 127.0.0.1:18000]")
@click.option("--debounce-ms", type=int, help="quiet time before a push [MESHPLANE_DEBOUNCE_MS; default 100]")
@click.option("--debounce-max-ms", type=int, help="longest delay of a push [MESHPLANE_DEBOUNCE_MAX_MS; default 5000]")
@click.option("--xds-workers", type=int, help="xDS server processes, 0 = one per CPU (at most 4) [MESHPLANE_XDS_WORKERS; default 0]")
@click.option("--worker", hidden=True, help="internal: GROUP:INDEX:READY_FD of a worker of `meshplane xds`")
def xds(worker: str | None, **flags: Any) -> None:
    """Serve only the xDS streamer over the database (the API may run elsewhere)."""
    from meshplane.streamer import WorkerRole, run

    config = _config(**flags)
    if config.xds_listen == "off":
        raise click.UsageError("--xds-listen off: nothing to serve")
    run(config, WorkerRole.parse(worker) if worker else None)


@main.command("envoy-bootstrap")
@click.option("--node-id", required=True, help="mesh/<mesh>/virtualNode/<name>, mesh/<mesh>/virtualGateway/<name> or an ARN")
@click.option("--xds", default="127.0.0.1:18000", show_default=True, help="meshplane's xDS HOST:PORT")
@click.option("--admin-port", type=int, default=9901, show_default=True, help="Envoy admin port (0: any free port)")
@click.option("--ingress-port", type=int, help="override the ingress listener port (default 15000)")
@click.option("--egress-port", type=int, help="override the egress listener port (default 15001)")
@click.option("--app-address", help="where the local app listens (default 127.0.0.1)")
@click.option("--delta", is_flag=True, help="use incremental (delta) xDS")
def envoy_bootstrap_command(node_id: str, xds: str, admin_port: int, ingress_port: int | None,
                            egress_port: int | None, app_address: str | None, delta: bool) -> None:
    """Print a ready Envoy bootstrap (YAML) for a virtual node or gateway."""
    import yaml

    from meshplane.bootstrap import envoy_bootstrap

    try:
        doc = envoy_bootstrap(node_id, xds, admin_port, ingress_port, egress_port, app_address, delta)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(yaml.safe_dump(doc, sort_keys=False), nl=False)


@main.command("proxy-status")
@click.option("--endpoint", envvar="MESHPLANE_ENDPOINT", default="http://127.0.0.1:8080", show_default=True,
              help="meshplane's REST endpoint [MESHPLANE_ENDPOINT]")
@click.option("--mesh", help="only proxies of this mesh")
@click.option("--all", "show_all", is_flag=True, help="include disconnected proxies")
def proxy_status(endpoint: str, mesh: str | None, show_all: bool) -> None:
    """Show, per connected proxy and type, whether it has the latest config (like istioctl proxy-status)."""
    import requests

    from meshplane.status_table import format_table

    try:
        response = requests.get(f"{endpoint.rstrip('/')}/meshplane/v1/proxies",
                                params={"mesh": mesh} if mesh else None, timeout=10)
        response.raise_for_status()
    except requests.RequestException as exc:
        raise click.ClickException(f"cannot read proxy status from {endpoint}: {exc}") from None
    proxies = [p for p in response.json()["proxies"] if show_all or p["connected"]]
    click.echo(format_table(proxies), nl=False)


@main.group()
def openapi() -> None:
    """The OpenAPI document generated from the server's schemas."""


@openapi.command("write")
@click.argument("path", default="-")
def openapi_write(path: str) -> None:
    """Write the OpenAPI document to PATH (default: standard output)."""
    from meshplane.openapi import build_openapi, write_openapi

    if path == "-":
        sys.stdout.write(json.dumps(build_openapi(), indent=2, sort_keys=True) + "\n")
    else:
        write_openapi(path)


main.add_command(terraform_group, "terraform")
