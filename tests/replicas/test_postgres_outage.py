"""PostgreSQL restarted under load: no acknowledged write lost, 503s (never 500s, never a hang) while it
is down, every replica recovers without being restarted, and proxies keep their configuration
throughout.

Real processes only: a PostgreSQL server of this test's own (tests/pgserver.py, fsync on, so a
kill -9 loses no commit), two `meshplane serve` replicas over its database (replica A with the xDS
streamer), the DJ app of the end-to-end tests with a real Envoy for ``dj`` connected to A, and
traffic through that Envoy all along. Writer threads create virtual nodes through both replicas and
reader threads describe and list through both, recording every answer. PostgreSQL goes down twice,
once by a fast shutdown and once by kill -9 of its whole process group, for ~3 s each, and comes
back on the same port; the replicas are never touched.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

# The end-to-end helpers (DJ app, backend apps, Envoys, traffic, polling) live in tests/e2e; its
# conftest.py is loaded under another name (no module named ``conftest`` may shadow another's).
_E2E = Path(__file__).resolve().parents[1] / "e2e"
sys.path.insert(0, str(_E2E))

from backend_apps import BackendApp  # noqa: E402
from demo_meshes import DJ_APPS, JAZZ, appmesh_client, create_dj_app, dj_node_id, set_route_weights  # noqa: E402
from mesh_traffic import one_shot_get  # noqa: E402
from pgserver import PostgresServer  # noqa: E402
from procs import MeshplaneServer, env_with_venv  # noqa: E402
from proxy_sync import wait_for  # noqa: E402


def _load_e2e_fixtures() -> Any:
    """tests/e2e/conftest.py as a module of its own (``Envoys``: real sidecars started and waited for
    until SYNCED, with a retry when a listener port was taken meanwhile)."""
    spec = importlib.util.spec_from_file_location("e2e_fixtures", _E2E / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


Envoys = _load_e2e_fixtures().Envoys

pytestmark = pytest.mark.envoy

PREFIX = "/v20190125"
WRITE_MESHES = ("writes-0", "writes-1", "writes-2")
DOWN_S = 3.0  # how long PostgreSQL stays down each time
HANG_LIMIT_S = 10.0  # no answer may take longer (the requests' own timeout)
RECOVERY_LIMIT_S = 10.0  # from PostgreSQL accepting sessions to every replica answering 200 again
PROPAGATION_LIMIT_S = 10.0  # a change written after recovery reaches the Envoy
SERVICE_UNAVAILABLE = "ServiceUnavailableException"


@dataclass(frozen=True)
class Answer:
    """One API request's outcome: ``status`` is the HTTP status, or 0 when no answer came."""

    replica: str
    op: str
    started: float
    ended: float
    status: int
    error_type: str
    detail: str
    name: str = ""


class Load:
    """Threads that write (create virtual nodes) and read (describe, list) through every replica
    until stopped, recording every answer; ``acknowledged`` holds (mesh, name) of each create that
    got a 200."""

    def __init__(self, replicas: dict[str, str], writers_per_replica: int = 2, pause_s: float = 0.02) -> None:
        self.replicas = replicas
        self.pause_s = pause_s
        self.answers: list[Answer] = []
        self.acknowledged: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._run_id = uuid.uuid4().hex[:6]
        self._threads = [
            threading.Thread(target=self._write, args=(label, endpoint, k), name=f"write-{label}-{k}", daemon=True)
            for label, endpoint in replicas.items() for k in range(writers_per_replica)
        ] + [
            threading.Thread(target=self._read, args=(label, endpoint), name=f"read-{label}", daemon=True)
            for label, endpoint in replicas.items()
        ]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=HANG_LIMIT_S + 5)

    def _call(self, session: requests.Session, replica: str, op: str, method: str, url: str,
              body: dict[str, Any] | None = None, name: str = "") -> Answer:
        started = time.monotonic()
        try:
            response = session.request(method, url, json=body, timeout=HANG_LIMIT_S)
            status, error_type, detail = response.status_code, response.headers.get("x-amzn-ErrorType", ""), \
                response.text[:200]
        except requests.RequestException as error:
            status, error_type, detail = 0, "", f"{type(error).__name__}: {error}"
        answer = Answer(replica, op, started, time.monotonic(), status, error_type, detail, name)
        with self._lock:
            self.answers.append(answer)
        return answer

    def _write(self, replica: str, endpoint: str, k: int) -> None:
        with requests.Session() as session:
            for i in itertools.count():
                if self._stop.is_set():
                    return
                mesh = WRITE_MESHES[i % len(WRITE_MESHES)]
                name = f"w-{self._run_id}-{replica}{k}-{i}"
                body = {"virtualNodeName": name, "clientToken": uuid.uuid4().hex,
                        "spec": {"serviceDiscovery": {"dns": {"hostname": f"{name}.local"}}}}
                answer = self._call(session, replica, "create", "PUT", f"{endpoint}{PREFIX}/meshes/{mesh}/virtualNodes",
                                    body, name)
                if answer.status == 200:
                    with self._lock:
                        self.acknowledged.append((mesh, name))
                self._stop.wait(self.pause_s)

    def _read(self, replica: str, endpoint: str) -> None:
        with requests.Session() as session:
            for i in itertools.count():
                if self._stop.is_set():
                    return
                if i % 2:
                    self._call(session, replica, "describe", "GET", f"{endpoint}{PREFIX}/meshes/{WRITE_MESHES[0]}")
                else:
                    self._call(session, replica, "list", "GET",
                               f"{endpoint}{PREFIX}/meshes/{WRITE_MESHES[0]}/virtualNodes?limit=5")
                self._stop.wait(self.pause_s)

    def snapshot(self) -> list[Answer]:
        with self._lock:
            return list(self.answers)


