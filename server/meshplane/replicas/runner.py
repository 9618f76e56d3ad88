"""`meshplane replica`: this replica's heartbeat, its bid for leadership, and (while leader) the
leader's jobs. `meshplane serve` starts it as a child; it stops with its parent.

Timing: a heartbeat every HEARTBEAT_S; a replica silent for REPLICA_DEAD_S (store/proxies.py) is
dead, and the leader reaps it on its next run (so a dead replica leaves the status within
REPLICA_DEAD_S + ``leader_interval``). A follower bids for the lock every HEARTBEAT_S, so it takes
over at most HEARTBEAT_S after PostgreSQL freed the lock (at once when the leader's process died;
within the keepalive time when its host vanished).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from types import FrameType

from meshplane import __version__
from meshplane.config import Config
from meshplane.errors import ServiceUnavailableException
from meshplane.replicas.jobs import leader_jobs
from meshplane.store import ResourceStore
from meshplane.store.database import describe
from meshplane.store.proxies import ProxyStore
from meshplane.store.replicas import JobRun, LeaderLock, ReplicaRow, ReplicaRows, now

log = logging.getLogger("meshplane.replicas")

HEARTBEAT_S = 2.0
#: Job runs are kept this long (seconds) in the job log.
RUN_HISTORY_S = 24 * 3600.0


class Runner:
    """Heartbeat, leadership and jobs of one replica.

    :param config: ``db``, ``replica_id`` (must be set), ``leader_interval``, listen addresses.
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        self.replica = config.ensure_replica_id()
        self.store = ResourceStore(config)
        self.rows = ReplicaRows(self.store.pool)
        self.proxies = ProxyStore(self.store.pool, self.replica)
        self.lock = LeaderLock(config.db)
        self.jobs = leader_jobs(self.store, self.proxies, self.rows)
        self.started_at = now()
        self.leader = False
        self._next_jobs = 0.0

    def step(self) -> None:
        """One heartbeat: bid for (or keep) leadership, report, and run the jobs when due."""
        leader = self.lock.hold()
        if leader != self.leader:
            log.info("replica %s %s", self.replica, "is now the leader" if leader else "is not the leader")
            self.leader = leader
            self._next_jobs = self._first_jobs_due() if leader else 0.0
        xds = self.proxies.info("listen") or self.config.xds_listen  # the bound address, once known
        self.rows.heartbeat(ReplicaRow(
            self.replica, socket.gethostname(), os.getpid(), self.config.api_listen, xds,
            __version__, self.started_at, now(), leader))
        if leader and time.monotonic() >= self._next_jobs:
            self._next_jobs = time.monotonic() + self.config.leader_interval
            self.run_jobs()

    def _first_jobs_due(self) -> float:
        """When a new leader first runs the jobs: one interval after the previous leader last did
        (read from the job log), so a takeover keeps the jobs' pace instead of repeating them."""
        last = self.rows.runs(self.jobs[0].name, limit=1)
        if not last:
            return 0.0
        wait = last[0].started_at + self.config.leader_interval - time.time()
        return time.monotonic() + min(max(0.0, wait), self.config.leader_interval)

    def run_jobs(self) -> None:
        """Run every leader job once, logging each run in ``job_runs``."""
        for job in self.jobs:
            started = now()
            try:
                outcome = "ok: " + job.run()
            except Exception as exc:  # one failing job must not stop the others, nor the heartbeat
                log.warning("leader job %s failed: %s", job.name, exc)
                outcome = f"error: {type(exc).__name__}"
            self.rows.record_run(JobRun(job.name, self.replica, started, now(), outcome), started - RUN_HISTORY_S)

    def run(self, stop: threading.Event) -> None:
        """Step every HEARTBEAT_S (or sooner when the leader interval is shorter) until ``stop``."""
        interval = min(HEARTBEAT_S, self.config.leader_interval)
        while not stop.is_set():
            try:
                self.step()
            except ServiceUnavailableException as exc:  # the database is down: keep trying
                log.warning("replica %s: %s", self.replica, exc.message)
            except Exception:
                log.exception("replica step failed")
            stop.wait(interval)

    def close(self) -> None:
        """Leave: release leadership, remove this replica's row, close the database."""
        self.lock.release()
        try:
            self.rows.leave(self.replica)
        except Exception as exc:  # the database may be down: the leader reaps the row later
            log.warning("replica %s could not sign off: %s", self.replica, exc)
        self.store.close()


def main(config: Config) -> None:
    """Run the replica loop until SIGTERM/SIGINT (or the parent process is gone)."""
    from meshplane.children import PARENT_ENV, stop_with_parent, wake_main_thread_on_signals

    if os.environ.get(PARENT_ENV):
        stop_with_parent(int(os.environ[PARENT_ENV]))
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    wake_main_thread_on_signals()
    runner = Runner(config)
    log.info("replica %s on %s", runner.replica, describe(config.db))
    try:
        runner.run(stop)
    finally:
        runner.close()
