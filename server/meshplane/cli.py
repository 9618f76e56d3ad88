"""The `meshplane` command: thin click wrappers around the real work."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from meshplane.config import Config
from meshplane.pki.cli import mesh_ca_flags, server_tls_flags
from meshplane.terraform.cli import terraform_group


def _config(**flags: Any) -> Config:
    try:
        return Config.from_env(**flags)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


def xds_flags(fn: Any) -> Any:
    """The xDS side's options, shared by `serve` and `xds`: worker processes, Cloud Map polling, and
    what the translation adds (the *.amazonaws.com passthrough)."""
    for option in reversed((
        click.option("--xds-workers", type=int,
                     help="xDS server processes, 0 = one per CPU (at most 4) [MESHPLANE_XDS_WORKERS; default 0]"),
        click.option("--cloudmap-interval", type=float,
                     help="seconds between Cloud Map DiscoverInstances polls of each service awsCloudMap nodes name "
                          "[MESHPLANE_CLOUDMAP_INTERVAL; default 5]"),
        click.option("--cloudmap-health-status",
                     type=click.Choice(["HEALTHY_OR_ELSE_ALL", "HEALTHY", "ALL", "UNHEALTHY"], case_sensitive=False),
                     help="DiscoverInstances HealthStatus filter [MESHPLANE_CLOUDMAP_HEALTH_STATUS; default "
                          "HEALTHY_OR_ELSE_ALL]"),
        click.option("--aws-passthrough/--no-aws-passthrough", default=None,
                     help="under DROP_ALL too, pass TLS for *.amazonaws.com on 443 through the egress listener, "
                          "as App Mesh did [MESHPLANE_AWS_PASSTHROUGH; default on]"),
    )):
        fn = option(fn)
    return fn


@click.group()
@click.version_option(package_name="meshplane")
def main() -> None:
    """meshplane: the App Mesh API, Envoy over xDS, and Terraform, self-hosted."""


@main.command()
@click.option("--db", help="SQLite database file or postgresql:// URL [MESHPLANE_DB; default meshplane.db]")
@click.option("--api-listen", help="REST API HOST:PORT [MESHPLANE_API_LISTEN; default 127.0.0.1:8080]")
@click.option("--xds-listen", help="xDS gRPC HOST:PORT, unix:///PATH or 'off' [MESHPLANE_XDS_LISTEN; default 127.0.0.1:18000]")
@click.option("--account-id", help="12-digit account id [MESHPLANE_ACCOUNT_ID; default 111122223333]")
@click.option("--region", help="region in ARNs [MESHPLANE_REGION; default us-east-1]")
@click.option("--workers", type=int, help="API worker processes [MESHPLANE_WORKERS; default 2]")
@click.option("--threads", type=int, help="threads per API worker [MESHPLANE_THREADS; default 2]")
@click.option("--synchronous", type=click.Choice(["NORMAL", "FULL"], case_sensitive=False),
              help="SQLite synchronous setting [MESHPLANE_SYNCHRONOUS; default NORMAL]")
@xds_flags
@server_tls_flags(api=True)
@mesh_ca_flags()
@click.option("--ui/--no-ui", default=None, help="the web console at /ui/ [MESHPLANE_UI; default on]")
@click.option("--auth", type=click.Choice(["sigv4", "none"], case_sensitive=False),
              help="sigv4: every request signed with a `meshplane keys` key; none: accept anyone, even off "
                   "loopback [MESHPLANE_AUTH; default: none, and loopback listeners only]")
@click.option("--audit-log", help="append the audit log (JSON lines) to this file [MESHPLANE_AUDIT_LOG; default: standard output]")
@click.option("--key-file", help="key encrypting access key secrets [MESHPLANE_KEY_FILE; default <db>.key, "
                                  "or meshplane.key with PostgreSQL]")
@click.option("--replica-id", help="this replica's id in proxy status and leadership [MESHPLANE_REPLICA_ID; "
                                   "default: host name + random suffix]")
@click.option("--leader-interval", type=float,
              help="seconds between runs of the leader's jobs [MESHPLANE_LEADER_INTERVAL; default 5]")
def serve(**flags: Any) -> None:
    """Serve the App Mesh REST API and the xDS streamer."""
    from meshplane.children import exit_now
    from meshplane.serve import serve as run

    run(_config(**flags))
    exit_now()  # stopped cleanly: skip the interpreter's slow teardown (Ctrl-C stops within 3 s)


@main.command()
@click.option("--db", help="SQLite database file or postgresql:// URL [MESHPLANE_DB; default meshplane.db]")
@click.option("--xds-listen", help="xDS gRPC HOST:PORT or unix:///PATH [MESHPLANE_XDS_LISTEN; default 127.0.0.1:18000]")
@click.option("--debounce-ms", type=int, help="quiet time before a push [MESHPLANE_DEBOUNCE_MS; default 100]")
@click.option("--debounce-max-ms", type=int, help="longest delay of a push [MESHPLANE_DEBOUNCE_MAX_MS; default 5000]")
@xds_flags
@click.option("--worker", hidden=True, help="internal: GROUP:INDEX:READY_FD of a worker of `meshplane xds`")
@click.option("--auth", type=click.Choice(["sigv4", "none"], case_sensitive=False),
              help="sigv4: streams must authenticate (docs/security.md); none: accept any, even off loopback [MESHPLANE_AUTH]")
@server_tls_flags(api=False)
@mesh_ca_flags()
def xds(worker: str | None, **flags: Any) -> None:
    """Serve only the xDS streamer over the database (the API may run elsewhere)."""
    from meshplane.streamer import WorkerRole, run

    config = _config(**flags)
    if config.xds_listen == "off":
        raise click.UsageError("--xds-listen off: nothing to serve")
    run(config, WorkerRole.parse(worker) if worker else None)
    from meshplane.children import exit_now

    exit_now()  # stopped cleanly: skip the interpreter's slow teardown (Ctrl-C stops within 3 s)


@main.command(hidden=True)
@click.option("--db", help="SQLite database file or postgresql:// URL [MESHPLANE_DB; default meshplane.db]")
def replica(**flags: Any) -> None:
    """Internal: this replica's heartbeat, leader election and leader jobs (`serve` starts it)."""
    from meshplane.replicas.runner import main as run_replica

    run_replica(_config(**flags))
    from meshplane.children import exit_now

    exit_now()


