"""The leader's jobs: housekeeping that must run once per interval across all replicas.

Each job is idempotent (run twice, it does nothing the second time), so a leader change
mid-run costs nothing; running once is about not multiplying the work by the replica count.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from meshplane.store import ResourceStore
from meshplane.store.proxies import REPLICA_DEAD_S, ProxyStore
from meshplane.store.replicas import ReplicaRows

#: Disconnected streams are kept in the status this long (seconds), then forgotten.
STREAM_HISTORY_S = 24 * 3600.0


@dataclass(frozen=True)
class Job:
    """A named job: ``run()`` returns a one-line outcome for the job log."""

    name: str
    run: Callable[[], str]


def leader_jobs(store: ResourceStore, proxies: ProxyStore, replicas: ReplicaRows) -> list[Job]:
    """The jobs, in the order they run each interval."""

    def sweep_tokens() -> str:
        return f"{store.sweep_tokens()} expired clientTokens deleted"

    def reap_replicas() -> str:
        dead = replicas.reap(time.time() - REPLICA_DEAD_S)
        return f"replicas gone: {', '.join(dead)}" if dead else "no replica gone"

    def prune_streams() -> str:
        proxies.prune(time.time() - STREAM_HISTORY_S)
        return "old disconnected streams pruned"

    return [Job("sweep-tokens", sweep_tokens), Job("reap-replicas", reap_replicas),
            Job("prune-streams", prune_streams)]
