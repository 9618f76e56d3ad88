"""Fan-out benchmark of the xDS streamer: how fast does a route change reach N proxies?

For each N (default 100, 1000, 2000) a fresh server process starts an ``XdsServer`` and spawns
ONE client process that holds N SotW ADS streams with grpc.aio, each on its own channel and TCP
connection (local subchannel pool), behaving like Envoy: it subscribes to CDS/LDS (wildcard) and
EDS/RDS (named) and ACKs every response. Then, per round, every proxy's route config changes:

    build N per-node snapshots (a new RouteConfiguration each; clusters, endpoints and the
    listener shared via make_entry) -> cache.set_snapshots -> every proxy ACKs its new RDS version

"all ACKed" is measured in the server process from set_snapshots until the N-th ACK arrives (the
status sink sees every ACK); "+debounce" adds the propagation loop's 100 ms quiet period, which
precedes set_snapshots. "per proxy" pools each proxy's own ACK latency over all rounds. Memory
per stream = server RSS growth from "snapshots set, no client" to "N streams synced" / N.
Both processes share the machine's cores, so the numbers are pessimistic for the server.

    python bench/xds_fanout.py                 # N = 100, 1000, 2000; 10 rounds each
    python bench/xds_fanout.py --n 500 --rounds 5
    python bench/xds_fanout.py --gc-tuned      # with gc.freeze() + a higher gen-0 threshold
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

# Running a script puts its folder first on sys.path; a bench script named like one of
# xds-protos' top-level packages (bench/xds.py existed once) would shadow it. Keep bench/ out.
HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != HERE]

DEBOUNCE = 0.100
CLUSTERS = 4  # per proxy, each an EDS cluster with 3 endpoints; 1 listener; 1 route config with 4 vhosts
ROUTE = "routes"
SERVICE = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources"


def rss_bytes() -> int:
    """Resident set size of this process."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


