"""Keeping Cloud Map answers fresh: poll each query on an interval, back off on failures.

A `CloudMapPoller` runs one scheduler thread (and, for several due queries, a small pool: boto3
clients are thread-safe). Each query is polled every ``interval_s`` (measured from the start of
its previous call, so a change is seen at most one interval after it happened, plus the call).
A failed or throttled call keeps the last answer and retries after a growing delay (2, 4, 8 ...
intervals, at most `max_backoff`, with jitter); the next success resets it.

Callbacks run on the poller's threads, never under its lock:
* ``on_change(queries)``: the answers of these queries differ from the previous ones (any
  difference: moto's ``InstancesRevision`` even goes *down* on a deregistration, so neither the
  revision nor its direction is trusted);
* ``on_status(queries)``: these queries' freshness changed or a retry failed again (to refresh
  what the proxy status says about them).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from meshplane.discovery.client import Instance, Query, cloud_map_client, discover

log = logging.getLogger("meshplane.discovery")

#: The longest delay between retries of a failing query, seconds (also bounded by 16 intervals).
MAX_BACKOFF_S = 30.0
#: Concurrent DiscoverInstances calls when many queries are due at once.
POOL_SIZE = 8

Callback = Callable[[set[Query]], None]


@dataclass(frozen=True)
class QueryStatus:
    """What is known about one query.

    :param instances: the last successful answer (None before the first success).
    :param refreshed_at: ``time.time()`` of the last successful call, or None.
    :param error: the last call's error, or None when it succeeded.
    :param failures: calls failed in a row.
    """

    instances: tuple[Instance, ...] | None = None
    refreshed_at: float | None = None
    error: str | None = None
    failures: int = 0
    revision: int | None = None

    @property
    def stale(self) -> bool:
        """True while the last call failed (the answer, if any, is older than one interval)."""
        return self.error is not None


def describe_error(exc: BaseException) -> str:
    """A short reason for the proxy status (no request ids, no credentials)."""
    response: Any = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error") or {}
        code, message = error.get("Code", ""), error.get("Message", "")
        if code:
            return f"{code}: {message}" if message else str(code)
    return str(exc) or type(exc).__name__


def throttled(exc: BaseException) -> bool:
    """True for AWS's throttling answers (retried with the same backoff, logged less loudly)."""
    response: Any = getattr(exc, "response", None)
    code = ((response or {}).get("Error") or {}).get("Code", "") if isinstance(response, dict) else ""
    return code in ("ThrottlingException", "Throttling", "RequestLimitExceeded", "TooManyRequestsException",
                    "RequestThrottled", "SlowDown")


