"""`meshplane tls ...`: certificates for trying TLS and mutual TLS out locally."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


@click.group("tls")
def tls() -> None:
    """TLS helpers (a local development CA)."""


def proxy_file_stem(node_id: str) -> str:
    """The file name stem of a node's certificate: ``proxy-<mesh>-<kind>-<name>`` (unsafe
    characters replaced by ``_``)."""
    from meshplane.auth.arns import parse_node_id

    try:
        parsed = parse_node_id(node_id)
    except ValueError:
        raise click.UsageError(f"--node {node_id!r}: use mesh/<mesh>/virtualNode/<name>, "
                               "mesh/<mesh>/virtualGateway/<name> or the resource ARN") from None
    # A short id's "@<owner>" stays in the file name (``proxy-demo_222233334444-...``).
    mesh = parsed.mesh if node_id.startswith("arn:") or parsed.account is None else f"{parsed.mesh}@{parsed.account}"
    return "proxy-" + re.sub(r"[^A-Za-z0-9._-]", "_", f"{mesh}-{parsed.kind}-{parsed.name}")


@tls.command("dev-ca")
@click.option("--dir", "directory", required=True, type=click.Path(file_okay=False),
              help="where to write the files (created; an existing ca.pem/ca-key.pem there is reused)")
@click.option("--host", "hosts", multiple=True, required=True,
              help="a DNS name or IP address of the server certificate (repeat)")
@click.option("--node", "nodes", multiple=True,
              help="a proxy node id to issue a client certificate for (repeat)")
@click.option("--trust-domain", default="meshplane.local", show_default=True,
              help="SPIFFE trust domain of the proxy certificates")
@click.option("--account-id", help="account in the node ARNs [MESHPLANE_ACCOUNT_ID; default 111122223333]")
@click.option("--region", help="region in the node ARNs [MESHPLANE_REGION; default us-east-1]")
def dev_ca(directory: str, hosts: tuple[str, ...], nodes: tuple[str, ...], trust_domain: str,
           account_id: str | None, region: str | None) -> None:
    """Write a local CA, a server certificate for --host and a client certificate per --node.

    Files: ca.pem, ca-key.pem, server.pem, server-key.pem, and proxy-<mesh>-<kind>-<name>.pem /
    -key.pem whose URI SANs are the node ARN and spiffe://<trust-domain>/mesh/<m>/<kind>/<n>.
    Private keys are mode 0600. For trying things out: a real deployment uses its own PKI.
    """
    from meshplane import pki
    from meshplane.config import Config
    from meshplane.translate import ProxyRef

    try:
        config = Config.from_env(account_id=account_id, region=region)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    ca_pem, ca_key = out / "ca.pem", out / "ca-key.pem"
    if ca_pem.exists() and ca_key.exists():
        ca = pki.load(ca_pem, ca_key)
    else:
        ca = pki.create_ca()
        pki.write_pem(ca_key, ca.key_pem(), private=True)
        pki.write_pem(ca_pem, ca.cert_pem())
    server = pki.issue_server(ca, hosts)
    pki.write_pem(out / "server-key.pem", server.key_pem(), private=True)
    pki.write_pem(out / "server.pem", server.cert_pem())
    written = ["ca.pem", "server.pem"]
    for node_id in nodes:
        stem = proxy_file_stem(node_id)
        ref = ProxyRef.parse(node_id)
        assert ref is not None
        from meshplane.auth.arns import node_arn

        try:
            arn = node_arn(node_id, config.account_id, config.region)
        except ValueError as exc:
            raise click.UsageError(f"--node {node_id!r}: {exc}") from None
        mesh = ref.mesh.partition("@")[0]
        uris = [arn, pki.spiffe_id(trust_domain, mesh, ref.kind, ref.name)]
        proxy = pki.issue_client(ca, uris, ref.name)
        pki.write_pem(out / f"{stem}-key.pem", proxy.key_pem(), private=True)
        pki.write_pem(out / f"{stem}.pem", proxy.cert_pem())
        written.append(f"{stem}.pem")
    click.echo(f"wrote {', '.join(written)} (and their -key.pem files, mode 0600) to {out}")


def server_tls_flags(*, api: bool) -> Callable[[F], F]:
    """The TLS flags of `meshplane serve` (``api=True``: the API's too) and `meshplane xds`."""
    flags = []
    if api:
        flags += [
            click.option("--api-tls-cert", help="PEM certificate (chain): serve the API over HTTPS "
                         "[MESHPLANE_API_TLS_CERT]; re-read when the file changes"),
            click.option("--api-tls-key", help="PEM private key of --api-tls-cert [MESHPLANE_API_TLS_KEY]"),
        ]
    flags += [
        click.option("--xds-tls-cert", help="PEM certificate (chain): serve xDS over TLS "
                     "[MESHPLANE_XDS_TLS_CERT]; re-read when the file changes"),
        click.option("--xds-tls-key", help="PEM private key of --xds-tls-cert [MESHPLANE_XDS_TLS_KEY]"),
        click.option("--xds-client-ca", help="PEM CA bundle: require proxy client certificates it "
                     "signed (mutual TLS) [MESHPLANE_XDS_CLIENT_CA]"),
        click.option("--xds-sign-hosts", help="comma-separated host[:port] names proxies dial for xDS, "
                     "accepted in SigV4 signatures [MESHPLANE_XDS_SIGN_HOSTS; default: the listen "
                     "address and localhost names]"),
        click.option("--xds-trust-domain", help="SPIFFE trust domain of proxy certificates "
                     "[MESHPLANE_XDS_TRUST_DOMAIN; default: any]"),
    ]

    def decorate(command: F) -> F:
        for flag in reversed(flags):
            command = flag(command)
        return command

    return decorate


class Duration(click.ParamType):
    """A lifetime: seconds, or a number with ``s``, ``m``, ``h`` or ``d`` (``24h``, ``10s``)."""

    name = "duration"
    _UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        text = str(value).strip().lower()
        unit = self._UNITS.get(text[-1:], None)
        number = text[:-1] if unit else text
        if not number.isdigit():
            self.fail(f"{value!r} is not a duration like 86400, 24h, 90m or 10s", param, ctx)
        return int(number) * (unit or 1)


def mesh_ca_flags() -> Callable[[F], F]:
    """The mesh CA flags of `meshplane serve` and `meshplane xds` (docs/security.md, "Mesh certificates")."""
    flags = [
        click.option("--mesh-ca-cert", help="PEM CA certificate (an intermediate, then its issuers) that "
                     "issues proxy certificates for ACM references [MESHPLANE_MESH_CA_CERT; default: a CA "
                     "meshplane creates on first start and keeps in the database]"),
        click.option("--mesh-ca-key", help="PEM private key of --mesh-ca-cert [MESHPLANE_MESH_CA_KEY]"),
        click.option("--mesh-cert-ttl", type=Duration(), help="lifetime of issued proxy certificates, "
                     "renewed at 2/3 of it (e.g. 24h, 90m) [MESHPLANE_MESH_CERT_TTL, seconds; default 24h]"),
    ]

    def decorate(command: F) -> F:
        for flag in reversed(flags):
            command = flag(command)
        return command

    return decorate
