"""Rate limiting as Slack answers it: HTTP 429, a `Retry-After` header in seconds and
`{"ok": false, "error": "ratelimited"}` (https://docs.slack.dev/apis/web-api/rate-limits).

Two kinds: limits a test forces on the next n calls of a method, and an optional automatic
limit for chat.postMessage of about one message per second per channel "with short bursts"
(the method's special tier), off by default so ordinary tests never see it.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass


@dataclass
class _Forced:
    remaining: int
    retry_after: int


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._forced: dict[str, _Forced] = {}
        self._per_channel: tuple[float, int] | None = None
        self._buckets: dict[str, _Bucket] = {}

    def force(self, method: str, *, times: int, retry_after: int) -> None:
        with self._lock:
            self._forced[method] = _Forced(times, retry_after)

    def limit_posts_per_channel(self, *, per_second: float, burst: int) -> None:
        with self._lock:
            self._per_channel = (per_second, burst)
            self._buckets.clear()

    def disable_per_channel(self) -> None:
        with self._lock:
            self._per_channel = None

    def retry_after(self, method: str, channel: object) -> int | None:
        """Seconds to wait if this call is limited, else None (and the call is counted)."""
        with self._lock:
            forced = self._forced.get(method)
            if forced is not None and forced.remaining > 0:
                forced.remaining -= 1
                return forced.retry_after
            if method != "chat.postMessage" or self._per_channel is None:
                return None
            return self._take(str(channel), *self._per_channel)

    def _take(self, channel: str, per_second: float, burst: int) -> int | None:
        now = time.monotonic()
        bucket = self._buckets.setdefault(channel, _Bucket(float(burst), now))
        bucket.tokens = min(float(burst), bucket.tokens + (now - bucket.updated) * per_second)
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return None
        return max(1, math.ceil((1 - bucket.tokens) / per_second))
