"""Benchmark: xDS convergence of a real `meshplane serve`, from the REST 200 of a route-weight
change until every connected proxy has ACKed the new RouteConfiguration.

    .venv/bin/python bench/xds_convergence.py                       # both parts, N = 100, 1000, 2000
    .venv/bin/python bench/xds_convergence.py --changes 20 --n 100 --rounds 5 --docs
    .venv/bin/python bench/xds_convergence.py --no-envoy --n 2000 --auth both   # streams signed vs not
    .venv/bin/python bench/xds_convergence.py --no-envoy --n 2000 --sds both    # with SDS certificates vs not
    .venv/bin/python bench/xds_convergence.py --no-envoy --n 2000 --sds all     # ... and the same listener in plain text
    .venv/bin/python bench/xds_convergence.py --replicas --n 2000 --rounds 5    # SQLite vs PostgreSQL, 1 and 2 replicas

Part 1, real Envoys: one `meshplane serve` (API + xDS, default 100 ms debounce) and two real Envoy
1.40 sidecars of one mesh, one on state-of-the-world ADS and one on delta, both with the same
backend virtual service (a router with one route splitting over two nodes). ``--changes`` times:
PUT the route with new weights (raw HTTP, keep-alive), take ``time.time()`` when the 200 arrives,
then read each proxy's RDS ``ackedAt`` (stamped by the xDS process with ``time.time()`` when the
ACK arrived) from /meshplane/v1/proxies. Convergence = ackedAt - REST 200; "all" is the slower
of the two. Target: <= 250 ms including the debounce.

Part 2, simulated proxies: for each N a fresh `meshplane serve` (fresh database) holds a mesh of N
virtual nodes sharing one backend service. One separate client process opens N SotW ADS streams,
each on its own channel and TCP connection, each as a different virtual node, behaving like Envoy:
CDS and LDS wildcard, then EDS for the EDS clusters CDS named and RDS for the route configs the
listeners named, and it ACKs every response. Per round: one route-weight PUT, then poll
/meshplane/v1/proxies until all N ACKed the new RDS version; convergence = the last ackedAt - REST
200. Memory: the xDS process's RSS growth from "mesh stored, no proxy" to "N proxies synced" / N
(that is a stream plus the proxy's config). CPU: the xDS process's CPU time per change.
``--auth sigv4`` (or ``both``) runs part 2 against `meshplane serve --auth sigv4`: the REST calls are
signed with an admin key, and each stream carries SigV4 metadata as App Mesh's Envoy sends it, so
every stream passes admission (signature checked, policy evaluated) once when it opens.
``--sds on`` (or ``both``) gives every simulated proxy's node a STRICT TLS listener naming an ACM
certificate and a backend default client policy trusting ACM: each proxy then also subscribes to
its two SDS secrets (its mesh certificate, issued when it connects, and the mesh trust bundle),
the comparison the issue asks for (route-change convergence with SDS certificates, no worse than
without). ``--sds listener`` gives every node the same listener without TLS (no certificates): the
like-for-like baseline, since a node with a listener has resources of its own (its ingress cluster,
named after the node, and the route config naming it) whether or not the listener uses TLS;
``--sds all`` runs off, listener and on.

``--replicas`` runs part 2 three ways in one run instead, each on a fresh database: one `meshplane serve`
on SQLite, one on PostgreSQL, and two `meshplane serve` replicas (API + xDS each) on one PostgreSQL
database with the N proxies split over them (half connect to each, from two client processes). The route
change is written on replica A's API; convergence is when every proxy on both replicas has ACKed it (their
ackedAt stamps; /meshplane/v1/proxies on any replica lists every replica's proxies). PostgreSQL is a server
of the script's own (tests/pgserver.py, fsync on). Also measured there, to size a fleet on paper: each xDS
process's RSS without proxies and with its share synced, its CPU for the initial sync, per change, and at
rest (proxies connected, nothing changing) per proxy.

Everything shares the machine's cores (server, Envoys or client process, and this script's polling),
so the numbers are pessimistic for the server.
"""

from __future__ import annotations

import sys
from pathlib import Path

import argparse
import asyncio
import collections
import http.client
import json
import os
import random
import statistics
import subprocess
import tempfile
import time
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from procs import EnvoyProcess, MeshplaneServer, env_with_venv, free_port

from meshplane.config import Config  # noqa: E402

PREFIX = "/v20190125"
SERVICE = "svc.bench.local"
ROUTER, ROUTE = "router", "route"
TARGETS = ("target-a", "target-b")
ADS_SOTW = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources"
SECTION = "## xDS convergence (bench/xds_convergence.py)"


# -- REST ---------------------------------------------------------------------------------------

