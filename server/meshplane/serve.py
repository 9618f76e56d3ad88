"""`meshplane serve`: the REST API on Granian (threaded WSGI workers), plus the xDS process.

The API runs in ``workers`` processes with ``threads`` WSGI threads each; everything they share
lives in the database. Granian parses HTTP in Rust and hands each request to a Python thread, which
costs about a third of what gunicorn's gthread worker did per request (docs/benchmarks.md). The xDS
streamer runs as a child process (``meshplane xds``) over the same database so that its CPU work
never competes with the API workers' GIL.
"""

from __future__ import annotations

import gc
import http.client
import logging
import multiprocessing.connection
import os
import select
import socket
import ssl
import subprocess
import sys
import threading
import time
from functools import partial
from pathlib import Path
from collections.abc import Callable
from typing import Any

from granian.constants import HTTPModes, Interfaces, SSLProtocols
from granian.http import HTTP1Settings
from granian.log import LogLevels
from granian.server import MPServer

from meshplane.children import child_env, stop_with_parent, wake_main_thread_on_signals
from meshplane.config import Config, split_listen
from meshplane.store import migrate

log = logging.getLogger("meshplane")
_granian_log = logging.getLogger("_granian")  # Granian's own logger, for the lines _Server rewrites

#: How long the master waits for a worker to answer /healthz before giving up on printing the line.
READY_TIMEOUT_S = 120.0


def _load_app(config: Config) -> Any:
    """Build the WSGI app inside a worker process (Granian calls this once per worker)."""
    from meshplane.app import create_app

    logging.basicConfig(
        level=config.log_level.upper(),
        format="%(asctime)s [%(process)d] %(name)s %(levelname)s %(message)s",
    )
    app = create_app(config, run_migrations=False)
    # Everything built so far (modules, schemas, routes) lives as long as the worker: move it out of
    # the collector's sight, so that a full collection never walks it in the middle of a request.
    gc.collect()
    gc.freeze()
    return app