# ---------------------------------------------------------------------------------------------
# Server side (one process per N)
# ---------------------------------------------------------------------------------------------
def run_server(n: int, rounds: int, gc_tuned: bool = False) -> dict[str, float]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "stream"))
    from stream_resources import make_cla, make_cluster, make_listener, make_route

    from meshplane.stream import CLUSTER, ENDPOINT, LISTENER, ROUTE as ROUTE_TYPE
    from meshplane.stream import MemoryStatusSink, Snapshot, SnapshotCache, XdsServer
    from meshplane.stream.snapshot import make_entry

    class AckCounter(MemoryStatusSink):
        """The default status sink, plus: note when every node ACKed the RDS version we wait for."""

        def __init__(self) -> None:
            super().__init__()
            self.expected: dict[str, str] = {}
            self.acked_at: dict[str, float] = {}
            self.done = threading.Event()

        def expect(self, versions: dict[str, str]) -> None:
            self.acked_at = {}
            self.done.clear()
            self.expected = versions

        def on_ack(self, stream_id: int, type_url: str, version: str, nonce: str, at: float) -> None:
            super().on_ack(stream_id, type_url, version, nonce, at)
            if type_url != ROUTE_TYPE:
                return
            node = self._streams[stream_id].node_id
            if self.expected.get(node) == version and node not in self.acked_at:
                self.acked_at[node] = time.monotonic()
                if len(self.acked_at) == len(self.expected):
                    self.done.set()

    names = [f"svc-{i}" for i in range(CLUSTERS)]
    shared = {
        CLUSTER: {c: make_entry(CLUSTER, c, make_cluster(c)) for c in names},
        ENDPOINT: {c: make_entry(ENDPOINT, c, make_cla(c, [("10.0.0.1", 8080 + k) for k in range(3)]))
                   for c in names},
        LISTENER: {"egress": make_entry(LISTENER, "egress", make_listener("egress", 15001, ROUTE))},
    }

    def node_snapshot(node: int, round_: int) -> Snapshot:
        """The node's own route config (weights move every round); everything else shared."""
        route = make_route(ROUTE, {c: 1 + (node + round_ + k) % 9 for k, c in enumerate(names)})
        template = route.virtual_hosts.pop()
        for k in range(CLUSTERS):
            vhost = route.virtual_hosts.add()
            vhost.CopyFrom(template)
            vhost.name, vhost.domains[:] = f"vh-{k}", [f"svc-{k}.node-{node}.local"]
        return Snapshot({**shared, ROUTE_TYPE: {ROUTE: route}})

    cache, sink = SnapshotCache(), AckCounter()
    server = XdsServer(cache, sink)
    port = server.start()
    node_ids = [f"node-{i}" for i in range(n)]
    rss_empty = rss_bytes()
    snapshots = {node: node_snapshot(i, 0) for i, node in enumerate(node_ids)}
    sink.expect({node: snap.version(ROUTE_TYPE, cache.epoch) for node, snap in snapshots.items()})
    cache.set_snapshots(snapshots)
    rss_snapshots = rss_bytes()

    started = time.monotonic()
    client = subprocess.Popen([sys.executable, __file__, "--client", str(port), "--n", str(n)])
    try:
        if not sink.done.wait(timeout=120):
            raise RuntimeError(f"only {len(sink.acked_at)}/{n} proxies synced")
        initial_sync = time.monotonic() - started
        time.sleep(1.0)  # let the connect storm settle before measuring memory
        rss_connected = rss_bytes()
        if gc_tuned:
            # Process-wide tuning an xDS process may choose: the ~250k objects of 2000 streams make
            # each full collection a ~150-200 ms pause; freeze them and collect young objects less often.
            gc.freeze()
            gc.set_threshold(50_000, 20, 100)

        all_acked, per_proxy, cpu, build = [], [], [], []
        for round_ in range(1, rounds + 1):
            started = time.monotonic()
            snapshots = {node: node_snapshot(i, round_) for i, node in enumerate(node_ids)}
            sink.expect({node: snap.version(ROUTE_TYPE, cache.epoch) for node, snap in snapshots.items()})
            cpu_start = time.process_time()
            changed = time.monotonic()
            build.append(changed - started)
            cache.set_snapshots(snapshots)
            if not sink.done.wait(timeout=60):
                raise RuntimeError(f"round {round_}: only {len(sink.acked_at)}/{n} ACKed")
            all_acked.append(max(sink.acked_at.values()) - changed)
            per_proxy.extend(t - changed for t in sink.acked_at.values())
            cpu.append(time.process_time() - cpu_start)
            print(f"  N={n} round {round_}: built {n} snapshots in {1000 * build[-1]:.0f} ms; "
                  f"all ACKed {1000 * all_acked[-1]:.0f} ms after set_snapshots", file=sys.stderr, flush=True)
            time.sleep(0.3)
    finally:
        client.terminate()
        client.wait(timeout=30)
        server.stop(0)
    return {
        "n": n,
        "initial_sync_s": initial_sync,
        "all_p50_ms": 1000 * statistics.median(all_acked),
        "all_p99_ms": 1000 * percentile(all_acked, 99),
        "proxy_p50_ms": 1000 * percentile(per_proxy, 50),
        "proxy_p99_ms": 1000 * percentile(per_proxy, 99),
        "cpu_per_round_s": statistics.median(cpu),
        "build_ms": 1000 * statistics.median(build),
        "rss_base_mb": rss_empty / 2**20,
        "rss_snapshots_mb": rss_snapshots / 2**20,
        "rss_connected_mb": rss_connected / 2**20,
        "kb_per_stream": (rss_connected - rss_snapshots) / n / 1024,
        "kb_per_node_with_snapshot": (rss_connected - rss_empty) / n / 1024,
    }


