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
import os
import select
import socket
import subprocess
import sys
import threading
import time
from functools import partial
from collections.abc import Callable
from typing import Any

from granian.constants import HTTPModes, Interfaces
from granian.http import HTTP1Settings
from granian.log import LogLevels
from granian.server import MPServer

from meshplane.children import child_env, stop_with_parent
from meshplane.config import Config, split_listen
from meshplane.store import migrate

log = logging.getLogger("meshplane")

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
    stop_with_parent(os.getppid())  # a master killed with SIGKILL must not leave us holding the port
    app = loader()
    try:
        os.write(ready_fd, b".")
    except OSError:
        pass
    return app


def _announce_when_ready(host: str, port: int, banner: str, workers: int, ready_fd: int) -> None:
    """Print the "listening" line once every worker has loaded the app and one answers /healthz.

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
        conn = http.client.HTTPConnection(host, port, timeout=2)
        try:
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                print(f"{banner} listening on http://{shown}:{port}", file=sys.stderr, flush=True)
                return
        except OSError:
            pass
        finally:
            conn.close()
        time.sleep(0.02)
    log.error("no API worker answered /healthz on %s:%d within %.0f s", host, port, READY_TIMEOUT_S)


class _QuietThreadsWarning(logging.Filter):
    """Drop Granian's advice against more WSGI threads than 2 x cores + 1: meshplane's threads mostly
    wait (for SQLite, or for the group commit of their write), and more of them make bigger groups."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Python threads" not in record.getMessage()


class _Server(MPServer):  # type: ignore[misc]
    """Granian's multi-process server, announcing readiness once its workers are up."""

    def __init__(self, *args: Any, announce: tuple[str, int, str, int, int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._announce = announce

    def startup(self, spawn_target: Any, target_loader: Any) -> None:
        super().startup(spawn_target, target_loader)
        # Started after the workers are forked, so no child inherits a half-used HTTP client.
        threading.Thread(target=_announce_when_ready, args=self._announce, daemon=True).start()


def run_wsgi(loader: Callable[[], Any], listen: str, *, workers: int, threads: int,
             log_level: str = "info", banner: str = "meshplane API") -> None:
    """Serve the WSGI app that ``loader`` builds (called once in each worker) until SIGTERM/SIGINT.

    Prints ``<banner> listening on http://HOST:PORT`` on stderr once a worker answers ``/healthz``;
    ``listen`` may ask for port 0. ``loader`` must be picklable (a module-level function or a
    ``functools.partial`` of one) in case the platform spawns rather than forks workers.
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
        announce=(host, port, banner, workers, ready_r),
    )
    try:
        server.serve(target_loader=partial(_load_and_report, loader, ready_w), wrap_loader=False)
    finally:
        reservation.close()
        os.close(ready_r)
        os.close(ready_w)


def serve(config: Config) -> None:
    """Run the API (and the xDS child unless ``xds_listen`` is ``off``) until SIGTERM/SIGINT."""
    migrate(config.db)
    xds: subprocess.Popen[bytes] | None = None
    if config.xds_listen != "off":
        xds = subprocess.Popen(
            [sys.executable, "-m", "meshplane", "xds", "--db", config.db, "--xds-listen", config.xds_listen,
             "--xds-workers", str(config.xds_workers)],
            env=child_env(),  # it stops by itself if we are killed (SIGKILL leaves it no SIGTERM)
        )
    try:
        run_wsgi(partial(_load_app, config), config.api_listen, workers=config.workers,
                 threads=config.threads, log_level=config.log_level)
    finally:
        if xds is not None and xds.poll() is None:
            xds.terminate()
            try:
                xds.wait(timeout=10)
            except subprocess.TimeoutExpired:
                xds.kill()
