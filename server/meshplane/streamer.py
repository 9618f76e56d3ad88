"""`meshplane xds`: the xDS process — an ADS server plus the propagation loop over one database.

With ``xds_workers`` > 1 the command supervises that many worker processes which all listen on
the same port (SO_REUSEPORT: the kernel spreads new connections over them). Each worker is a full
streamer for the proxies connected to it: it tails the revisions feed itself and translates only
for its own proxies, so a change to a large fleet is translated and pushed on every core at once.
The supervisor resets the status table once, prints the "listening" line when every worker is
up, restarts a worker that dies, and stops them all on SIGTERM/SIGINT.
"""

from __future__ import annotations

import gc
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING

from meshplane import accel
from meshplane.children import PARENT_ENV, child_env, stop_with_parent
from meshplane.config import Config, is_unix, split_listen
from meshplane.propagate import PersistentStatus, Propagator
from meshplane.store import migrate
from meshplane.store.database import open_pool
from meshplane.store.proxies import ProxyStore
from meshplane.stream import SnapshotCache, XdsMetrics, XdsServer
from meshplane.stream.server import SERVER_OPTIONS

if TYPE_CHECKING:
    from meshplane.auth.xds import HomeAdmission, XdsAdmission

log = logging.getLogger("meshplane.xds")

#: How long the supervisor waits for its workers to listen.
READY_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class WorkerRole:
    """A worker of a supervised `meshplane xds`: its group (the supervisor's run id), its index,
    and the pipe on which it reports that it listens."""

    group: str
    index: int
    ready_fd: int

    @classmethod
    def parse(cls, text: str) -> WorkerRole:
        """From ``GROUP:INDEX:READY_FD`` (the supervisor's ``--worker`` argument)."""
        group, index, fd = text.split(":")
        return cls(group, int(index), int(fd))

    def __str__(self) -> str:
        return f"{self.group}:{self.index}:{self.ready_fd}"


class Streamer:
    """The ADS server and its propagation loop, started and stopped together.

    :param config: database, listen address and debounce settings.
    :param worker: set when this streamer is one of several sharing the port (see the module).
    """

    def __init__(self, config: Config, worker: WorkerRole | None = None) -> None:
        migrate(config.db)
        self.config = config
        self.worker = worker
        self.metrics = XdsMetrics()
        self.status = PersistentStatus()
        self.cache = SnapshotCache()
        self.propagator = Propagator(config, self.cache, self.status, self.metrics)
        if worker is not None:
            # Stream rows and metrics of one worker must not collide with its siblings'.
            self.propagator.run_id = f"{worker.group}-{worker.index}-{self.propagator.run_id}"
            self.propagator.metrics_key = f"metrics/{worker.index}"
        options = SERVER_OPTIONS
        if worker is not None:  # the one case where several processes share the port on purpose
            options = tuple(o for o in SERVER_OPTIONS if o[0] != "grpc.so_reuseport") + (("grpc.so_reuseport", 1),)
        credentials = None
        if config.xds_tls_cert:
            from meshplane.pki.credentials import xds_server_credentials

            credentials = xds_server_credentials(config.xds_tls_cert, config.xds_tls_key,
                                                 config.xds_client_ca or None)
        # App Mesh identities (kept out of stream/): with auth, who may be which node; without,
        # only node ids naming another account or region are refused (shown in the proxy status).
        from meshplane.auth.xds import admission_for

        self.admission: XdsAdmission | HomeAdmission = admission_for(
            config, 0 if is_unix(config.xds_listen) else split_listen(config.xds_listen)[1])
        self.server = XdsServer(self.cache, self.status, listen=config.xds_listen, metrics=self.metrics,
                                options=options, credentials=credentials, admit=self.admission)
        self._stop = threading.Event()
        self._loop: threading.Thread | None = None
        self.port: int | None = None

    def start(self) -> int:
        """Bind, record the address for the REST side, start the loop; returns the bound port."""
        self.port = self.server.start()
        self.admission.listening_on(self.port)
        if self.worker is None:
            self.propagator.info["listen"] = listen_shown(self.config.xds_listen, self.port)
            self.propagator.proxy_store.reset(self.propagator.info)
        else:
            # The supervisor reset the table at its start; a restarted worker retires only the
            # streams its predecessor (same group and index) left behind.
            self.propagator.proxy_store.disconnect_streams(f"{self.worker.group}-{self.worker.index}-")
        self._loop = threading.Thread(target=self.propagator.run, args=(self._stop,), name="propagate", daemon=True)
        self._loop.start()
        return self.port

    def stop(self) -> None:
        """Stop the loop (flushing status) and the server; proxies keep their last config."""
        self._stop.set()
        self.propagator.stop_issuer()
        if self._loop is not None:
            self._loop.join(timeout=10)
        self.server.stop(grace=1.0)


def listen_shown(listen: str, port: int) -> str:
    """The address proxies dial: ``HOST:PORT`` with the bound port, or the ``unix://`` address as is."""
    if is_unix(listen):
        return listen
    return f"{listen.rpartition(':')[0]}:{port}"


def _wait_for_signal() -> None:
    """Return on SIGTERM or SIGINT, or once the parent named by PARENT_ENV is gone."""
    done = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    parent = os.environ.get(PARENT_ENV)  # set by whoever started us with children.child_env()
    if parent and parent.isdigit():
        stop_with_parent(int(parent))  # its SIGTERM lands in _on_signal: the usual clean stop
    # Not an untimed wait: another thread may take the signal, and CPython runs _on_signal only
    # once this (main) thread wakes up (children.wake_main_thread_on_signals explains it).
    while not done.wait(0.1):
        pass


