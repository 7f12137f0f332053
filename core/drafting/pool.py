"""Drafting off the intake path: a bounded worker pool behind a requests-per-minute limit.

`DraftPool.submit` returns at once, so ticket intake never waits for a model. At most
`concurrency` drafts run at a time, and a token bucket spaces the model requests so that no
more than `requests_per_minute` are sent in any minute (capacity 1: requests are evenly
spaced, which keeps every sliding 60-second window at or under the limit, not only each
calendar minute). The bucket is taken right before the HTTP request (the model client's
`gate`), not when a job starts, because reading the ticket and rendering the prompt take a
varying time that would bunch requests together; a guard of half a second per minute absorbs
the remaining jitter. When a draft fails with 429 or 503 the bucket pauses everyone for a
while; retries inside one request are the provider's own backoff (Gemini's SDK retries
without asking the bucket, so a limit should leave room for them).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)


class RateLimiter:
    """A token bucket of capacity `burst`, refilled at `per_minute / 60` tokens a second."""

    def __init__(
        self,
        per_minute: float,
        *,
        burst: int = 1,
        guard_seconds: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_minute <= 0 or burst < 1:
            raise ValueError("per_minute must be positive and burst at least 1")
        self._interval = (60.0 + guard_seconds) / per_minute
        self._burst = burst
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next = clock()  # when the next token is available
        self._paused_until = 0.0

    def acquire(self) -> None:
        """Block until a start is allowed; each caller gets its own slot, in arrival order."""
        with self._lock:
            now = self._clock()
            earliest = now - (self._burst - 1) * self._interval
            slot = max(self._next, earliest, self._paused_until)
            self._next = slot + self._interval
        wait = slot - self._clock()
        if wait > 0:
            self._sleep(wait)

    def pause(self, seconds: float) -> None:
        """Back off: no start for `seconds` (the server said 429/503)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)
            self._next = max(self._next, self._paused_until)


class DraftPool:
    def __init__(
        self,
        *,
        concurrency: int,
        limiter: RateLimiter | None = None,
        backoff_seconds: float = 5.0,
    ) -> None:
        self._executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="draft")
        self._limiter = limiter
        self._backoff = backoff_seconds
        self._concurrency = concurrency
        self._queued = 0  # submitted and not finished: running or waiting for a worker
        self._queued_lock = threading.Lock()

    def gate(self) -> None:
        """Wait for the rate limit; model clients call it right before each request."""
        if self._limiter is not None:
            self._limiter.acquire()

    def submit(self, job: Callable[[], object], *, ticket_id: int | None = None) -> Future[None]:
        return self._count(self._executor.submit(self._run, job, ticket_id))

    def call(self, job: Callable[[], T]) -> Future[T]:
        """Run `job` in the pool; its result or exception is the future's (the caller handles
        failures, unlike `submit`)."""
        return self._count(self._executor.submit(job))

    def free_workers(self) -> int:
        """Workers with nothing queued for them: what a sweep may hand over without its
        leases running down in this pool's queue while other instances sit idle."""
        with self._queued_lock:
            return max(0, self._concurrency - self._queued)

    def _count(self, future: Future[T]) -> Future[T]:
        with self._queued_lock:
            self._queued += 1
        future.add_done_callback(self._uncount)
        return future

    def _uncount(self, _future: Future[T]) -> None:
        with self._queued_lock:
            self._queued -= 1

    def _run(self, job: Callable[[], object], ticket_id: int | None) -> None:
        try:
            job()
        except Exception:  # the ticket stands; a draft can be regenerated
            log.exception("background drafting failed", extra={"ticket_id": ticket_id})

    def on_overload(self, status: int | None) -> None:
        """Called by a job that saw 429/503: slow everyone down, not only that job."""
        if self._limiter is not None and status in {429, 503}:
            self._limiter.pause(self._backoff)

    def shutdown(self, *, wait: bool = True) -> None:
        self._executor.shutdown(wait=wait)