# ---------------------------------------------------------------------------------------------
# Client side: N Envoy-like SotW streams in one asyncio process
# ---------------------------------------------------------------------------------------------
async def run_clients(port: int, n: int) -> None:
    import grpc
    from envoy.config.core.v3 import base_pb2
    from envoy.service.discovery.v3 import discovery_pb2

    from meshplane.stream import CLUSTER, ENDPOINT, LISTENER
    from meshplane.stream import ROUTE as ROUTE_TYPE

    subscriptions = {CLUSTER: [], ENDPOINT: [f"svc-{i}" for i in range(CLUSTERS)], LISTENER: [],
                     ROUTE_TYPE: [ROUTE]}

    async def proxy(index: int) -> None:
        await asyncio.sleep(random.random() * n / 2000)  # a ramp, like a fleet starting up
        while True:
            channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}",
                                                options=[("grpc.use_local_subchannel_pool", 1)])
            try:
                call = channel.stream_stream(SERVICE, request_serializer=lambda m: m.SerializeToString(),
                                             response_deserializer=discovery_pb2.DiscoveryResponse.FromString)()
                node = base_pb2.Node(id=f"node-{index}", cluster="bench")
                for k, (type_url, names) in enumerate(subscriptions.items()):
                    request = discovery_pb2.DiscoveryRequest(type_url=type_url, resource_names=names)
                    if k == 0:
                        request.node.CopyFrom(node)
                    await call.write(request)
                async for response in call:
                    await call.write(discovery_pb2.DiscoveryRequest(
                        type_url=response.type_url, resource_names=subscriptions[response.type_url],
                        version_info=response.version_info, response_nonce=response.nonce))
                return
            except grpc.aio.AioRpcError:
                await asyncio.sleep(0.1 + random.random())  # reconnect with jitter, as Envoy does
            finally:
                await channel.close()

    await asyncio.gather(*(proxy(i) for i in range(n)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, action="append", help="number of proxies (repeatable)")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--gc-tuned", action="store_true",
                        help="gc.freeze() after the initial sync and a 50k young-generation threshold")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--client", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        asyncio.run(run_clients(args.client, args.n[0]))
        return
    if args.one:
        print(json.dumps(run_server(args.n[0], args.rounds, args.gc_tuned)))
        return
    results = []
    for n in args.n or [100, 1000, 2000]:
        # A fresh server process per N, so its memory is measured from a clean start.
        argv = [sys.executable, __file__, "--one", "--n", str(n), "--rounds", str(args.rounds)]
        argv += ["--gc-tuned"] if args.gc_tuned else []
        out = subprocess.run(argv, check=True, stdout=subprocess.PIPE, text=True, env=os.environ).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
    print(f"\nxDS fan-out: SotW route change, set_snapshots -> every proxy ACKed; {args.rounds} rounds; "
          f"{os.cpu_count()} cores shared by the server and the client process"
          f"{'; gc tuned' if args.gc_tuned else ''}")
    print(f"{'N':>6} {'sync all':>9} {'all p50':>8} {'all p99':>8} {'+debounce':>9} {'proxy p50':>9} "
          f"{'proxy p99':>9} {'CPU/round':>9} {'build':>7} {'RSS MB':>7} {'KB/stream':>9} {'KB/node*':>8}")
    for r in results:
        print(f"{r['n']:>6} {r['initial_sync_s']:>8.2f}s {r['all_p50_ms']:>6.0f}ms {r['all_p99_ms']:>6.0f}ms "
              f"{r['all_p99_ms'] + 1000 * DEBOUNCE:>7.0f}ms {r['proxy_p50_ms']:>7.0f}ms {r['proxy_p99_ms']:>7.0f}ms "
              f"{r['cpu_per_round_s']:>8.2f}s {r['build_ms']:>5.0f}ms {r['rss_connected_mb']:>7.0f} "
              f"{r['kb_per_stream']:>9.1f} {r['kb_per_node_with_snapshot']:>8.1f}")
    print("+debounce: all p99 + the 100 ms debounce before set_snapshots; build: N Snapshot objects, not timed "
          "in 'all'.\nKB/stream: server RSS growth per connected, synced stream; KB/node*: including its snapshot.")


if __name__ == "__main__":
    main()
