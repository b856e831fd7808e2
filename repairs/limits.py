"""Rate limits in memory only (the client IP is never written anywhere): fixed windows per key."""

from __future__ import annotations

import math
import time

from repairs.settings import Limit


class RateLimiter:
    """At most `limit.count` hits per key per window of `limit.seconds`."""

    def __init__(self, limit: Limit, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.max_keys = max_keys
        self._windows: dict[str, tuple[float, int]] = {}

    def hit(self, key: str, now: float | None = None) -> int:
        """Count a hit; returns 0 if allowed, else the seconds until the key may try again."""
        if self.limit.count == 0:
            return 0
        now = time.monotonic() if now is None else now
        start, count = self._windows.get(key, (now, 0))
        if now - start >= self.limit.seconds:
            start, count = now, 0
        if count >= self.limit.count:
            return max(1, math.ceil(start + self.limit.seconds - now))
        if key not in self._windows and len(self._windows) >= self.max_keys:
            self._forget_expired(now)
        self._windows[key] = (start, count + 1)
        return 0

    def _forget_expired(self, now: float) -> None:
        expired = [
            k for k, (start, _) in self._windows.items() if now - start >= self.limit.seconds
        ]
        for key in expired:
            del self._windows[key]
        if len(self._windows) >= self.max_keys:  # a flood of fresh keys: drop the oldest half
            for key in list(self._windows)[: self.max_keys // 2]:
                del self._windows[key]