@main.command("envoy-bootstrap")
@click.option("--node-id", required=True, help="mesh/<mesh>/virtualNode/<name>, mesh/<mesh>/virtualGateway/<name> or an ARN")
@click.option("--xds", default="127.0.0.1:18000", show_default=True,
              help="meshplane's xDS HOST:PORT, every replica as HOST:PORT,HOST:PORT,... (Envoy fails over "
                   "between them; a DNS name may resolve to several), or unix:///PATH")
@click.option("--admin-port", type=int, default=9901, show_default=True, help="Envoy admin port (0: any free port)")
@click.option("--ingress-port", type=int, help="override the ingress listener port (default 15000)")
@click.option("--egress-port", type=int, help="override the egress listener port (default 15001)")
@click.option("--app-address", help="where the local app listens (default 127.0.0.1)")
@click.option("--delta", is_flag=True, help="use incremental (delta) xDS")
@click.option("--tls-ca", type=click.Path(dir_okay=False),
              help="PEM CA file (path as Envoy sees it): dial xDS over TLS, verifying the server against it")
@click.option("--client-cert", type=click.Path(dir_okay=False), help="PEM client certificate for mutual TLS")
@click.option("--client-key", type=click.Path(dir_okay=False), help="PEM key of --client-cert")
@click.option("--sni", "server_name",
              help="server name to ask for and verify [default: ask for the first --xds host, accept any listed]")