class CloudMapPoller:
    """Polls a set of Cloud Map queries; the last answers and their freshness are readable at any time.

    :param interval_s: seconds between two calls of one query (``--cloudmap-interval``).
    :param health_status: DiscoverInstances ``HealthStatus`` (``--cloudmap-health-status``).
    :param region: the region when the AWS configuration names none.
    :param client_factory: makes the boto3 client (tests may pass their own); called on the
        poller's thread when the first query arrives, so an xDS process without Cloud Map
        nodes never imports boto3.
    """

    def __init__(self, interval_s: float, health_status: str, region: str,
                 on_change: Callback | None = None, on_status: Callback | None = None,
                 client_factory: Callable[[str], Any] = cloud_map_client) -> None:
        self.interval_s = interval_s
        self.health_status = health_status
        self.region = region
        self.on_change = on_change
        self.on_status = on_status
        self._client_factory = client_factory
        self._client: Any = None
        self._lock = threading.Lock()
        self._status: dict[Query, QueryStatus] = {}
        self._next: dict[Query, float] = {}  # query -> time.monotonic() it is due
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self.max_backoff_s = max(interval_s, min(MAX_BACKOFF_S, 16 * interval_s))

    # -- the owner's side -----------------------------------------------------------------------

    def set_queries(self, queries: Iterable[Query]) -> None:
        """Poll exactly these queries from now on: new ones at once, dropped ones never again."""
        wanted = set(queries)
        with self._lock:
            for query in list(self._next):
                if query not in wanted:
                    del self._next[query]
                    self._status.pop(query, None)
            added = wanted - set(self._next)
            now = time.monotonic()
            for query in added:
                self._next[query] = now
        if added:
            self._wake.set()

    def queries(self) -> set[Query]:
        """The queries being polled."""
        with self._lock:
            return set(self._next)

    def status(self, query: Query | tuple[str, str, tuple[tuple[str, str], ...]]) -> QueryStatus | None:
        """What is known about ``query`` (None when it is not polled)."""
        with self._lock:
            return self._status.get(query)  # type: ignore[arg-type]

    def answers(self) -> dict[Query, tuple[Instance, ...]]:
        """The last successful answer of every query answered at least once."""
        with self._lock:
            return {q: s.instances for q, s in self._status.items() if s.instances is not None}

    def start(self) -> None:
        """Start polling (a daemon thread)."""
        self._thread = threading.Thread(target=self._run, name="cloudmap-poller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop polling; a call in flight finishes in the background."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    # -- the poller's thread --------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                now = time.monotonic()
                due = [q for q, at in self._next.items() if at <= now]
                upcoming = min((at for at in self._next.values() if at > now), default=now + 60.0)
            if not due:
                self._wake.wait(max(0.0, upcoming - now))
                self._wake.clear()
                continue
            try:
                self._poll(due)
            except Exception:  # never let the thread die: log, retry the batch later
                log.exception("Cloud Map poll failed")
                with self._lock:
                    for query in due:
                        if query in self._next:
                            self._next[query] = time.monotonic() + self.interval_s

    def _poll(self, due: list[Query]) -> None:
        started = time.monotonic()
        if self._client is None:
            try:
                self._client = self._client_factory(self.region)
            except Exception as exc:  # e.g. a broken AWS config file: reported like a failed call
                results: list[tuple[Query, Any, BaseException | None]] = [(q, None, exc) for q in due]
                self._record(results, started)
                return
        if len(due) == 1:
            results = [self._call(due[0])]
        else:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(POOL_SIZE, thread_name_prefix="cloudmap")
            results = list(self._pool.map(self._call, due))
        self._record(results, started)

    def _call(self, query: Query) -> tuple[Query, Any, BaseException | None]:
        try:
            return query, discover(self._client, query, self.health_status), None
        except Exception as exc:
            return query, None, exc

    def _record(self, results: list[tuple[Query, Any, BaseException | None]], started: float) -> None:
        changed: set[Query] = set()
        status_changed: set[Query] = set()
        now = time.time()
        with self._lock:
            for query, answer, exc in results:
                if query not in self._next:
                    continue  # dropped meanwhile
                old = self._status.get(query, QueryStatus())
                if exc is None:
                    instances, revision = answer
                    new = QueryStatus(instances, now, None, 0, revision)
                    self._next[query] = started + self.interval_s
                    if old.instances != instances:
                        changed.add(query)
                    if old.error is not None or old.refreshed_at is None:
                        status_changed.add(query)
                else:
                    failures = old.failures + 1
                    reason = describe_error(exc)
                    new = QueryStatus(old.instances, old.refreshed_at, reason, failures, old.revision)
                    delay = min(self.max_backoff_s, self.interval_s * 2 ** min(failures, 16))
                    self._next[query] = time.monotonic() + delay * random.uniform(0.8, 1.0)
                    status_changed.add(query)
                    if failures == 1 or failures % 10 == 0:
                        level = logging.INFO if throttled(exc) else logging.WARNING
                        log.log(level, "Cloud Map %s/%s: %s (attempt %d failed; keeping the last answer, "
                                "next try in %.1f s)", query.namespace, query.service, reason, failures, delay)
                self._status[query] = new
        if changed and self.on_change is not None:
            self.on_change(changed)
        if status_changed and self.on_status is not None:
            self.on_status(status_changed)
