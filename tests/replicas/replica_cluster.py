"""Several `meshplane serve` replicas over one PostgreSQL database, for the replica tests.

Each replica is a real process tree (tests/procs.py MeshplaneServer: API on port 0, xDS off unless
asked for) with a fixed ``--replica-id`` (``r-a``, ``r-b``, ...) so the tests can tell them apart in
``/meshplane/v1/replicas`` and in the proxy status, and ``--leader-interval 1`` so leader jobs run
every second. They are started in parallel (a replica takes about 3 s to come up on this machine)
and stopped by PID.
"""

from __future__ import annotations

import string
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import requests

from polling import wait_for  # noqa: F401 - re-exported: the tests import it from here

from clients import make_client
from procs import MeshplaneServer, env_with_venv

T = TypeVar("T")
#: Seconds between two runs of the leader's jobs in these tests.
LEADER_INTERVAL = 1.0
#: Virtual nodes per mesh the API tests' replicas allow (MESHPLANE_QUOTA_VIRTUALNODES).
NODE_QUOTA = 5


def replica_id(index: int) -> str:
    """The id of the ``index``-th replica: r-a, r-b, r-c..."""
    return f"r-{string.ascii_lowercase[index]}"


class Cluster:
    """``count`` replicas over the database ``url``, each logging to ``<workdir>/<id>.log``.

    :param env: extra environment for every replica (quotas, for example).
    :param xds: which replicas run the xDS streamer (one ``--xds-workers 1`` process each).
    :param args: extra ``meshplane serve`` arguments for every replica.
    """

    def __init__(self, url: str, workdir: Path, count: int = 3, *, env: dict[str, str] | None = None,
                 xds: Sequence[bool] | None = None, args: Sequence[str] = ()) -> None:
        self.ids = [replica_id(i) for i in range(count)]
        xds_flags = list(xds) if xds is not None else [False] * count
        full_env = env_with_venv(env)

        def start(index: int) -> MeshplaneServer:
            extra = ["--replica-id", self.ids[index], "--leader-interval", str(LEADER_INTERVAL), "--workers", "2",
                     *args]
            if xds_flags[index]:
                extra += ["--xds-workers", "1"]
            return MeshplaneServer(url, workdir / f"{self.ids[index]}.log", *extra, xds=xds_flags[index],
                                   env=full_env)

        with ThreadPoolExecutor(count) as pool:
            futures = [pool.submit(start, i) for i in range(count)]
        self.servers: list[MeshplaneServer] = []
        failure: BaseException | None = None
        for future in futures:
            try:
                self.servers.append(future.result())
            except BaseException as exc:  # stop the ones that did start, then report the first failure
                failure = failure or exc
        if failure is not None:
            self.stop()
            raise failure
        self.clients = [make_client(server.endpoint) for server in self.servers]

    def __len__(self) -> int:
        return len(self.servers)

    def index_of(self, replica: str) -> int:
        return self.ids.index(replica)

    def replicas(self, index: int) -> list[dict[str, Any]]:
        """``GET /meshplane/v1/replicas`` on replica ``index``."""
        response = requests.get(f"{self.servers[index].endpoint}/meshplane/v1/replicas", timeout=5)
        response.raise_for_status()
        rows: list[dict[str, Any]] = response.json()["replicas"]
        return rows

    def proxies(self, index: int, mesh: str) -> list[dict[str, Any]]:
        """``GET /meshplane/v1/proxies?mesh=`` on replica ``index``."""
        response = requests.get(f"{self.servers[index].endpoint}/meshplane/v1/proxies", params={"mesh": mesh},
                                timeout=5)
        response.raise_for_status()
        rows: list[dict[str, Any]] = response.json()["proxies"]
        return rows

    def stop(self) -> None:
        """Stop every replica still running (a killed one is only reaped and its log closed)."""
        for server in self.servers:
            server.stop()


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError (or the exception's type name)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", type(exc).__name__))
    return type(exc).__name__


def http_status(exc: BaseException) -> int | None:
    """The HTTP status of a botocore ClientError, if any."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return int(status) if status is not None else None
    return None


def race(calls: Sequence[Callable[[], T]], timeout: float = 60.0) -> list[T | BaseException]:
    """Run ``calls`` at once, one thread each, released together by a barrier; each one's result,
    or the exception it raised, in order."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], T]) -> T | BaseException:
        barrier.wait(timeout=timeout)
        try:
            return call()
        except Exception as exc:  # noqa: BLE001 - the outcome is what the test checks
            return exc

    with ThreadPoolExecutor(len(calls)) as pool:
        futures = [pool.submit(run, call) for call in calls]
        return [future.result(timeout=timeout) for future in futures]