class ProxyWatch:
    """A thread that, every 0.2 s, sends one request through the Envoy's egress listener to JAZZ (a
    new connection each time) and reads its admin interface: the clusters it has, its active and
    draining listeners, whether its xDS stream is up. Every observation is kept with its time."""

    def __init__(self, admin_url: str, egress_port: int) -> None:
        self.admin_url = admin_url
        self.egress_port = egress_port
        self.observations: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="proxy-watch", daemon=True)

    def observe(self) -> dict[str, Any]:
        """One observation now (also used directly by the test)."""
        seen: dict[str, Any] = {"at": time.monotonic()}
        try:
            status, body = one_shot_get(self.egress_port, "/", JAZZ, timeout=5)
            seen["traffic"] = body if status == 200 else f"HTTP {status}: {body[:200]}"
        except OSError as error:
            seen["traffic"] = f"{type(error).__name__}: {error}"
        try:
            clusters = requests.get(f"{self.admin_url}/clusters?format=json", timeout=5).json()
            seen["clusters"] = sorted(c["name"] for c in clusters.get("cluster_statuses", []))
            stats = requests.get(f"{self.admin_url}/stats", timeout=5,
                                 params={"filter": r"^(listener_manager\.total_listeners_(active|draining)"
                                                   r"|control_plane\.connected_state)$"}).text
            seen.update({line.split(":")[0].strip(): int(line.split(":")[1]) for line in stats.splitlines()
                         if ":" in line})
        except (requests.RequestException, ValueError) as error:
            seen["admin_error"] = f"{type(error).__name__}: {error}"
        return seen

    def _run(self) -> None:
        while not self._stop.is_set():
            self.observations.append(self.observe())
            self._stop.wait(0.2)

    def __enter__(self) -> ProxyWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=15)

    def between(self, start: float, end: float) -> list[dict[str, Any]]:
        return [o for o in self.observations if start <= o["at"] <= end]


def listen_sessions(pg: PostgresServer) -> int:
    """Sessions on the meshplane database whose last statement was a LISTEN (each process's listener)."""
    with pg.admin_connect() as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = 'meshplane'"
                           " AND query ILIKE 'LISTEN %'").fetchone()
    return int(row[0]) if row else 0


def list_all(endpoint: str, mesh: str) -> set[str]:
    """Every virtual node name of ``mesh``, through all pages of ListVirtualNodes."""
    names: set[str] = set()
    token: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 100}
        if token:
            params["nextToken"] = token
        response = requests.get(f"{endpoint}{PREFIX}/meshes/{mesh}/virtualNodes", params=params, timeout=10)
        response.raise_for_status()
        page = response.json()
        names.update(ref["virtualNodeName"] for ref in page["virtualNodes"])
        token = page.get("nextToken")
        if not token:
            return names


def problems(answers: list[Answer], outages: list[tuple[float, float]]) -> list[str]:
    """Every answer that breaks the contract: anything but a 200 or a 503 ServiceUnavailableException,
    an answer slower than HANG_LIMIT_S, and a 200 to a request made entirely while PostgreSQL was down."""
    found = []
    for a in answers:
        if a.status not in (200, 503) or (a.status == 503 and a.error_type != SERVICE_UNAVAILABLE):
            found.append(f"{a.replica} {a.op} {a.name}: {a.status} {a.error_type} {a.detail}")
        elif a.ended - a.started > HANG_LIMIT_S:
            found.append(f"{a.replica} {a.op}: took {a.ended - a.started:.1f}s")
        elif a.status == 200 and any(down <= a.started and a.ended <= up for down, up in outages):
            found.append(f"{a.replica} {a.op} {a.name}: 200 while PostgreSQL was down")
    return found


