"""Rate limits in memory only (the client IP is never written anywhere): fixed windows per key,
and one sliding cap on everything the handler accepts."""

from __future__ import annotations

import ipaddress
import math
import time
from collections import deque

from repairs.settings import Limit

# One IPv6 customer gets a whole /64 (and can pick any address in it): that is one client.
IPV6_CLIENT_PREFIX = 64


def client_key(address: str) -> str:
    """The rate-limit key of a client address: IPv4 as it is, IPv6 by its /64."""
    if ":" not in address:
        return address
    try:
        ip = ipaddress.IPv6Address(address.partition("%")[0])
    except ValueError:
        return address
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ipaddress.IPv6Network((ip, IPV6_CLIENT_PREFIX), strict=False))


class RateLimiter:
    """At most `limit.count` hits per key per window of `limit.seconds`."""

    def __init__(self, limit: Limit, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.max_keys = max_keys
        # Ordered by window start (a restarted window moves to the end), so the expired
        # windows are always at the front.
        self._windows: dict[str, tuple[float, int]] = {}

    def hit(self, key: str, now: float | None = None) -> int:
        """Count a hit; returns 0 if allowed, else the seconds until the key may try again."""
        if self.limit.count == 0:
            return 0
        now = time.monotonic() if now is None else now
        window = self._windows.get(key)
        if window is None or now - window[0] >= self.limit.seconds:
            if window is not None:
                del self._windows[key]
            elif len(self._windows) >= self.max_keys:
                self._forget_expired(now)
                if len(self._windows) >= self.max_keys:
                    # Full of live windows: let this one through untracked rather than reset
                    # anyone's limit; the global cap still bounds what a flood achieves.
                    return 0
            self._windows[key] = (now, 1)
            return 0
        start, count = window
        if count >= self.limit.count:
            return max(1, math.ceil(start + self.limit.seconds - now))
        self._windows[key] = (start, count + 1)
        return 0

    def _forget_expired(self, now: float) -> None:
        for key, (start, _) in list(self._windows.items()):
            if now - start < self.limit.seconds:
                break
            del self._windows[key]


class GlobalCap:
    """At most `per_hour` accepted requests in any hour, from everyone together (0: no cap)."""

    def __init__(self, per_hour: int, seconds: float = 3600.0) -> None:
        self.per_hour = per_hour
        self.seconds = seconds
        self._accepted: deque[float] = deque()

    def take(self, now: float | None = None) -> int:
        """Reserve a place; 0 if there is one, else the seconds until one frees up."""
        if self.per_hour == 0:
            return 0
        now = time.monotonic() if now is None else now
        while self._accepted and now - self._accepted[0] >= self.seconds:
            self._accepted.popleft()
        if len(self._accepted) >= self.per_hour:
            return max(1, math.ceil(self._accepted[0] + self.seconds - now))
        self._accepted.append(now)
        return 0

    def give_back(self) -> None:
        """The reserved request was not stored after all."""
        if self.per_hour and self._accepted:
            self._accepted.pop()
