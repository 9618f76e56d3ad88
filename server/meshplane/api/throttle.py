"""Request throttling: a token bucket answering 429 TooManyRequestsException when empty.

Off by default (``rate_limit`` 0). The bucket lives in each worker process and is given
``rate_limit / workers`` tokens per second, so the whole server admits about ``rate_limit``
requests per second; a per-request database round trip would cost more than the limit saves.
"""

from __future__ import annotations

import threading
import time

from meshplane.errors import TooManyRequestsException


class TokenBucket:
    """Admit ``rate`` requests per second on average, bursts up to ``burst``.

    :param rate: tokens added per second (> 0).
    :param burst: bucket size.
    """

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._at = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> None:
        """Take one token.

        :raises TooManyRequestsException: the bucket is empty.
        """
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
            self._at = now
            if self._tokens < 1:
                raise TooManyRequestsException("Rate exceeded; retry with an increasing or variable sleep interval")
            self._tokens -= 1
