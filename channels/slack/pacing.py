"""Pacing of chat.postMessage per channel, so bursts (a batch of mail, a digest) stay under
Slack's ~1 message/s/channel limit instead of leaning on 429s
(https://docs.slack.dev/apis/web-api/rate-limits, "special rate limits").

A token bucket per channel: `burst` posts go out at once (a card, the customer's message and
the draft), after that one per `interval` seconds. Per process; several instances each pace
themselves, and the client's RateLimitErrorRetryHandler covers the rest.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Pacer:
    def __init__(
        self,
        *,
        interval: float,
        burst: int = 3,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._interval = interval
        self._burst = burst
        self._monotonic = monotonic
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tat: dict[str, float] = {}  # theoretical arrival time per channel

    def wait(self, channel: str) -> float:
        """Block until a post to `channel` may go out; returns the seconds waited."""
        if self._interval <= 0:
            return 0.0
        with self._lock:
            now = self._monotonic()
            # GCRA: `tat` is when the channel's bucket would be empty of debt; a post may go
            # out once it is no more than burst-1 intervals ahead of now.
            tat = max(self._tat.get(channel, now), now)
            start = max(now, tat - (self._burst - 1) * self._interval)
            self._tat[channel] = tat + self._interval
        delay = start - now
        if delay > 0:
            self._sleep(delay)
        return max(delay, 0.0)