@click.option("--access-key-id", envvar="MESHPLANE_ACCESS_KEY_ID",
              help="key whose credential the bootstrap carries [MESHPLANE_ACCESS_KEY_ID]")
@click.option("--secret-access-key", envvar="MESHPLANE_SECRET_ACCESS_KEY",
              help="its secret, used to derive the credential, never written [MESHPLANE_SECRET_ACCESS_KEY]")
@click.option("--stats-tags", is_flag=True,
              help="tag stats appmesh.mesh / appmesh.virtual_node|virtual_gateway, as ENABLE_ENVOY_STATS_TAGS=1 did")
@click.option("--appmesh-env", is_flag=True,
              help="print the environment App Mesh's stock Envoy image needs instead (docs/migration.md)")
@click.option("--format", "env_format", type=click.Choice(["env", "ecs", "k8s"]), default="env", show_default=True,
              help="with --appmesh-env: KEY=VALUE lines, an ECS task definition's environment (JSON), or the "
                   "appmesh.k8s.aws/sidecarEnv pod annotation")
@click.option("--region", help="with --appmesh-env: the server's region (AWS_REGION) [MESHPLANE_REGION; default us-east-1]")
def envoy_bootstrap_command(node_id: str, xds: str, admin_port: int, ingress_port: int | None,
                            egress_port: int | None, app_address: str | None, delta: bool,
                            tls_ca: str | None, client_cert: str | None, client_key: str | None,
                            server_name: str | None, access_key_id: str | None,
                            secret_access_key: str | None, stats_tags: bool, appmesh_env: bool,
                            env_format: str, region: str | None) -> None:
    """Print a ready Envoy bootstrap (YAML) for a virtual node or gateway.

    With a key (--access-key-id and --secret-access-key, or their variables), the bootstrap sends
    an xDS credential derived from the secret and good for this node id only (docs/security.md,
    "xDS identities"): keep the file as private as the key.

    With several --xds replicas, the xDS cluster has one endpoint each, round robin: the proxy
    moves its stream to another replica when one dies, and keeps its last configuration while none
    answers (docs/operations.md).

    With --appmesh-env, print instead what App Mesh's own Envoy image needs in its environment to
    attach to meshplane at --xds (the TLS xDS address the sidecars dial, or unix:///path; one
    endpoint only).
    """
    import yaml

    from meshplane.bootstrap import envoy_bootstrap

    if appmesh_env:
        _print_appmesh_env(node_id, xds, region, access_key_id, stats_tags, env_format)
        return
    if bool(access_key_id) != bool(secret_access_key):
        raise click.UsageError("--access-key-id and --secret-access-key go together")
    credential = None
    if access_key_id and secret_access_key:
        from meshplane.auth.xds import bootstrap_token

        credential = bootstrap_token(access_key_id, secret_access_key, node_id)
    try:
        doc = envoy_bootstrap(node_id, xds, admin_port, ingress_port, egress_port, app_address, delta,
                              tls_ca=tls_ca, client_cert=client_cert, client_key=client_key,
                              server_name=server_name, credential=credential, stats_tags=stats_tags)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(yaml.safe_dump(doc, sort_keys=False), nl=False)


