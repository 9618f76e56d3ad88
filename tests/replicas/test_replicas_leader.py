"""Leader jobs across three replicas on one PostgreSQL database (issue 10, "Deliver" 5).

One replica holds the leader's lock and runs the jobs (sweep-tokens, reap-replicas,
prune-streams) once per interval; the others only heartbeat. When the leader is killed (kill -9 of
its whole process tree), another takes over within 15 s and the jobs go on; the dead replica
leaves ``/meshplane/v1/replicas`` within 30 s. The job log is read from table ``job_runs``.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from replica_cluster import LEADER_INTERVAL, Cluster, wait_for

from meshplane.store.database import Pool, open_pool

JOBS = ("sweep-tokens", "reap-replicas", "prune-streams")
TAKEOVER_LIMIT_S = 15.0
GONE_LIMIT_S = 30.0
#: Two runs of one job closer than this are a double run (the interval is LEADER_INTERVAL).
MIN_GAP_S = 0.5 * LEADER_INTERVAL
#: ...and further apart than this, a missed one (the runner steps every LEADER_INTERVAL).
MAX_GAP_S = 3.0 * LEADER_INTERVAL


@pytest.fixture
def cluster(pg_url: str, tmp_path: Path) -> Iterator[Cluster]:
    started = Cluster(pg_url, tmp_path, 3)
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def job_log(pg_url: str) -> Iterator[Pool]:
    """A pool of the test's own over the replicas' database, to read ``job_runs``."""
    pool = open_pool(pg_url)
    try:
        yield pool
    finally:
        pool.close()


def runs(pool: Pool) -> list[tuple[str, str, float, float, str]]:
    """Every job run, oldest first: (job, replica, started_at, finished_at, outcome)."""
    rows = pool.get().execute(
        "SELECT job, replica, started_at, finished_at, outcome FROM job_runs ORDER BY started_at, job").fetchall()
    return [(str(r[0]), str(r[1]), float(r[2]), float(r[3]), str(r[4])) for r in rows]


def check_once_per_interval(all_runs: list[tuple[str, str, float, float, str]]) -> list[float]:
    """Each job ran once per interval, one replica at a time: every run succeeded; two runs of a
    job never overlap; two consecutive runs by one replica are at least MIN_GAP_S apart (closer,
    it ran twice), also across a takeover: a new leader first runs the jobs one interval after the
    previous leader last did (runner.py reads the job log). Returns the gaps at each change of replica."""
    by_job: dict[str, list[tuple[str, str, float, float, str]]] = defaultdict(list)
    for run in all_runs:
        by_job[run[0]].append(run)
        assert run[4].startswith("ok:"), run
    takeover_gaps = []
    for job, job_runs in by_job.items():
        for before, after in zip(job_runs, job_runs[1:]):
            gap = after[2] - before[2]
            assert after[2] >= before[3], f"{job} ran on two replicas at once: {before} and {after}"
            if after[1] != before[1]:
                takeover_gaps.append(gap)
            assert gap >= MIN_GAP_S, f"{job} ran twice {gap:.3f}s apart: {before} then {after}"
    return takeover_gaps


def agreed_leader(cluster: Cluster, indexes: list[int], alive: int) -> str | None:
    """The leader every replica in ``indexes`` shows, when they all show the same ``alive`` live
    replicas and exactly one leader among them (else None)."""
    leaders = set()
    for index in indexes:
        rows = cluster.replicas(index)
        assert [r["id"] for r in rows if r["self"]] == [cluster.ids[index]]
        if sum(1 for r in rows if r["alive"]) != alive:
            return None
        flagged = [r["id"] for r in rows if r["leader"]]
        if len(flagged) != 1:
            return None
        leaders.add(flagged[0])
    return leaders.pop() if len(leaders) == 1 else None


def test_one_leader_runs_jobs_and_another_takes_over_when_it_dies(
        cluster: Cluster, job_log: Pool, measure: Callable[[str, object], None]) -> None:
    everyone = list(range(len(cluster)))
    leader = wait_for(lambda: agreed_leader(cluster, everyone, alive=3), 15,
                      lambda: f"one leader and 3 alive replicas (now: {cluster.replicas(0)})")
    rows = cluster.replicas(0)
    assert sorted(r["id"] for r in rows) == sorted(cluster.ids)

    # A few intervals of jobs, all run by the leader alone.
    since = time.time()
    wait_for(lambda: all(sum(1 for r in runs(job_log) if r[0] == job and r[2] > since) >= 3 for job in JOBS),
             10 * LEADER_INTERVAL, lambda: f"3 runs of each job (log: {runs(job_log)})")
    before = runs(job_log)
    assert {r[1] for r in before} == {leader}, before
    assert check_once_per_interval(before) == []
    for job in JOBS:
        started = [r[2] for r in before if r[0] == job]
        gaps = [b - a for a, b in zip(started, started[1:])]
        assert max(gaps) <= MAX_GAP_S, f"{job} missed runs: {gaps}"

    # kill -9 the leader's whole process tree (API workers and its `meshplane replica` child).
    dead = cluster.index_of(leader)
    survivors = [i for i in everyone if i != dead]
    killed_at, killed_wall = time.monotonic(), time.time()
    cluster.servers[dead].kill9()

    new_leader = wait_for(lambda: _survivor_leader(cluster, survivors, leader), TAKEOVER_LIMIT_S + 5,
                          lambda: f"a new leader (now: {cluster.replicas(survivors[0])})")
    takeover = time.monotonic() - killed_at
    measure("leader_takeover_s", round(takeover, 2))
    assert new_leader in {cluster.ids[i] for i in survivors}
    assert takeover <= TAKEOVER_LIMIT_S

    # The jobs go on, run by the new leader only.
    wait_for(lambda: all(any(r[0] == job and r[1] == new_leader for r in runs(job_log)) for job in JOBS),
             TAKEOVER_LIMIT_S, lambda: f"the new leader's jobs (log: {runs(job_log)})")
    first_run = min(r[2] for r in runs(job_log) if r[1] == new_leader)
    measure("first_job_run_after_kill_s", round(first_run - killed_wall, 2))

    # The dead replica is shown dead, then leaves the status (reaped by the new leader).
    wait_for(lambda: all(cluster.ids[dead] not in [r["id"] for r in cluster.replicas(i)] for i in survivors),
             GONE_LIMIT_S + 5, lambda: f"{leader} to leave /replicas (now: {cluster.replicas(survivors[0])})")
    gone = time.monotonic() - killed_at
    measure("dead_replica_gone_s", round(gone, 2))
    assert gone <= GONE_LIMIT_S
    assert agreed_leader(cluster, survivors, alive=len(survivors)) == new_leader

    after = runs(job_log)
    assert not [r for r in after if r[1] == leader and r[2] > killed_wall], "the dead leader ran jobs"
    assert {r[1] for r in after if r[2] > killed_wall} == {new_leader}, after
    assert any(r[0] == "reap-replicas" and leader in r[4] for r in after), "no run reaped the dead leader"
    takeover_gaps = check_once_per_interval(after)
    assert len(takeover_gaps) == len(JOBS)  # one change of replica per job: the takeover
    measure("takeover_job_gap_min_s", round(min(takeover_gaps), 3))


def _survivor_leader(cluster: Cluster, survivors: list[int], old: str) -> str | None:
    """The leader the surviving replicas all show once it is one of them (else None)."""
    leaders = set()
    for index in survivors:
        flagged = [r["id"] for r in cluster.replicas(index) if r["leader"]]
        if len(flagged) != 1 or flagged[0] == old:
            return None
        leaders.add(flagged[0])
    return leaders.pop() if len(leaders) == 1 else None
