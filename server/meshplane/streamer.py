"""`meshplane xds`: the xDS process — an ADS server plus the propagation loop over one database."""

from __future__ import annotations

import gc
import logging
import signal
import sys
import threading
from types import FrameType

from meshplane.config import Config
from meshplane.propagate import PersistentStatus, Propagator
from meshplane.store import migrate
from meshplane.stream import SnapshotCache, XdsMetrics, XdsServer

log = logging.getLogger("meshplane.xds")


class Streamer:
    """The ADS server and its propagation loop, started and stopped together.

    :param config: database, listen address and debounce settings.
    """

    def __init__(self, config: Config) -> None:
        migrate(config.db)
        self.config = config
        self.metrics = XdsMetrics()
        self.status = PersistentStatus()
        self.cache = SnapshotCache()
        self.propagator = Propagator(config, self.cache, self.status, self.metrics)
        self.server = XdsServer(self.cache, self.status, listen=config.xds_listen, metrics=self.metrics)
        self._stop = threading.Event()
        self._loop: threading.Thread | None = None
        self.port: int | None = None

    def start(self) -> int:
        """Bind, record the address for the REST side, start the loop; returns the bound port."""
        self.port = self.server.start()
        host = self.config.xds_listen.rpartition(":")[0]
        self.propagator.info["listen"] = f"{host}:{self.port}"
        self.propagator.proxy_store.reset(self.propagator.info)
        self._loop = threading.Thread(target=self.propagator.run, args=(self._stop,), name="propagate", daemon=True)
        self._loop.start()
        return self.port

    def stop(self) -> None:
        """Stop the loop (flushing status) and the server; proxies keep their last config."""
        self._stop.set()
        if self._loop is not None:
            self._loop.join(timeout=10)
        self.server.stop(grace=1.0)


def run(config: Config) -> None:
    """Run the xDS process until SIGTERM or SIGINT."""
    logging.basicConfig(level=config.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    streamer = Streamer(config)
    port = streamer.start()
    # Thousands of long-lived streams make every full collection walk a large, stable heap
    # (150-200 ms each at 2,000 streams, the fan-out's p99 outliers): move what exists now out
    # of the collector's view and collect the young generation less often.
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    host = config.xds_listen.rpartition(":")[0]
    # Tests and scripts read this line to learn the port when --xds-listen asks for port 0.
    print(f"meshplane xDS listening on {host}:{port}", file=sys.stderr, flush=True)
    done = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    done.wait()
    streamer.stop()