class Rest:
    """Raw App Mesh REST calls over one keep-alive connection (no SDK cost inside the timings)."""

    def __init__(self, endpoint: str, key: tuple[str, str] | None = None) -> None:
        parts = urlsplit(endpoint)
        self.endpoint = endpoint
        self.key = key  # (access key id, secret): sign each call (a server with --auth sigv4)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": "application/json"}
        if self.key is not None:
            from botocore.auth import SigV4Auth
            from botocore.awsrequest import AWSRequest
            from botocore.credentials import Credentials

            signed = AWSRequest(method=method, url=self.endpoint + path, data=data or b"", headers=headers)
            SigV4Auth(Credentials(*self.key), "appmesh", "us-east-1").add_auth(signed)
            headers = dict(signed.headers)
        self.conn.request(method, path, body=data, headers=headers)
        response = self.conn.getresponse()
        payload = response.read()
        if response.status != 200:
            raise RuntimeError(f"{method} {path}: {response.status} {payload[:300]!r}")
        return json.loads(payload) if payload else None

    def proxies(self, mesh: str) -> list[dict[str, Any]]:
        """Connected proxy streams of ``mesh``."""
        rows = self.call("GET", f"/meshplane/v1/proxies?mesh={mesh}")["proxies"]
        return [row for row in rows if row["connected"]]

    def set_weights(self, mesh: str, a: int, b: int) -> float:
        """PUT the route with weights a/b; returns time.time() when the 200 arrived."""
        spec = {"httpRoute": {"match": {"prefix": "/"}, "action": {"weightedTargets": [
            {"virtualNode": TARGETS[0], "weight": a}, {"virtualNode": TARGETS[1], "weight": b}]}}}
        self.call("PUT", f"{PREFIX}/meshes/{mesh}/virtualRouter/{ROUTER}/routes/{ROUTE}", {"spec": spec})
        return time.time()

    def close(self) -> None:
        self.conn.close()


ACM_ARN = "arn:aws:acm:us-east-1:111122223333:certificate/bench"
MESH_SECRETS = ["meshplane-mesh-certificate", "meshplane-mesh-trust"]


def create_mesh(rest: Rest, mesh: str, clients: list[str], sds: str = "off") -> None:
    """A mesh where every node in ``clients`` has the one backend SERVICE (router, route, two targets);
    with ``sds`` "on", each also has a STRICT TLS listener naming an ACM certificate and trusts ACM;
    with "listener", the same listener in plain text (no certificates)."""
    rest.call("PUT", f"{PREFIX}/meshes", {"meshName": mesh, "spec": {}})
    listener = [{"portMapping": {"port": 9080, "protocol": "http"}}]
    for k, name in enumerate(TARGETS):
        rest.call("PUT", f"{PREFIX}/meshes/{mesh}/virtualNodes", {"virtualNodeName": name, "spec": {
            "listeners": [{"portMapping": {"port": 9080 + k, "protocol": "http"}}],
            "serviceDiscovery": {"dns": {"hostname": "127.0.0.1"}}}})
    rest.call("PUT", f"{PREFIX}/meshes/{mesh}/virtualRouters", {"virtualRouterName": ROUTER, "spec": {"listeners": listener}})
    rest.call("PUT", f"{PREFIX}/meshes/{mesh}/virtualRouter/{ROUTER}/routes", {"routeName": ROUTE, "spec": {
        "httpRoute": {"match": {"prefix": "/"}, "action": {"weightedTargets": [
            {"virtualNode": TARGETS[0], "weight": 50}, {"virtualNode": TARGETS[1], "weight": 50}]}}}})
    rest.call("PUT", f"{PREFIX}/meshes/{mesh}/virtualServices", {"virtualServiceName": SERVICE, "spec": {
        "provider": {"virtualRouter": {"virtualRouterName": ROUTER}}}})
    backend = [{"virtualService": {"virtualServiceName": SERVICE}}]
    extra: dict[str, Any] = {}
    if sds == "listener":
        extra = {"listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}]}
    elif sds == "on":
        extra = {"listeners": [{"portMapping": {"port": 8080, "protocol": "http"}, "tls": {
                     "mode": "STRICT", "certificate": {"acm": {"certificateArn": ACM_ARN}}}}],
                 "backendDefaults": {"clientPolicy": {"tls": {"validation": {"trust": {"acm": {
                     "certificateAuthorityArns": [ACM_ARN]}}}}}}}
    for name in clients:
        rest.call("PUT", f"{PREFIX}/meshes/{mesh}/virtualNodes", {"virtualNodeName": name, "spec": {
            "serviceDiscovery": {"dns": {"hostname": "127.0.0.1"}}, "backends": backend, **extra}})


def all_synced(rows: list[dict[str, Any]]) -> bool:
    return all(t["state"] == "SYNCED" for row in rows for k, t in row["types"].items() if k in ("CDS", "EDS", "LDS", "RDS", "SDS"))


def wait_converged(rest: Rest, mesh: str, previous: dict[str, str | None], expected: int,
                   timeout: float, poll: float) -> dict[str, dict[str, Any]]:
    """Poll until ``expected`` connected proxies ACKed an RDS version other than ``previous``;
    returns node id -> its RDS status."""
    deadline = time.monotonic() + timeout
    while True:
        time.sleep(poll)  # nothing to see at once: the change is still being pushed
        rows = rest.proxies(mesh)
        rds = {row["nodeId"]: row["types"]["RDS"] for row in rows}
        done = [node for node, t in rds.items()
                if t["state"] == "SYNCED" and t["versionAcked"] not in (None, previous.get(node))]
        if len(done) >= expected:
            return rds
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(done)}/{expected} proxies ACKed the new RDS within {timeout}s")


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def xds_pid(server: MeshplaneServer) -> int:
    """The `meshplane xds` child of a `meshplane serve` process."""
    for _ in range(100):
        for child in Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split():
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
            if b"xds" in cmdline and b"meshplane" in cmdline:
                return int(child)
        time.sleep(0.05)
    raise RuntimeError("no meshplane xds child process")


