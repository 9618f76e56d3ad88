"""A real Envoy bootstrapped with `meshplane envoy-bootstrap --xds A,B` fails over between two xDS
replicas on one database: it keeps serving from its last configuration, moves its stream to the
survivor within seconds, and a change written through the API afterwards reaches it.

Real processes throughout: a `meshplane serve --xds-listen off` API server and two
`meshplane xds` replicas over one SQLite file, a real Envoy, backend apps and traffic at 20 req/s
(each request on a new connection, so a failure cannot hide behind a retry). Envoy reaches each
replica through a relay in this process (``Link``) that can go silent, as the network to a host
that vanished does: that is how the HTTP/2 keepalive of the bootstrap is put to the test (a frozen
replica would do too, but it may hold the SQLite write lock and stall the API).
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from click.testing import CliRunner

# The end-to-end helpers (DJ app, backend apps, traffic, polling) live in tests/e2e; no conftest.py
# is shared with it, so that no module named ``conftest`` shadows another folder's.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))

from backend_apps import BackendApp  # noqa: E402
from demo_meshes import DJ_APPS, JAZZ, appmesh_client, create_dj_app, dj_node_id, set_route_weights  # noqa: E402
from mesh_traffic import one_shot_get  # noqa: E402
from procs import BIN, EnvoyProcess, MeshplaneServer, Process, free_port  # noqa: E402
from proxy_sync import wait_for  # noqa: E402

from meshplane.cli import main  # noqa: E402

pytestmark = pytest.mark.envoy

MESH = "failover"
RATE = 20  # requests per second through the sidecar
RECONNECT_LIMIT_S = 5.0  # kill -9 of the replica holding the stream -> stream on the survivor
#: A replica whose network goes silent (no FIN, no RST) is given up after the HTTP/2 PING
#: interval (10 s + up to 15 % jitter) and timeout (5 s); then a reconnect.
HUNG_LIMIT_S = 20.0


class XdsReplica(Process):
    """`meshplane xds --xds-workers 1` over ``db`` on ``listen``; ``port`` once listening."""

    def __init__(self, db: str, log_path: Path, listen: str = "127.0.0.1:0") -> None:
        super().__init__([str(BIN / "meshplane"), "xds", "--db", db, "--xds-listen", listen,
                          "--xds-workers", "1"], log_path)
        try:
            found = self.wait_for_line(r"meshplane xDS listening on (\S+):(\d+)")
        except BaseException:
            self.stop()
            raise
        self.port = int(found.group(2))


class Link:
    """The network between Envoy and one replica: a TCP relay from 127.0.0.1:``port`` to the
    replica's ``upstream`` port. ``cut()`` makes it silent as a vanished host or a partition is:
    bytes are dropped, nothing is closed (no FIN, no RST), new connections hang."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self._silent = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, name=f"link-{self.port}", daemon=True).start()

    def cut(self) -> None:
        self._silent.set()

    def restore(self) -> None:
        self._silent.clear()

    def close(self) -> None:
        for sock in [self._listener, *self._sockets]:
            sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # closed
                return
            self._sockets.append(client)
            if self._silent.is_set():
                continue  # held open, never answered
            try:
                server = socket.create_connection(("127.0.0.1", self.upstream), timeout=2)
            except OSError:  # the replica is down: as a refused connection
                client.close()
                continue
            server.settimeout(None)
            self._sockets.append(server)
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                if not self._silent.is_set():
                    dst.sendall(data)
        except OSError:  # reset, or closed at teardown
            pass
        if not self._silent.is_set():  # pass the close on (both pumps of the pair end)
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_RDWR)