def recovered_after(answers: list[Answer], replica: str, since: float) -> float | None:
    """Seconds from ``since`` to the end of the last non-200 answer of ``replica`` after it (0 when
    there was none), provided 200s came after it; None while it has not recovered."""
    mine = sorted((a for a in answers if a.replica == replica and a.ended >= since), key=lambda a: a.ended)
    failed = [a for a in mine if a.status != 200]
    last_failure = failed[-1].ended if failed else since
    after = [a for a in mine if a.started > last_failure and a.status == 200]
    writes_after = [a for a in after if a.op == "create"]
    reads_after = [a for a in after if a.op != "create"]
    if len(writes_after) < 3 or len(reads_after) < 3:
        return None
    return last_failure - since


def log_excerpt(*servers: MeshplaneServer, limit: int = 40) -> str:
    """The replicas' log lines that say something went wrong (for a failure message)."""
    lines = []
    for server in servers:
        for line in server.log().splitlines():
            if any(word in line for word in ("Traceback", "ERROR", "Error", "error", "500", "exited")):
                lines.append(f"[{server.log_path.name}] {line}")
    return "\n".join(lines[-limit:])


@pytest.fixture
def pg() -> Iterator[PostgresServer]:
    """A PostgreSQL server of this test's own (it is stopped and killed on purpose), fsync on."""
    server = PostgresServer(fast=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def started(tmp_path: Path) -> Iterator[list[Any]]:
    """Whatever this test starts that must stop at teardown (replicas, apps, Envoys), last first."""
    things: list[Any] = []
    try:
        yield things
    finally:
        for thing in reversed(things):
            (thing.stop_all if hasattr(thing, "stop_all") else thing.stop)()


def test_postgres_restart_under_load(pg: PostgresServer, tmp_path: Path, started: list[Any]) -> None:
    env = env_with_venv({"MESHPLANE_QUOTA_VIRTUALNODES": "100000"})
    common = ("--leader-interval", "1", "--workers", "2")
    replica_a = MeshplaneServer(pg.url(), tmp_path / "replica-a.log", *common, "--xds-workers", "1",
                                "--replica-id", "a", xds=True, env=env)
    started.append(replica_a)
    replica_b = MeshplaneServer(pg.url(), tmp_path / "replica-b.log", *common, "--replica-id", "b", env=env)
    started.append(replica_b)
    pids = {"a": replica_a.pid, "b": replica_b.pid}

    api_a, api_b = appmesh_client(replica_a.endpoint), appmesh_client(replica_b.endpoint)
    apps = {name: BackendApp(name) for name in DJ_APPS}
    started.extend(apps.values())
    mesh = f"dj-{uuid.uuid4().hex[:6]}"
    create_dj_app(api_a, mesh, apps, jazz={"jazz-v1": 1})
    for name in WRITE_MESHES:
        api_b.create_mesh(meshName=name)
    envoys = Envoys(tmp_path / "envoy")
    started.append(envoys)
    dj = envoys.sidecar(replica_a, dj_node_id(mesh), "sotw")
    assert dj.egress_port is not None
    envoy_pid = dj.pid

    watch = ProxyWatch(dj.process.admin_url, dj.egress_port)
    baseline = watch.observe()
    assert baseline["traffic"] == "jazz-v1", baseline
    mesh_clusters = [name for name in baseline["clusters"] if mesh in name]
    assert mesh_clusters, f"no cluster of the mesh in Envoy: {baseline['clusters']}"
    listeners = baseline.get("listener_manager.total_listeners_active")
    assert listeners, baseline
    listen_before = wait_for(lambda: listen_sessions(pg), 10, "a LISTEN session of each replica")

    outages: list[tuple[float, float]] = []
    measured: dict[str, Any] = {}
    expected_traffic = "jazz-v1"

    def change_route(label: str) -> None:
        """A change written on the replica without xDS must reach the Envoy on the other one: the
        propagation loop and its notifications work (again)."""
        nonlocal expected_traffic
        expected_traffic = "jazz-v2" if expected_traffic == "jazz-v1" else "jazz-v1"
        written = time.monotonic()
        set_route_weights(api_b, mesh, "jazz-router", "jazz-route", {expected_traffic: 1})
        wait_for(lambda: watch.observe().get("traffic") == expected_traffic, PROPAGATION_LIMIT_S,
                 lambda: f"{expected_traffic} through Envoy after {label}:\n{log_excerpt(replica_a, replica_b)}")
        measured[f"{label}: route change via B reached Envoy on A after s"] = round(time.monotonic() - written, 2)

    def outage(label: str, take_down: Callable[[], None], load: Load) -> None:
        """Take PostgreSQL down, keep the load going for DOWN_S, start it again, wait for recovery."""
        time.sleep(1.0)  # load on a healthy database first
        if not outages:
            # The same change with the database up, under the same load: what recovery is measured against.
            change_route(f"{label}, before (under load)")
        # What the Envoy has now (a route change after the previous outage dropped a cluster).
        clusters_before = [name for name in watch.observe()["clusters"] if mesh in name]
        assert set(mesh_clusters) & set(clusters_before), clusters_before
        began = time.monotonic()
        take_down()
        assert pg.pid is None
        down_at = time.monotonic()
        time.sleep(DOWN_S)
        up_call = time.monotonic()
        pg.start()
        up_at = time.monotonic()
        outages.append((down_at, up_call))
        measured[f"{label}: take down s"] = round(down_at - began, 2)
        measured[f"{label}: start s"] = round(up_at - up_call, 2)

        def both_recovered() -> dict[str, float] | None:
            answers = load.snapshot()
            times = {r: recovered_after(answers, r, up_at) for r in ("a", "b")}
            return times if all(t is not None for t in times.values()) else None  # type: ignore[return-value]

        times = wait_for(both_recovered, RECOVERY_LIMIT_S + 5,
                         lambda: f"both replicas answering 200 after {label}:\n{log_excerpt(replica_a, replica_b)}")
        for replica, seconds in times.items():
            measured[f"{label}: replica {replica} all-200 after s"] = round(seconds, 2)
        wait_for(lambda: listen_sessions(pg) >= listen_before, RECOVERY_LIMIT_S,
                 lambda: f"the LISTEN sessions back ({listen_sessions(pg)} of {listen_before}) after {label}")
        measured[f"{label}: LISTEN sessions back after s"] = round(time.monotonic() - up_at, 2)

        # Proxies kept their configuration while the database was away.
        during = watch.between(down_at, up_call)
        assert len(during) >= 5, f"the proxy was observed only {len(during)} times during {label}"
        for seen in during:
            assert seen.get("traffic") == expected_traffic, f"{label}: traffic through Envoy: {seen}"
            assert "admin_error" not in seen, seen
            assert set(clusters_before) <= set(seen["clusters"]), f"{label}: clusters lost: {seen}"
            assert seen.get("listener_manager.total_listeners_active") == listeners, seen
            assert seen.get("listener_manager.total_listeners_draining") == 0, seen
        measured[f"{label}: Envoy xDS stream up (observations)"] = sum(
            1 for s in during if s.get("control_plane.connected_state") == 1), len(during)

        slowest = max((a.ended - a.started for a in load.snapshot() if a.status == 503 and a.started >= began),
                      default=0.0)
        measured[f"{label}: slowest 503 s"] = round(slowest, 2)
        change_route(label)

    change_route("before any outage")
    with watch, Load({"a": replica_a.endpoint, "b": replica_b.endpoint}) as load:
        outage("fast shutdown", lambda: pg.stop(cleanup=False), load)
        outage("kill -9", pg.kill9, load)
        time.sleep(0.5)

    answers = load.snapshot()
    for line in (f"{k} = {v}" for k, v in measured.items()):
        print(line)
    counts: dict[str, int] = {}
    for a in answers:
        key = f"{a.replica} {a.op} {a.status}"
        counts[key] = counts.get(key, 0) + 1
    print("answers:", json.dumps(dict(sorted(counts.items()))))

    bad = problems(answers, outages)
    assert not bad, f"{len(bad)} bad answers, first ones:\n" + "\n".join(bad[:15]) + \
        f"\nreplica logs:\n{log_excerpt(replica_a, replica_b)}"
    # A request may wait in the pool for a connection (up to the busy timeout) across a short
    # outage and then succeed, so not every kind of request is sure to see a 503; each replica is.
    for replica in ("a", "b"):
        assert any(a.status == 503 for a in answers if a.replica == replica), f"no 503 on replica {replica}: {counts}"
    for label, seconds in measured.items():
        if "all-200 after" in label:
            assert seconds <= RECOVERY_LIMIT_S, f"{label}: {seconds}s (limit {RECOVERY_LIMIT_S}s)"

    # Not one acknowledged write lost, as seen from either replica.
    assert len(load.acknowledged) > 50, f"only {len(load.acknowledged)} writes acknowledged"
    for endpoint in (replica_a.endpoint, replica_b.endpoint):
        present = {(m, n) for m in WRITE_MESHES for n in list_all(endpoint, m)}
        lost = sorted(set(load.acknowledged) - present)
        assert not lost, f"{len(lost)} acknowledged writes missing on {endpoint}: {lost[:10]}"
    print(f"acknowledged writes: {len(load.acknowledged)}, all present on both replicas")

    # Nothing was restarted: the same replica processes, the same Envoy, all still running.
    for server, label in ((replica_a, "a"), (replica_b, "b")):
        assert server.popen.poll() is None and server.pid == pids[label], f"replica {label} exited"
    assert dj.process.alive() and dj.pid == envoy_pid