def run(config: Config, worker: WorkerRole | None = None) -> None:
    """Run the xDS process (or, with ``xds_workers`` > 1, its supervisor) until SIGTERM or SIGINT."""
    logging.basicConfig(level=config.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if worker is None:
        log.info("translate: %s", accel.STATUS.get("meshplane.translate", "not loaded"))
    if worker is None and config.xds_tls_cert:
        from meshplane.pki.reload import require_pair

        try:
            require_pair(config.xds_tls_cert, config.xds_tls_key, config.xds_client_ca or None, flag="xds-tls")
        except ValueError as exc:
            raise SystemExit(f"meshplane xds: {exc}") from None
    if worker is None and config.mesh_ca_cert:
        from meshplane.pki.mesh_ca import load_mesh_ca

        try:  # the operator's CA files: refuse to start on bad ones rather than serve no certificates
            load_mesh_ca(config)
        except ValueError as exc:
            raise SystemExit(f"meshplane xds: {exc}") from None
    if worker is None and config.xds_workers > 1:
        _supervise(config)
        return
    streamer = Streamer(config, worker)
    port = streamer.start()
    # Thousands of long-lived streams make every full collection walk a large, stable heap
    # (150-200 ms each at 2,000 streams, the fan-out's p99 outliers): move what exists now out
    # of the collector's view and collect the young generation less often.
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    if worker is None:
        # Tests and scripts read this line to learn the port when --xds-listen asks for port 0.
        print(f"meshplane xDS listening on {listen_shown(config.xds_listen, port)}", file=sys.stderr, flush=True)
    else:
        os.write(worker.ready_fd, f"{port}\n".encode())
        os.close(worker.ready_fd)
    _wait_for_signal()
    streamer.stop()


class _Supervisor:
    """Starts ``config.xds_workers`` workers on one port and keeps them running.

    Worker 0 binds the configured address first (it picks the port when 0 was asked for) and
    reports the port; the others then bind that port too. Workers set SO_REUSEPORT on their
    sockets, so a restarted worker rebinds the port its siblings still hold.
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        self.host, self.port = split_listen(config.xds_listen)
        self.shown = f"[{self.host}]" if ":" in self.host else self.host
        self.group = f"{int(time.time() * 1000):x}"
        self.ready_r, self.ready_w = os.pipe()
        self.workers: dict[int, subprocess.Popen[bytes]] = {}
        self.stopping = threading.Event()

    def spawn(self, index: int) -> None:
        role = WorkerRole(self.group, index, self.ready_w)
        self.workers[index] = subprocess.Popen(
            # The database travels in the environment with every other setting, never on the
            # command line, where `ps` would show a PostgreSQL URL's password.
            [sys.executable, "-m", "meshplane", "xds", "--xds-listen", f"{self.shown}:{self.port}",
             "--worker", str(role)],
            pass_fds=(self.ready_w,), env={**child_env(), **self.config.to_env()},  # every setting
        )

    def wait_ready(self, count: int) -> bool:
        """Wait until ``count`` more workers report their port; False if one exits or time runs out."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        buffered = b""
        while buffered.count(b"\n") < count and time.monotonic() < deadline:
            if any(w.poll() is not None for w in self.workers.values()):
                return False
            if select.select([self.ready_r], [], [], 0.2)[0]:
                buffered += os.read(self.ready_r, 4096)
        lines = buffered.split(b"\n")[:count]
        if len(lines) < count:
            return False
        self.port = int(lines[0])
        return True

    def start(self) -> bool:
        self.spawn(0)
        if not self.wait_ready(1):
            return False
        for index in range(1, self.config.xds_workers):
            self.spawn(index)
        return self.wait_ready(self.config.xds_workers - 1)

    def watch(self) -> None:
        """Restart workers that exit on their own (at most one restart per index per second)."""
        while not self.stopping.wait(1.0):
            for index, proc in list(self.workers.items()):
                if proc.poll() is not None and not self.stopping.is_set():
                    log.error("xDS worker %d (pid %d) exited with %s; restarting it", index, proc.pid,
                              proc.returncode)
                    self.spawn(index)

    def stop(self) -> None:
        self.stopping.set()
        for proc in self.workers.values():
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 15
        for proc in self.workers.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        os.close(self.ready_r)
        os.close(self.ready_w)


def _supervise(config: Config) -> None:
    migrate(config.db)
    config.ensure_replica_id()  # before the workers start: they inherit it
    supervisor = _Supervisor(config)
    pool = open_pool(config.db, busy_timeout_ms=config.busy_timeout_ms)
    proxies = ProxyStore(pool, config.replica_id)
    try:
        proxies.reset({})  # before any worker accepts a stream; workers never reset
        if not supervisor.start():
            log.error("the xDS workers did not all start; stopping")
            raise SystemExit(1)
        proxies.set_info({"listen": f"{supervisor.shown}:{supervisor.port}"})
        pool.close()
        # Tests and scripts read this line to learn the port when --xds-listen asks for port 0.
        print(f"meshplane xDS listening on {supervisor.shown}:{supervisor.port}", file=sys.stderr, flush=True)
        threading.Thread(target=supervisor.watch, name="xds-watch", daemon=True).start()
        _wait_for_signal()
    finally:
        pool.close()
        supervisor.stop()