class Traffic:
    """A thread that GETs ``Host: JAZZ`` through the egress port at RATE/s on new connections,
    recording every answer (the body of a 200, else the status or error) and when it came."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.outcomes: list[tuple[float, str]] = []
        self.marks: list[tuple[float, str]] = [(time.monotonic(), "start")]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="traffic", daemon=True)

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                status, body = one_shot_get(self.port, "/", JAZZ, timeout=5)
                outcome = body if status == 200 else f"HTTP {status}: {body[:200]}"
            except OSError as error:
                outcome = f"{type(error).__name__}: {error}"
            self.outcomes.append((time.monotonic(), outcome))
            next_at += 1 / RATE
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def mark(self, event: str) -> None:
        """Note ``event`` now, so that a failure can be told by what preceded it."""
        self.marks.append((time.monotonic(), event))

    def failures(self) -> list[str]:
        """Each failed request as ``<outcome> (<s> after <event>)``."""
        found = []
        for at, outcome in self.outcomes:
            if outcome not in ("jazz-v1", "jazz-v2"):
                since, event = max((m for m in self.marks if m[0] <= at), default=self.marks[0])
                found.append(f"{outcome} ({at - since:.2f}s after {event})")
        return found

    def wait_answers(self, body: str, count: int, timeout: float) -> None:
        """Wait until ``count`` answers after this call were ``body``."""
        start = len(self.outcomes)
        wait_for(lambda: [o for _, o in self.outcomes[start:]].count(body) >= count, timeout,
                 lambda: f"{count} answers {body!r} (last: {self.outcomes[-5:]})")


def bootstrap(xds: str, mode: str, ingress_port: int, egress_port: int) -> dict[str, Any]:
    """The Envoy bootstrap the command prints for the dj node (the CLI, as an operator runs it)."""
    args = ["envoy-bootstrap", "--node-id", dj_node_id(MESH), "--xds", xds, "--admin-port", "0",
            "--ingress-port", str(ingress_port), "--egress-port", str(egress_port), "--app-address", "127.0.0.1"]
    result = CliRunner().invoke(main, args + (["--delta"] if mode == "delta" else []))
    assert result.exit_code == 0, result.output
    return yaml.safe_load(result.output)


def answer(port: int) -> tuple[int, str] | None:
    """The sidecar's answer for jazz, or None while its egress listener is not bound yet."""
    try:
        return one_shot_get(port, "/", JAZZ, timeout=5)
    except OSError:
        return None


def xds_hosts(envoy: EnvoyProcess) -> dict[int, int]:
    """Port of each meshplane_xds host -> its active connections, from Envoy's admin /clusters."""
    body = requests.get(f"{envoy.admin_url}/clusters?format=json", timeout=5).json()
    for cluster in body["cluster_statuses"]:
        if cluster["name"] == "meshplane_xds":
            return {int(host["address"]["socket_address"]["port_value"]):
                    sum(int(s.get("value", 0)) for s in host["stats"] if s["name"] == "cx_active")
                    for host in cluster["host_statuses"]}
    raise AssertionError(f"no meshplane_xds cluster: {json.dumps(body)[:500]}")


def wait_stream_on(envoy: EnvoyProcess, ports: set[int], timeout: float) -> int:
    """Wait until Envoy's one xDS connection is to one of ``ports`` and it is connected; its port."""
    last: list[Any] = [None]

    def check() -> int | None:
        hosts = last[0] = xds_hosts(envoy)
        active = [port for port, count in hosts.items() if count]
        stats = requests.get(f"{envoy.admin_url}/stats?filter=^control_plane.connected_state$", timeout=5).text
        if len(active) == 1 and active[0] in ports and "control_plane.connected_state: 1" in stats:
            return active[0]
        return None

    return wait_for(check, timeout, lambda: f"the xDS stream on one of {ports} (hosts: {last[0]})\n{envoy.all_logs()}")


@pytest.fixture
def started(tmp_path: Path) -> Iterator[list[Process]]:
    """Every process the test starts; stopped by PID at teardown."""
    processes: list[Process] = []
    try:
        yield processes
    finally:
        for process in reversed(processes):
            process.stop()


@pytest.fixture
def apps() -> Iterator[dict[str, BackendApp]]:
    running = {name: BackendApp(name) for name in DJ_APPS}
    try:
        yield running
    finally:
        for app in running.values():
            app.stop()


class DatabaseUrl(str):
    """A database path or URL whose repr never shows a PostgreSQL password (tracebacks print the
    arguments of every frame)."""

    def __repr__(self) -> str:
        return "<database>"


#: (database, ADS protocol, cut the network too): each backend and each protocol once (the file
#: stays well under a minute); the silent network is a transport matter, tested once.
CASES = [("postgresql", "sotw", True), ("sqlite", "delta", False)]