def _reserve_port(host: str, port: int) -> socket.socket:
    """Hold ``host:port`` (a free one when ``port`` is 0) for the server's lifetime.

    Granian's workers each bind their own listening socket with SO_REUSEPORT, so port 0 would give
    every worker a different port. This socket is bound with SO_REUSEPORT but never listens: it
    receives no connections, keeps the port ours, and tells us which port port 0 picked.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _load_and_report(loader: Callable[[], Any], ready_fd: int) -> Any:
    """Run ``loader`` in a worker, then tell the master (one byte on the ``ready_fd`` pipe)."""
    # Granian's worker waits for its stop in an untimed Event.wait(): see children.py for why a
    # SIGINT to the whole group plus the master's SIGTERM could leave it waiting there.
    wake_main_thread_on_signals()
    stop_with_parent(os.getppid())  # a master killed with SIGKILL must not leave us holding the port
    app = loader()
    try:
        os.write(ready_fd, b".")
    except OSError:
        pass
    return app


def _announce_when_ready(host: str, port: int, banner: str, workers: int, ready_fd: int,
                         tls: bool = False) -> None:
    """Print the "listening" line once every worker has loaded the app and one answers /healthz
    (over TLS when ``tls``).

    Tests and scripts read the line and may stop the server right after: a worker still importing
    the app would miss that stop and keep the master waiting for its kill timeout.
    """
    shown = f"[{host}]" if ":" in host else host
    deadline = time.monotonic() + READY_TIMEOUT_S
    loaded = 0
    while loaded < workers and time.monotonic() < deadline:
        if select.select([ready_fd], [], [], 0.5)[0]:
            loaded += len(os.read(ready_fd, 64))
    while time.monotonic() < deadline:
        conn = (http.client.HTTPSConnection(host, port, timeout=2, context=_probe_tls_context()) if tls
                else http.client.HTTPConnection(host, port, timeout=2))
        try:
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                scheme = "https" if tls else "http"
                print(f"{banner} listening on {scheme}://{shown}:{port}", file=sys.stderr, flush=True)
                return
        except OSError:
            pass
        finally:
            conn.close()
        time.sleep(0.02)
    log.error("no API worker answered /healthz on %s:%d within %.0f s", host, port, READY_TIMEOUT_S)


def _probe_tls_context() -> ssl.SSLContext:
    """For asking our own worker, over loopback, whether it is up: the certificate may name only
    the public host names, so neither it nor the name is checked (nothing secret is sent)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class _QuietThreadsWarning(logging.Filter):
    """Drop Granian's advice against more WSGI threads than 2 x cores + 1: meshplane's threads mostly
    wait (for SQLite, or for the group commit of their write), and more of them make bigger groups."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Python threads" not in record.getMessage()


class _Server(MPServer):  # type: ignore[misc]
    """Granian's multi-process server, announcing readiness once its workers are up."""

    def __init__(self, *args: Any, announce: tuple[str, int, str, int, int, bool],
                 tls_files: tuple[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._master_pid = os.getpid()
        self._announce = announce
        self._tls_files = tls_files
        if tls_files is not None:
            # Granian hands workers the resolved paths; keep the names as given, so a worker
            # started after a symlink swap (a renewed Kubernetes secret) reads the new files.
            cert, key = (os.path.abspath(p) for p in tls_files)
            # (Granian annotates ssl_ctx narrower than the tuple it builds itself.)
            self.ssl_ctx = (True, cert, key, *self.ssl_ctx[3:])  # type: ignore[assignment]

    def startup(self, spawn_target: Any, target_loader: Any) -> None:
        super().startup(spawn_target, target_loader)
        # Started after the workers are forked, so no child inherits a half-used HTTP client.
        threading.Thread(target=_announce_when_ready, args=self._announce, daemon=True).start()
        if self._tls_files is not None:
            from meshplane.pki.reload import watch_pair

            # Workers read the certificate when they start: on a change, respawn them one by one
            # (Granian's SIGHUP reload; the old worker serves until the new one runs).
            watch_pair(*self._tls_files, self.signal_handler_reload)

    def signal_handler_interrupt(self, *args: Any, **kwargs: Any) -> None:
        """SIGINT/SIGTERM. A worker inherits this handler from the fork and keeps it until Granian
        installs its own, after the app is built: a stop in that time (Ctrl-C right after start)
        used to be swallowed here, and the worker was killed 10 s later. Such a worker has served
        nothing yet: it leaves at once (not by an exception: raised from a signal handler, one can
        land where Python ignores it, such as a weakref callback, and the stop would be lost)."""
        if os.getpid() != self._master_pid:
            os._exit(0)
        super().signal_handler_interrupt(*args, **kwargs)

    def _stop_workers(self) -> None:
        """Granian's, without its race: each worker also has a Granian thread waiting to reap it,
        and when that thread reaps first, Granian's own check (``is_alive`` after ``join``) can
        see a worker that already exited as alive, log that it "refused to gracefully stop" and
        kill it. Whether a worker exited is read here from its sentinel (closed at its exit,
        whoever reaps it)."""
        for worker in self.wrks:
            worker.terminate()
        deadline = time.monotonic() + (self.workers_kill_timeout or 0)
        for worker in self.wrks:
            left = max(deadline - time.monotonic(), 0.0) if self.workers_kill_timeout else None
            if not multiprocessing.connection.wait([worker.inner.sentinel], left):
                _granian_log.warning(f"Killing worker-{worker.idx + 1} after it refused to gracefully stop")
                worker.kill()
            worker.join()
            _granian_log.info(f"Stopped worker-{worker.idx + 1}")
        self.wrks.clear()


def run_wsgi(loader: Callable[[], Any], listen: str, *, workers: int, threads: int,
             log_level: str = "info", banner: str = "meshplane API",
             tls: tuple[str, str] | None = None) -> None:
    """Serve the WSGI app that ``loader`` builds (called once in each worker) until SIGTERM/SIGINT.

    Prints ``<banner> listening on http[s]://HOST:PORT`` on stderr once a worker answers ``/healthz``;
    ``listen`` may ask for port 0. ``loader`` must be picklable (a module-level function or a
    ``functools.partial`` of one) in case the platform spawns rather than forks workers.
    ``tls`` = (certificate file, key file): serve HTTPS, re-reading the files when they change.
    """
    host, port = split_listen(listen)
    logging.getLogger("_granian").addFilter(_QuietThreadsWarning())
    reservation = _reserve_port(host, port)
    port = reservation.getsockname()[1]
    ready_r, ready_w = os.pipe()
    server = _Server(
        "meshplane.app:create_app",  # only shown in logs: the loader below builds the app
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        workers=workers,
        blocking_threads=threads,
        http=HTTPModes.http1,
        http1_settings=HTTP1Settings(keep_alive=True, header_read_timeout=30_000),
        websockets=False,
        log_level=LogLevels(log_level.lower()),
        log_access=False,
        workers_kill_timeout=10,
        respawn_failed_workers=True,
        announce=(host, port, banner, workers, ready_r, tls is not None),
        tls_files=tls,
        ssl_cert=Path(tls[0]) if tls else None,
        ssl_key=Path(tls[1]) if tls else None,
        ssl_protocol_min=SSLProtocols.tls12,  # what AWS endpoints accept too
    )
    wake_main_thread_on_signals()  # the master, too, waits in an untimed Event.wait()
    try:
        server.serve(target_loader=partial(_load_and_report, loader, ready_w), wrap_loader=False)
    finally:
        reservation.close()
        os.close(ready_r)
        os.close(ready_w)


def _check_tls_files(config: Config) -> None:
    """Refuse to start with TLS files that do not load (a clear message, not a worker's traceback)."""
    if not config.api_tls_cert and not config.xds_tls_cert:
        return
    from meshplane.pki.reload import require_pair  # only with TLS: keeps a plain start lean

    try:
        if config.api_tls_cert:
            require_pair(config.api_tls_cert, config.api_tls_key, flag="api-tls")
        if config.xds_tls_cert and config.xds_listen != "off":
            require_pair(config.xds_tls_cert, config.xds_tls_key, config.xds_client_ca or None, flag="xds-tls")
    except ValueError as exc:
        raise SystemExit(f"meshplane: {exc}") from None


def serve(config: Config) -> None:
    """Run the API (and the xDS child unless ``xds_listen`` is ``off``) until SIGTERM/SIGINT."""
    _check_tls_files(config)
    migrate(config.db)
    from meshplane.auth.bootstrap import on_start  # auth: the first admin key, the --auth none warning

    on_start(config)
    # One id for this replica's every process (API workers, xDS, the replica runner), set before
    # any of them starts; children inherit it with the rest of the configuration.
    config.ensure_replica_id()
    # The API port, picked now when port 0 was asked for, so the replica runner reports the real
    # address (run_wsgi reserves the same port again; SO_REUSEPORT lets both hold it).
    api_host, api_port = split_listen(config.api_listen)
    api_reservation = _reserve_port(api_host, api_port)
    shown = f"[{api_host}]" if ":" in api_host else api_host
    config.api_listen = f"{shown}:{api_reservation.getsockname()[1]}"
    children: list[subprocess.Popen[bytes]] = []
    # Every setting travels as MESHPLANE_* variables (Config.to_env), so a new field needs no
    # plumbing here; child_env lets a child stop by itself if we are killed (SIGKILL).
    if config.xds_listen != "off":
        children.append(subprocess.Popen([sys.executable, "-m", "meshplane", "xds"],
                                         env={**child_env(), **config.to_env()}))
    # Heartbeat, leader election and the leader's jobs (meshplane/replicas/), in a process of
    # its own: Granian forks its workers from this one, which must hold no database connection.
    children.append(subprocess.Popen([sys.executable, "-m", "meshplane", "replica"],
                                     env={**child_env(), **config.to_env()}))
    try:
        run_wsgi(partial(_load_app, config), config.api_listen, workers=config.workers,
                 threads=config.threads, log_level=config.log_level,
                 tls=(config.api_tls_cert, config.api_tls_key) if config.api_tls_cert else None)
    finally:
        api_reservation.close()
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
