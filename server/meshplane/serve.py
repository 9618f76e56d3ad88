"""`meshplane serve`: the REST API on gunicorn (threaded workers), plus the xDS process.

The API runs in ``workers`` processes with ``threads`` threads each; everything they share lives
in the database. The xDS streamer runs as a child process (``meshplane xds``) over the same
database so that its CPU work never competes with the API workers' GIL.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from typing import Any

from gunicorn.app.base import BaseApplication

from meshplane.config import Config, split_listen
from meshplane.store import migrate

log = logging.getLogger("meshplane")


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, config: Config, options: dict[str, Any]) -> None:
        self.meshplane_config = config
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from meshplane.app import create_app

        logging.basicConfig(
            level=self.meshplane_config.log_level.upper(),
            format="%(asctime)s [%(process)d] %(name)s %(levelname)s %(message)s",
        )
        return create_app(self.meshplane_config, run_migrations=False)


def _when_ready(server: Any) -> None:
    for listener in server.LISTENERS:
        host, port = listener.sock.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        # Tests and scripts read this line to learn the port when --api-listen asks for port 0.
        print(f"meshplane API listening on http://{shown}:{port}", file=sys.stderr, flush=True)


def serve(config: Config) -> None:
    """Run the API (and the xDS child unless ``xds_listen`` is ``off``) until SIGTERM/SIGINT."""
    migrate(config.db)
    host, port = split_listen(config.api_listen)
    xds: subprocess.Popen[bytes] | None = None
    if config.xds_listen != "off":
        xds = subprocess.Popen(
            [sys.executable, "-m", "meshplane", "xds", "--db", config.db, "--xds-listen", config.xds_listen]
        )

    def _on_exit(server: Any) -> None:
        if xds is not None and xds.poll() is None:
            xds.terminate()
            try:
                xds.wait(timeout=10)
            except subprocess.TimeoutExpired:
                xds.kill()

    options = {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": config.workers,
        "worker_class": "gthread",
        "threads": config.threads,
        "when_ready": _when_ready,
        "on_exit": _on_exit,
        "loglevel": config.log_level,
        "accesslog": None,
        "graceful_timeout": 10,
        "keepalive": 30,
        "proc_name": "meshplane",
        "control_socket_disable": True,
    }
    try:
        _Gunicorn(config, options).run()
    finally:
        _on_exit(None)