@pytest.mark.parametrize(("backend", "mode", "cut"), CASES, ids=[f"{b}-{m}" for b, m, _ in CASES])
def test_envoy_fails_over_between_replicas(backend: str, mode: str, cut: bool, tmp_path: Path,
                                           started: list[Process], apps: dict[str, BackendApp],
                                           make_db: Callable[[str], str]) -> None:
    db = DatabaseUrl(make_db(backend))
    server = MeshplaneServer(db, tmp_path / "api.log")  # type: ignore[arg-type]  # a path or a URL
    started.append(server)
    api = appmesh_client(server.endpoint)
    with ThreadPoolExecutor(2) as pool:  # the replicas start while the mesh is written (~2 s each)
        futures = {name: pool.submit(XdsReplica, db, tmp_path / f"xds-{name}.log") for name in ("a", "b")}
        try:
            # Both jazz versions from the start (weight 0 still makes a cluster): the changes below
            # touch routes only, so what is measured is the failover, not a new cluster's warming.
            create_dj_app(api, MESH, apps, jazz={"jazz-v1": 1, "jazz-v2": 0})
        finally:
            for future in futures.values():
                with contextlib.suppress(Exception):
                    started.append(future.result())
    replicas = {name: future.result() for name, future in futures.items()}
    links = {name: Link(replica.port) for name, replica in replicas.items()}
    name_of = {link.port: name for name, link in links.items()}
    try:
        xds = ",".join(f"127.0.0.1:{link.port}" for link in links.values())
        ingress_port, egress_port = free_port(), free_port()
        envoy = EnvoyProcess(bootstrap(xds, mode, ingress_port, egress_port), tmp_path / "envoy", level="info")
        started.append(envoy)
        assert set(xds_hosts(envoy)) == set(name_of), "one xDS endpoint per replica"
        first = name_of[wait_stream_on(envoy, set(name_of), timeout=20)]
        wait_for(lambda: answer(egress_port) == (200, "jazz-v1"), 20,
                 lambda: f"jazz through the sidecar\n{envoy.all_logs()}")
        (second,) = set(replicas) - {first}
        figures: dict[str, float] = {}

        with Traffic(egress_port) as traffic:
            traffic.wait_answers("jazz-v1", 5, timeout=10)
            # 1. The replica holding the stream dies: Envoy serves on and moves to the other one.
            killed_at = time.monotonic()
            traffic.mark("kill -9 of the replica in use")
            replicas[first].kill9()
            wait_stream_on(envoy, {links[second].port}, timeout=RECONNECT_LIMIT_S + 5)
            figures["reconnected to the survivor after kill -9 (s)"] = time.monotonic() - killed_at

            # 2. A change written through the API now reaches Envoy through the survivor.
            changed_at = time.monotonic()
            traffic.mark("the route change")
            set_route_weights(api, MESH, "jazz-router", "jazz-route", {"jazz-v1": 0, "jazz-v2": 1})
            traffic.wait_answers("jazz-v2", 5, timeout=15)
            figures["route change seen in traffic after (s)"] = time.monotonic() - changed_at
            expected = "jazz-v2"

            if cut:
                # 3. The dead replica comes back; then the network to the survivor goes silent
                #    (no FIN, no RST): Envoy's HTTP/2 PINGs find out and the stream moves back.
                replicas[first] = XdsReplica(db, tmp_path / f"xds-{first}2.log")
                started.append(replicas[first])
                links[first].upstream = replicas[first].port
                cut_at = time.monotonic()
                traffic.mark("the network cut")
                links[second].cut()
                wait_stream_on(envoy, {links[first].port}, timeout=HUNG_LIMIT_S + 5)
                figures["reconnected after the network went silent (s)"] = time.monotonic() - cut_at
                set_route_weights(api, MESH, "jazz-router", "jazz-route", {"jazz-v1": 1, "jazz-v2": 0})
                traffic.wait_answers("jazz-v1", 5, timeout=15)
                expected = "jazz-v1"

            # 4. No replica at all: Envoy keeps its last configuration and serves on.
            #    Every link is restored first, so that the attempts Envoy makes meanwhile reach a
            #    dead replica and are closed at once (a cut link would hold one until the PINGs).
            for link in links.values():
                link.restore()
            traffic.mark("killing every replica")
            for replica in replicas.values():
                replica.kill9()
            wait_for(lambda: not any(xds_hosts(envoy).values()), 10,
                     lambda: f"Envoy's xDS connection gone (hosts: {xds_hosts(envoy)})")
            traffic.wait_answers(expected, RATE, timeout=10)
    finally:
        for link in links.values():
            link.close()

    print(f"{backend} {mode}: " + ", ".join(f"{k} {v:.2f}" for k, v in figures.items())
          + f", {len(traffic.outcomes)} requests")
    assert not traffic.failures(), "\n".join(traffic.failures()[:10]) + "\n" + envoy.all_logs()[-3000:]
    assert figures["reconnected to the survivor after kill -9 (s)"] <= RECONNECT_LIMIT_S
    assert figures.get("reconnected after the network went silent (s)", 0) <= HUNG_LIMIT_S
    assert envoy.alive()
