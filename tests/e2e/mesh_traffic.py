"""Traffic through real Envoys: a keep-alive HTTP client, answer counting, and an exact binomial test."""

from __future__ import annotations

import http.client
import socket
from collections import Counter
from fractions import Fraction


class HttpClient:
    """GETs to ``127.0.0.1:port`` over one keep-alive connection (``http.client``: ~7x cheaper than
    requests, which matters for 2,000-request loops on 2 shared cores).

    A request that fails on a *reused* connection (Envoy closed it while idle) is retried once on
    a fresh one, as every HTTP client does for idempotent requests; any other failure raises.
    """

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 5.0) -> None:
        self.address = (host, port)
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None
        self._used = False

    def get(self, path: str = "/", host: str | None = None) -> tuple[int, str]:
        """(status, body) of ``GET path`` with an optional ``Host`` header."""
        headers = {"Host": host} if host else {}
        for attempt in (0, 1):
            conn = self._connection()
            reused = self._used
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                body = response.read().decode(errors="replace")
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
                    http.client.BadStatusLine):
                self.close()
                if attempt == 0 and reused:
                    continue
                raise
            self._used = True
            if response.will_close:
                self.close()
            return response.status, body
        raise AssertionError("unreachable")

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            self._conn = http.client.HTTPConnection(*self.address, timeout=self.timeout)
            self._conn.connect()
            self._conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._used = False
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def one_shot_get(port: int, path: str = "/", host: str | None = None, timeout: float = 5.0) -> tuple[int, str]:
    """(status, body) of a GET on a new connection that is closed afterwards (no reuse, no retry)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Host": host, "Connection": "close"} if host else {"Connection": "close"})
        response = conn.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        conn.close()


def count_answers(client: HttpClient, n: int, path: str = "/", host: str | None = None) -> Counter[str]:
    """Send ``n`` GETs; count the bodies of the 200 answers and ``HTTP <status>`` for any other."""
    counts: Counter[str] = Counter()
    for _ in range(n):
        status, body = client.get(path, host)
        counts[body if status == 200 else f"HTTP {status}"] += 1
    return counts


def binomial_p_value(k: int, n: int, p: Fraction) -> float:
    """The exact two-sided binomial test's p-value for ``k`` successes in ``n`` trials at rate ``p``.

    Like R's binom.test and SciPy's binomtest: the probability of every outcome no more likely
    than the one observed. Computed in exact integer arithmetic (no float underflow at n=2000):
    with p = a/(a+b), P(X=i) = C(n,i) a^i b^(n-i) / (a+b)^n (no floats until the final ratio).
    """
    if not 0 <= k <= n:
        raise ValueError(f"k={k} outside 0..{n}")
    p = Fraction(p)
    a, b = p.numerator, p.denominator - p.numerator
    weights = [b**n]
    for i in range(n):  # C(n,i+1) a^(i+1) b^(n-i-1) from the previous term; each division is exact
        weights.append(weights[-1] * (n - i) * a // ((i + 1) * b) if b else 0)
    if b == 0:
        weights[-1] = a**n
    observed = weights[k]
    tail = sum(w for w in weights if w <= observed)
    return float(Fraction(tail, (a + b) ** n))


def split_report(counts: Counter[str], expected: dict[str, int]) -> str:
    """A readable line: each answer's count and share next to the configured weight."""
    total = sum(counts.values())
    weight_sum = sum(expected.values())
    parts = [f"{name}: {counts.get(name, 0)} ({counts.get(name, 0) / max(total, 1):.1%}, "
             f"weight {expected[name]}/{weight_sum})" for name in expected]
    others = {k: v for k, v in counts.items() if k not in expected}
    if others:
        parts.append(f"unexpected: {dict(others)}")
    return "; ".join(parts)


def assert_split(counts: Counter[str], expected: dict[str, int], alpha: float = 1e-4,
                 tolerance: float | None = None) -> None:
    """Only the expected answers came back, and their split matches the two weights.

    The check is an exact two-sided binomial test: it fails when p < ``alpha`` (a correct Envoy
    fails it once in 1/alpha runs). ``tolerance`` additionally bounds the share's distance from
    the weight (e.g. 0.03 for ±3 points).
    """
    report = split_report(counts, expected)
    assert set(counts) <= set(expected), report
    assert len(expected) == 2, "a binomial test needs exactly two outcomes"
    first, _second = expected
    n = sum(counts.values())
    rate = Fraction(expected[first], sum(expected.values()))
    p_value = binomial_p_value(counts.get(first, 0), n, rate)
    assert p_value >= alpha, f"split off the weights (two-sided binomial p={p_value:.3g}): {report}"
    if tolerance is not None:
        share = counts.get(first, 0) / n
        assert abs(share - float(rate)) <= tolerance, f"share {share:.3f} not within ±{tolerance} of {float(rate)}: {report}"
