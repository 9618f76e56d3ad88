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

    :param db: path of the SQLite database file.
    :param api_listen: HOST:PORT of the REST API (port 0 picks a free port).
    :param xds_listen: HOST:PORT of the xDS gRPC server, or ``off``.
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
        if self.xds_listen != "off":
            split_listen(self.xds_listen)


#: The most xDS processes ``xds_workers = 0`` starts (more cores rarely pay for the memory).
AUTO_XDS_WORKERS_MAX = 4


def split_listen(value: str) -> tuple[str, int]:
    """Split ``HOST:PORT`` (``[::1]:80`` for IPv6) into host and port.

    :raises ValueError: the value is not HOST:PORT with a port in 0..65535.
    """
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535 or not host:
        raise ValueError(f"{value!r} is not HOST:PORT")
    return host.strip("[]"), int(port)
