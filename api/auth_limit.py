"""Failed authentication, limited per client address: after `KAOHE_AUTH_FAILURES` (10) wrong or unknown
tokens within `KAOHE_AUTH_WINDOW` (60) seconds, every authentication from that address is answered
429 with Retry-After until the window has moved past the failures. Failures are logged (address,
path, count), never the token. One counter per server process (see docs/security.md).

The client address is uvicorn's: behind a reverse proxy listed in --forwarded-allow-ips it is the
X-Forwarded-For address, otherwise the peer's. Valid tokens are refused too while an address is
blocked, so a guesser cannot tell a hit from a miss.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections import deque

log = logging.getLogger("kaohe.auth")
MAX_CLIENTS = 100_000  # addresses remembered at once; beyond that the oldest are forgotten


class AuthFailures:
    def __init__(self, limit: int | None = None, window: float | None = None):
        self.limit = limit or int(os.environ.get("KAOHE_AUTH_FAILURES") or 10)
        self.window = window or float(os.environ.get("KAOHE_AUTH_WINDOW") or 60)
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, client: str | None) -> int | None:
        """Seconds until `client` may try again, or None when it is not blocked."""
        key = client or "-"
        now = time.monotonic()
        with self._lock:
            failures = self._failures.get(key)
            if failures is None:
                return None
            while failures and failures[0] <= now - self.window:
                failures.popleft()
            if not failures:
                del self._failures[key]
                return None
            if len(failures) < self.limit:
                return None
            return max(1, math.ceil(failures[0] + self.window - now))

    def failed(self, client: str | None, where: str) -> None:
        """Count one failed authentication (and log it without the token)."""
        key = client or "-"
        now = time.monotonic()
        with self._lock:
            failures = self._failures.setdefault(key, deque())
            failures.append(now)
            while len(failures) > self.limit:
                failures.popleft()
            count = len(failures)
            if len(self._failures) > MAX_CLIENTS:
                self._failures.pop(next(iter(self._failures)))
        if count < self.limit:
            log.warning("authentication failed from %s on %s (%d in %ds)", key, where, count, self.window)
        elif count == self.limit:
            log.warning("authentication failed from %s on %s: %d failures in %ds, further attempts get 429",
                        key, where, count, self.window)
