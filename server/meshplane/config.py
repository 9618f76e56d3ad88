"""Every setting meshplane reads, in one place.

Each field can be set by a command-line flag or by the environment variable ``MESHPLANE_<FIELD>``
(upper case). Flags win over the environment, the environment wins over the defaults below.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

#: The account id meshplane reports when none is configured. Users migrating from AWS set their
#: old account id instead so that Terraform state and scripts passing ``meshOwner`` still match.
DEFAULT_ACCOUNT_ID = "111122223333"


def _default_quotas() -> dict[str, int]:
    # Ten times AWS's published defaults, except the model maxima (10 weighted targets, 50 tags).
    return {
        "meshes": 150,
        "virtualNodes": 2000,
        "virtualServices": 2000,
        "virtualRouters": 2000,
        "routes": 500,
        "virtualGateways": 30,
        "gatewayRoutes": 100,
        "backends": 500,
    }


@dataclass
class Config:
    """meshplane's settings.

    :param db: path of the SQLite database file, or a PostgreSQL URL
        (``postgresql://user:password@host:port/db?sslmode=...``) that several replicas share.
    :param api_listen: HOST:PORT of the REST API (port 0 picks a free port).
    :param xds_listen: HOST:PORT of the xDS gRPC server, ``unix:///path`` (a unix socket, one
        xDS process), or ``off``.
    :param account_id: the 12-digit account id in ARNs, meshOwner and resourceOwner.
    :param region: the region in ARNs.
    :param workers: API worker processes; threads: threads per worker.
    :param synchronous: SQLite ``synchronous`` setting, ``NORMAL`` or ``FULL`` (see docs/durability.md).
    :param busy_timeout_ms: how long a write waits for the database lock before answering 503.
    :param quotas: per-kind limits (see :func:`_default_quotas`); keys are collection names.
    :param debounce_ms / debounce_max_ms: xDS push debounce (quiet period, and the longest delay).
    :param token_ttl_s: how long a clientToken is remembered.
    :param rate_limit: API requests per second for the whole server (0: unlimited); beyond it, 429.
    :param xds_workers: xDS server processes sharing the xDS port (SO_REUSEPORT); each serves the
        proxies that connect to it and translates only for them. 0 (the default): one per CPU, at
        most AUTO_XDS_WORKERS_MAX.
    :param auth: ``sigv4`` (verify every API request), ``none`` (explicitly unauthenticated), or
        ``""`` (unauthenticated, refused unless both listeners are loopback).
    :param audit_log: file the audit log is appended to; ``""``: standard output.
    :param key_file: the key encrypting access key secrets; ``""``: ``<db>.key`` next to the database.
    :param cloudmap_interval: seconds between two DiscoverInstances calls for one Cloud Map service
        (virtual nodes with ``awsCloudMap`` discovery); failing calls back off from there.
    :param cloudmap_health_status: the DiscoverInstances ``HealthStatus`` filter.
    :param aws_passthrough: under DROP_ALL too, the iptables egress listener passes TLS for
        ``*.amazonaws.com`` on 443 to its original destination, as App Mesh did; False
        (``--no-aws-passthrough``) leaves it out (docs/translation.md "Egress filter").
    """

    db: str = "meshplane.db"
    api_listen: str = "127.0.0.1:8080"
    xds_listen: str = "127.0.0.1:18000"
    account_id: str = DEFAULT_ACCOUNT_ID
    region: str = "us-east-1"
    workers: int = 2
    # Two WSGI threads per worker: enough to overlap SQLite waits, few enough that requests do not
    # queue on the GIL (8 threads: describe p99 30-48 ms at half the peak rate; 2: 4-5 ms, and a
    # higher peak; bench/api.py, docs/benchmarks.md).
    threads: int = 2
    synchronous: str = "NORMAL"
    busy_timeout_ms: int = 5000
    quotas: dict[str, int] = field(default_factory=_default_quotas)
    debounce_ms: int = 100
    debounce_max_ms: int = 5000
    token_ttl_s: int = 48 * 3600
    rate_limit: int = 0
    xds_workers: int = 0  # 0: one per CPU, at most AUTO_XDS_WORKERS_MAX (resolved by check())
    log_level: str = "info"
    # The web console at /ui/ on the API listener (docs/console.md); False (--no-ui) leaves it out.
    ui: bool = True
    # Authentication (docs/security.md): "" = none, allowed only while both listeners are loopback;
    # "sigv4" = every API request signed with a meshplane key; "none" = explicitly none (a warning).
    auth: str = ""
    # Audit log (one JSON line per write and per refused request): a file path, "" = standard output.
    audit_log: str = ""
    # The AES key that encrypts access key secrets at rest; "" = "<db>.key", created on first use.
    key_file: str = ""
    # TLS (docs/security.md "TLS"): PEM files, re-read when they change; "" = plaintext.
    api_tls_cert: str = ""
    api_tls_key: str = ""
    xds_tls_cert: str = ""
    xds_tls_key: str = ""
    # CA bundle of proxy client certificates: set, xDS requires mutual TLS ("xDS identities").
    xds_client_ca: str = ""
    # Comma-separated host[:port] names proxies dial for xDS (SigV4 signs them; gRPC hides
    # :authority from the server); "" = the xDS listen address plus localhost names.
    xds_sign_hosts: str = ""
    # Only SPIFFE ids of this trust domain name a node in a client certificate; "" = any.
    xds_trust_domain: str = ""
    # Mesh certificates (docs/security.md "Mesh certificates"): the CA issuing proxy certificates
    # for ACM references; "" = one meshplane creates on first start and keeps in the database.
    mesh_ca_cert: str = ""
    mesh_ca_key: str = ""
    # Lifetime of issued proxy certificates in seconds (renewed at 2/3 of it).
    mesh_cert_ttl: int = 86400
    # Cloud Map discovery (docs/translation.md "Cloud Map"): poll interval in seconds, and the
    # HealthStatus filter (HEALTHY_OR_ELSE_ALL: the healthy instances, or all when none is).
    cloudmap_interval: float = 5.0
    cloudmap_health_status: str = "HEALTHY_OR_ELSE_ALL"
    # App Mesh's hidden egress default: *.amazonaws.com on 443 stays reachable under DROP_ALL.
    aws_passthrough: bool = True
    # Replicas (docs/operations.md): this replica's id in proxy status and leadership; "" = one
    # `meshplane serve` makes up at start (host name + random suffix) and gives its children.
    replica_id: str = ""
    # Seconds between two runs of the leader's jobs (token sweep, status cleanup).
    leader_interval: float = 5.0

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Config:
        """Build a Config from ``MESHPLANE_*`` variables, then apply non-None ``overrides``.

        Quotas are read from ``MESHPLANE_QUOTA_<COLLECTION>`` (e.g. ``MESHPLANE_QUOTA_VIRTUALNODES=5000``).
        :raises ValueError: a variable holds a value of the wrong type.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name == "quotas":
                continue
            raw = env.get("MESHPLANE_" + f.name.upper())
            if raw is None:
                continue
            if f.type in ("bool", bool):  # 1/0, true/false, yes/no, on/off
                values[f.name] = _parse_bool(f.name, raw)
                continue
            if f.type in ("float", float):
                try:
                    values[f.name] = float(raw)
                except ValueError:
                    raise ValueError(f"MESHPLANE_{f.name.upper()} has value {raw!r}: not a number") from None
                continue
            try:
                values[f.name] = int(raw) if f.type in ("int", int) else raw
            except ValueError:
                raise ValueError(f"MESHPLANE_{f.name.upper()} has value {raw!r}: not a whole number") from None
        config = cls(**values)
        for key in list(config.quotas):
            raw = env.get("MESHPLANE_QUOTA_" + key.upper())
            if raw is not None:
                config.quotas[key] = int(raw)
        for name, value in overrides.items():
            if value is not None:
                setattr(config, name, value)
        config.check()
        return config

    def to_env(self) -> dict[str, str]:
        """Every setting as the ``MESHPLANE_*`` variables :meth:`from_env` reads back (quotas as
        ``MESHPLANE_QUOTA_<COLLECTION>``): the environment of a child process (``meshplane xds`` and
        its workers) that must run with exactly this configuration. Fields set to None are left
        out, so the child falls back to its default; a field added to Config needs no plumbing.
        """
        env: dict[str, str] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "quotas":
                env.update({"MESHPLANE_QUOTA_" + k.upper(): str(v) for k, v in value.items()})
            elif value is None:
                continue
            elif isinstance(value, bool):
                env["MESHPLANE_" + f.name.upper()] = "1" if value else "0"
            elif isinstance(value, (list, tuple)):
                env["MESHPLANE_" + f.name.upper()] = ",".join(str(v) for v in value)
            else:
                env["MESHPLANE_" + f.name.upper()] = str(value)
        return env

    def check(self) -> None:
        """Reject settings that cannot work.

        :raises ValueError: naming the setting.
        """
        if len(self.account_id) != 12 or not self.account_id.isdigit():
            raise ValueError(f"account id {self.account_id!r} must be 12 digits")
        if self.synchronous.upper() not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous {self.synchronous!r} must be NORMAL or FULL")
        self.synchronous = self.synchronous.upper()
        split_listen(self.api_listen)
        if self.xds_workers == 0:
            # One xDS process per core: each holds one interpreter lock, and pushing a change to a
            # large fleet is CPU-bound (docs/benchmarks.md, 2,000 proxies on 2 cores: p99 0.82-0.88 s
            # with two processes, 0.85 s with one since alike proxies share snapshots; more cores
            # leave one process's interpreter lock the limit).
            self.xds_workers = max(1, min(os.cpu_count() or 1, AUTO_XDS_WORKERS_MAX))
        if not 1 <= self.xds_workers <= 64:
            raise ValueError(f"xds workers {self.xds_workers} must be between 0 (one per CPU) and 64")
        if is_unix(self.xds_listen):
            if not self.xds_listen[len("unix://"):].startswith("/"):
                raise ValueError(f"xds listen {self.xds_listen!r}: use unix:///absolute/path")
            # One process owns a unix socket path (SO_REUSEPORT is for TCP): no worker pool.
            self.xds_workers = 1
        elif self.xds_listen != "off":
            split_listen(self.xds_listen)
        self._check_db()
        self._check_auth()
        for cert, key, flag in ((self.api_tls_cert, self.api_tls_key, "api-tls"),
                                (self.xds_tls_cert, self.xds_tls_key, "xds-tls")):
            if bool(cert) != bool(key):
                raise ValueError(f"--{flag}-cert and --{flag}-key go together")
        if bool(self.mesh_ca_cert) != bool(self.mesh_ca_key):
            raise ValueError("--mesh-ca-cert and --mesh-ca-key go together")
        if self.mesh_cert_ttl < 10:
            raise ValueError(f"mesh cert ttl {self.mesh_cert_ttl}s must be at least 10 seconds")
        if self.xds_client_ca and not self.xds_tls_cert:
            raise ValueError("--xds-client-ca (mutual TLS) needs --xds-tls-cert and --xds-tls-key")
        self._check_cloud_map()

    def ensure_replica_id(self) -> str:
        """This replica's id: ``replica_id``, or (set now, for the children to inherit) the host
        name with a random suffix, so a restarted replica is a new one and ids never collide."""
        if not self.replica_id:
            import secrets
            import socket

            self.replica_id = f"{socket.gethostname()[:40]}-{secrets.token_hex(3)}"
        return self.replica_id

    def files_base(self) -> str:
        """Where files kept beside the database go (``<base>.key``, ``<base>.admin-key.json``): the
        SQLite file's path; with PostgreSQL, ``meshplane`` in the working directory (replicas must
        share the key file: pass ``--key-file``, docs/operations.md)."""
        return "meshplane" if self.db.startswith(("postgresql:", "postgres:")) else self.db

    def _check_db(self) -> None:
        if not self.db:
            raise ValueError("db must name a SQLite file or a postgresql:// URL")
        if self.db.startswith(("postgresql:", "postgres:")):
            from urllib.parse import urlsplit

            try:
                parts = urlsplit(self.db)
                parts.port  # noqa: B018 - raises ValueError for a port that is not a number
            except ValueError:
                raise ValueError("db: the PostgreSQL URL does not parse (postgresql://user:password@host:port/db)") from None
            if not parts.netloc and "host=" not in parts.query:
                raise ValueError("db: the PostgreSQL URL names no host (postgresql://user:password@host:port/db)")
        if not 0.2 <= self.leader_interval <= 3600:
            raise ValueError(f"leader interval {self.leader_interval} must be between 0.2 and 3600 seconds")

    def _check_cloud_map(self) -> None:
        from meshplane.discovery.client import HEALTH_STATUSES  # a small module: boto3 loads on first use

        if not 0.1 <= self.cloudmap_interval <= 3600:
            raise ValueError(f"cloudmap interval {self.cloudmap_interval} must be between 0.1 and 3600 seconds")
        self.cloudmap_health_status = self.cloudmap_health_status.upper()
        if self.cloudmap_health_status not in HEALTH_STATUSES:
            raise ValueError(f"cloudmap health status {self.cloudmap_health_status!r} must be one of "
                             f"{', '.join(HEALTH_STATUSES)}")

    def _check_auth(self) -> None:
        """Secure by default: no listener beyond loopback without authentication, unless asked."""
        self.auth = self.auth.lower()
        if self.auth not in AUTH_MODES:
            raise ValueError(f"auth {self.auth!r} must be sigv4 or none")
        if self.auth:
            return
        exposed = [value for value in (self.api_listen, self.xds_listen)
                   if value != "off" and not is_unix(value) and not is_loopback(split_listen(value)[0])]
        if exposed:
            raise ValueError(
                f"{exposed[0]} is reachable beyond this host and authentication is off: pass --auth sigv4 "
                "(MESHPLANE_AUTH=sigv4) to require signed requests, or --auth none to accept anyone explicitly"
            )


#: The authentication modes: "" (the default: none, loopback listeners only), "sigv4", "none".
AUTH_MODES = ("", "sigv4", "none")


def is_loopback(host: str) -> bool:
    """True for a listen host only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def _parse_bool(name: str, raw: str) -> bool:
    """A boolean MESHPLANE_* value: 1/0, true/false, yes/no, on/off (any case)."""
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"MESHPLANE_{name.upper()} has value {raw!r}: not 1/0, true/false, yes/no or on/off")


#: The most xDS processes ``xds_workers = 0`` starts (more cores rarely pay for the memory).
AUTO_XDS_WORKERS_MAX = 4


def is_unix(listen: str) -> bool:
    """True for a ``unix:///path`` listen address (xDS only: the App Mesh agent's plaintext
    ``APPMESH_XDS_ENDPOINT=unix://...`` variant dials one)."""
    return listen.startswith("unix:")


def split_listen(value: str) -> tuple[str, int]:
    """Split ``HOST:PORT`` (``[::1]:80`` for IPv6) into host and port.

    :raises ValueError: the value is not HOST:PORT with a port in 0..65535.
    """
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535 or not host:
        raise ValueError(f"{value!r} is not HOST:PORT")
    return host.strip("[]"), int(port)