def _tree(pid: int) -> list[int]:
    """``pid`` and its children (the xDS workers, when `meshplane xds` supervises several)."""
    try:
        children = [c for task in Path(f"/proc/{pid}/task").iterdir() for c in (task / "children").read_text().split()]
    except OSError:
        children = []
    return [pid, *(int(c) for c in children)]


def rss_mb(pid: int) -> float:
    """Resident memory of the xDS process and its workers."""
    total = 0.0
    for each in _tree(pid):
        for line in Path(f"/proc/{each}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) / 1024
    return total


def cpu_s(pid: int) -> float:
    """CPU time (user + system) of the xDS process and its workers."""
    total = 0.0
    for each in _tree(pid):
        fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


# -- part 1: real Envoys ---------------------------------------------------------------------------

def bench_envoys(tmp: Path, changes: int) -> dict[str, Any]:
    from meshplane.bootstrap import envoy_bootstrap

    server = MeshplaneServer(tmp / "envoy.db", tmp / "envoy-server.log", xds=True)
    envoys: list[EnvoyProcess] = []
    rest = Rest(server.endpoint)
    mesh = "bench-envoy"
    try:
        modes = {"sotw": "client-sotw", "delta": "client-delta"}
        create_mesh(rest, mesh, list(modes.values()))
        for mode, name in modes.items():
            bootstrap = envoy_bootstrap(f"mesh/{mesh}/virtualNode/{name}", str(server.xds_address), admin_port=0,
                                        egress_port=free_port(), delta=mode == "delta")
            envoys.append(EnvoyProcess(bootstrap, tmp, name))
        deadline = time.monotonic() + 30
        while not ((rows := rest.proxies(mesh)) and len(rows) == 2 and all_synced(rows)):
            if time.monotonic() > deadline:
                raise RuntimeError(f"Envoys not SYNCED: {rows}\n" + "\n".join(e.all_logs() for e in envoys))
            time.sleep(0.05)
        node_mode = {f"mesh/{mesh}/virtualNode/{name}": mode for mode, name in modes.items()}
        samples: dict[str, list[float]] = {"sotw": [], "delta": [], "all": []}
        rest_ms: list[float] = []
        previous = {row["nodeId"]: row["types"]["RDS"]["versionAcked"] for row in rows}
        for change in range(changes):
            a = 10 if change % 2 == 0 else 90
            sent = time.time()
            ok_at = rest.set_weights(mesh, a, 100 - a)
            rest_ms.append(1000 * (ok_at - sent))
            rds = wait_converged(rest, mesh, previous, 2, timeout=10, poll=0.05)
            took = {node_mode[node]: 1000 * (t["ackedAt"] - ok_at) for node, t in rds.items()}
            for mode, ms in took.items():
                samples[mode].append(ms)
            samples["all"].append(max(took.values()))
            previous = {node: t["versionAcked"] for node, t in rds.items()}
            print(f"  change {change + 1}: REST {rest_ms[-1]:.0f} ms, ACK after 200: "
                  + ", ".join(f"{m} {v:.0f} ms" for m, v in took.items()), file=sys.stderr, flush=True)
            time.sleep(0.3)  # let each change be its own debounce window
        return {"changes": changes, "rest_p50_ms": statistics.median(rest_ms), **{
            f"{mode}_{stat}": fn(values) for mode, values in samples.items()
            for stat, fn in (("p50_ms", statistics.median), ("p99_ms", lambda v: percentile(v, 99)), ("max_ms", max))}}
    finally:
        rest.close()
        for envoy in envoys:
            envoy.stop()
        server.stop()


# -- part 2: N simulated proxies ---------------------------------------------------------------------

def bench_fanout(tmp: Path, n: int, rounds: int, xds_workers: int = 1, auth: bool = False,
                 sds: str = "off") -> dict[str, Any]:
    env = env_with_venv({"MESHPLANE_QUOTA_VIRTUALNODES": str(n + 100), "MESHPLANE_XDS_WORKERS": str(xds_workers)})
    db = tmp / f"fanout-{n}-{xds_workers}-{'sigv4' if auth else 'off'}-sds-{sds}.db"
    key: tuple[str, str] | None = None
    client_env = env_with_venv({"BENCH_SDS": "1"} if sds == "on" else {})
    if auth:
        # --auth sigv4: REST calls signed with an admin key, and every stream signed as App Mesh's
        # Envoy signs it (SigV4 in the metadata), so admission runs once per stream.
        from meshplane.auth.keys import KeyStore
        from meshplane.store import migrate

        migrate(str(db))
        store = KeyStore(Config.from_env({}, db=str(db)))
        admin = store.create("bench", admin=True)
        store.close()
        assert admin is not None
        key = (admin.access_key_id, admin.secret)
        env["MESHPLANE_AUTH"] = "sigv4"
        env["MESHPLANE_AUDIT_LOG"] = str(tmp / "audit.log")
        client_env.update({"BENCH_KEY_ID": key[0], "BENCH_SECRET": key[1]})
    server = MeshplaneServer(db, db.with_suffix(".log"), xds=True, env=env)
    rest = Rest(server.endpoint, key)
    mesh = f"bench-{n}"
    client: subprocess.Popen[bytes] | None = None
    try:
        started = time.monotonic()
        create_mesh(rest, mesh, [f"node-{i}" for i in range(n)], sds)
        print(f"  N={n}: mesh stored in {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
        pid = xds_pid(server)
        time.sleep(1.0)
        rss_idle = rss_mb(pid)
        started = time.monotonic()
        client = subprocess.Popen([sys.executable, __file__, "--client", str(server.xds_port), "--mesh", mesh,
                                   "--n", str(n)], env=client_env)
        deadline = started + 180
        while True:
            rows = rest.proxies(mesh)
            if len(rows) == n and all_synced(rows):
                break
            if client.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{len(rows)}/{n} proxies connected; synced: {all_synced(rows)}")
            time.sleep(0.25)
        initial_sync = time.monotonic() - started
        time.sleep(1.0)
        rss_connected = rss_mb(pid)
        previous = {row["nodeId"]: row["types"]["RDS"]["versionAcked"] for row in rows}
        all_ms, per_proxy, cpu = [], [], []
        for round_ in range(rounds):
            a = 10 + 10 * (round_ % 8)
            cpu_before = cpu_s(pid)
            ok_at = rest.set_weights(mesh, a, 100 - a)
            # Polled every second: each poll renders N status rows in the API process, which shares
            # the cores with the xDS process and the proxies (and status is written once the push
            # is answered). Convergence comes from the ACK stamps, not from when the poll saw them,
            # so a slower poll only lowers the observer's cost.
            rds = wait_converged(rest, mesh, previous, n, timeout=120, poll=1.0)
            acked = [1000 * (t["ackedAt"] - ok_at) for t in rds.values()]
            all_ms.append(max(acked))
            per_proxy.extend(acked)
            previous = {node: t["versionAcked"] for node, t in rds.items()}
            time.sleep(0.5)  # the ACK flood is over; count the round's CPU including status flushes
            cpu.append(cpu_s(pid) - cpu_before)
            print(f"  N={n} round {round_ + 1}: all {n} ACKed {all_ms[-1]:.0f} ms after the REST 200",
                  file=sys.stderr, flush=True)
        return {
            "n": n, "rounds": rounds, "xds_workers": xds_workers,
            "auth": ("sigv4" if auth else "off") + {"off": "", "listener": ", listener", "on": ", SDS"}[sds],
            "initial_sync_s": initial_sync,
            "all_p50_ms": statistics.median(all_ms), "all_p99_ms": percentile(all_ms, 99),
            "proxy_p50_ms": percentile(per_proxy, 50), "proxy_p99_ms": percentile(per_proxy, 99),
            "cpu_per_change_s": statistics.median(cpu),
            "rss_idle_mb": rss_idle, "rss_connected_mb": rss_connected,
            "kb_per_proxy": (rss_connected - rss_idle) * 1024 / n,
        }
    finally:
        if client is not None:
            client.terminate()
            client.wait(timeout=30)
        rest.close()
        server.stop()


async def run_clients(port: int, mesh: str, n: int, first: int = 0) -> None:
    """N Envoy-like SotW ADS streams, node ``mesh/<mesh>/virtualNode/node-<i>`` for i from ``first``,
    ACKing everything."""
    import grpc
    from envoy.config.cluster.v3 import cluster_pb2
    from envoy.config.core.v3 import base_pb2
    from envoy.config.listener.v3 import listener_pb2
    from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm_pb2
    from envoy.service.discovery.v3 import discovery_pb2

    from meshplane.stream import CLUSTER, ENDPOINT, LISTENER, ROUTE as ROUTE_TYPE, SECRET

    def eds_names(response: discovery_pb2.DiscoveryResponse) -> list[str]:
        names = []
        for packed in response.resources:
            cluster = cluster_pb2.Cluster()
            packed.Unpack(cluster)
            if cluster.type == cluster_pb2.Cluster.EDS:
                names.append(cluster.eds_cluster_config.service_name or cluster.name)
        return sorted(names)

    def rds_names(response: discovery_pb2.DiscoveryResponse) -> list[str]:
        names = set()
        for packed in response.resources:
            listener = listener_pb2.Listener()
            packed.Unpack(listener)
            chains = list(listener.filter_chains)
            if listener.HasField("default_filter_chain"):
                chains.append(listener.default_filter_chain)
            for chain in chains:
                for network in chain.filters:
                    if network.typed_config.Is(hcm_pb2.HttpConnectionManager.DESCRIPTOR):
                        manager = hcm_pb2.HttpConnectionManager()
                        network.typed_config.Unpack(manager)
                        if manager.HasField("rds"):
                            names.add(manager.rds.route_config_name)
        return sorted(names)

    key = (os.environ["BENCH_KEY_ID"], os.environ["BENCH_SECRET"]) if os.environ.get("BENCH_KEY_ID") else None

    def signed_metadata() -> list[tuple[str, str]] | None:
        """SigV4 over the synthetic POST of the method path, as App Mesh's Envoy signs each stream."""
        if key is None:
            return None
        from botocore.auth import EMPTY_SHA256_HASH, SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        request = AWSRequest(method="POST", url=f"https://127.0.0.1:{port}{ADS_SOTW}",
                             headers={"x-amz-content-sha256": EMPTY_SHA256_HASH})
        SigV4Auth(Credentials(*key), "appmesh", "us-east-1").add_auth(request)
        return [(k.lower(), v) for k, v in request.headers.items() if k.lower() != "host"]

    async def proxy(index: int) -> None:
        await asyncio.sleep(random.random() * n / 2000)  # a ramp, like a fleet starting up
        node = base_pb2.Node(id=f"mesh/{mesh}/virtualNode/node-{index}", cluster="bench")
        while True:
            channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.use_local_subchannel_pool", 1)])
            try:
                call = channel.stream_stream(ADS_SOTW, request_serializer=lambda m: m.SerializeToString(),
                                             response_deserializer=discovery_pb2.DiscoveryResponse.FromString)(
                    metadata=signed_metadata())
                names: dict[str, list[str]] = {CLUSTER: [], LISTENER: []}
                accepted: dict[str, tuple[str, str]] = {}
                first = discovery_pb2.DiscoveryRequest(type_url=CLUSTER)
                first.node.CopyFrom(node)
                await call.write(first)
                await call.write(discovery_pb2.DiscoveryRequest(type_url=LISTENER))
                if os.environ.get("BENCH_SDS"):  # the listener's certificate and the clusters' trust
                    names[SECRET] = MESH_SECRETS
                    await call.write(discovery_pb2.DiscoveryRequest(type_url=SECRET, resource_names=MESH_SECRETS))
                async for response in call:
                    kind = response.type_url
                    follow = {CLUSTER: (ENDPOINT, eds_names), LISTENER: (ROUTE_TYPE, rds_names)}.get(kind)
                    accepted[kind] = (response.version_info, response.nonce)
                    await call.write(discovery_pb2.DiscoveryRequest(
                        type_url=kind, resource_names=names.get(kind, []),
                        version_info=response.version_info, response_nonce=response.nonce))
                    if follow is not None:
                        sub_type, pick = follow
                        wanted = pick(response)
                        if wanted != names.get(sub_type):
                            names[sub_type] = wanted
                            version, nonce = accepted.get(sub_type, ("", ""))
                            await call.write(discovery_pb2.DiscoveryRequest(
                                type_url=sub_type, resource_names=wanted, version_info=version, response_nonce=nonce))
                return
            except grpc.aio.AioRpcError:
                await asyncio.sleep(0.1 + random.random())  # reconnect with jitter, as Envoy does
            finally:
                await channel.close()

    await asyncio.gather(*(proxy(i) for i in range(first, first + n)))


# -- part 2 over replicas (--replicas) ---------------------------------------------------------------

REPLICA_SETUPS = (("SQLite", "sqlite", 1), ("PostgreSQL, 1 replica", "pg", 1), ("PostgreSQL, 2 replicas", "pg", 2))
IDLE_S = 5.0  # seconds of rest over which the CPU without proxies, and with them connected, is measured


def bench_replicas(tmp: Path, n: int, rounds: int, xds_workers: int, label: str, backend: str, count: int,
                   pg: Any) -> dict[str, Any]:
    """Part 2 with ``count`` `meshplane serve` (API + xDS) over one database (``backend``: a fresh SQLite
    file, or a fresh database on the PostgreSQL server ``pg``); the N proxies split evenly over them,
    the changes written on the first one's API."""
    env = env_with_venv({"MESHPLANE_QUOTA_VIRTUALNODES": str(n + 100), "MESHPLANE_XDS_WORKERS": str(xds_workers),
                         "MESHPLANE_LOG_LEVEL": "warning"})
    name = f"replicas_{n}_{backend}_{count}"
    db: Any = pg.create_database(name) if backend == "pg" else tmp / f"{name}.db"
    servers: list[MeshplaneServer] = []
    clients: list[subprocess.Popen[bytes]] = []
    rest: Rest | None = None
    mesh = f"bench-{n}"
    try:
        for k in range(count):
            servers.append(MeshplaneServer(db, tmp / f"{name}-{k}.log", "--replica-id", f"r{k}", xds=True, env=env))
        rest = Rest(servers[0].endpoint)
        started = time.monotonic()
        create_mesh(rest, mesh, [f"node-{i}" for i in range(n)])
        print(f"  [{label}] N={n}: mesh stored in {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
        pids = [xds_pid(server) for server in servers]
        time.sleep(1.0)
        rss_idle = [rss_mb(pid) for pid in pids]
        empty_before = sum(cpu_s(pid) for pid in pids)
        time.sleep(IDLE_S)
        cpu_empty = (sum(cpu_s(pid) for pid in pids) - empty_before) / IDLE_S
        cpu_start = sum(cpu_s(pid) for pid in pids)
        started = time.monotonic()
        share = -(-n // count)
        for k, server in enumerate(servers):
            first, last = k * share, min(n, (k + 1) * share)
            clients.append(subprocess.Popen(
                [sys.executable, __file__, "--client", str(server.xds_port), "--mesh", mesh, "--n", str(last - first),
                 "--first", str(first)], env=env_with_venv()))
        deadline = started + 240
        while True:
            rows = rest.proxies(mesh)
            if len(rows) == n and all_synced(rows):
                break
            if any(c.poll() is not None for c in clients) or time.monotonic() > deadline:
                raise RuntimeError(f"[{label}] {len(rows)}/{n} proxies connected; synced: {all_synced(rows)}")
            time.sleep(0.25)
        initial_sync = time.monotonic() - started
        on = collections.Counter(row.get("replica") for row in rows)
        time.sleep(1.0)
        db_mb = database_mb(db, pg)
        cpu_sync = sum(cpu_s(pid) for pid in pids) - cpu_start
        rss_connected = [rss_mb(pid) for pid in pids]
        idle_before = sum(cpu_s(pid) for pid in pids)
        time.sleep(IDLE_S)
        cpu_idle = (sum(cpu_s(pid) for pid in pids) - idle_before) / IDLE_S
        previous = {row["nodeId"]: row["types"]["RDS"]["versionAcked"] for row in rows}
        all_ms, per_proxy, cpu = [], [], []
        for round_ in range(rounds):
            a = 10 + 10 * (round_ % 8)
            cpu_before = sum(cpu_s(pid) for pid in pids)
            ok_at = rest.set_weights(mesh, a, 100 - a)
            rds = wait_converged(rest, mesh, previous, n, timeout=120, poll=1.0)
            acked = [1000 * (t["ackedAt"] - ok_at) for t in rds.values()]
            all_ms.append(max(acked))
            per_proxy.extend(acked)
            previous = {node: t["versionAcked"] for node, t in rds.items()}
            time.sleep(0.5)
            cpu.append(sum(cpu_s(pid) for pid in pids) - cpu_before)
            print(f"  [{label}] N={n} round {round_ + 1}: all {n} ACKed {all_ms[-1]:.0f} ms after the REST 200",
                  file=sys.stderr, flush=True)
        return {
            "label": label, "n": n, "rounds": rounds, "xds_workers": xds_workers, "replicas": count,
            "proxies_per_replica": dict(sorted((str(k), v) for k, v in on.items())),
            "initial_sync_s": initial_sync,
            "all_p50_ms": statistics.median(all_ms), "all_p99_ms": percentile(all_ms, 99),
            "proxy_p50_ms": percentile(per_proxy, 50), "proxy_p99_ms": percentile(per_proxy, 99),
            "cpu_per_change_s": statistics.median(cpu), "cpu_sync_s": cpu_sync, "cpu_idle_share": cpu_idle,
            "cpu_empty_share": cpu_empty,
            "rss_idle_mb": rss_idle, "rss_connected_mb": rss_connected,
            "kb_per_proxy": (sum(rss_connected) - sum(rss_idle)) * 1024 / n,
            "db_mb": db_mb,
        }
    finally:
        for client in clients:
            client.terminate()
            client.wait(timeout=30)
        if rest is not None:
            rest.close()
        for server in servers:
            server.stop()


def database_mb(db: Any, pg: Any) -> float:
    """The database's size on disk in MB: ``pg_database_size`` on PostgreSQL (``db`` is its URL), the
    file plus its WAL on SQLite."""
    if isinstance(db, Path):
        return sum(p.stat().st_size for p in (db, db.with_name(db.name + "-wal")) if p.exists()) / 2**20
    name = urlsplit(str(db)).path.lstrip("/")
    with pg.admin_connect(name) as conn:
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    return int(row[0]) / 2**20


def replicas_report(runs: list[dict[str, Any]], command: str, load_before: float) -> str:
    """The ``--replicas`` table, the ratios to the single server, and the per-proxy figures."""
    load = os.getloadavg()[0]
    lines = [f"Command: `{command}` ({os.cpu_count()} cores shared by every process, 1-minute load average "
             f"{load_before:.1f} at the start and {load:.1f} at the end). Simulated SotW proxies as in part 2, "
             f"{runs[0]['rounds']} route-weight changes each, written on replica A's API; convergence = last "
             "ackedAt − REST 200, over every proxy of every replica.", "",
             "| N | setup | xDS workers per replica | proxies per replica | initial sync | all ACKed p50 | all ACKed p99 "
             "| per proxy p50 | per proxy p99 | xDS CPU/change | p99 vs single SQLite | p99 vs single PostgreSQL |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        base = {x["label"]: x for x in runs if x["n"] == r["n"]}
        sq, pg1 = base.get("SQLite"), base.get("PostgreSQL, 1 replica")
        vs = [f"{r['all_p99_ms'] / b['all_p99_ms']:.2f}x" if b else "n/a" for b in (sq, pg1)]
        lines.append(f"| {r['n']} | {r['label']} | {r['xds_workers']} | {r['proxies_per_replica']} | "
                     f"{r['initial_sync_s']:.1f} s | {r['all_p50_ms']:.0f} ms | {r['all_p99_ms']:.0f} ms | "
                     f"{r['proxy_p50_ms']:.0f} ms | {r['proxy_p99_ms']:.0f} ms | {r['cpu_per_change_s']:.2f} s | "
                     f"{vs[0]} | {vs[1]} |")
    lines += ["", "Per proxy, to size a fleet (xDS processes of every replica added up; RSS idle = mesh stored, no "
              "proxy):", "",
              "| N | setup | xDS RSS idle -> synced (each replica) | RSS per proxy | initial-sync CPU per proxy | "
              "CPU per change per proxy | CPU at rest, no proxy -> N proxies | at rest, per 1,000 proxies | "
              "database on disk |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        rss = ", ".join(f"{a:.0f} -> {b:.0f} MB" for a, b in zip(r["rss_idle_mb"], r["rss_connected_mb"]))
        lines.append(f"| {r['n']} | {r['label']} | {rss} | {r['kb_per_proxy']:.0f} KB | "
                     f"{1000 * r['cpu_sync_s'] / r['n']:.2f} ms | {1e6 * r['cpu_per_change_s'] / r['n']:.0f} µs | "
                     f"{100 * r['cpu_empty_share']:.1f}% -> {100 * r['cpu_idle_share']:.1f}% of a core | "
                     f"{100 * 1000 * (r['cpu_idle_share'] - r['cpu_empty_share']) / r['n']:.2f}% of a core | "
                     f"{r.get('db_mb', 0):.1f} MB |")
    verdicts = []
    for r in runs:
        if r["replicas"] > 1:
            for name in ("SQLite", "PostgreSQL, 1 replica"):
                b = next((x for x in runs if x["n"] == r["n"] and x["label"] == name), None)
                if b:
                    ratio = r["all_p99_ms"] / b["all_p99_ms"]
                    verdicts.append(f"N={r['n']} vs single {name}: {ratio:.2f}x "
                                    f"({'met' if ratio <= 1.2 else 'MISSED'})")
    if verdicts:
        lines += ["", "* target, 2 replicas within 1.2x of the single server (all-ACKed p99): " + "; ".join(verdicts)]
    return "\n".join(lines) + "\n"



# -- report ----------------------------------------------------------------------------------------

def report(envoy: dict[str, Any] | None, fanout: list[dict[str, Any]], command: str, load_before: float) -> str:
    load = os.getloadavg()[0]
    lines = [SECTION, "", f"Command: `{command}` (this machine: {os.cpu_count()} cores, 1-minute load average "
             f"{load_before:.1f} at the start and {load:.1f} at the end, other work included; server, proxies "
             "and the polling script share the cores).", "",
             "Convergence = the proxy's RDS `ackedAt` (stamped by the xDS process when the ACK arrives) minus the "
             "time the REST 200 of a route-weight change arrived; it includes the 100 ms debounce.", ""]
    if envoy is not None:
        lines += [f"Real Envoy 1.40 sidecars (one SotW, one delta), {envoy['changes']} route-weight changes "
                  f"(REST PUT p50 {envoy['rest_p50_ms']:.0f} ms); target <= 250 ms:", "",
                  "| proxy | p50 | p99 | max |", "|---|---|---|---|"]
        for mode in ("sotw", "delta", "all"):
            label = {"sotw": "Envoy, SotW", "delta": "Envoy, delta", "all": "both ACKed"}[mode]
            lines.append(f"| {label} | {envoy[f'{mode}_p50_ms']:.0f} ms | {envoy[f'{mode}_p99_ms']:.0f} ms | "
                         f"{envoy[f'{mode}_max_ms']:.0f} ms |")
        lines.append("")
    if fanout:
        lines += ["Simulated proxies (SotW ADS, each its own TCP connection and virtual node, all with one shared "
                  "backend service, every response ACKed), per N a fresh `meshplane serve`; "
                  f"{fanout[0]['rounds']} route-weight changes each:", "",
                  "| N | xDS workers | auth | initial sync | all ACKed p50 | all ACKed p99 | per proxy p50 | "
                  "per proxy p99 | xDS CPU/change | xDS RSS idle -> synced | RSS per proxy |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in fanout:
            lines.append(f"| {r['n']} | {r['xds_workers']} | {r['auth']} | {r['initial_sync_s']:.1f} s | {r['all_p50_ms']:.0f} ms | {r['all_p99_ms']:.0f} ms | "
                         f"{r['proxy_p50_ms']:.0f} ms | {r['proxy_p99_ms']:.0f} ms | {r['cpu_per_change_s']:.2f} s | "
                         f"{r['rss_idle_mb']:.0f} -> {r['rss_connected_mb']:.0f} MB | {r['kb_per_proxy']:.0f} KB |")
        lines += ["", "RSS per proxy: the xDS processes' growth per connected, synced proxy (stream + its config); "
                  "CPU and RSS add up the xDS process and its workers (`MESHPLANE_XDS_WORKERS`)."]
        slopes = marginal_kb(fanout)
        if slopes:
            lines += ["", "Marginal RSS per added proxy (growth between two N, same workers; the averages above also "
                      "carry the processes' one-time growth): "
                      + "; ".join(f"N {a:,} -> {b:,}: {kb:.0f} KB" for a, b, kb in slopes) + "."]
    return "\n".join(lines) + "\n"


def marginal_kb(fanout: list[dict[str, Any]]) -> list[tuple[int, int, float]]:
    """(N, next N, KB of RSS growth per added proxy) between consecutive N of the same worker count
    and auth mode."""
    slopes = []
    for workers, auth in sorted({(r["xds_workers"], r.get("auth", "off")) for r in fanout}):
        runs = sorted((r for r in fanout if r["xds_workers"] == workers and r.get("auth", "off") == auth),
                      key=lambda r: r["n"])
        for a, b in zip(runs, runs[1:]):
            growth = (b["rss_connected_mb"] - b["rss_idle_mb"]) - (a["rss_connected_mb"] - a["rss_idle_mb"])
            slopes.append((a["n"], b["n"], growth * 1024 / (b["n"] - a["n"])))
    return slopes


def write_docs(section: str) -> Path:
    """Replace (or append) the head of this benchmark's section of docs/benchmarks.md: up to its first
    dated ``###`` subsection (kept, like every other section)."""
    path = ROOT / "docs" / "benchmarks.md"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    start = text.find(SECTION)
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        ends = [found for found in (text.find("\n## ", start + len(SECTION)), text.find("\n### ", start)) if found >= 0]
        end = min(ends) if ends else -1
        text = text[:start] + section + ("" if end < 0 else "\n" + text[end + 1:])
    path.write_text(text)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--changes", type=int, default=20, help="route changes against the real Envoys")
    parser.add_argument("--n", type=int, action="append", help="simulated proxies (repeatable; default 100 1000 2000)")
    parser.add_argument("--rounds", type=int, default=5, help="route changes per N")
    parser.add_argument("--xds-workers", type=int, action="append",
                        help="xDS worker processes for part 2 (repeatable: each N runs with each; default: the "
                             "server's own default, one per CPU)")
    parser.add_argument("--auth", choices=("off", "sigv4", "both"), default="off",
                        help="part 2 without authentication, with --auth sigv4 (signed REST calls and SigV4-signed "
                             "streams, admitted once each), or both for the comparison")
    parser.add_argument("--sds", choices=("off", "on", "both", "listener", "all"), default="off",
                        help="part 2 with mesh certificates over SDS (ACM listener + ACM trust on every proxy), "
                             "or both for the comparison; listener: the same listener without TLS (the "
                             "like-for-like baseline); all: off, listener and on")
    parser.add_argument("--no-envoy", action="store_true", help="skip part 1 (real Envoys)")
    parser.add_argument("--no-fanout", action="store_true", help="skip part 2 (simulated proxies)")
    parser.add_argument("--docs", action="store_true", help="write the results into docs/benchmarks.md")
    parser.add_argument("--replicas", action="store_true",
                        help="part 2 on SQLite, on PostgreSQL, and on 2 replicas over one PostgreSQL database "
                             "(proxies split over them), in one run (implies --no-envoy)")
    parser.add_argument("--client", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--mesh", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        asyncio.run(run_clients(args.client, args.mesh, args.n[0], args.first))
        return
    command = " ".join([".venv/bin/python", "bench/xds_convergence.py", *sys.argv[1:]])
    load_before = os.getloadavg()[0]
    if args.replicas:
        from pgserver import PostgresServer

        workers = (args.xds_workers or [Config.from_env({}).xds_workers])[0]
        with tempfile.TemporaryDirectory(prefix="meshplane-bench-xds-") as directory, PostgresServer() as pg:
            runs = [bench_replicas(Path(directory), n, args.rounds, workers, label, backend, count, pg)
                    for n in args.n or [2000] for label, backend, count in REPLICA_SETUPS]
        print("\n" + replicas_report(runs, command, load_before))
        print(json.dumps(runs))
        return
    with tempfile.TemporaryDirectory(prefix="meshplane-bench-xds-") as directory:
        tmp = Path(directory)
        envoy = None if args.no_envoy else bench_envoys(tmp, args.changes)
        modes = {"off": [False], "sigv4": [True], "both": [False, True]}[args.auth]
        sds_modes = {"off": ["off"], "on": ["on"], "both": ["off", "on"], "listener": ["listener"],
                     "all": ["off", "listener", "on"]}[args.sds]
        fanout = [] if args.no_fanout else [bench_fanout(tmp, n, args.rounds, workers, auth, sds)
                                            for n in args.n or [100, 1000, 2000]
                                            for workers in args.xds_workers or [Config.from_env({}).xds_workers]
                                            for auth in modes for sds in sds_modes]
    section = report(envoy, fanout, command, load_before)
    print("\n" + section)
    if args.docs:
        print(f"written to {write_docs(section)}")


if __name__ == "__main__":
    main()
