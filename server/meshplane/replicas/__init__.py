"""Replicas: several `meshplane serve` processes (usually on several hosts) over one PostgreSQL
database (docs/operations.md). Each replica announces itself with a heartbeat; one of them, the
leader, elected through the database, runs the jobs that must run once (jobs.py); the runner
(runner.py) does both, in a small process of its own that `meshplane serve` starts.
"""