def _print_appmesh_env(node_id: str, xds: str, region: str | None, access_key_id: str | None,
                       stats_tags: bool, env_format: str) -> None:
    """`envoy-bootstrap --appmesh-env`: the stock image's environment, in ``env_format``."""
    import json

    from meshplane.bootstrap import appmesh_env
    from meshplane.config import Config

    try:
        env = appmesh_env(node_id, xds, Config.from_env(region=region).region, access_key_id=access_key_id,
                          stats_tags=stats_tags)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    secret_note = ("AWS_SECRET_ACCESS_KEY: the key's secret, from your secret store (not printed)"
                   if access_key_id else "")
    if env_format == "ecs":
        # containerDefinitions[].environment of the envoy container; the secret belongs in its
        # "secrets" (valueFrom Secrets Manager or SSM), not here.
        click.echo(json.dumps([{"name": k, "value": v} for k, v in env.items()], indent=2))
        if secret_note:
            click.echo(f"# {secret_note}: add it under \"secrets\"", err=True)
    elif env_format == "k8s":
        # The controller owns APPMESH_RESOURCE_ARN and AWS_REGION (fleet.md §3.1): the annotation
        # adds the rest; keys come from the controller's --envoy-aws-* flags or a Secret.
        extra = {k: v for k, v in env.items() if k not in ("APPMESH_RESOURCE_ARN", "AWS_REGION")}
        value = ",".join(f"{k}={v}" for k, v in extra.items())
        click.echo(f"appmesh.k8s.aws/sidecarEnv: {json.dumps(value)}")
        if secret_note:
            click.echo(f"# {secret_note}", err=True)
    else:
        for key, value in env.items():
            click.echo(f"{key}={value}")
        if secret_note:
            click.echo(f"# {secret_note}")


@main.command("proxy-status")
@click.option("--endpoint", envvar="MESHPLANE_ENDPOINT", default="http://127.0.0.1:8080", show_default=True,
              help="meshplane's REST endpoint [MESHPLANE_ENDPOINT]")
@click.option("--mesh", help="only proxies of this mesh")
@click.option("--all", "show_all", is_flag=True, help="include disconnected proxies")
@click.option("--access-key-id", help="key to sign with [default: MESHPLANE_ACCESS_KEY_ID, then AWS_ACCESS_KEY_ID]")
@click.option("--secret-access-key", help="its secret [default: MESHPLANE_SECRET_ACCESS_KEY, then AWS_SECRET_ACCESS_KEY]")
@click.option("--region", "signing_region",
              help="region to sign for, the server's --region [default: AWS_REGION, AWS_DEFAULT_REGION, us-east-1]")
@click.option("--ca-file", type=click.Path(exists=True, dir_okay=False),
              help="CA bundle for an https endpoint [default: MESHPLANE_CA_FILE, then AWS_CA_BUNDLE]")
def proxy_status(endpoint: str, mesh: str | None, show_all: bool, access_key_id: str | None,
                 secret_access_key: str | None, signing_region: str | None, ca_file: str | None) -> None:
    """Show, per connected proxy and type, whether it has the latest config (like istioctl proxy-status).

    Requests are signed (SigV4) like the Terraform provider's, with the same client and defaults.
    """
    from meshplane.status_table import format_table
    from meshplane.terraform import client as rest

    try:
        credentials = rest.resolve_credentials(access_key_id, secret_access_key,
                                               names=("--access-key-id", "--secret-access-key"),
                                               source="the command line")
        api = rest.Client(endpoint, credentials, rest.resolve_region(signing_region), rest.resolve_ca_file(ca_file),
                          timeout=10, user_agent="meshplane-proxy-status")
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    except OSError as exc:  # an unreadable or non-PEM CA file
        raise click.UsageError(f"cannot load the CA file: {exc}") from None
    try:
        body = api.call("GET", "/meshplane/v1/proxies", {"mesh": mesh or ""})
    except rest.ApiError as exc:
        raise click.ClickException(f"cannot read proxy status from {endpoint}: {exc}"
                                   + (f"\n{exc.hint}" if exc.hint else "")) from None
    proxies = [p for p in body.get("proxies", []) if show_all or p["connected"]]
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
main.add_command(__import__("meshplane.auth.cli", fromlist=["keys"]).keys, "keys")  # `meshplane keys` (auth/)
main.add_command(__import__("meshplane.pki.cli", fromlist=["tls"]).tls, "tls")  # `meshplane tls dev-ca`
main.add_command(__import__("meshplane.formats.cli", fromlist=["x"]).import_command, "import")  # H5: formats/
main.add_command(__import__("meshplane.formats.cli", fromlist=["x"]).export_command, "export")  # H5: formats/
